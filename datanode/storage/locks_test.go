package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

var allModes = []LockMode{LockKeyShare, LockShare, LockNoKeyUpdate, LockUpdate}

// lock takes mode on key for txn with the seq the latest committed
// version has, without waiting.
func lock(t *testing.T, e *Engine, txn *Txn, key string, mode LockMode) error {
	t.Helper()
	_, err := txn.Lock(context.Background(), []byte(key), mode, 1, seqOf(t, e, key), WaitNoWait, true)
	return err
}

// TestLockConflicts: the conflict table is PostgreSQL's, between lockers
// and between lockers and writers.
func TestLockConflicts(t *testing.T) {
	want := map[[2]LockMode]bool{}
	for _, a := range allModes {
		for _, b := range allModes {
			// FOR KEY SHARE conflicts with FOR UPDATE only; FOR SHARE with
			// the two update modes; the update modes with FOR SHARE and up.
			want[[2]LockMode{a, b}] = a+b > LockUpdate || (a >= LockNoKeyUpdate && b >= LockNoKeyUpdate) ||
				(a == LockShare && b >= LockNoKeyUpdate) || (b == LockShare && a >= LockNoKeyUpdate)
		}
	}
	want[[2]LockMode{LockShare, LockShare}] = false
	for _, a := range allModes {
		for _, b := range allModes {
			t.Run(fmt.Sprintf("%s/%s", a, b), func(t *testing.T) {
				if a.Conflicts(b) != want[[2]LockMode{a, b}] || a.Conflicts(b) != b.Conflicts(a) {
					t.Fatalf("Conflicts = %v", a.Conflicts(b))
				}
				e := openMem(t, nil)
				put(t, e, 1, "k", "v", 5)
				t1, t2 := e.Txn(2), e.Txn(3)
				if err := lock(t, e, t1, "k", a); err != nil {
					t.Fatal(err)
				}
				err := lock(t, e, t2, "k", b)
				if a.Conflicts(b) {
					wantIs(t, err, ErrLockNotAvailable)
				} else if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestLockVersusWriters: a live writer holds its row as FOR UPDATE (or
// FOR NO KEY UPDATE when it changed no key); a row lock blocks writers.
func TestLockVersusWriters(t *testing.T) {
	ctx := context.Background()
	e := openMem(t, nil)
	put(t, e, 1, "k", "v", 5)
	put(t, e, 2, "d", "v", 6)
	seqK, seqD := seqOf(t, e, "k"), seqOf(t, e, "d")
	w := e.Txn(3)
	if err := w.UpdateNoKey(ctx, []byte("k"), []byte("v2"), 0, seqK); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, []byte("d"), nil, 0, seqD); err != nil {
		t.Fatal(err)
	}
	l := e.Txn(4)
	// FOR KEY SHARE does not conflict with an update of no key: it locks
	// the committed version (the one a snapshot reads).
	res, err := l.Lock(ctx, []byte("k"), LockKeyShare, 1, seqK, WaitNoWait, false)
	if err != nil || res.Changed || !res.Found {
		t.Fatalf("key share beside a no-key update: %+v, %v", res, err)
	}
	_, err = l.Lock(ctx, []byte("k"), LockShare, 1, seqK, WaitNoWait, false)
	wantIs(t, err, ErrLockNotAvailable)
	_, err = l.Lock(ctx, []byte("d"), LockKeyShare, 1, seqD, WaitNoWait, false)
	wantIs(t, err, ErrLockNotAvailable)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	// l's key share lock blocks a DELETE, not a no-key UPDATE.
	w2 := e.Txn(5)
	if err := w2.UpdateNoKey(ctx, []byte("k"), []byte("v3"), 0, seqOf(t, e, "k")); err != nil {
		t.Fatal(err)
	}
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	w3 := e.Txn(6)
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	wantCode(t, w3.Write(wctx, []byte("k"), nil, 0, seqOf(t, e, "k")), pgerr.QueryCanceled)
}

// TestLockQueue: waiters get a row in turn, whoever wakes first.
func TestLockQueue(t *testing.T) {
	ctx := context.Background()
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	put(t, e, 1, "k", "v", 5)
	seq := seqOf(t, e, "k")
	t1, t2, t3 := e.Txn(2), e.Txn(3), e.Txn(4)
	if err := lock(t, e, t1, "k", LockUpdate); err != nil {
		t.Fatal(err)
	}
	errc2, errc3 := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := t2.Lock(ctx, []byte("k"), LockUpdate, 1, seq, WaitBlock, true)
		errc2 <- err
	}()
	waits.waitFor(t, t1.XID())
	go func() {
		// An UPDATE queues too.
		errc3 <- t3.Write(ctx, []byte("k"), []byte("t3"), 1, seq)
	}()
	waits.waitFor(t, t1.XID())
	commitAt(t, t1, 6)
	if err := result(t, errc2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc3:
		t.Fatalf("t3 went ahead of t2: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	commitAt(t, t2, 7)
	if err := result(t, errc3); err != nil {
		t.Fatal(err)
	}
	commitAt(t, t3, 8)
	if got := get(t, e, at(Latest), "k"); got != "t3" {
		t.Fatalf("k = %q", got)
	}
}

// TestLockChangedRow: a row committed after the caller's read is locked
// and returned under READ COMMITTED, refused under REPEATABLE READ; a
// deleted row is not locked.
func TestLockChangedRow(t *testing.T) {
	ctx := context.Background()
	e := openMem(t, nil)
	put(t, e, 1, "k", "old", 5)
	put(t, e, 2, "gone", "x", 6)
	read := seqOf(t, e, "k")
	readGone := seqOf(t, e, "gone")
	put(t, e, 3, "k", "new", 7)
	put(t, e, 4, "gone", "", 8)

	rr := e.Txn(5)
	_, err := rr.Lock(ctx, []byte("k"), LockUpdate, 1, read, WaitBlock, false)
	wantIs(t, err, ErrWriteConflict)

	rc := e.Txn(6)
	res, err := rc.Lock(ctx, []byte("k"), LockUpdate, 1, read, WaitBlock, true)
	if err != nil || !res.Changed || !res.Found || string(res.Value) != "new" || res.Seq != seqOf(t, e, "k") {
		t.Fatalf("lock of a changed row: %+v, %v", res, err)
	}
	wantIs(t, lock(t, e, e.Txn(7), "k", LockKeyShare), ErrLockNotAvailable)
	res, err = rc.Lock(ctx, []byte("gone"), LockUpdate, 1, readGone, WaitBlock, true)
	if err != nil || !res.Changed || res.Found {
		t.Fatalf("lock of a deleted row: %+v, %v", res, err)
	}
	if _, err := e.Txn(8).Lock(ctx, []byte("gone"), LockUpdate, 1, seqOf(t, e, "gone"), WaitNoWait, true); err != nil {
		t.Fatalf("the deleted row was locked: %v", err)
	}
}

// TestLockIsNotAVersion: a locked row reads as before for everyone, its
// unique key is still taken, and committing or aborting the locker leaves
// the data as it was.
func TestLockIsNotAVersion(t *testing.T) {
	ctx := context.Background()
	for _, end := range []string{"commit", "abort"} {
		e := openMem(t, nil)
		put(t, e, 1, "k", "v", 5)
		l := e.Txn(2)
		if err := lock(t, e, l, "k", LockUpdate); err != nil {
			t.Fatal(err)
		}
		if got := get(t, e, at(Latest), "k"); got != "v" {
			t.Fatalf("locked row reads %q", got)
		}
		if got := get(t, e, Snapshot{CSN: Latest, Txn: l, CommandID: 5}, "k"); got != "v" {
			t.Fatalf("locked row reads %q for its locker", got)
		}
		n := 0
		if err := e.Scan(ctx, at(Latest), []byte("k"), []byte("l"), func(_, _ []byte, _ uint64) error { n++; return nil }); err != nil || n != 1 {
			t.Fatalf("scan of a locked row: %d rows, %v", n, err)
		}
		ins := e.Txn(3)
		wantIs(t, ins.Insert(ctx, []byte("k"), []byte("dup"), 0), ErrKeyExists)
		if err := ins.Abort(); err != nil {
			t.Fatal(err)
		}
		if end == "commit" {
			commitAt(t, l, 6)
		} else if err := l.Abort(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, e, at(Latest), "k"); got != "v" {
			t.Fatalf("after %s, k = %q", end, got)
		}
		if err := lock(t, e, e.Txn(4), "k", LockUpdate); err != nil {
			t.Fatalf("after %s the lock is still held: %v", end, err)
		}
	}
}

// TestLockRollbackTo: ROLLBACK TO a savepoint releases the locks taken
// after it and keeps the earlier ones.
func TestLockRollbackTo(t *testing.T) {
	ctx := context.Background()
	e := openMem(t, nil)
	put(t, e, 1, "a", "1", 5)
	put(t, e, 2, "b", "2", 6)
	l := e.Txn(3)
	if _, err := l.Lock(ctx, []byte("a"), LockShare, 1, seqOf(t, e, "a"), WaitBlock, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(ctx, []byte("a"), LockUpdate, 3, seqOf(t, e, "a"), WaitBlock, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(ctx, []byte("b"), LockUpdate, 3, seqOf(t, e, "b"), WaitBlock, true); err != nil {
		t.Fatal(err)
	}
	if err := l.RollbackTo(2, 3); err != nil {
		t.Fatal(err)
	}
	o := e.Txn(4)
	if err := lock(t, e, o, "b", LockUpdate); err != nil {
		t.Fatalf("b still locked: %v", err)
	}
	if err := lock(t, e, o, "a", LockShare); err != nil {
		t.Fatalf("a's share lock: %v", err)
	}
	wantIs(t, lock(t, e, o, "a", LockNoKeyUpdate), ErrLockNotAvailable)
	// A statement of a rolled-back command cannot lock any more.
	_, err := l.Lock(ctx, []byte("b"), LockShare, 3, seqOf(t, e, "b"), WaitBlock, true)
	wantIs(t, err, ErrTxnNotActive)
}

// TestLockWaitOptions: lock_timeout bounds a wait (55P03), NOWAIT and
// SKIP LOCKED do not wait, and the context still cancels (57014).
func TestLockWaitOptions(t *testing.T) {
	ctx := context.Background()
	e := openMem(t, nil)
	put(t, e, 1, "k", "v", 5)
	seq := seqOf(t, e, "k")
	if err := lock(t, e, e.Txn(2), "k", LockShare); err != nil {
		t.Fatal(err)
	}
	w := e.Txn(3)
	_, err := w.Lock(WithWaitOptions(ctx, WaitOptions{LockTimeout: 30 * time.Millisecond}), []byte("k"), LockUpdate, 1, seq, WaitBlock, true)
	wantIs(t, err, ErrLockTimeout)
	wantCode(t, err, pgerr.LockNotAvailable)
	if pgerr.As(err).Message != "canceling statement due to lock timeout" {
		t.Fatalf("message %q", pgerr.As(err).Message)
	}
	_, err = w.Lock(ctx, []byte("k"), LockUpdate, 1, seq, WaitSkip, true)
	wantIs(t, err, ErrSkipLocked)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = w.Lock(cctx, []byte("k"), LockUpdate, 1, seq, WaitBlock, true)
	wantCode(t, err, pgerr.QueryCanceled)
	// lock_timeout applies to writers too.
	err = w.Write(WithWaitOptions(ctx, WaitOptions{LockTimeout: 30 * time.Millisecond}), []byte("k"), nil, 1, seq)
	wantIs(t, err, ErrLockTimeout)
}

// TestPreparedLocksSurviveRestart: the row locks of a prepared
// transaction are durable with it; commit and abort remove them.
func TestPreparedLocksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)
	put(t, e, 1, "a", "1", 5)
	put(t, e, 2, "b", "2", 6)
	p, q := e.Txn(3), e.Txn(4)
	if err := lock(t, e, p, "a", LockUpdate); err != nil {
		t.Fatal(err)
	}
	if err := lock(t, e, p, "b", LockShare); err != nil {
		t.Fatal(err)
	}
	if err := lock(t, e, q, "b", LockKeyShare); err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareAs(2); err != nil {
		t.Fatal(err)
	}
	if err := q.Prepare(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir)
	defer e.Close()
	o := e.Txn(5)
	wantIs(t, lock(t, e, o, "a", LockKeyShare), ErrLockNotAvailable)
	wantIs(t, lock(t, e, o, "b", LockNoKeyUpdate), ErrLockNotAvailable)
	if err := lock(t, e, o, "b", LockShare); err != nil {
		t.Fatal(err)
	}
	if err := o.Abort(); err != nil {
		t.Fatal(err)
	}
	pt, ok := e.LookupTxn(3)
	if !ok {
		t.Fatal("prepared transaction 3 lost")
	}
	if err := pt.Commit(ctx, 10); err != nil {
		t.Fatal(err)
	}
	qt, _ := e.LookupTxn(4)
	if err := qt.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := lock(t, e, e.Txn(6), "a", LockUpdate); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir)
	defer e.Close()
	if err := lock(t, e, e.Txn(7), "a", LockUpdate); err != nil {
		t.Fatalf("lock records outlived their transactions: %v", err)
	}
	if err := lock(t, e, e.Txn(8), "b", LockUpdate); err != nil {
		t.Fatalf("lock records outlived their transactions: %v", err)
	}
}

// TestWaitEdges: a wait is listed with both transactions until it ends;
// BreakWait fails it with the error given.
func TestWaitEdges(t *testing.T) {
	ctx := context.Background()
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	put(t, e, 1, "k", "v", 5)
	seq := seqOf(t, e, "k")
	h, w := e.Txn(100), e.Txn(200)
	h.SetPID(7)
	if err := lock(t, e, h, "k", LockUpdate); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		wctx := WithWaitOptions(ctx, WaitOptions{PID: 8, DeadlockTimeout: time.Hour})
		_, err := w.Lock(wctx, []byte("k"), LockShare, 1, seq, WaitBlock, true)
		errc <- err
	}()
	waits.waitFor(t, h.XID())
	edges := e.WaitEdges()
	if len(edges) != 1 {
		t.Fatalf("edges %+v", edges)
	}
	ed := edges[0]
	if ed.WaiterGXID != 200 || ed.HolderGXID != 100 || ed.WaiterPID != 8 || ed.HolderPID != 7 || ed.DeadlockTimeout != time.Hour {
		t.Fatalf("edge %+v", ed)
	}
	if got := e.WaitEdges(ed.ID + 1); len(got) != 0 {
		t.Fatalf("unknown id listed: %+v", got)
	}
	if !e.BreakWait(ed.ID, DeadlockError("cycle")) {
		t.Fatal("BreakWait did not find the wait")
	}
	err := result(t, errc)
	wantCode(t, err, pgerr.DeadlockDetected)
	if got := e.WaitEdges(ed.ID); len(got) != 0 {
		t.Fatalf("ended wait listed: %+v", got)
	}
	if e.BreakWait(ed.ID, DeadlockError("cycle")) {
		t.Fatal("BreakWait found an ended wait")
	}
}
