package storage

import (
	"fmt"
	"testing"
)

// PutNew's versions behave as Write's: invisible until commit, visible at
// the commit CSN, gone after an abort or a rollback to a savepoint, and
// refused after the transaction ended.
func TestPutNew(t *testing.T) {
	e := openMem(t, nil)
	items := func(prefix string, n int) []KV {
		var out []KV
		for i := 0; i < n; i++ {
			out = append(out, KV{Key: []byte(fmt.Sprintf("%s%03d", prefix, i)), Value: []byte(fmt.Sprint(i))})
		}
		return out
	}
	// Committed.
	txn := e.Txn(1)
	if err := txn.PutNew(items("a", 50), 1); err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, at(100), "a007"); got != "" {
		t.Fatalf("uncommitted row visible: %q", got)
	}
	if got := get(t, e, Snapshot{CSN: 1, Txn: txn, CommandID: 2}, "a007"); got != "7" {
		t.Fatalf("own row at a later command: %q, want 7", got)
	}
	commitAt(t, txn, 10)
	if got := get(t, e, at(10), "a007"); got != "" {
		t.Fatalf("row visible before its CSN: %q", got)
	}
	if got := get(t, e, at(11), "a049"); got != "49" {
		t.Fatalf("committed row: %q, want 49", got)
	}
	// Aborted.
	txn = e.Txn(2)
	if err := txn.PutNew(items("b", 20), 1); err != nil {
		t.Fatal(err)
	}
	if err := txn.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, at(1000), "b003"); got != "" {
		t.Fatalf("aborted row visible: %q", got)
	}
	// Rolled back to a savepoint: command 2's rows go, command 1's stay.
	txn = e.Txn(3)
	if err := txn.PutNew(items("c", 5), 1); err != nil {
		t.Fatal(err)
	}
	if err := txn.PutNew(items("d", 5), 2); err != nil {
		t.Fatal(err)
	}
	if err := txn.RollbackTo(2, 2); err != nil {
		t.Fatal(err)
	}
	commitAt(t, txn, 20)
	if got := get(t, e, at(21), "c002"); got != "2" {
		t.Fatalf("row before the savepoint: %q, want 2", got)
	}
	if got := get(t, e, at(21), "d002"); got != "" {
		t.Fatalf("row after the savepoint visible: %q", got)
	}
	// Ended.
	if err := txn.PutNew(items("e", 1), 3); err == nil {
		t.Fatal("PutNew after commit succeeded")
	}
}
