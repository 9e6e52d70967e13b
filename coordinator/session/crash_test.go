package session_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/session"
	"github.com/meridian-db/meridian/om/cluster"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// crashCase stops an automatic two-phase commit at one step: the
// coordinator dies there (halt; it is restarted), or a datanode is killed
// there (and restarted after the coordinator has gone on, so that the
// datanodes must settle the transaction among themselves).
type crashCase struct {
	name  string
	step  session.CommitStep
	group uint32 // the participant of a per-participant step (0: any)
	halt  bool   // the coordinator dies at the step
	kill  string // or this datanode dies at the step
	// want: "committed", "aborted", or "" when either is right.
	want string
}

// TestCommitStepCrashes stops three-datanode commits at each step of the
// two-phase commit — the coordinator dying after PREPARE on some
// datanodes, after all of them, after the primary's commit (the decision),
// after the commit on some participants; the primary or another
// participant dying at those points — and checks, after the restart, that
// every transaction is all or nothing, that the client was never told
// "committed" for a transaction that aborted, and that the datanodes
// resolve it on their own within seconds: no prepared transaction left,
// no row lock left (its keys can be written again).
func TestCommitStepCrashes(t *testing.T) {
	cases := []crashCase{
		{name: "cn dies after prepare on some", step: session.StepBeforePrepare, group: 3, halt: true, want: "aborted"},
		{name: "cn dies after prepare on all", step: session.StepAllPrepared, halt: true, want: "aborted"},
		{name: "cn dies after the primary committed", step: session.StepPrimaryCommitted, halt: true, want: "committed"},
		{name: "cn dies after commit on some", step: session.StepBeforeCommit, group: 3, halt: true, want: "committed"},
		{name: "primary dies after prepare on all", step: session.StepAllPrepared, kill: "dn1", want: "aborted"},
		{name: "primary dies after its commit", step: session.StepPrimaryCommitted, kill: "dn1", want: "committed"},
		{name: "participant dies before its commit", step: session.StepBeforeCommit, group: 3, kill: "dn3", want: "committed"},
		{name: "participant dies after its commit", step: session.StepCommitted, group: 2, kill: "dn2", want: "committed"},
	}
	var hook atomic.Pointer[func(ctx context.Context, step session.CommitStep, gxid uint64, group uint32) error]
	knobs := &session.TestingKnobs{TwoPhase: func(ctx context.Context, step session.CommitStep, gxid uint64, group uint32) error {
		if h := hook.Load(); h != nil {
			return (*h)(ctx, step, gxid, group)
		}
		return nil
	}}
	c := startClusterCNs(t, 1, func(string) *session.TestingKnobs { return knobs })
	conn := connect(t, dsnOf(c, 0, "meridian"))
	exec(t, conn, "CREATE TABLE crash (k bigint PRIMARY KEY, n int NOT NULL)")
	keys := keysPerDatanode(t, c, len(cases))

	var times []time.Duration
	top := t
	for i, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			ks := keys[i]
			var (
				once    sync.Once
				gxid    uint64
				crashAt time.Time
			)
			h := func(ctx context.Context, step session.CommitStep, g uint64, group uint32) error {
				if step != cc.step || (cc.group != 0 && group != cc.group) {
					return nil
				}
				var err error
				once.Do(func() {
					gxid, crashAt = g, time.Now()
					if cc.halt {
						err = errors.New("coordinator crash")
						return
					}
					if kerr := c.Kill(cc.kill); kerr != nil {
						t.Error(kerr)
					}
				})
				return err
			}
			hook.Store(&h)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO crash VALUES (%d, %d), (%d, %d), (%d, %d)", ks[0], i, ks[1], i, ks[2], i))
			cancel()
			hook.Store(nil)
			if gxid == 0 {
				t.Fatalf("the commit never reached step %s (statement: %v)", cc.step, err)
			}
			t.Logf("client: %v", errOrOK(err))
			// Restart what died.
			rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
			defer rcancel()
			if cc.halt {
				if err := c.Kill("cn1"); err != nil {
					t.Fatal(err)
				}
				if err := c.Restart(rctx, "cn1"); err != nil {
					t.Fatal(err)
				}
				conn.Close(context.Background())
				conn = connect(top, dsnOf(c, 0, "meridian"))
			} else if err := c.Restart(rctx, cc.kill); err != nil {
				t.Fatal(err)
			}
			outcome, took := waitResolved(t, conn, gxid, i, ks, crashAt)
			times = append(times, took)
			t.Logf("outcome %s, resolved %v after the crash", outcome, took.Round(10*time.Millisecond))
			if cc.want != "" && outcome != cc.want {
				t.Errorf("outcome %s, want %s", outcome, cc.want)
			}
			if err == nil && outcome != "committed" {
				t.Errorf("the client was told the INSERT committed, but it %s", outcome)
			}
			if code(err) == "40001" && outcome != "aborted" {
				t.Errorf("the client got 40001, but the INSERT %s", outcome)
			}
			if err != nil && code(err) == "" {
				t.Errorf("the client's error has no SQLSTATE: %v", err)
			}
		})
	}
	var worst time.Duration
	for _, d := range times {
		worst = max(worst, d)
	}
	t.Logf("resolution times %v; worst %v", times, worst)
}

