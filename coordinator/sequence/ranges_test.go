package sequence

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

func TestRangesTakeInOrder(t *testing.T) {
	var r Ranges
	if _, ok := r.Take(); ok {
		t.Fatal("Take on an empty Ranges")
	}
	now := time.Unix(0, 0)
	if !r.Add(Grant{First: 10, Count: 3, Increment: 5, Gen: 1}, now) {
		t.Fatal("Add refused a fresh grant")
	}
	for _, want := range []int64{10, 15, 20} {
		if v, ok := r.Take(); !ok || v != want {
			t.Fatalf("Take = %d, %v; want %d", v, ok, want)
		}
	}
	if _, ok := r.Take(); ok {
		t.Fatal("Take past the run")
	}
	// The last value of a run at the end of int64 does not overflow.
	r.Add(Grant{First: 9223372036854775807, Count: 1, Increment: 1, Gen: 1}, now)
	if v, _ := r.Take(); v != 9223372036854775807 {
		t.Fatalf("Take = %d", v)
	}
}

func TestRangesAdapt(t *testing.T) {
	var r Ranges
	now := time.Unix(100, 0)
	if n := r.Want(1); n != 1 {
		t.Fatalf("first Want = %d, want 1", n)
	}
	if n := r.Want(50); n != 50 {
		t.Fatalf("Want with CACHE 50 = %d", n)
	}
	r.Add(Grant{First: 1, Count: 1, Increment: 1, Gen: 1}, now)
	// Runs used up fast double the chunk, up to MaxChunk.
	for i := 0; i < 20; i++ {
		now = now.Add(time.Millisecond)
		r.Add(Grant{First: 1, Count: 1, Increment: 1, Gen: 1}, now)
	}
	if n := r.Want(1); n != MaxChunk {
		t.Fatalf("after fast refills Want = %d, want %d", n, MaxChunk)
	}
	// A run that lasted long halves it.
	now = now.Add(time.Minute)
	r.Add(Grant{First: 1, Count: 1, Increment: 1, Gen: 1}, now)
	if n := r.Want(1); n != MaxChunk/2 {
		t.Fatalf("after a slow refill Want = %d, want %d", n, MaxChunk/2)
	}
	// In between it stays.
	now = now.Add(5 * time.Second)
	r.Add(Grant{First: 1, Count: 1, Increment: 1, Gen: 1}, now)
	if n := r.Want(1); n != MaxChunk/2 {
		t.Fatalf("Want = %d, want %d", n, MaxChunk/2)
	}
}

func TestRangesInvalidate(t *testing.T) {
	var r Ranges
	now := time.Unix(0, 0)
	r.Add(Grant{First: 1, Count: 100, Increment: 1, Gen: 3}, now)
	r.Take()
	r.Invalidate(3) // the same generation: nothing changes
	if r.Cached() != 99 {
		t.Fatalf("cached %d after Invalidate(3)", r.Cached())
	}
	r.Invalidate(4)
	if r.Cached() != 0 {
		t.Fatalf("cached %d after Invalidate(4)", r.Cached())
	}
	// A grant of the old generation that was in flight is stale.
	if r.Add(Grant{First: 500, Count: 10, Increment: 1, Gen: 3}, now) {
		t.Fatal("a stale grant was installed")
	}
	if !r.Add(Grant{First: 7, Count: 10, Increment: 1, Gen: 4}, now) {
		t.Fatal("a current grant was refused")
	}
	if v, _ := r.Take(); v != 7 {
		t.Fatalf("Take = %d, want 7", v)
	}
}

// fakeGTM hands out runs of one ascending sequence, as the GTM does.
type fakeGTM struct {
	mu    sync.Mutex
	next  int64
	gen   uint64
	calls int
	fail  error
	delay time.Duration
}

func (f *fakeGTM) NextValues(ctx context.Context, id uint32, name string, n uint64) (*meridianpb.NextValuesReply, error) {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	r := &meridianpb.NextValuesReply{First: f.next, Count: n, Increment: 1, Generation: f.gen}
	f.next += int64(n)
	return r, nil
}

// Sessions sharing a coordinator's cache get unique values, each session's
// increasing, with few GTM calls.
func TestCacheConcurrentSessions(t *testing.T) {
	g := &fakeGTM{next: 1, gen: 1, delay: 100 * time.Microsecond}
	c := NewCache(g)
	const sessions, each = 8, 2000
	got := make([][]int64, sessions)
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				v, err := c.Next(context.Background(), 1, "s", 1)
				if err != nil {
					t.Error(err)
					return
				}
				got[s] = append(got[s], v)
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for s, vs := range got {
		for i, v := range vs {
			if seen[v] {
				t.Fatalf("value %d handed out twice", v)
			}
			seen[v] = true
			if i > 0 && v <= vs[i-1] {
				t.Fatalf("session %d: %d after %d", s, v, vs[i-1])
			}
		}
	}
	if g.calls > 60 {
		t.Errorf("%d GTM calls for %d values; the run size should adapt", g.calls, sessions*each)
	}
}

func TestCacheErrorsAndInvalidate(t *testing.T) {
	g := &fakeGTM{next: 1, gen: 1}
	c := NewCache(g)
	ctx := context.Background()
	if v, _ := c.Next(ctx, 1, "s", 10); v != 1 {
		t.Fatalf("first value %d", v)
	}
	if c.Cached(1) != 9 {
		t.Fatalf("cached %d, want 9 (CACHE 10)", c.Cached(1))
	}
	// setval elsewhere: generation 2 from 1000 on.
	g.mu.Lock()
	g.next, g.gen = 1000, 2
	g.mu.Unlock()
	c.Invalidate(1, 2)
	if v, _ := c.Next(ctx, 1, "s", 10); v != 1000 {
		t.Fatalf("after the reset: %d, want 1000", v)
	}
	boom := errors.New("gtm down")
	g.mu.Lock()
	g.fail = boom
	g.mu.Unlock()
	c.Forget(1)
	if _, err := c.Next(ctx, 1, "s", 1); !errors.Is(err, boom) {
		t.Fatalf("err %v, want the GTM's", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	g.mu.Lock()
	g.fail = nil
	g.mu.Unlock()
	// A waiter whose context ends gives up; the cache still works.
	if v, err := c.Next(cctx, 1, "s", 1); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Next: %d, %v", v, err)
	}
	if _, err := c.Next(ctx, 1, "s", 1); err != nil {
		t.Fatal(err)
	}
}
