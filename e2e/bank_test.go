package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/om/cluster"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// Bank: transfers between accounts spread over every datanode, through
// both coordinators, each recorded in a ledger row of the same
// transaction (one writer prepares them with PREPARE TRANSACTION and
// commits them with COMMIT PREPARED through the other coordinator); REPEATABLE READ readers sum all balances; a nemesis kills
// (SIGKILL) a random datanode, coordinator or the GTM leader every few
// seconds and restarts it. The checker then asserts what must hold:
//
//   - every reader's sum is the initial total (a fractured read — part of
//     a transfer seen — fails the test);
//   - every acknowledged transfer is in the ledger; every ledger row is a
//     transfer that was attempted and reached COMMIT (a transfer that
//     failed before COMMIT must not be there); a prepared transfer is
//     acknowledged when PREPARE TRANSACTION succeeded, since it is then
//     committed until COMMIT PREPARED succeeds (or says it is gone); one
//     whose PREPARE TRANSACTION answer was lost is settled at once, as a
//     transaction manager's recovery would (committed if it prepared);
//   - every balance equals its initial balance plus the replay of the
//     ledger, and the total is exact;
//   - no operation hangs, every error carries an SQLSTATE, and nothing is
//     left prepared once the cluster is whole again.

const (
	bankAccounts = 30
	bankInitial  = 1000
	// Writers 0..3 commit; this one uses PREPARE TRANSACTION.
	bankExplicitWriter = 4
)

// bankXfer is one attempted transfer.
type bankXfer struct {
	id, src, dst, amount int64
}

// bankHistory is what the clients saw.
type bankHistory struct {
	mu       sync.Mutex
	acked    map[int64]bankXfer // COMMIT returned success
	unknown  map[int64]bankXfer // COMMIT returned an error: may or may not be there
	failed   map[int64]bankXfer // failed before COMMIT was sent: must not be there
	sums     []int64            // every reader's total
	sumAt    []time.Time        // when each was read
	errCodes map[string]int     // errors by SQLSTATE ("" none: a broken connection)
	hangs    []string
	noState  []string
}

func (h *bankHistory) note(err error, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	code := sqlState(err)
	if errors.Is(err, context.DeadlineExceeded) {
		h.hangs = append(h.hangs, what+": "+err.Error())
	}
	h.errCodes[code]++
}

// bankConn keeps a connection to a coordinator, preferring cn, switching
// to the other when it is down.
type bankConn struct {
	tc   *testCluster
	cn   int
	conn *pgx.Conn
}

func (b *bankConn) get(ctx context.Context) (*pgx.Conn, error) {
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	var err error
	for i := range 2 {
		cn := (b.cn + i) % 2
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var c *pgx.Conn
		c, err = pgx.Connect(cctx, b.tc.dsn(cn))
		cancel()
		if err == nil {
			b.conn = c
			return c, nil
		}
	}
	return nil, err
}

// drop closes the connection after an error that may have broken it.
func (b *bankConn) drop(err error) {
	if b.conn == nil {
		return
	}
	if sqlState(err) == "" || sqlState(err) == "08006" || sqlState(err) == "57P01" || b.conn.IsClosed() {
		b.conn.Close(context.Background())
		b.conn = nil
	}
}

func (b *bankConn) close() {
	if b.conn != nil {
		b.conn.Close(context.Background())
	}
}

