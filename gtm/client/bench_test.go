package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meridian-db/meridian/gtm/internal/gtmtest"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
)

// BenchmarkGetCSN64: one leader, one client, 64 goroutines calling
// Commit. Reports commit CSNs per second and the average batch size.
func BenchmarkGetCSN64(b *testing.B) {
	const callers = 64
	_, eps := etcdtest.StartWithEndpoints(b)
	gtmtest.WaitLeader(b, gtmtest.StartServer(b, eps, gtmtest.Config("gtm-bench")))
	c := newClient(b, eps)
	ctx := context.Background()
	if _, err := c.Commit(ctx); err != nil { // connect
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
				if _, err := c.Commit(ctx); err != nil {
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
		b.ReportMetric(float64(after.Commits-before.Commits)/float64(rpcs), "csns/rpc")
	}
}
