package client_test

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/gtm/internal/gtmtest"
	"github.com/meridian-db/meridian/gtm/internal/leakcheck"
	"github.com/meridian-db/meridian/gtm/server"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

var keys = meta.NewKeys(server.DefaultCluster)

// newClient makes a GTM client with an etcd client of its own, as a
// coordinator process has; t.Cleanup closes both. (A shared etcd client
// would also do, but clientv3 can keep a watch stream goroutine alive
// until the etcd client closes if a Watch call's ctx is cancelled while
// the stream is being set up; a per-client etcd client lets the leak
// check tell that apart from a leak of ours.)
func newClient(t testing.TB, eps []string) *client.Client {
	t.Helper()
	cli := etcdtest.NewClient(t, eps)
	c, err := client.New(context.Background(), client.Config{Etcd: cli, Keys: keys, Log: gtmtest.Log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// A snapshot taken after a commit returned covers it, through any client,
// whether it speaks the raw CSN protocol or gRPC.
func TestSnapshotCoversEarlierCommits(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	gtmtest.WaitLeader(t, gtmtest.StartServer(t, eps, gtmtest.Config("gtm-1")))
	a := newClient(t, eps)
	b, err := client.New(context.Background(), client.Config{Etcd: etcdtest.NewClient(t, eps), Keys: keys, Log: gtmtest.Log, GRPCStream: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var prev uint64
	for i := range 100 {
		c1, c2 := a, b
		if i%2 == 1 {
			c1, c2 = b, a
		}
		csn, err := c1.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if csn <= prev {
			t.Fatalf("commit CSN %d not above the previous %d", csn, prev)
		}
		prev = csn
		snap, err := c2.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap <= csn {
			t.Fatalf("snapshot %d taken after commit %d returned does not cover it", snap, csn)
		}
	}
}

// op is one Snapshot or Commit call, with the logical times it started
// and returned at.
type op struct {
	commit     bool
	v          uint64
	start, end int64
}

// Calls are ordered as their callers see them, with several requests in
// flight: a call that starts after another returned gets a larger commit
// CSN than that one's CSN, and a commit CSN at or above, or a snapshot at
// or above, that one's snapshot.
func TestCallsAreOrdered(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	gtmtest.WaitLeader(t, gtmtest.StartServer(t, eps, gtmtest.Config("gtm-1")))
	c := newClient(t, eps)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const callers, calls = 64, 200
	var (
		clock atomic.Int64
		wg    sync.WaitGroup
		ops   = make([][]op, callers)
		errs  = make([]error, callers)
	)
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				o := op{commit: (g+i)%3 != 0, start: clock.Add(1)}
				if o.commit {
					o.v, errs[g] = c.Commit(ctx)
				} else {
					o.v, errs[g] = c.Snapshot(ctx)
				}
				o.end = clock.Add(1)
				if errs[g] != nil {
					return
				}
				ops[g] = append(ops[g], o)
			}
		})
	}
	wg.Wait()
	var all []op
	for g := range callers {
		if errs[g] != nil {
			t.Fatalf("caller %d: %v", g, errs[g])
		}
		all = append(all, ops[g]...)
	}
	// Sweep the calls by start, keeping the largest commit CSN and
	// snapshot among the calls that returned before.
	byEnd := slices.SortedFunc(slices.Values(all), func(a, b op) int { return cmp.Compare(a.end, b.end) })
	slices.SortFunc(all, func(a, b op) int { return cmp.Compare(a.start, b.start) })
	var maxCSN, maxSnap uint64
	j := 0
	seen := map[uint64]bool{}
	for _, o := range all {
		for ; j < len(byEnd) && byEnd[j].end < o.start; j++ {
			if byEnd[j].commit {
				maxCSN = max(maxCSN, byEnd[j].v)
			} else {
				maxSnap = max(maxSnap, byEnd[j].v)
			}
		}
		if o.commit {
			if seen[o.v] {
				t.Fatalf("commit CSN %d handed out twice", o.v)
			}
			seen[o.v] = true
			if o.v <= maxCSN || o.v < maxSnap {
				t.Fatalf("commit CSN %d after a commit got %d and a snapshot %d", o.v, maxCSN, maxSnap)
			}
		} else if o.v <= maxCSN || o.v < maxSnap {
			t.Fatalf("snapshot %d after a commit got %d and a snapshot %d", o.v, maxCSN, maxSnap)
		}
	}
	if st := c.Stats(); st.Commits+st.Snapshots != callers*calls {
		t.Fatalf("stats %+v; want %d calls", st, callers*calls)
	}
}

// call is one Commit of a worker: its CSN and the test's phase when the
// call started and when it returned.
type call struct {
	csn        uint64
	start, end int32
}

// worker commits in a loop and records its calls, in order.
type worker struct {
	calls []call
	err   error
}

// Phases of a failover test.
const (
	phaseA      = iota // a leads
	phaseSwitch        // a is being stopped, b not yet serving
	phaseB             // b leads
)

// runWorkers starts n workers on c until stop is closed.
func runWorkers(ctx context.Context, c *client.Client, n int, stop <-chan struct{}, phase *atomic.Int32, count *atomic.Int64) ([]*worker, *sync.WaitGroup) {
	ws := make([]*worker, n)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{}
		ws[i] = w
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := phase.Load()
				csn, err := c.Commit(ctx)
				if err != nil {
					w.err = err
					return
				}
				w.calls = append(w.calls, call{csn: csn, start: start, end: phase.Load()})
				count.Add(1)
			}
		})
	}
	return ws, &wg
}

