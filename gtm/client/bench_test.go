package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/gtm/internal/gtmtest"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
)

// BenchmarkGetCSN64: one leader, one client, 64 goroutines calling
// Commit, on the raw CSN protocol. Reports commit CSNs per second and the
// average batch size.
func BenchmarkGetCSN64(b *testing.B) { benchCSNs(b, true, false) }

// BenchmarkSnapshot64: the same with Snapshot.
func BenchmarkSnapshot64(b *testing.B) { benchCSNs(b, false, false) }

// BenchmarkGetCSN64GRPC: BenchmarkGetCSN64 on a gRPC StreamCSN.
func BenchmarkGetCSN64GRPC(b *testing.B) { benchCSNs(b, true, true) }

// benchCSNs runs b.N calls of Commit (or Snapshot) from 64 goroutines
// through one client, against a leader reached by gRPC over loopback TCP
// that persists its window in an embedded etcd.
func benchCSNs(b *testing.B, commit, grpcStream bool) {
	const callers = 64
	_, eps := etcdtest.StartWithEndpoints(b)
	gtmtest.WaitLeader(b, gtmtest.StartServer(b, eps, gtmtest.Config("gtm-bench")))
	c, err := client.New(context.Background(), client.Config{Etcd: etcdtest.NewClient(b, eps), Keys: keys, Log: gtmtest.Log,
		GRPCStream: grpcStream})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	ctx := context.Background()
	call := c.Snapshot
	if commit {
		call = c.Commit
	}
	if _, err := call(ctx); err != nil { // connect
		b.Fatal(err)
	}
	before := c.Stats()

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range callers {
		n := b.N / callers
		if g < b.N%callers {
			n++
		}
		wg.Go(func() {
			for range n {
				if _, err := call(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	after := c.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "csns/s")
	if rpcs := after.RPCs - before.RPCs; rpcs > 0 {
		calls := after.Commits + after.Snapshots - before.Commits - before.Snapshots
		b.ReportMetric(float64(calls)/float64(rpcs), "csns/rpc")
	}
}
