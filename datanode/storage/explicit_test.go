package storage

import (
	"context"
	"testing"
	"time"
)

// TestPrepareExplicit: a transaction prepared by PREPARE TRANSACTION is
// skipped by readers (no wait) until MarkCommitIntent, after which they
// wait for the outcome; writers wait for its row all along; gid, mark and
// prepare time survive restarts, and the commit after one is visible.
func TestPrepareExplicit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)
	put(t, e, 1, "k", "old", 10)

	p := e.Txn(2)
	if err := p.Write(ctx, []byte("k"), []byte("new"), 0, seqOf(t, e, "k")); err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareExplicit(""); err == nil {
		t.Fatal("PrepareExplicit with an empty gid succeeded")
	}
	before := time.Now()
	if err := p.PrepareExplicit("g1"); err != nil {
		t.Fatal(err)
	}
	// Readers do not wait: with the deadline below, a wait would fail.
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	v, _, found, err := e.Get(rctx, at(Latest), []byte("k"))
	cancel()
	if err != nil || !found || string(v) != "old" {
		t.Fatalf("read of a prepared (unmarked) row: %q %v %v; want old", v, found, err)
	}
	// A writer waits for its row lock.
	w := e.Txn(3)
	wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, _, _, err = e.GetLatest(wctx, []byte("k"), w)
	wcancel()
	if err == nil {
		t.Fatal("an updater read the row of a prepared transaction without waiting")
	}
	_ = w.Abort()

	info := e.PreparedTxns()
	if len(info) != 1 || !info[0].Explicit || info[0].GID != "g1" || info[0].Committing || info[0].Primary != 0 ||
		info[0].Wall.Before(before.Add(-time.Millisecond)) {
		t.Fatalf("PreparedTxns = %+v", info)
	}
	wall := info[0].Wall
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart: still prepared, still skipped by readers.
	e = openDir(t, dir)
	info = e.PreparedTxns()
	if len(info) != 1 || !info[0].Explicit || info[0].GID != "g1" || info[0].Committing ||
		info[0].Wall.UnixMicro() != wall.UnixMicro() {
		t.Fatalf("PreparedTxns after restart = %+v (wall before %v)", info, wall)
	}
	if got := get(t, e, at(Latest), "k"); got != "old" {
		t.Fatalf("after restart: k = %q, want old", got)
	}
	p, ok := e.LookupTxn(2)
	if !ok {
		t.Fatal("prepared transaction lost in the restart")
	}
	if gid, ok := p.Explicit(); !ok || gid != "g1" {
		t.Fatalf("Explicit() = %q %v", gid, ok)
	}
	if err := p.MarkCommitIntent(); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkCommitIntent(); err != nil {
		t.Fatalf("second mark: %v", err)
	}
	// Now readers wait.
	rctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	_, _, _, err = e.Get(rctx, at(Latest), []byte("k"))
	cancel()
	if err == nil {
		t.Fatal("a reader did not wait for a transaction marked committing")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// The mark survives a restart; the commit ends the wait.
	e = openDir(t, dir)
	defer e.Close()
	info = e.PreparedTxns()
	if len(info) != 1 || !info[0].Committing {
		t.Fatalf("PreparedTxns after the second restart = %+v", info)
	}
	p, _ = e.LookupTxn(2)
	done := make(chan string, 1)
	go func() {
		v, _, _, err := e.Get(ctx, at(30), []byte("k"))
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(v)
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.Commit(ctx, 20); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got != "new" {
			t.Fatalf("reader at 30 after the commit at 20: %q", got)
		}
	case <-time.After(testTimeout):
		t.Fatal("reader still waiting after the commit")
	}
	if got := get(t, e, at(20), "k"); got != "old" {
		t.Fatalf("at 20: %q, want old", got)
	}
	if len(e.PreparedTxns()) != 0 {
		t.Fatalf("still prepared: %+v", e.PreparedTxns())
	}
}

// An automatic participant cannot be marked: its readers wait anyway.
func TestMarkCommitIntentAutomatic(t *testing.T) {
	e := openMem(t, nil)
	p := e.Txn(1)
	if err := p.Insert(context.Background(), []byte("a"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareAs(2); err != nil {
		t.Fatal(err)
	}
	wantIs(t, p.MarkCommitIntent(), ErrTxnNotActive)
}