// failover runs workers against replica a, stops a (cleanly or not), and
// checks that replica b takes over with the client following: no caller
// sees an error, every CSN is distinct, each caller's CSNs increase, and
// every call started once b leads gets a CSN above every CSN returned
// while a led.
func failover(t *testing.T, stopLeader func(*server.Server)) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	a := gtmtest.StartServer(t, eps, gtmtest.Config("gtm-a"))
	gtmtest.WaitLeader(t, a)
	b := gtmtest.StartServer(t, eps, gtmtest.Config("gtm-b"))
	c := newClient(t, eps)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var (
		phase atomic.Int32
		count atomic.Int64
	)
	ws, wg := runWorkers(ctx, c, 8, stop, &phase, &count)
	waitCount := func(n int64) {
		for count.Load() < n && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	waitCount(500)
	phase.Store(phaseSwitch)
	stopLeader(a)
	gtmtest.WaitLeader(t, b)
	phase.Store(phaseB)
	waitCount(count.Load() + 500)
	close(stop)
	wg.Wait()

	var all []uint64
	var maxA, minB uint64 = 0, ^uint64(0)
	var nA, nB int
	for i, w := range ws {
		if w.err != nil {
			t.Fatalf("worker %d: %v", i, w.err)
		}
		for j, cl := range w.calls {
			if j > 0 && cl.csn <= w.calls[j-1].csn {
				t.Fatalf("worker %d: CSN %d after %d", i, cl.csn, w.calls[j-1].csn)
			}
			all = append(all, cl.csn)
			if cl.end == phaseA {
				maxA = max(maxA, cl.csn)
				nA++
			}
			if cl.start == phaseB {
				minB = min(minB, cl.csn)
				nB++
			}
		}
	}
	slices.Sort(all)
	if n := len(slices.Compact(slices.Clone(all))); n != len(all) {
		t.Fatalf("%d duplicate CSNs", len(all)-n)
	}
	if nA == 0 || nB == 0 {
		t.Fatalf("%d calls while a led, %d once b led; want some of each", nA, nB)
	}
	if minB <= maxA {
		t.Fatalf("after failover CSN %d, not above %d handed out by the old leader", minB, maxA)
	}
	t.Logf("%d CSNs: %d while a led (max %d), %d once b led (min %d); client %+v", len(all), nA, maxA, nB, minB, c.Stats())
}

func TestFailoverClose(t *testing.T) {
	failover(t, func(s *server.Server) { s.Close() })
}

func TestFailoverCrash(t *testing.T) {
	failover(t, func(s *server.Server) { s.Crash() })
}

// With no GTM, a caller waits until its ctx ends and gets 08006.
func TestNoGTMIsConnectionFailure(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	c := newClient(t, eps)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Commit(ctx)
	if pgerr.Code(err) != pgerr.ConnectionFailure {
		t.Fatalf("Commit with no GTM: %v (SQLSTATE %s), want 08006", err, pgerr.Code(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("Commit with no GTM: %v; want it to match DeadlineExceeded and ErrNoLeader", err)
	}
}

// A leader key naming a dead address (a crashed GTM whose lease has not
// expired yet) is also a connection failure, and the client moves on
// when a live leader appears.
func TestDeadLeaderThenLiveOne(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	lease, err := cli.Grant(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1:1 refuses connections.
	if _, err := cli.Put(context.Background(), keys.GTMLeader()+"/dead", "127.0.0.1:1", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, eps)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Snapshot(ctx)
	var pe *pgerr.Error
	if !errors.As(err, &pe) || pe.Code != pgerr.ConnectionFailure {
		t.Fatalf("Snapshot with a dead leader: %v, want 08006", err)
	}

	s := gtmtest.StartServer(t, eps, gtmtest.Config("gtm-1")) // queues behind the dead key
	if _, err := cli.Revoke(context.Background(), lease.ID); err != nil {
		t.Fatal(err)
	}
	gtmtest.WaitLeader(t, s)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Commit(ctx); err != nil {
		t.Fatalf("Commit once a live leader exists: %v", err)
	}
}

// hungGTM accepts streams and never answers.
type hungGTM struct {
	meridianpb.UnimplementedGTMServer
}

func (hungGTM) StreamCSN(st meridianpb.GTM_StreamCSNServer) error {
	<-st.Context().Done()
	return st.Context().Err()
}

// A leader that accepts the stream but does not answer is given up on
// after RPCTimeout, and the request is sent again.
func TestHungLeader(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	meridianpb.RegisterGTMServer(gs, hungGTM{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})
	if _, err := cli.Put(context.Background(), keys.GTMLeader()+"/hung", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}

	ecli := etcdtest.NewClient(t, eps)
	c, err := client.New(context.Background(), client.Config{Etcd: ecli, Keys: keys, Log: gtmtest.Log, RPCTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = c.Commit(ctx)
	if pgerr.Code(err) != pgerr.ConnectionFailure || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("Commit at a hung leader: %v (SQLSTATE %s); want 08006 and no answer within 100ms", err, pgerr.Code(err))
	}
	if st := c.Stats(); st.Failed < 2 {
		t.Fatalf("stats %+v; want several failed attempts", st)
	}
}

// Close fails the waiting callers and later calls with ErrClosed.
func TestClose(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	c := newClient(t, eps)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Commit(context.Background()) // no GTM: waits
		errc <- err
	}()
	for c.Stats().Batches == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-errc; !errors.Is(err, client.ErrClosed) || pgerr.Code(err) != pgerr.ConnectionFailure {
		t.Fatalf("waiting Commit after Close: %v", err)
	}
	if _, err := c.Snapshot(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
}
