package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/e2e/isolation"
)

// TestRowLocks: row locks across coordinators and datanodes — a deadlock
// across two datanodes ends within deadlock_timeout plus a bounded delay
// with 40P01 for the first waiter and a DETAIL naming the waits, the
// other transaction goes on; a replicated table's rows are locked where
// every locker meets; an autocommit locking read releases its locks; a
// read-only transaction cannot lock.
func TestRowLocks(t *testing.T) {
	tc := startCluster(t, 2, 3)
	checkSpread(t, tc, map[int64]bool{1: true, 2: true})
	a, b := tc.connect(t, 0), tc.connect(t, 1)
	blocked := tc.lockWaits(t)
	aPID := backendPID(t, a)
	mustExec(t, a, "CREATE TABLE acct (id int PRIMARY KEY, balance int)")
	mustExec(t, a, "INSERT INTO acct VALUES (1, 100), (2, 100)")
	mustExec(t, a, "CREATE TABLE conf (k text PRIMARY KEY, v text) DISTRIBUTE BY REPLICATION")
	mustExec(t, a, "INSERT INTO conf VALUES ('mode', 'on')")

	t.Run("deadlock", func(t *testing.T) {
		for _, c := range []*pgx.Conn{a, b} {
			mustExec(t, c, "SET deadlock_timeout = '200ms'")
			mustExec(t, c, "BEGIN")
		}
		mustExec(t, a, "SELECT * FROM acct WHERE id = 1 FOR UPDATE")
		mustExec(t, b, "SELECT * FROM acct WHERE id = 2 FOR UPDATE")
		first := make(chan error, 1)
		go func() {
			ctx, cancel := queryCtx()
			defer cancel()
			_, err := a.Exec(ctx, "UPDATE acct SET balance = balance - 10 WHERE id = 2")
			first <- err
		}()
		// b's statement closes the cycle once a's has begun to wait.
		waitBlocked(t, blocked, aPID)
		closed := time.Now()
		second := make(chan error, 1)
		go func() {
			ctx, cancel := queryCtx()
			defer cancel()
			_, err := b.Exec(ctx, "UPDATE acct SET balance = balance + 10 WHERE id = 1")
			second <- err
		}()
		var err error
		select {
		case err = <-first:
		case <-time.After(30 * time.Second):
			t.Fatal("deadlock not broken in 30 s")
		}
		took := time.Since(closed)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "40P01" || pe.Message != "deadlock detected" ||
			!strings.Contains(pe.Detail, "on datanode") || strings.Count(pe.Detail, "\n") != 1 {
			t.Fatalf("victim got %v (detail %q)", describe(err), detailOf(err))
		}
		// deadlock_timeout (200 ms) plus the detector's 200 ms poll and
		// the RPCs; generous for a loaded machine.
		if took > 10*time.Second {
			t.Fatalf("deadlock broken after %v", took)
		}
		t.Logf("deadlock across 2 datanodes broken %v after the cycle closed (deadlock_timeout 200ms)", took.Round(time.Millisecond))
		if err := <-second; err != nil {
			t.Fatalf("survivor: %v", describe(err))
		}
		ctx, cancel := queryCtx()
		defer cancel()
		if _, err := a.Exec(ctx, "SELECT 1"); sqlState(err) != "25P02" {
			t.Fatalf("victim's block after the deadlock: %v", describe(err))
		}
		mustExec(t, a, "ROLLBACK")
		mustExec(t, b, "COMMIT")
		var x, y int
		mustQueryRow(t, a, []any{&x, &y}, "SELECT (SELECT balance FROM acct WHERE id = 1), (SELECT balance FROM acct WHERE id = 2)")
		if x != 110 || y != 100 {
			t.Fatalf("balances %d, %d; want 110, 100", x, y)
		}
		for _, c := range []*pgx.Conn{a, b} {
			mustExec(t, c, "RESET deadlock_timeout")
		}
	})

	t.Run("no fractured reads", func(t *testing.T) {
		// Transfers between rows on different datanodes (two-phase
		// commits) while readers on both coordinators sum the balances: a
		// reader sees each transfer whole or not at all.
		const transfers = 60
		mustExec(t, a, "CREATE TABLE bank (id int PRIMARY KEY, balance int)")
		mustExec(t, a, "INSERT INTO bank VALUES (1, 1000), (2, 1000), (6, 1000)")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		errc := make(chan error, 4)
		done := make(chan struct{})
		for w := 0; w < 2; w++ {
			go func(w int) {
				c, err := pgx.Connect(ctx, tc.dsn(w))
				if err != nil {
					errc <- err
					return
				}
				defer c.Close(context.Background())
				ids := [][2]int{{1, 2}, {2, 6}, {6, 1}}
				for i := 0; i < transfers; i++ {
					p := ids[(i+w)%3]
					err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, "UPDATE bank SET balance = balance - 7 WHERE id = $1", p[0]); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, "UPDATE bank SET balance = balance + 7 WHERE id = $1", p[1])
						return err
					})
					if err != nil && sqlState(err) != "40P01" {
						errc <- err
						return
					}
				}
				errc <- nil
			}(w)
		}
		for r := 0; r < 2; r++ {
			go func(r int) {
				c, err := pgx.Connect(ctx, tc.dsn(r))
				if err != nil {
					errc <- err
					return
				}
				defer c.Close(context.Background())
				for n := 0; ; n++ {
					select {
					case <-done:
						errc <- nil
						return
					default:
					}
					q := "SELECT sum(balance) FROM bank"
					if n%2 == 1 {
						q = "SELECT (SELECT balance FROM bank WHERE id = 1) + (SELECT balance FROM bank WHERE id = 2) + (SELECT balance FROM bank WHERE id = 6)"
					}
					var sum int
					if err := c.QueryRow(ctx, q).Scan(&sum); err != nil {
						errc <- err
						return
					}
					if sum != 3000 {
						errc <- fmt.Errorf("reader %d saw a total of %d, not 3000 (query %q)", r, sum, q)
						return
					}
				}
			}(r)
		}
		for i := 0; i < 2; i++ {
			if err := <-errc; err != nil {
				close(done)
				t.Fatal(describe(err))
			}
		}
		close(done)
		for i := 0; i < 2; i++ {
			if err := <-errc; err != nil {
				t.Fatal(describe(err))
			}
		}
	})

	t.Run("replicated", func(t *testing.T) {
		mustExec(t, a, "BEGIN")
		mustExec(t, a, "SELECT * FROM conf WHERE k = 'mode' FOR UPDATE")
		// b reads through its own coordinator, which may pick another
		// datanode for plain reads: the locks still meet.
		for i := 0; i < 3; i++ {
			ctx, cancel := queryCtx()
			_, err := b.Exec(ctx, "SELECT * FROM conf WHERE k = 'mode' FOR SHARE NOWAIT")
			cancel()
			if sqlState(err) != "55P03" {
				t.Fatalf("share lock beside an update lock: %v", describe(err))
			}
			var v string
			mustQueryRow(t, b, []any{&v}, "SELECT v FROM conf WHERE k = 'mode'")
		}
		mustExec(t, a, "COMMIT")
		mustExec(t, b, "SELECT * FROM conf WHERE k = 'mode' FOR SHARE NOWAIT")
	})

	t.Run("autocommit", func(t *testing.T) {
		mustExec(t, a, "SELECT * FROM acct FOR UPDATE")
		mustExec(t, b, "SELECT * FROM acct ORDER BY id LIMIT 1 FOR UPDATE NOWAIT")
	})

	t.Run("read only", func(t *testing.T) {
		mustExec(t, a, "BEGIN READ ONLY")
		ctx, cancel := queryCtx()
		defer cancel()
		_, err := a.Exec(ctx, "SELECT * FROM acct FOR SHARE")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25006" || pe.Message != "cannot execute SELECT FOR SHARE in a read-only transaction" {
			t.Fatalf("lock in a read-only transaction: %v", describe(err))
		}
		mustExec(t, a, "ROLLBACK")
	})
}

func detailOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Detail
	}
	return ""
}

// backendPID is a session's pg_backend_pid(), as datanodes report it in
// wait edges.
func backendPID(t *testing.T, c *pgx.Conn) int64 {
	t.Helper()
	var pid int64
	mustQueryRow(t, c, []any{&pid}, "SELECT pg_backend_pid()")
	return pid
}

// waitBlocked waits until session pid waits for a row lock on some
// datanode.
func waitBlocked(t *testing.T, blocked isolation.BlockedFunc, pid int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := blocked(context.Background(), pid); err == nil && ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("session %d never waited for a row lock", pid)
}
