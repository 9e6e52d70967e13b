package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// testTimeout bounds every blocking step of a test.
const testTimeout = 5 * time.Second

// waitRecorder is a TestingKnobs.OnWait that reports waits on a channel.
type waitRecorder chan uint64

func newWaitRecorder() waitRecorder { return make(waitRecorder, 64) }

func (w waitRecorder) knobs() *TestingKnobs {
	return &TestingKnobs{OnWait: func(xid uint64) { w <- xid }}
}

// waitFor fails the test unless some operation starts to wait on xid.
func (w waitRecorder) waitFor(t *testing.T, xid uint64) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case got := <-w:
			if got == xid {
				return
			}
		case <-deadline:
			t.Fatalf("no operation waited on xid %d", xid)
		}
	}
}

func openMem(t testing.TB, knobs *TestingKnobs) *Engine {
	t.Helper()
	cfg := NewConfig()
	cfg.Dir = "db"
	cfg.FS = vfs.NewMem()
	cfg.CacheBytes = 8 << 20
	cfg.Knobs = knobs
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func openDir(t testing.TB, dir string) *Engine {
	t.Helper()
	cfg := NewConfig()
	cfg.Dir = dir
	cfg.CacheBytes = 64 << 20
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return e
}

func fixedCSN(csn uint64) func(context.Context) (uint64, error) {
	return func(context.Context) (uint64, error) { return csn, nil }
}

// commitAt commits txn one-phase with the given CSN.
func commitAt(t testing.TB, txn *Txn, csn uint64) {
	t.Helper()
	if _, err := txn.CommitOnePhase(context.Background(), fixedCSN(csn)); err != nil {
		t.Fatalf("commit %v at %d: %v", txn, csn, err)
	}
}

// put writes key=value in a fresh transaction and commits it at csn.
func put(t testing.TB, e *Engine, gxid uint64, key, value string, csn uint64) {
	t.Helper()
	txn := e.Txn(gxid)
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	_, seq, _, err := e.GetLatest(context.Background(), []byte(key), txn)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Write(context.Background(), []byte(key), v, 0, seq); err != nil {
		t.Fatalf("write %q: %v", key, err)
	}
	commitAt(t, txn, csn)
}

// get reads key in snap; "" means no row.
func get(t testing.TB, e *Engine, snap Snapshot, key string) string {
	t.Helper()
	v, _, found, err := e.Get(context.Background(), snap, []byte(key))
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !found {
		return ""
	}
	if len(v) == 0 {
		return "<empty>"
	}
	return string(v)
}

func at(csn uint64) Snapshot { return Snapshot{CSN: csn} }

// result receives the outcome of an operation run in a goroutine.
func result(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("operation did not return")
		return nil
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || pgerr.Code(err) != code {
		t.Fatalf("got error %v (code %s), want SQLSTATE %s", err, pgerr.Code(err), code)
	}
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