// transfer runs one transfer; committing reports whether the error (if
// any) came from COMMIT (or PREPARE TRANSACTION, with gid).
func transfer(ctx context.Context, conn *pgx.Conn, x bankXfer, gid string) (committing bool, err error) {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return false, err
	}
	fail := func(err error) (bool, error) {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(rctx, "ROLLBACK")
		return false, err
	}
	// In account order, so that two transfers never wait on each other.
	first, second := [2]int64{x.src, -x.amount}, [2]int64{x.dst, x.amount}
	if x.dst < x.src {
		first, second = second, first
	}
	for _, u := range [][2]int64{first, second} {
		if _, err := conn.Exec(ctx, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", u[1], u[0]); err != nil {
			return fail(err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO ledger VALUES ($1, $2, $3, $4)", x.id, x.src, x.dst, x.amount); err != nil {
		return fail(err)
	}
	if gid != "" {
		_, err = conn.Exec(ctx, "PREPARE TRANSACTION '"+gid+"'")
		return true, err
	}
	_, err = conn.Exec(ctx, "COMMIT")
	return true, err
}

// commitPrepared commits the prepared transfer gid, through whichever
// coordinator answers, until it is done: success, or 42704 — the record
// is gone, which after a successful PREPARE TRANSACTION means an earlier
// attempt committed it. It gives up after a minute.
func commitPrepared(bc *bankConn, h *bankHistory, gid string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := bc.get(context.Background())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			_, err = conn.Exec(ctx, "COMMIT PREPARED '"+gid+"'")
			cancel()
			if err == nil || sqlState(err) == "42704" {
				return nil
			}
			h.note(err, "COMMIT PREPARED "+gid)
			bc.drop(err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("COMMIT PREPARED '%s': %w", gid, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settlePrepare finishes a transaction whose PREPARE TRANSACTION answer
// was lost, through whichever coordinator answers: if it is prepared, it
// is committed (committed true); if no datanode holds it, it never
// prepared and never will (its coordinator's PREPARING record is aborted
// by the participants' resolvers). While it is being prepared or
// finished, it waits. It gives up after a minute.
func settlePrepare(bc *bankConn, h *bankHistory, gid string) (committed bool, err error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var conn *pgx.Conn
		conn, err = bc.get(context.Background())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var rows [][]any
			rows, err = queryRows(ctx, conn, "SELECT state FROM meridian_prepared_xacts WHERE gid = '"+gid+"'")
			cancel()
			switch {
			case err != nil:
				h.note(err, "look up prepared "+gid)
				bc.drop(err)
			case len(rows) == 0:
				return false, nil
			case rows[0][0] == "prepared":
				if err = commitPrepared(bc, h, gid); err != nil {
					return false, err
				}
				return true, nil
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("settle prepared %s: still in doubt after a minute (%v)", gid, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readSum reads the total in one REPEATABLE READ transaction of two
// statements (even and odd accounts), or in one READ COMMITTED statement.
func readSum(ctx context.Context, conn *pgx.Conn, twoStatements bool) (int64, error) {
	if !twoStatements {
		var s int64
		err := conn.QueryRow(ctx, "SELECT sum(balance)::bigint FROM accounts").Scan(&s)
		return s, err
	}
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return 0, err
	}
	var even, odd, n int64
	err := conn.QueryRow(ctx, "SELECT sum(balance)::bigint FROM accounts WHERE id % 2 = 0").Scan(&even)
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT sum(balance)::bigint, count(*) FROM accounts WHERE id % 2 = 1").Scan(&odd, &n)
	}
	if err == nil && n != bankAccounts/2 {
		err = fmt.Errorf("%d odd accounts, want %d", n, bankAccounts/2)
	}
	if err == nil {
		_, err = conn.Exec(ctx, "COMMIT")
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(rctx, "ROLLBACK")
		return 0, err
	}
	return even + odd, nil
}

// checkAccountSpread fails the test unless every datanode holds accounts.
func checkAccountSpread(t *testing.T, tc *testCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := routing.Watch(ctx, tc.Cli, tc.Keys, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	per := map[uint32]int{}
	for id := int64(1); id <= bankAccounts; id++ {
		per[w.Current().Owner(codec.Bucket([]types.Datum{id}))]++
	}
	for _, g := range w.Current().Groups() {
		if per[g] < 3 {
			t.Fatalf("datanode %d holds %d accounts (%v); the test needs transfers across all of them", g, per[g], per)
		}
	}
	t.Logf("accounts per datanode: %v", per)
}

// TestBankNemesis: see the top of this file. MERIDIAN_BANK_SECONDS sets how
// long the nemesis runs (default 60) and MERIDIAN_BANK_SEED its seed.
func TestBankNemesis(t *testing.T) {
	seconds, seed := 60, time.Now().UnixNano()
	if v, err := strconv.Atoi(os.Getenv("MERIDIAN_BANK_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	if v, err := strconv.ParseInt(os.Getenv("MERIDIAN_BANK_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (MERIDIAN_BANK_SEED), %d s of nemesis", seed, seconds)
	tc := startClusterWith(t, cluster.Options{CNs: 2, DNs: 3, GTMs: 2})
	checkAccountSpread(t, tc)
	setup := tc.connect(t, 0)
	mustExec(t, setup, "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL) DISTRIBUTE BY HASH(id)")
	mustExec(t, setup, "CREATE TABLE ledger (xfer bigint PRIMARY KEY, src bigint NOT NULL, dst bigint NOT NULL, amount bigint NOT NULL) DISTRIBUTE BY HASH(xfer)")
	var vals []string
	for id := 1; id <= bankAccounts; id++ {
		vals = append(vals, fmt.Sprintf("(%d, %d)", id, bankInitial))
	}
	mustExec(t, setup, "INSERT INTO accounts VALUES "+strings.Join(vals, ", "))
	setup.Close(context.Background())

	h := &bankHistory{acked: map[int64]bankXfer{}, unknown: map[int64]bankXfer{}, failed: map[int64]bankXfer{}, errCodes: map[string]int{}}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	const opTimeout = 45 * time.Second
	var wg sync.WaitGroup
	// The explicit writer commits with COMMIT PREPARED through the other
	// coordinator.
	for w := range bankExplicitWriter + 1 {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		explicit := w == bankExplicitWriter
		wg.Go(func() {
			bc := &bankConn{tc: tc, cn: w % 2}
			defer bc.close()
			other := &bankConn{tc: tc, cn: (w + 1) % 2}
			defer other.close()
			for seq := int64(1); !stopped(); seq++ {
				x := bankXfer{id: int64(w)<<32 | seq, src: 1 + rng.Int64N(bankAccounts), amount: 1 + rng.Int64N(50)}
				for x.dst = x.src; x.dst == x.src; x.dst = 1 + rng.Int64N(bankAccounts) {
				}
				conn, err := bc.get(context.Background())
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				gid := ""
				if explicit {
					gid = fmt.Sprintf("bank-%d", x.id)
				}
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				committing, err := transfer(ctx, conn, x, gid)
				cancel()
				if explicit && err == nil {
					if cerr := commitPrepared(other, h, gid); cerr != nil {
						h.mu.Lock()
						h.hangs = append(h.hangs, cerr.Error())
						h.mu.Unlock()
					}
				}
				if explicit && committing && err != nil {
					// The answer to PREPARE TRANSACTION was lost: settle it
					// now, as a transaction manager's recovery does. Left
					// prepared, it would hold its accounts' row locks for
					// the rest of the run and every transfer touching them
					// would wait.
					h.note(err, fmt.Sprintf("transfer %d", x.id))
					bc.drop(err)
					committed, serr := settlePrepare(other, h, gid)
					if serr != nil {
						h.mu.Lock()
						h.hangs = append(h.hangs, serr.Error())
						h.mu.Unlock()
					}
					h.mu.Lock()
					if committed {
						h.acked[x.id] = x
					} else {
						h.unknown[x.id] = x
					}
					h.mu.Unlock()
					continue
				}
				h.mu.Lock()
				switch {
				case err == nil:
					h.acked[x.id] = x
				case committing:
					h.unknown[x.id] = x
				default:
					h.failed[x.id] = x
				}
				h.mu.Unlock()
				if err != nil {
					h.note(err, fmt.Sprintf("transfer %d", x.id))
					bc.drop(err)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	for r := range 2 {
		wg.Go(func() {
			bc := &bankConn{tc: tc, cn: r}
			defer bc.close()
			for i := 0; !stopped(); i++ {
				conn, err := bc.get(context.Background())
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				sum, err := readSum(ctx, conn, i%4 != 3)
				cancel()
				if err != nil {
					h.note(err, "read")
					bc.drop(err)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				h.mu.Lock()
				h.sums = append(h.sums, sum)
				h.sumAt = append(h.sumAt, time.Now())
				h.mu.Unlock()
			}
		})
	}

	// The nemesis.
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	victims := []string{"dn1", "dn2", "dn3", "cn1", "cn2", "gtm"}
	var events []string
	progress := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.acked)
	}
	end := time.Now().Add(time.Duration(seconds) * time.Second)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(2000+rng.IntN(2000)) * time.Millisecond)
		v := victims[rng.IntN(len(victims))]
		if v == "gtm" {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			name, err := tc.GTMLeader(lctx)
			cancel()
			if err != nil || name == "" {
				events = append(events, fmt.Sprintf("no GTM leader to kill (%v)", err))
				continue
			}
			v = name
		}
		before := progress()
		killed := time.Now()
		tc.kill(t, v)
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		tc.restart(t, v)
		events = append(events, fmt.Sprintf("%s %s down %v (acknowledged transfers %d → %d)", killed.Format("15:04:05.000"), v,
			time.Since(killed).Round(100*time.Millisecond), before, progress()))
	}
	// The cluster is whole: transfers must get through again.
	resumed := progress()
	resumeStart := time.Now()
	for progress() < resumed+20 {
		if time.Since(resumeStart) > 60*time.Second {
			t.Errorf("only %d transfers acknowledged in the minute after the nemesis stopped", progress()-resumed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, e := range events {
		t.Log("nemesis: " + e)
	}

	// A PREPARE TRANSACTION whose answer was lost may have succeeded: the
	// user (here) decides those.
	conn := tc.connect(t, 0)
	left := 0
	eventually(t, 60*time.Second, "commit the prepared transfers left", func(ctx context.Context) error {
		rows, err := queryRows(ctx, conn, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'bank-%'")
		if err != nil {
			return err
		}
		for _, r := range rows {
			gid, _ := r[0].(string)
			if _, err := conn.Exec(ctx, "COMMIT PREPARED '"+gid+"'"); err != nil && sqlState(err) != "42704" {
				return err
			}
			left++
		}
		return nil
	})
	t.Logf("%d prepared transfers were left (the writer settles lost answers to PREPARE TRANSACTION itself); committed now", left)
	// Nothing may stay prepared.
	resolveStart := time.Now()
	eventually(t, 60*time.Second, "no prepared transaction left", func(ctx context.Context) error {
		rows, err := queryRows(ctx, conn, "SELECT gxid, gid, kind, state, datanodes, primary_datanode, age FROM meridian_prepared_xacts")
		if err != nil {
			return err
		}
		if len(rows) != 0 {
			return fmt.Errorf("%d transactions still prepared: %v", len(rows), rows)
		}
		return nil
	})
	t.Logf("no prepared transaction left %v after the workers stopped", time.Since(resolveStart).Round(time.Millisecond))
	checkBank(t, conn, h)
}

// checkBank is the checker: the final state against the history.
func checkBank(t *testing.T, conn *pgx.Conn, h *bankHistory) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	bad := 0
	for i, s := range h.sums {
		if s != bankAccounts*bankInitial {
			bad++
			if bad <= 5 {
				t.Errorf("a reader summed %d at %s, want %d: a fractured read", s, h.sumAt[i].Format("15:04:05.000"), bankAccounts*bankInitial)
			}
		}
	}
	var ledger map[int64]bankXfer
	var got map[int64]int64
	eventually(t, 60*time.Second, "read the ledger and the balances", func(ctx context.Context) error {
		var err error
		ledger, got, err = readBank(ctx, conn)
		return err
	})
	want := map[int64]int64{}
	for id := int64(1); id <= bankAccounts; id++ {
		want[id] = bankInitial
	}
	for _, x := range ledger {
		want[x.src] -= x.amount
		want[x.dst] += x.amount
	}
	var lost, phantom, unacked int
	for id, x := range h.acked {
		if got, ok := ledger[id]; !ok || got != x {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged transfer %+v: ledger has %+v (present %v)", x, got, ok)
			}
		}
	}
	for id, x := range ledger {
		if _, ok := h.acked[id]; ok {
			continue
		}
		if u, ok := h.unknown[id]; ok && u == x {
			unacked++
			continue
		}
		phantom++
		if phantom <= 5 {
			f, failed := h.failed[id]
			t.Errorf("ledger row %+v was never committed by a client (failed before COMMIT: %v %+v)", x, failed, f)
		}
	}
	var total int64
	for _, b := range got {
		total += b
	}
	if total != bankAccounts*bankInitial || len(got) != bankAccounts {
		t.Errorf("%d accounts, total %d; want %d, %d", len(got), total, bankAccounts, bankAccounts*bankInitial)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("account %d: balance %d, the ledger's replay gives %d", id, got[id], w)
			// The transfers of that amount through the account that are
			// not in the ledger: the suspects of a partial commit.
			d := got[id] - w
			for _, set := range []struct {
				name string
				m    map[int64]bankXfer
			}{{"acknowledged", h.acked}, {"failed at COMMIT", h.unknown}, {"failed before COMMIT", h.failed}} {
				for _, x := range set.m {
					if _, in := ledger[x.id]; !in && ((x.dst == id && x.amount == d) || (x.src == id && x.amount == -d)) {
						t.Logf("suspect: %s transfer %+v (writer %d), not in the ledger", set.name, x, x.id>>32)
					}
				}
			}
		}
	}
	for _, s := range h.hangs {
		t.Errorf("no answer within the operation timeout: %s", s)
	}
	if n := h.errCodes[""]; n > 0 {
		t.Logf("%d errors without an SQLSTATE (connections broken by a coordinator's death)", n)
	}
	var codes []string
	for c, n := range h.errCodes {
		codes = append(codes, fmt.Sprintf("%q:%d", c, n))
	}
	sort.Strings(codes)
	explicit := 0
	for id := range h.acked {
		if id>>32 == bankExplicitWriter {
			explicit++
		}
	}
	t.Logf("transfers: %d acknowledged (%d by PREPARE TRANSACTION), %d with an error at COMMIT (%d of them committed), %d failed before COMMIT; ledger %d rows; %d reads (%d fractured); errors by SQLSTATE %s",
		len(h.acked), explicit, len(h.unknown), unacked, len(h.failed), len(ledger), len(h.sums), bad, strings.Join(codes, " "))
	if len(h.acked) < 50 || len(h.sums) < 20 {
		t.Errorf("too little work to tell: %d transfers, %d reads", len(h.acked), len(h.sums))
	}
}

// readBank reads the ledger and the balances.
func readBank(ctx context.Context, conn *pgx.Conn) (map[int64]bankXfer, map[int64]int64, error) {
	rows, err := conn.Query(ctx, "SELECT xfer, src, dst, amount FROM ledger")
	if err != nil {
		return nil, nil, err
	}
	ledger := map[int64]bankXfer{}
	for rows.Next() {
		var x bankXfer
		if err := rows.Scan(&x.id, &x.src, &x.dst, &x.amount); err != nil {
			rows.Close()
			return nil, nil, err
		}
		ledger[x.id] = x
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = conn.Query(ctx, "SELECT id, balance FROM accounts")
	if err != nil {
		return nil, nil, err
	}
	bal := map[int64]int64{}
	for rows.Next() {
		var id, b int64
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return nil, nil, err
		}
		bal[id] = b
	}
	return ledger, bal, rows.Err()
}
