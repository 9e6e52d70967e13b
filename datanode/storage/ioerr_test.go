package storage

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// TestReadIOError: a failed read surfaces as SQLSTATE 58030 from Get, Scan
// and writes' conflict checks, and the engine works again once the disk
// does. (Failed WAL writes and syncs are fatal inside Pebble itself: it
// calls Logger.Fatalf, and the engine panics, as PostgreSQL PANICs.)
func TestReadIOError(t *testing.T) {
	var failReads atomic.Bool
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failReads.Load() && strings.HasSuffix(op.Path, ".sst") && op.Kind.ReadOrWrite() == errorfs.OpIsRead {
			return errors.New("injected read failure")
		}
		return nil
	}))
	cfg := NewConfig()
	cfg.Dir, cfg.FS, cfg.CacheBytes = "db", fs, 0
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	put(t, e, 1, "k", "v", 5)
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	failReads.Store(true)
	_, _, _, err = e.Get(ctx, at(Latest), []byte("k"))
	wantCode(t, err, pgerr.IOError)
	err = e.Scan(ctx, at(Latest), nil, nil, func(_, _ []byte, _ uint64) error { return nil })
	wantCode(t, err, pgerr.IOError)
	err = e.Txn(2).Write(ctx, []byte("k"), nil, 0, 0)
	wantCode(t, err, pgerr.IOError)
	failReads.Store(false)
	if got := get(t, e, at(Latest), "k"); got != "v" {
		t.Fatalf("after recovery: %q", got)
	}
}
