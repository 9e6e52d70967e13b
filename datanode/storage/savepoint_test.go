package storage

import (
	"context"
	"testing"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// own reads key as command cmd of txn sees it; "" means no row.
func own(t testing.TB, e *Engine, txn *Txn, cmd uint32, key string) string {
	t.Helper()
	return get(t, e, Snapshot{CSN: Latest, Txn: txn, CommandID: cmd}, key)
}

// ownWrite overwrites (value "" deletes) key in txn as command cmd.
func ownWrite(t testing.TB, e *Engine, txn *Txn, cmd uint32, key, value string) {
	t.Helper()
	_, seq, _, err := e.GetLatest(context.Background(), []byte(key), txn)
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	if err := txn.Write(context.Background(), []byte(key), v, cmd, seq); err != nil {
		t.Fatalf("write %q as command %d: %v", key, cmd, err)
	}
}

func ownInsert(t testing.TB, txn *Txn, cmd uint32, key, value string) {
	t.Helper()
	if err := txn.Insert(context.Background(), []byte(key), []byte(value), cmd); err != nil {
		t.Fatalf("insert %q as command %d: %v", key, cmd, err)
	}
}

// versions counts the physical versions of key.
func versions(t testing.TB, e *Engine, key string) int {
	t.Helper()
	prefix, end := keyBounds([]byte(key))
	it, err := e.newIter(prefix, end)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// TestRollbackTo: the versions of the commands after a savepoint go —
// inserts, updates (of committed and of own rows), deletes — and every key
// reads as before them, to the transaction itself and after its commit.
func TestRollbackTo(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "a", "a0", 5)
	put(t, e, 2, "b", "b0", 6)
	txn := e.Txn(10)
	// Before the savepoint: commands 1 and 2.
	ownWrite(t, e, txn, 1, "a", "a1")
	ownInsert(t, txn, 2, "c", "c1")
	// SAVEPOINT: the next command is 3.
	ownWrite(t, e, txn, 3, "a", "a3")
	ownWrite(t, e, txn, 3, "b", "")
	ownInsert(t, txn, 3, "d", "d3")
	ownWrite(t, e, txn, 4, "c", "c4")
	if got := own(t, e, txn, 5, "b"); got != "" {
		t.Fatalf("own delete not seen: %q", got)
	}
	if err := txn.RollbackTo(3, 4); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "a1", "b": "b0", "c": "c1", "d": ""}
	for k, w := range want {
		if got := own(t, e, txn, 5, k); got != w {
			t.Fatalf("after rollback to savepoint: %s = %q, want %q", k, got, w)
		}
	}
	for k, n := range map[string]int{"a": 2, "b": 1, "c": 1, "d": 0} {
		if got := versions(t, e, k); got != n {
			t.Fatalf("%s has %d versions, want %d", k, got, n)
		}
	}
	// The undone insert can be made again; the key of a restored row
	// cannot be inserted over.
	ownInsert(t, txn, 5, "d", "d5")
	wantIs(t, txn.Insert(context.Background(), []byte("b"), []byte("x"), 5), ErrKeyExists)
	commitAt(t, txn, 20)
	want["d"] = "d5"
	for k, w := range want {
		if got := get(t, e, at(Latest), k); got != w {
			t.Fatalf("after commit: %s = %q, want %q", k, got, w)
		}
	}
	if got := get(t, e, at(19), "a"); got != "a0" {
		t.Fatalf("before the commit's CSN: a = %q", got)
	}
}

// TestRollbackToNested: rolling back to an inner savepoint keeps the
// outer one's later writes; a savepoint can be rolled back to again;
// rolling back to an outer one undoes everything after it.
func TestRollbackToNested(t *testing.T) {
	e := openMem(t, nil)
	txn := e.Txn(1)
	ownInsert(t, txn, 1, "k", "1")
	// SAVEPOINT s1 (next command 2)
	ownWrite(t, e, txn, 2, "k", "2")
	// SAVEPOINT s2 (next command 3)
	ownWrite(t, e, txn, 3, "k", "3")
	ownInsert(t, txn, 3, "x", "x3")
	if err := txn.RollbackTo(3, 3); err != nil { // ROLLBACK TO s2
		t.Fatal(err)
	}
	if got := own(t, e, txn, 4, "k"); got != "2" {
		t.Fatalf("after rollback to s2: k = %q", got)
	}
	ownWrite(t, e, txn, 4, "k", "4")
	if err := txn.RollbackTo(3, 4); err != nil { // ROLLBACK TO s2 again
		t.Fatal(err)
	}
	if got := own(t, e, txn, 5, "k"); got != "2" {
		t.Fatalf("after the second rollback to s2: k = %q", got)
	}
	if err := txn.RollbackTo(3, 5); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := txn.RollbackTo(2, 5); err != nil { // ROLLBACK TO s1
		t.Fatal(err)
	}
	if got, x := own(t, e, txn, 6, "k"), own(t, e, txn, 6, "x"); got != "1" || x != "" {
		t.Fatalf("after rollback to s1: k = %q, x = %q", got, x)
	}
	commitAt(t, txn, 10)
	if got := get(t, e, at(Latest), "k"); got != "1" {
		t.Fatalf("committed k = %q", got)
	}
}

