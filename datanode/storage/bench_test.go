package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func benchKey(i int) []byte {
	return binary.BigEndian.AppendUint64([]byte("t\x00\x01"), uint64(i))
}

// benchRows opens an engine in a temporary directory (closed when the
// benchmark ends) holding n rows of 100 bytes (benchKey 0..n-1) committed
// at CSN 10.
func benchRows(b *testing.B, n int) *Engine {
	b.Helper()
	e := openDir(b, b.TempDir())
	b.Cleanup(func() { e.Close() })
	txn := e.Txn(1)
	value := make([]byte, 100)
	for i := 0; i < n; i++ {
		if err := txn.Insert(context.Background(), benchKey(i), value, 0); err != nil {
			b.Fatal(err)
		}
	}
	commitAt(b, txn, 10)
	return e
}

// BenchmarkGet: point reads of 100k committed keys (flushed to sstables,
// block cache warm), each through a fresh Pebble iterator.
func BenchmarkGet(b *testing.B) {
	const n = 100_000
	e := benchRows(b, n)
	ctx := context.Background()
	if err := e.db.Flush(); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	snap := at(20)
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			_, _, found, err := e.Get(ctx, snap, benchKey(r.IntN(n)))
			if err != nil || !found {
				b.Fatalf("get: %v %v", found, err)
			}
		}
	})
	// Through a Reader: one iterator for every read (index lookups).
	b.Run("reader", func(b *testing.B) {
		rd, err := e.NewReader(snap)
		if err != nil {
			b.Fatal(err)
		}
		defer rd.Close()
		for b.Loop() {
			_, _, found, err := rd.Get(ctx, benchKey(r.IntN(n)))
			if err != nil || !found {
				b.Fatalf("get: %v %v", found, err)
			}
		}
	})
}

// BenchmarkWriteCommit: one-phase commits of single-key transactions with a
// fake GTM; "mem" measures the CPU path, "disk" adds the commit record's
// fsync, "disk-parallel" lets Pebble group concurrent syncs.
func BenchmarkWriteCommit(b *testing.B) {
	open := map[string]func(b *testing.B) *Engine{
		"mem": func(b *testing.B) *Engine {
			cfg := NewConfig()
			cfg.Dir, cfg.FS = "db", vfs.NewMem()
			e, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			return e
		},
		"disk": func(b *testing.B) *Engine { return openDir(b, b.TempDir()) },
	}
	for _, name := range []string{"mem", "disk", "disk-parallel"} {
		b.Run(name, func(b *testing.B) {
			opener := open["disk"]
			if name == "mem" {
				opener = open["mem"]
			}
			e := opener(b)
			defer e.Close()
			var gxid, csn atomic.Uint64
			getCSN := func(context.Context) (uint64, error) { return csn.Add(1), nil }
			value := make([]byte, 100)
			one := func() error {
				g := gxid.Add(1)
				txn := e.Txn(g)
				if err := txn.Insert(context.Background(), benchKey(int(g)), value, 0); err != nil {
					return err
				}
				_, err := txn.CommitOnePhase(context.Background(), getCSN)
				return err
			}
			b.ResetTimer()
			if name == "disk-parallel" {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := one(); err != nil {
							panic(fmt.Sprint("write/commit: ", err))
						}
					}
				})
				return
			}
			for b.Loop() {
				if err := one(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCleanFrozen: a cleaner pass over 100k frozen rows (flushed to
// sstables), which it reads and leaves as they are: the background
// cleaner's cost on a datanode whose data is mostly old.
func BenchmarkCleanFrozen(b *testing.B) {
	const n = 100_000
	e := benchRows(b, n)
	ctx := context.Background()
	if st, err := e.Clean(ctx, CleanOptions{Horizon: 20, FreezeAll: true}); err != nil || st.Frozen != n {
		b.Fatalf("freeze: %+v %v", st, err)
	}
	if err := e.db.Flush(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		st, err := e.Clean(ctx, CleanOptions{Horizon: 20})
		if err != nil || st.Keys != n || st.Frozen != 0 || st.Removed != 0 {
			b.Fatalf("pass: %+v %v", st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
