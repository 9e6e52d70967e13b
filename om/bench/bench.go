// Package bench is `om bench`: it compares Meridian's transaction modes
// (gtm, gtm-lite, gtm-free) on small OLTP workloads through pgx.
//
//	for each mode:  fresh in-process cluster (om/cluster) with that mode
//	                (or the cluster at --url, whose mode it reads)
//	                load: pgbench's tables (accounts, tellers, branches, history)
//	                N clients run the workload for the duration
//	                GTM requests and CSNs: the leader's /metrics, before and after
//	print:          one Markdown row per mode
//
// Workloads:
//
//	tpcb      pgbench's default transaction: update an account, read it,
//	          update a teller and a branch, insert a history row (one
//	          BEGIN ... COMMIT block; the rows are spread over the datanodes,
//	          so most transactions commit in two phases)
//	select    pgbench -S: read one account by key (one datanode, no GTM
//	          call in gtm-lite and gtm-free)
//	transfer  move an amount between two random accounts (usually on two
//	          datanodes: two-phase commit), and every tenth transaction
//	          sums all balances (a read of every datanode), which must stay 0
//	          in gtm and gtm-lite; in gtm-free the sum may be caught between
//	          a transfer's two datanodes and is only counted
//
// Serialization failures (40001) and deadlocks (40P01) are retried and
// counted as retries; the latency of a transaction includes its retries.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/om/cluster"
)

// Config is one `om bench` run.
type Config struct {
	Modes    []string      // gtm, gtm-lite, gtm-free (fresh clusters)
	URL      string        // instead: the cluster at this URL (its own mode)
	GTMHTTP  string        // with URL: the GTM leader's HTTP address, for its metrics
	Workload string        // tpcb, select, transfer
	Duration time.Duration // of the measured run
	Clients  int
	DNs      int    // datanodes of a fresh cluster
	Accounts int    // rows of pgbench_accounts (pgbench -s 1: 100000)
	Dir      string // where fresh clusters keep their data (a temporary directory if empty)
	Log      *slog.Logger
}

// Result is one mode's figures.
type Result struct {
	Mode         string
	Workload     string
	Clients      int
	Txns         int64
	TPS          float64
	P50, P99     time.Duration
	GTMRequests  float64 // GTM requests answered per transaction (-1: unknown)
	GTMCommits   float64 // commit CSNs handed out per transaction (-1: unknown)
	Retries      int64   // transactions retried after 40001 / 40P01
	Errors       int64   // transactions that failed otherwise
	BadSums      int64   // transfer: sums of all balances that were not 0
	Sums         int64   // transfer: sums read
	MachineLoad1 float64 // 1-minute load average when the run ended
}

// Run runs the benchmark for every mode (or once against URL).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 100000
	}
	switch cfg.Workload {
	case "tpcb", "select", "transfer":
	default:
		return nil, fmt.Errorf("workload %q is not tpcb, select or transfer", cfg.Workload)
	}
	if cfg.URL != "" {
		r, err := runOne(ctx, cfg, cfg.URL, cfg.GTMHTTP, "")
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	var out []Result
	for _, mode := range cfg.Modes {
		r, err := runFresh(ctx, cfg, mode)
		if err != nil {
			return out, fmt.Errorf("mode %s: %w", mode, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// runFresh starts a cluster in mode, runs, and removes it.
func runFresh(ctx context.Context, cfg Config, mode string) (Result, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "meridian-bench-"+mode+"-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := cluster.Start(sctx, cluster.Options{Dir: dir, CNs: 1, DNs: cfg.DNs, TxnMode: mode, Log: cfg.Log})
	cancel()
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	url := "postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable"
	return runOne(ctx, cfg, url, c.Node("gtm1").HTTP, mode)
}

// runOne loads and runs the workload against url.
func runOne(ctx context.Context, cfg Config, url, gtmHTTP, mode string) (Result, error) {
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		return Result{}, err
	}
	defer admin.Close(context.Background())
	if mode == "" {
		if err := admin.QueryRow(ctx, "SHOW meridian.txn_mode").Scan(&mode); err != nil {
			mode = "?"
		}
	}
	if err := load(ctx, admin, cfg.Accounts); err != nil {
		return Result{}, fmt.Errorf("load: %w", err)
	}
	res := Result{Mode: mode, Workload: cfg.Workload, Clients: cfg.Clients, GTMRequests: -1, GTMCommits: -1}
	before, berr := gtmCounters(ctx, gtmHTTP)

	conns := make([]*pgx.Conn, cfg.Clients)
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, url); err != nil {
			return Result{}, err
		}
		defer conns[i].Close(context.Background())
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  []time.Duration
		first error
	)
	start := time.Now()
	for i, conn := range conns {
		wg.Go(func() {
			w := &worker{conn: conn, rnd: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano()))), accounts: cfg.Accounts}
			l, err := w.run(rctx, cfg.Workload)
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, l...)
			res.Retries += w.retries
			res.Errors += w.errors
			res.Sums += w.sums
			res.BadSums += w.badSums
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return res, first
	}
	res.Txns = int64(len(lats))
	res.TPS = float64(res.Txns) / elapsed.Seconds()
	slices.Sort(lats)
	res.P50, res.P99 = quantile(lats, 0.50), quantile(lats, 0.99)
	if after, aerr := gtmCounters(ctx, gtmHTTP); berr == nil && aerr == nil && res.Txns > 0 {
		res.GTMRequests = (after.requests - before.requests) / float64(res.Txns)
		res.GTMCommits = (after.commits - before.commits) / float64(res.Txns)
	}
	res.MachineLoad1 = loadAverage()
	return res, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// load creates pgbench's tables with accounts rows (tellers and branches
