package horizon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
)

// fakeGTM hands out snapshots that only grow.
type fakeGTM struct{ next atomic.Uint64 }

func (g *fakeGTM) Snapshot(context.Context) (uint64, error) { return g.next.Load(), nil }

// gatedGTM is g once open is closed; before, its calls wait and fail with
// their context.
type gatedGTM struct {
	g    *fakeGTM
	open chan struct{}
}

func (g *gatedGTM) Snapshot(ctx context.Context) (uint64, error) {
	select {
	case <-g.open:
		return g.g.Snapshot(ctx)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func TestTrackerOldest(t *testing.T) {
	tr := NewTracker()
	if tr.Oldest() != 0 {
		t.Fatalf("empty tracker: %d", tr.Oldest())
	}
	tr.Observe(100)
	h1, f := tr.Acquire()
	if f != 100 {
		t.Errorf("hold at %d, want the floor 100", f)
	}
	tr.Set(h1, 120) // its GTM snapshot
	h2, _ := tr.Acquire()
	if f2 := tr.Oldest(); f2 != 120 {
		t.Errorf("oldest %d, want 120 (h2 at the floor 120)", f2)
	}
	tr.Observe(200)
	if got := tr.Oldest(); got != 120 {
		t.Errorf("oldest %d, want 120", got)
	}
	tr.Release(h1)
	tr.Release(h2)
	tr.Release(h2)
	if got := tr.Oldest(); got != 200 || tr.Holds() != 0 {
		t.Errorf("after release: oldest %d, %d holds; want 200, 0", got, tr.Holds())
	}
	tr.Observe(150) // never goes back
	if got := tr.Oldest(); got != 200 {
		t.Errorf("floor went back to %d", got)
	}
}

// A coordinator publishes 0 at once, then its oldest snapshot; Compute is
// the smallest of the GTM's snapshot and the published values; Close
// removes the key.
func TestPublishAndCompute(t *testing.T) {
	cli := etcdtest.Start(t)
	keys := meta.NewKeys("horizon-test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := &fakeGTM{}
	g.next.Store(500)
	if h, err := Compute(ctx, cli, keys, g); err != nil || h != 500 {
		t.Fatalf("no coordinator: %d, %v; want the GTM's 500", h, err)
	}
	tr := NewTracker()
	// The publisher's GTM answers only once the gate opens, so the 0 that
	// Publish wrote before it returned is what Compute sees meanwhile.
	gated := &gatedGTM{g: g, open: make(chan struct{})}
	p, err := Publish(ctx, PublisherConfig{Etcd: cli, Keys: keys, Node: "cn1", Tracker: tr, GTM: gated, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := Compute(ctx, cli, keys, g); h != 0 {
		t.Errorf("right after Publish: %d, want 0", h)
	}
	close(gated.open)
	wait := func(want uint64) {
		t.Helper()
		for {
			h, err := Compute(ctx, cli, keys, g)
			if err != nil {
				t.Fatal(err)
			}
			if h == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("horizon %d, want %d", h, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(500) // the floor refreshed from the GTM
	h, _ := tr.Acquire()
	g.next.Store(900)
	wait(500) // the hold keeps it
	tr.Release(h)
	wait(900)
	p.Close()
	resp, err := cli.Get(ctx, keys.Horizon("cn1"))
	if err != nil || len(resp.Kvs) != 0 {
		t.Errorf("after Close: %v, %v", resp, err)
	}
}