// TestRollbackToFence: a write of a rolled-back command that arrives late
// is refused; later commands write.
func TestRollbackToFence(t *testing.T) {
	e := openMem(t, nil)
	txn := e.Txn(1)
	ownInsert(t, txn, 1, "k", "1")
	if err := txn.RollbackTo(2, 4); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []uint32{2, 4} {
		wantIs(t, txn.Insert(context.Background(), []byte("late"), []byte("x"), cmd), ErrTxnNotActive)
	}
	ownInsert(t, txn, 5, "new", "5")
	if got := own(t, e, txn, 6, "late"); got != "" {
		t.Fatalf("late write landed: %q", got)
	}
	// An earlier rollback cannot lower the fence.
	if err := txn.RollbackTo(5, 3); err != nil {
		t.Fatal(err)
	}
	wantIs(t, txn.Insert(context.Background(), []byte("late"), []byte("x"), 4), ErrTxnNotActive)
}

// TestRollbackToReleasesLocks: a writer waiting for a row lock taken after
// the savepoint proceeds when the transaction rolls back to it, while the
// transaction goes on; a lock taken before the savepoint is kept.
func TestRollbackToReleasesLocks(t *testing.T) {
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	ctx := context.Background()
	put(t, e, 1, "before", "b0", 5)
	put(t, e, 2, "after", "a0", 6)
	seqBefore, seqAfter := seqOf(t, e, "before"), seqOf(t, e, "after")
	t1 := e.Txn(10)
	ownWrite(t, e, t1, 1, "before", "b1")
	ownWrite(t, e, t1, 2, "after", "a2")

	t2 := e.Txn(11)
	errc := make(chan error, 1)
	go func() { errc <- t2.Write(ctx, []byte("after"), []byte("t2"), 1, seqAfter) }()
	waits.waitFor(t, t1.XID())
	if err := t1.RollbackTo(2, 2); err != nil {
		t.Fatal(err)
	}
	if err := result(t, errc); err != nil {
		t.Fatalf("writer of a released row: %v", err)
	}
	if t1.State() != TxnInProgress {
		t.Fatalf("t1 is %v", t1.State())
	}

	// "before" stays locked by t1.
	errc2 := make(chan error, 1)
	go func() { errc2 <- t2.Write(ctx, []byte("before"), []byte("t2"), 1, seqBefore) }()
	waits.waitFor(t, t1.XID())
	commitAt(t, t1, 20)
	wantIs(t, result(t, errc2), ErrWriteConflict)
	commitAt(t, t2, 21)
	if a, b := get(t, e, at(Latest), "after"), get(t, e, at(Latest), "before"); a != "t2" || b != "b1" {
		t.Fatalf("after = %q, before = %q", a, b)
	}
}

// TestRollbackToRestart: what a rollback to a savepoint removed stays
// removed after a two-phase or one-phase commit and a restart.
func TestRollbackToRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)
	put(t, e, 1, "k", "k0", 5)

	prep := e.Txn(2)
	ownWrite(t, e, prep, 1, "k", "k1")
	ownInsert(t, prep, 2, "p", "p2")
	ownWrite(t, e, prep, 2, "k", "k2")
	if err := prep.RollbackTo(2, 2); err != nil {
		t.Fatal(err)
	}
	if err := prep.PrepareAs(1); err != nil {
		t.Fatal(err)
	}
	one := e.Txn(3)
	ownInsert(t, one, 1, "o1", "x")
	ownInsert(t, one, 2, "o2", "x")
	if err := one.RollbackTo(2, 2); err != nil {
		t.Fatal(err)
	}
	commitAt(t, one, 10)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openDir(t, dir)
	defer e.Close()
	p, ok := e.LookupTxn(2)
	if !ok || p.State() != TxnPrepared {
		t.Fatalf("prepared transaction after restart: %v %v", p, ok)
	}
	if err := p.Commit(ctx, 20); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k": "k1", "p": "", "o1": "x", "o2": ""}
	for k, w := range want {
		if got := get(t, e, at(Latest), k); got != w {
			t.Fatalf("after restart: %s = %q, want %q", k, got, w)
		}
	}
	if n := versions(t, e, "k"); n != 2 {
		t.Fatalf("k has %d versions", n)
	}
}

// TestRollbackToRefused: only an in-progress transaction rolls back to a
// savepoint, and only while it tracks every version it wrote.
func TestRollbackToRefused(t *testing.T) {
	e := openMem(t, nil)
	prep := e.Txn(1)
	ownInsert(t, prep, 1, "p", "x")
	if err := prep.Prepare(); err != nil {
		t.Fatal(err)
	}
	wantIs(t, prep.RollbackTo(1, 1), ErrTxnNotActive)

	defer func(n int) { maxTrackedKeys = n }(maxTrackedKeys)
	maxTrackedKeys = 2
	big := e.Txn(2)
	for _, k := range []string{"a", "b", "c"} {
		ownInsert(t, big, 1, k, "x")
	}
	err := big.RollbackTo(1, 1)
	wantCode(t, err, pgerr.ProgramLimitExceeded)
	if err := big.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, at(Latest), "c"); got != "" {
		t.Fatalf("aborted untracked write visible: %q", got)
	}
}
