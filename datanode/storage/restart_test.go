package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRestart: committed data survives; in-progress writes do not; a
// prepared transaction stays prepared and can commit after the restart;
// seqs and xids never repeat.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)

	put(t, e, 1, "committed", "c", 10)
	inprog := e.Txn(2)
	if err := inprog.Insert(ctx, []byte("inprog"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	// An in-progress overwrite of a committed row.
	if err := inprog.Write(ctx, []byte("committed"), []byte("x"), 0, seqOf(t, e, "committed")); err != nil {
		t.Fatal(err)
	}
	prep := e.Txn(3)
	if err := prep.Insert(ctx, []byte("prepared"), []byte("p"), 0); err != nil {
		t.Fatal(err)
	}
	if err := prep.Prepare(); err != nil {
		t.Fatal(err)
	}
	prepAborted := e.Txn(4)
	if err := prepAborted.Insert(ctx, []byte("prep-aborted"), []byte("p"), 0); err != nil {
		t.Fatal(err)
	}
	if err := prepAborted.Prepare(); err != nil {
		t.Fatal(err)
	}
	lastSeq, lastXid := e.seqs.last(), e.xids.last()
	prepXid := prep.XID()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	for restart := 1; restart <= 2; restart++ {
		e = openDir(t, dir)
		if got := get(t, e, at(20), "committed"); got != "c" {
			t.Fatalf("restart %d: committed at 20 = %q", restart, got)
		}
		if got := get(t, e, at(Latest), "inprog"); got != "" {
			t.Fatalf("restart %d: in-progress insert visible: %q", restart, got)
		}
		prepared := e.PreparedTxns()
		if restart == 1 {
			if len(prepared) != 2 || prepared[0].GXID != 3 || prepared[0].XID != prepXid || prepared[1].GXID != 4 {
				t.Fatalf("prepared after restart: %+v", prepared)
			}
			// The in-progress transaction's row lock is gone.
			txn := e.Txn(5)
			if err := txn.Write(ctx, []byte("committed"), []byte("c2"), 0, seqOf(t, e, "committed")); err != nil {
				t.Fatalf("write over dead in-progress version: %v", err)
			}
			if txn.XID() <= lastXid {
				t.Fatalf("xid %d repeats (last before restart %d)", txn.XID(), lastXid)
			}
			if s := e.seqs.last(); s <= lastSeq {
				t.Fatalf("seq %d repeats (last before restart %d)", s, lastSeq)
			}
			commitAt(t, txn, 20)
			// A prepared transaction keeps its row lock across the restart.
			p, ok := e.LookupTxn(3)
			if !ok || p.State() != TxnPrepared || p.XID() != prepXid {
				t.Fatalf("LookupTxn(3) = %v %v", p, ok)
			}
			pa, _ := e.LookupTxn(4)
			if err := pa.Abort(); err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(ctx, 15); err != nil {
				t.Fatal(err)
			}
		} else if len(prepared) != 0 {
			t.Fatalf("restart 2: prepared %+v", prepared)
		}
		if got := get(t, e, at(16), "prepared"); got != "p" {
			t.Fatalf("restart %d: prepared row at 16 = %q", restart, got)
		}
		if got := get(t, e, at(15), "prepared"); got != "" {
			t.Fatalf("restart %d: prepared row at 15 = %q", restart, got)
		}
		if got := get(t, e, at(Latest), "prep-aborted"); got != "" {
			t.Fatalf("restart %d: aborted prepared row = %q", restart, got)
		}
		if got := get(t, e, at(Latest), "committed"); got != "c2" {
			t.Fatalf("restart %d: committed = %q", restart, got)
		}
		lastSeq, lastXid = e.seqs.last(), e.xids.last()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCounterWindows: counters cross many windows and resume above the
// stored mark.
func TestCounterWindows(t *testing.T) {
	e := openMem(t, nil)
	c, err := loadCounter(e.db, []byte("\x00\x00\x01test"), 3)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < 20; i++ {
		v, err := c.next()
		if err != nil || v != last+1 {
			t.Fatalf("next = %d, %v after %d", v, err, last)
		}
		last = v
	}
	c2, err := loadCounter(e.db, []byte("\x00\x00\x01test"), 3)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c2.next()
	if err != nil || v <= last {
		t.Fatalf("resumed at %d after %d (%v)", v, last, err)
	}
}

// TestDataFormat: a new store records the caller's data format; a store
// in another format, or with data and no record (format 1), is refused
// with ErrFormat, and its data is left as it was.
func TestDataFormat(t *testing.T) {
	open := func(dir string, format uint64) (*Engine, error) {
		cfg := NewConfig()
		cfg.Dir, cfg.CacheBytes, cfg.Format = dir, 8<<20, format
		return Open(cfg)
	}
	put := func(e *Engine) {
		txn := e.Txn(1)
		if err := txn.Write(context.Background(), []byte("k"), []byte("v"), 0, 0); err != nil {
			t.Fatal(err)
		}
		commitAt(t, txn, 10)
	}
	dir := t.TempDir()
	e, err := open(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	put(e)
	e.Close()
	if e, err = open(dir, 2); err != nil {
		t.Fatalf("reopen in the same format: %v", err)
	}
	e.Close()
	if _, err = open(dir, 3); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 2, this build reads format 3") {
		t.Fatalf("open in format 3: %v, want ErrFormat", err)
	}
	// Written without a format record: format 1.
	old := t.TempDir()
	if e, err = open(old, 0); err != nil {
		t.Fatal(err)
	}
	put(e)
	e.Close()
	if _, err = open(old, 2); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("open a format-1 store: %v, want ErrFormat", err)
	}
	if e, err = open(old, 0); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if v, _, found, err := e.Get(context.Background(), Snapshot{CSN: Latest}, []byte("k")); err != nil || !found || string(v) != "v" {
		t.Fatalf("the refused store's row: %q %v %v", v, found, err)
	}
}