// as pgbench -s accounts/100000, at least 1 branch).
func load(ctx context.Context, conn *pgx.Conn, accounts int) error {
	branches := max(1, accounts/100000)
	stmts := []string{
		"DROP TABLE IF EXISTS pgbench_accounts, pgbench_tellers, pgbench_branches, pgbench_history",
		"CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88))",
		"CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84))",
		"CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))",
		"CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))",
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	insert := func(table string, n int, row func(i int) string) error {
		const batch = 1000
		for lo := 1; lo <= n; lo += batch {
			var b strings.Builder
			b.WriteString("INSERT INTO " + table + " VALUES ")
			for i := lo; i < lo+batch && i <= n; i++ {
				if i > lo {
					b.WriteByte(',')
				}
				b.WriteString(row(i))
			}
			if _, err := conn.Exec(ctx, b.String()); err != nil {
				return fmt.Errorf("load %s: %w", table, err)
			}
		}
		return nil
	}
	if err := insert("pgbench_branches", branches, func(i int) string { return fmt.Sprintf("(%d,0,'')", i) }); err != nil {
		return err
	}
	if err := insert("pgbench_tellers", 10*branches, func(i int) string { return fmt.Sprintf("(%d,%d,0,'')", i, (i-1)/10+1) }); err != nil {
		return err
	}
	if err := insert("pgbench_accounts", accounts, func(i int) string {
		return fmt.Sprintf("(%d,%d,0,'')", i, (i-1)/100000+1)
	}); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, "ANALYZE")
	return err
}

// worker is one client.
type worker struct {
	conn     *pgx.Conn
	rnd      *rand.Rand
	accounts int
	retries  int64
	errors   int64
	sums     int64
	badSums  int64
	n        int64
}

// run runs transactions until ctx ends and returns their latencies.
func (w *worker) run(ctx context.Context, workload string) ([]time.Duration, error) {
	var lats []time.Duration
	for ctx.Err() == nil {
		t0 := time.Now()
		var err error
		for {
			switch workload {
			case "tpcb":
				err = w.tpcb(ctx)
			case "select":
				err = w.selectOne(ctx)
			case "transfer":
				err = w.transfer(ctx)
			}
			if err == nil || ctx.Err() != nil || !retryable(err) {
				break
			}
			w.retries++
			w.rollback()
		}
		if ctx.Err() != nil {
			w.rollback()
			break
		}
		if err != nil {
			w.errors++
			w.rollback()
			if w.errors > 100 && w.errors > int64(len(lats)) {
				return lats, fmt.Errorf("%s: mostly errors; last: %w", workload, err)
			}
			continue
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, nil
}

func (w *worker) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if w.conn.PgConn().TxStatus() != 'I' {
		_, _ = w.conn.Exec(ctx, "ROLLBACK")
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (w *worker) aid() int { return w.rnd.IntN(w.accounts) + 1 }

// tpcb is pgbench's "TPC-B (sort of)" script.
func (w *worker) tpcb(ctx context.Context) error {
	branches := max(1, w.accounts/100000)
	aid, tid, bid, delta := w.aid(), w.rnd.IntN(10*branches)+1, w.rnd.IntN(branches)+1, w.rnd.IntN(10001)-5000
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", delta, aid); err != nil {
		return err
	}
	var bal int
	if err := tx.QueryRow(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", aid).Scan(&bal); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", delta, tid); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", delta, bid); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
		tid, bid, aid, delta); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (w *worker) selectOne(ctx context.Context) error {
	var bal int
	return w.conn.QueryRow(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", w.aid()).Scan(&bal)
}

// transfer moves an amount between two accounts; every tenth one sums
// every balance instead.
func (w *worker) transfer(ctx context.Context) error {
	if w.n++; w.n%10 == 0 {
		var sum int64
		if err := w.conn.QueryRow(ctx, "SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts").Scan(&sum); err != nil {
			return err
		}
		w.sums++
		if sum != 0 {
			w.badSums++
		}
		return nil
	}
	from, to, amount := w.aid(), w.aid(), w.rnd.IntN(100)+1
	if from == to {
		to = from%w.accounts + 1
	}
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	// In key order, so that two transfers never wait on each other in a
	// cycle.
	for _, a := range []struct{ aid, delta int }{{min(from, to), 0}, {max(from, to), 0}} {
		d := amount
		if a.aid == from {
			d = -amount
		}
		if _, err := tx.Exec(ctx, "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", d, a.aid); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// counters are the GTM leader's request and commit CSN counters.
type counters struct{ requests, commits float64 }

// gtmCounters reads them from the GTM's /metrics ("" addr: unknown).
func gtmCounters(ctx context.Context, addr string) (counters, error) {
	var c counters
	if addr == "" {
		return c, errors.New("no GTM metrics address")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case `meridian_gtm_rpcs_total{result="ok"}`:
			c.requests = v
		case "meridian_gtm_commit_csns_total":
			c.commits = v
		}
	}
	return c, nil
}

// loadAverage is the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// Markdown writes the results as a table, one row per mode.
func Markdown(w io.Writer, rs []Result) {
	fmt.Fprintln(w, "| mode | workload | clients | TPS | p50 ms | p99 ms | GTM requests/txn | commit CSNs/txn | retries | errors | bad sums | load |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	num := func(v float64) string {
		if v < 0 {
			return "n/a"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	for _, r := range rs {
		bad := "-"
		if r.Workload == "transfer" {
			bad = fmt.Sprintf("%d/%d", r.BadSums, r.Sums)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.2f | %.2f | %s | %s | %d | %d | %s | %.1f |\n", r.Mode, r.Workload, r.Clients, r.TPS,
			float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, num(r.GTMRequests), num(r.GTMCommits),
			r.Retries, r.Errors, bad, r.MachineLoad1)
	}
}
