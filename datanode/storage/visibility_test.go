package storage

import (
	"context"
	"testing"
)

func TestDecide(t *testing.T) {
	own := &Txn{xid: 7}
	snap := &Snapshot{CSN: 20, Txn: own, CommandID: 3}
	for _, c := range []struct {
		name string
		h    versionHeader
		st   xidStatus
		want verdict
	}{
		{"own earlier command", versionHeader{xid: 7, commandID: 2}, xidStatus{}, visible},
		{"own same command", versionHeader{xid: 7, commandID: 3}, xidStatus{}, invisible},
		{"own later command", versionHeader{xid: 7, commandID: 4}, xidStatus{}, invisible},
		{"committed below", versionHeader{xid: 1}, xidStatus{state: TxnCommitted, csn: 19}, visible},
		{"committed at", versionHeader{xid: 1}, xidStatus{state: TxnCommitted, csn: 20}, invisible},
		{"committed above", versionHeader{xid: 1}, xidStatus{state: TxnCommitted, csn: 21}, invisible},
		{"in progress", versionHeader{xid: 1}, xidStatus{state: TxnInProgress}, invisible},
		{"prepared", versionHeader{xid: 1}, xidStatus{state: TxnPrepared}, wait},
		{"committing", versionHeader{xid: 1}, xidStatus{state: TxnCommitting}, wait},
		{"aborted", versionHeader{xid: 1}, xidStatus{state: TxnAborted}, invisible},
	} {
		if got := decide(snap, c.h, c.st); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	latest := &Snapshot{CSN: Latest}
	if decide(latest, versionHeader{xid: 1}, xidStatus{state: TxnCommitted, csn: 1<<64 - 2}) != visible {
		t.Error("Latest does not see a committed version")
	}
}

// TestVisibilityMatrix checks Get against every kind of writer, through
// the engine.
func TestVisibilityMatrix(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()

	put(t, e, 1, "below", "b1", 10)
	put(t, e, 2, "above", "a-old", 8)
	put(t, e, 3, "above", "a-new", 30)
	inprog := e.Txn(4)
	if err := inprog.Insert(ctx, []byte("inprog"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	put(t, e, 5, "aborted", "ab-old", 5)
	ab := e.Txn(6)
	if err := ab.Write(ctx, []byte("aborted"), []byte("ab-new"), 0, seqOf(t, e, "aborted")); err != nil {
		t.Fatal(err)
	}
	put(t, e, 7, "tomb", "t1", 5)
	put(t, e, 8, "tomb", "", 12) // delete
	// Versions by an aborted writer that Abort cannot delete (past its
	// memory) are invisible too: simulate with WriteVersion.
	if err := e.WriteVersion([]byte("aborted"), []byte("ghost"), ab.XID(), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := ab.Abort(); err != nil {
		t.Fatal(err)
	}

	reader := e.Txn(9)
	if err := reader.Insert(ctx, []byte("own"), []byte("cmd1"), 1); err != nil {
		t.Fatal(err)
	}
	if err := reader.Write(ctx, []byte("own"), []byte("cmd2"), 2, 0); err != nil {
		t.Fatal(err)
	}
	if err := reader.Write(ctx, []byte("below"), nil, 2, seqOf(t, e, "below")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		snap Snapshot
		key  string
		want string
	}{
		{at(20), "below", "b1"},
		{at(10), "below", ""}, // csn 10 is not < 10
		{at(11), "below", "b1"},
		{at(20), "above", "a-old"},
		{at(31), "above", "a-new"},
		{at(Latest), "above", "a-new"},
		{at(8), "above", ""},
		{at(Latest), "inprog", ""},
		{at(Latest), "aborted", "ab-old"},
		{at(20), "tomb", ""},
		{at(12), "tomb", "t1"},
		{at(Latest), "tomb", ""},
		{at(Latest), "own", ""},
		{Snapshot{CSN: 20, Txn: reader, CommandID: 1}, "own", ""},
		{Snapshot{CSN: 20, Txn: reader, CommandID: 2}, "own", "cmd1"},
		{Snapshot{CSN: 20, Txn: reader, CommandID: 3}, "own", "cmd2"},
		// The reader's own delete (command 2) hides the row from command
		// 3 but not from command 2; other snapshots still see it.
		{Snapshot{CSN: 20, Txn: reader, CommandID: 2}, "below", "b1"},
		{Snapshot{CSN: 20, Txn: reader, CommandID: 3}, "below", ""},
		{at(20), "below", "b1"},
		// Another transaction's snapshot does not see the reader's writes.
		{Snapshot{CSN: Latest, Txn: inprog, CommandID: 9}, "own", ""},
		{Snapshot{CSN: Latest, Txn: inprog, CommandID: 1}, "inprog", "x"},
		{Snapshot{CSN: Latest, Txn: inprog, CommandID: 0}, "inprog", ""},
		{at(Latest), "missing", ""},
	} {
		if got := get(t, e, c.snap, c.key); got != c.want {
			t.Errorf("Get(%q) at csn %d (txn %v, cmd %d) = %q, want %q",
				c.key, c.snap.CSN, c.snap.Txn, c.snap.CommandID, got, c.want)
		}
	}
	// Once committed, the reader's writes are visible from its CSN on.
	commitAt(t, reader, 40)
	if got := get(t, e, at(40), "own"); got != "" {
		t.Errorf("own at 40 = %q", got)
	}
	if got := get(t, e, at(41), "own"); got != "cmd2" {
		t.Errorf("own at 41 = %q", got)
	}
	if got := get(t, e, at(41), "below"); got != "" {
		t.Errorf("below at 41 = %q", got)
	}
}

// seqOf returns the seq of the newest committed version of key.
func seqOf(t testing.TB, e *Engine, key string) uint64 {
	t.Helper()
	_, seq, _, err := e.GetLatest(context.Background(), []byte(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}
