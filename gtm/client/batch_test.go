package client

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meridian-db/meridian/gtm/internal/gtmtest"
	"github.com/meridian-db/meridian/gtm/internal/leakcheck"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
)

// pendingCounts returns the callers waiting in the pending batch.
func (c *Client) pendingCounts() (commits, snapshots uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return 0, 0
	}
	return c.pending.commits, c.pending.snapshots
}

// Callers that arrive while a request is out share the next one. To make
// the count exact, the callers queue up while no GTM exists yet: the
// first caller's batch waits for a leader, the other 199 join the next
// batch. Once a GTM leads, two requests serve all 200.
func TestBatching(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	cli := etcdtest.NewClient(t, eps) // see newClient in client_test.go
	keys := meta.NewKeys("meridian")
	c, err := New(context.Background(), Config{Etcd: cli, Keys: keys, Log: gtmtest.Log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	const commits, snapshots = 150, 50
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		csns  []uint64
		snaps []uint64
		errs  []error
	)
	call := func(commit bool) {
		defer wg.Done()
		var v uint64
		var err error
		if commit {
			v, err = c.Commit(ctx)
		} else {
			v, err = c.Snapshot(ctx)
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			errs = append(errs, err)
		case commit:
			csns = append(csns, v)
		default:
			snaps = append(snaps, v)
		}
	}
	// The first caller's batch goes to the loop, which waits for a leader.
	wg.Add(1)
	go call(true)
	waitFor(t, "the first batch to be taken", func() bool { return c.Stats().Batches == 1 })
	wg.Add(commits - 1 + snapshots)
	for i := range commits - 1 + snapshots {
		go call(i < commits-1)
	}
	waitFor(t, "199 callers to queue", func() bool {
		k, s := c.pendingCounts()
		return k == commits-1 && s == snapshots
	})

	s := gtmtest.StartServer(t, eps, gtmtest.Config("gtm-1"))
	gtmtest.WaitLeader(t, s)
	wg.Wait()

	if len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	// (An attempt may bounce off the new leader before it serves; the
	// client retries it within the batch.)
	if st := c.Stats(); st.Batches != 2 || st.RPCs-st.Failed != 2 || st.Commits != commits || st.Snapshots != snapshots {
		t.Fatalf("stats %+v; want 2 batches served by 2 requests for %d commits and %d snapshots", st, commits, snapshots)
	}
	slices.Sort(csns)
	if len(slices.Compact(slices.Clone(csns))) != commits {
		t.Fatalf("commit CSNs not distinct: %v", csns)
	}
	// One request served the 149 commits and the 50 snapshots: the snapshots
	// are equal and above every CSN handed out.
	for _, sn := range snaps {
		if sn != snaps[0] || sn <= csns[len(csns)-1] {
			t.Fatalf("snapshot %d; want all equal and > max CSN %d", sn, csns[len(csns)-1])
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