// TestCommitCancelledBeforePrimary: a statement cancelled (here by
// statement_timeout) after the other participants prepared, before the
// primary's commit, leaves the primary's transaction in progress — a state
// no datanode's resolver ends while its coordinator lives. The coordinator
// settles it itself: it aborts the transaction on the primary, learns the
// outcome (TxnStatus) and aborts the prepared rest, so the client's error
// is final and nothing is left prepared or locked for the resolvers.
func TestCommitCancelledBeforePrimary(t *testing.T) {
	var (
		armed   atomic.Bool
		stopped atomic.Uint64 // the transaction stopped at StepAllPrepared
	)
	knobs := &session.TestingKnobs{TwoPhase: func(ctx context.Context, step session.CommitStep, gxid uint64, group uint32) error {
		if step == session.StepAllPrepared && armed.Load() {
			stopped.Store(gxid)
			<-ctx.Done() // the statement times out here
		}
		return nil
	}}
	c := startClusterCNs(t, 1, func(string) *session.TestingKnobs { return knobs })
	conn := connect(t, dsnOf(c, 0, "meridian"))
	exec(t, conn, "CREATE TABLE crash (k bigint PRIMARY KEY, n int NOT NULL)")
	ks := keysPerDatanode(t, c, 1)[0]
	exec(t, conn, "SET statement_timeout = '300ms'")
	armed.Store(true)
	_, err := conn.Exec(context.Background(), fmt.Sprintf("INSERT INTO crash VALUES (%d, 1), (%d, 1), (%d, 1)", ks[0], ks[1], ks[2]))
	armed.Store(false)
	if code(err) != "57014" || stopped.Load() == 0 {
		t.Fatalf("statement: %v (stopped at all-prepared: %v), want 57014 there", err, stopped.Load() != 0)
	}
	exec(t, conn, "RESET statement_timeout")
	// Settled at once, not by the resolvers (After is 3 s).
	outcome, rerr := resolvedOnce(conn, stopped.Load(), 1, ks)
	if rerr != nil {
		t.Fatalf("not settled when the error came back: %v", rerr)
	}
	if outcome != "aborted" {
		t.Fatalf("outcome %s, want aborted", outcome)
	}
}

func errOrOK(err error) string {
	if err == nil {
		return "COMMIT"
	}
	return err.Error()
}

// waitResolved waits until nothing of transaction gxid is left prepared
// on any datanode and the statement's rows read as all or nothing, and
// (when they are absent) until its keys can be inserted without waiting
// for a lock; it returns the outcome and the time since start (the crash).
func waitResolved(t *testing.T, conn *pgx.Conn, gxid uint64, n int, ks [3]int64, start time.Time) (string, time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		outcome, err := resolvedOnce(conn, gxid, n, ks)
		if err == nil {
			return outcome, time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %d not resolved after %v: %v", gxid, time.Since(start), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func resolvedOnce(conn *pgx.Conn, gxid uint64, n int, ks [3]int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var prepared int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM meridian_prepared_xacts WHERE gxid = $1", int64(gxid)).Scan(&prepared); err != nil {
		return "", err
	}
	if prepared != 0 {
		return "", fmt.Errorf("still prepared on some datanode")
	}
	var rows int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM crash WHERE n = $1", n).Scan(&rows); err != nil {
		return "", err
	}
	switch rows {
	case 3:
		return "committed", nil
	case 0:
		// No lock or in-progress version may be left on its keys.
		if _, err := conn.Exec(ctx, "SET lock_timeout = '500ms'"); err != nil {
			return "", err
		}
		defer conn.Exec(context.Background(), "RESET lock_timeout")
		_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO crash VALUES (%d, -1), (%d, -1), (%d, -1)", ks[0], ks[1], ks[2]))
		if err != nil {
			return "", fmt.Errorf("its keys cannot be written yet: %w", err)
		}
		return "aborted", nil
	}
	return "", fmt.Errorf("%d of its 3 rows are visible: not all or nothing", rows)
}

