package e2e

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"

	gtmclient "github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/internal/etcdembed"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/om/cluster"
)

// gtmProc is a gtm replica running as a process of the real binary.
type gtmProc struct {
	name, addr, http string
	args             []string
	cmd              *exec.Cmd
	done             chan struct{}
}

func (g *gtmProc) start(t *testing.T, dir string) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, g.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(filepath.Join(binDir, "gtm"), g.args...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(g.cmd, g.done)
}

func (g *gtmProc) kill() {
	if g.cmd != nil {
		_ = g.cmd.Process.Kill()
		<-g.done
		g.cmd = nil
	}
}

// gtmOp is one call of a worker: a commit CSN or a snapshot, and the
// test's logical clock when the call began and when it returned.
type gtmOp struct {
	commit     bool
	v          uint64
	start, end int64
	at         time.Time // when it returned
}

// TestGTMFailover runs two GTM replicas as processes and clients taking
// commit CSNs and snapshots (as coordinators and datanodes do) while the
// leader is killed with SIGKILL again and again (and restarted). Every
// call must succeed (the clients hide the failover), every commit CSN be
// unique, each worker's values grow, a snapshot taken after a commit
// returned be above its CSN, and any call that began after another
// returned get a larger commit CSN (a snapshot: at least as large).
func TestGTMFailover(t *testing.T) {
	const (
		clients = 3
		workers = 4 // per client
		kills   = 4
	)
	dir := t.TempDir()
	ports := make([]int, 6)
	for i := range ports {
		p, err := cluster.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer etcdLog.Close()
	e, err := etcdembed.Start(ctx, etcdembed.Config{Dir: filepath.Join(dir, "etcd"),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		Log: slog.New(slog.NewTextHandler(etcdLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	keys := meta.NewKeys("meridian")
	gtms := make([]*gtmProc, 2)
	for i := range gtms {
		g := &gtmProc{name: fmt.Sprintf("gtm%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", ports[2+i]), http: fmt.Sprintf("127.0.0.1:%d", ports[4+i])}
		g.args = []string{"--name", g.name, "--listen", g.addr, "--http", g.http, "--etcd", e.Endpoints()[0], "--cluster", "meridian"}
		g.start(t, dir)
		gtms[i] = g
	}
	defer func() {
		for _, g := range gtms {
			g.kill()
		}
		if t.Failed() {
			(&testCluster{dir: dir}).dumpLogs(t)
		}
	}()
	newEtcd := func() *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	watcher := newEtcd()
	leader := func() *gtmProc {
		resp, err := watcher.Get(ctx, keys.GTMLeader()+"/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 {
			return nil
		}
		for _, g := range gtms {
			if g.addr == string(resp.Kvs[0].Value) && g.cmd != nil {
				return g
			}
		}
		return nil
	}

	var (
		clock   atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		ops     [][]gtmOp
		errs    []error
		success atomic.Int64
	)
	for c := range clients {
		gc, err := gtmclient.New(ctx, gtmclient.Config{Etcd: newEtcd(), Keys: keys, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer gc.Close()
		for w := range workers {
			wg.Go(func() {
				var mine []gtmOp
				defer func() {
					mu.Lock()
					ops = append(ops, mine)
					mu.Unlock()
				}()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					commit := (c+w+i)%4 != 0
					cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
					o := gtmOp{commit: commit, start: clock.Add(1)}
					if commit {
						o.v, err = gc.Commit(cctx)
					} else {
						o.v, err = gc.Snapshot(cctx)
					}
					o.end, o.at = clock.Add(1), time.Now()
					ccancel()
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("client %d worker %d: %w", c, w, err))
						mu.Unlock()
						return
					}
					mine = append(mine, o)
					success.Add(1)
				}
			})
		}
	}

	// The nemesis: kill the leader, wait until calls succeed again,
	// restart it.
	var failovers []time.Duration
	for k := range kills {
		time.Sleep(time.Second)
		var g *gtmProc
		for g = leader(); g == nil; g = leader() {
			if ctx.Err() != nil {
				t.Fatal("no GTM leader")
			}
			time.Sleep(50 * time.Millisecond)
		}
		before := success.Load()
		killed := time.Now()
		g.kill()
		for success.Load() < before+clients*workers*2 {
			if time.Since(killed) > time.Minute {
				t.Fatalf("kill %d of %s: no CSN handed out for a minute", k+1, g.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The first call that began after the kill and returned.
		failovers = append(failovers, time.Since(killed))
		g.start(t, dir)
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}

	// Check the history.
	var all []gtmOp
	seen := map[uint64]bool{}
	for w, mine := range ops {
		// A commit CSN is above every earlier commit CSN and at or above
		// every earlier snapshot; a snapshot above every earlier commit.
		var lastCommit, lastSnap uint64
		for _, o := range mine {
			if o.v <= lastCommit || o.v < lastSnap {
				t.Fatalf("worker %d: %d (commit %v) after commit %d and snapshot %d", w, o.v, o.commit, lastCommit, lastSnap)
			}
			if o.commit {
				lastCommit = o.v
			} else {
				lastSnap = o.v
			}
			if o.commit {
				if seen[o.v] {
					t.Fatalf("commit CSN %d handed out twice", o.v)
				}
				seen[o.v] = true
			}
		}
		all = append(all, mine...)
	}
	byEnd := slices.SortedFunc(slices.Values(all), func(a, b gtmOp) int { return cmp.Compare(a.end, b.end) })
	slices.SortFunc(all, func(a, b gtmOp) int { return cmp.Compare(a.start, b.start) })
	var maxCSN, maxSnap uint64
	j := 0
	for _, o := range all {
		for ; j < len(byEnd) && byEnd[j].end < o.start; j++ {
			if byEnd[j].commit {
				maxCSN = max(maxCSN, byEnd[j].v)
			} else {
				maxSnap = max(maxSnap, byEnd[j].v)
			}
		}
		if o.v <= maxCSN || o.v < maxSnap {
			t.Fatalf("%v %d began after a commit got %d and a snapshot %d returned", map[bool]string{true: "commit", false: "snapshot"}[o.commit], o.v, maxCSN, maxSnap)
		}
	}
	// The longest pause of the whole history, and each failover.
	slices.SortFunc(byEnd, func(a, b gtmOp) int { return a.at.Compare(b.at) })
	var gap time.Duration
	for i := 1; i < len(byEnd); i++ {
		gap = max(gap, byEnd[i].at.Sub(byEnd[i-1].at))
	}
	t.Logf("%d calls (%d commit CSNs), %d leader kills; time from each kill until calls are answered again: %v; longest pause %v",
		len(all), len(seen), kills, failovers, gap.Round(time.Millisecond))
}

// TestGTMFailoverSQL kills the GTM leader of a cluster with two replicas
// (SIGKILL, then restart) twice while clients run multi-datanode writes and
// REPEATABLE READ reads through both coordinators: coordinators and
// datanodes follow the new leader and no statement fails — the ones in
// flight wait for it.
func TestGTMFailoverSQL(t *testing.T) {
	tc := startClusterWith(t, cluster.Options{CNs: 2, DNs: 3, GTMs: 2})
	setup := tc.connect(t, 0)
	mustExec(t, setup, "CREATE TABLE g (k bigint PRIMARY KEY, v bigint NOT NULL) DISTRIBUTE BY HASH(k)")
	mustExec(t, setup, "INSERT INTO g SELECT i, 0 FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10)) AS x(i)")
	mustExec(t, setup, "CREATE TABLE h (k bigint PRIMARY KEY) DISTRIBUTE BY HASH(k)")
	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []string
		n       int
		slowest time.Duration
	)
	for w := range 4 {
		conn := tc.connect(t, w%2)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				var err error
				switch w {
				case 0:
					// Every row: a commit on all three datanodes.
					_, err = conn.Exec(ctx, "UPDATE g SET v = v + 1")
				case 2:
					// New rows on several datanodes (no lock shared with w 0).
					_, err = conn.Exec(ctx, "INSERT INTO h VALUES ($1), ($2), ($3)", 3*i, 3*i+1, 3*i+2)
				default:
					var s1, s2 int64
					err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
						if err := tx.QueryRow(ctx, "SELECT sum(v)::bigint FROM g WHERE k <= 5").Scan(&s1); err != nil {
							return err
						}
						return tx.QueryRow(ctx, "SELECT sum(v)::bigint FROM g WHERE k > 5").Scan(&s2)
					})
					if err == nil && s1 != s2 {
						err = fmt.Errorf("fractured read: %d and %d", s1, s2)
					}
				}
				took := time.Since(start)
				cancel()
				mu.Lock()
				n++
				slowest = max(slowest, took)
				if err != nil {
					errs = append(errs, describe(err))
				}
				mu.Unlock()
			}
		})
	}
	for range 2 {
		time.Sleep(2 * time.Second)
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		leader, err := tc.GTMLeader(lctx)
		cancel()
		if err != nil || leader == "" {
			t.Fatalf("GTM leader: %q %v", leader, err)
		}
		tc.kill(t, leader)
		time.Sleep(4 * time.Second) // past the lease TTL: the other leads
		tc.restart(t, leader)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d statements failed across the GTM failovers; first: %s", len(errs), n, errs[0])
	}
	t.Logf("%d statements, none failed; the slowest took %v", n, slowest.Round(time.Millisecond))
}