// keysPerDatanode returns n triples of keys whose rows land on datanodes
// 1, 2 and 3, in that order.
func keysPerDatanode(t *testing.T, c *cluster.Cluster, n int) [][3]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := routing.Watch(ctx, c.Cli, c.Keys, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	snap := w.Current()
	byGroup := map[uint32][]int64{}
	for k := int64(1); len(byGroup[1]) < n || len(byGroup[2]) < n || len(byGroup[3]) < n; k++ {
		g := snap.Owner(codec.Bucket([]types.Datum{k}))
		byGroup[g] = append(byGroup[g], k)
	}
	out := make([][3]int64, n)
	for i := range out {
		out[i] = [3]int64{byGroup[1][i], byGroup[2][i], byGroup[3][i]}
	}
	return out
}

// TestDatanodeRestartMidTransaction: a datanode that restarts in the
// middle of a transaction block loses the block's writes there; the
// block's next write there, or its COMMIT, fails with 40001 and nothing
// of it commits — the datanode must not begin the transaction anew
// without the lost writes.
func TestDatanodeRestartMidTransaction(t *testing.T) {
	c := startClusterCNs(t, 1, nil)
	conn := connect(t, dsnOf(c, 0, "meridian"))
	exec(t, conn, "CREATE TABLE mid (k bigint PRIMARY KEY, v int NOT NULL)")
	ks := keysPerDatanode(t, c, 2)
	exec(t, conn, fmt.Sprintf("INSERT INTO mid VALUES (%d, 0), (%d, 0), (%d, 0), (%d, 0)", ks[0][0], ks[0][1], ks[1][0], ks[1][1]))
	restart := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Kill(name); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, commitNext := range []bool{false, true} {
		k1, k2, k3 := ks[0][1], ks[1][1], ks[0][0] // k1, k2 on dn2; k3 on dn1
		if commitNext {
			k1, k2 = ks[1][1], ks[0][1]
		}
		exec(t, conn, "BEGIN")
		exec(t, conn, fmt.Sprintf("UPDATE mid SET v = 1 WHERE k = %d", k1))
		exec(t, conn, fmt.Sprintf("UPDATE mid SET v = 1 WHERE k = %d", k3))
		restart("dn2")
		// Until the coordinator's routes show dn2 live again a statement
		// on it fails with 08006 (no live leader), which would not test
		// what happens when the restarted datanode meets the transaction.
		probe := connect(t, dsnOf(c, 0, "meridian"))
		deadline := time.Now().Add(30 * time.Second)
		for {
			var v int64
			err := probe.QueryRow(context.Background(), fmt.Sprintf("SELECT v FROM mid WHERE k = %d", k2)).Scan(&v)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dn2 not reachable 30 s after its restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		probe.Close(context.Background())
		var err error
		if !commitNext {
			_, err = conn.Exec(context.Background(), fmt.Sprintf("UPDATE mid SET v = 1 WHERE k = %d", k2))
			if code(err) != "40001" {
				t.Fatalf("a write after the datanode lost the transaction: %v, want 40001", err)
			}
			exec(t, conn, "ROLLBACK")
		} else {
			_, err = conn.Exec(context.Background(), "COMMIT")
			if code(err) != "40001" && code(err) != "08006" {
				t.Fatalf("COMMIT after a datanode lost the transaction: %v, want 40001", err)
			}
		}
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM mid WHERE v <> 0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("commitNext=%v: %d rows of the failed transaction are visible", commitNext, n)
		}
	}
}
