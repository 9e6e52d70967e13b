package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestGlobalUniqueIndex: a unique index without the distribution column
// (a global index) over real processes, 2 coordinators and 3 datanodes.
//   - race: sessions on both coordinators insert the same keys at once;
//     exactly one row per key wins, every other insert fails with 23505;
//   - wait: an insert of a key another coordinator's open transaction
//     inserted waits for its outcome: it wins after a ROLLBACK and fails
//     after a COMMIT;
//   - restart: a datanode killed amid inserts and restarted leaves the
//     index holding exactly the keys of the rows (no lost or phantom
//     entries, once its in-doubt transactions are resolved).
func TestGlobalUniqueIndex(t *testing.T) {
	tc := startCluster(t, 2, 3)
	a, b := tc.connect(t, 0), tc.connect(t, 1)
	mustExec(t, a, "CREATE TABLE gu (id int PRIMARY KEY, k int, src text)")
	mustExec(t, a, "CREATE UNIQUE INDEX gu_k ON gu (k)")

	t.Run("race", func(t *testing.T) {
		const keys, perCN = 150, 3
		var mu sync.Mutex
		wins := map[int]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 2*perCN)
		for w := 0; w < 2*perCN; w++ {
			c := tc.connect(t, w%2)
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				order := rand.New(rand.NewPCG(uint64(w), 1)).Perm(keys)
				for i, k := range order {
					ctx, cancel := queryCtx()
					_, err := c.Exec(ctx, "INSERT INTO gu VALUES ($1, $2, $3)", w*keys+i, k, fmt.Sprintf("cn%d", w%2+1))
					cancel()
					var pe *pgconn.PgError
					switch {
					case err == nil:
						mu.Lock()
						wins[k]++
						mu.Unlock()
					case errors.As(err, &pe) && pe.Code == "23505" && pe.Detail == fmt.Sprintf("Key (k)=(%d) already exists.", k):
					default:
						errs <- fmt.Errorf("worker %d, key %d: %v (%s)", w, k, describe(err), detailOf(err))
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for k := 0; k < keys; k++ {
			if wins[k] != 1 {
				t.Errorf("key %d: %d inserts won", k, wins[k])
			}
		}
		for i, c := range []*pgx.Conn{a, b} {
			var n, distinct int64
			mustQueryRow(t, c, []any{&n, &distinct}, "SELECT count(*), count(DISTINCT k) FROM gu")
			if n != keys || distinct != keys {
				t.Errorf("cn%d sees %d rows with %d keys, want %d", i+1, n, distinct, keys)
			}
		}
	})

	t.Run("wait", func(t *testing.T) {
		blocked := tc.lockWaits(t)
		bPID := backendPID(t, b)
		for _, end := range []string{"ROLLBACK", "COMMIT"} {
			k := 5000
			if end == "COMMIT" {
				k = 5001
			}
			mustExec(t, a, "BEGIN")
			mustExec(t, a, "INSERT INTO gu VALUES ($1, $2, 'a')", 10*k, k)
			done := make(chan error, 1)
			go func() {
				ctx, cancel := queryCtx()
				defer cancel()
				_, err := b.Exec(ctx, "INSERT INTO gu VALUES ($1, $2, 'b')", 10*k+1, k)
				done <- err
			}()
			waitBlocked(t, blocked, bPID)
			select {
			case err := <-done:
				t.Fatalf("insert through cn2 did not wait for cn1's transaction: %v", describe(err))
			default:
			}
			mustExec(t, a, end)
			err := <-done
			if end == "ROLLBACK" && err != nil {
				t.Fatalf("after cn1's ROLLBACK: %v", describe(err))
			}
			if end == "COMMIT" && (sqlState(err) != "23505" || detailOf(err) != fmt.Sprintf("Key (k)=(%d) already exists.", k)) {
				t.Fatalf("after cn1's COMMIT: %s (%s)", outcome(err), detailOf(err))
			}
			var src string
			mustQueryRow(t, a, []any{&src}, "SELECT src FROM gu WHERE k = $1", k)
			if want := map[string]string{"ROLLBACK": "b", "COMMIT": "a"}[end]; src != want {
				t.Fatalf("key %d belongs to %q after %s, want %q", k, src, end, want)
			}
		}
	})

	t.Run("restart", func(t *testing.T) {
		const base, keys = 20000, 400
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok int
		failed := map[string]int{} // by SQLSTATE
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				ctx := context.Background()
				c, err := pgx.Connect(ctx, tc.dsn(w%2))
				if err != nil {
					return
				}
				defer c.Close(ctx)
				r := rand.New(rand.NewPCG(uint64(w), 2))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					k := base + r.IntN(keys)
					if r.IntN(4) == 0 {
						_, err = c.Exec(qctx, "DELETE FROM gu WHERE k = $1", k)
					} else {
						_, err = c.Exec(qctx, "INSERT INTO gu VALUES ($1, $2, 'r'), ($3, $4, 'r')",
							base*10+w*100000+2*i, k, base*10+w*100000+2*i+1, base+r.IntN(keys))
					}
					cancel()
					mu.Lock()
					if err == nil {
						ok++
					} else {
						failed[sqlState(err)]++
					}
					mu.Unlock()
					if err != nil {
						time.Sleep(20 * time.Millisecond)
					}
					if c.IsClosed() {
						return
					}
				}
			}(w)
		}
		time.Sleep(2 * time.Second)
		tc.kill(t, "dn2")
		time.Sleep(time.Second)
		tc.restart(t, "dn2")
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		t.Logf("around the restart of dn2: %d statements succeeded, failures by SQLSTATE %v", ok, failed)

		// Once the in-doubt transactions are resolved, every key is
		// taken exactly when a row holds it.
		eventually(t, 60*time.Second, "the index agrees with the rows", func(ctx context.Context) error {
			return checkGlobalIndex(ctx, t, tc, base, keys)
		})
	})
}

// checkGlobalIndex probes keys base..base+n-1 of gu: inserting a key a row
// holds must fail with 23505 (its entry is there) and inserting a free one
// must succeed (no stray entry); probes are rolled back.
func checkGlobalIndex(ctx context.Context, t *testing.T, tc *testCluster, base, n int) error {
	c, err := pgx.Connect(ctx, tc.dsn(1))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	held := map[int]int{}
	rows, err := c.Query(ctx, "SELECT k FROM gu WHERE k >= $1 AND k < $2", base, base+n)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k int
		if err := rows.Scan(&k); err != nil {
			return err
		}
		held[k]++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k := base; k < base+n; k++ {
		if held[k] > 1 {
			return fmt.Errorf("key %d held by %d rows", k, held[k])
		}
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			return err
		}
		_, ierr := c.Exec(ctx, "INSERT INTO gu VALUES ($1, $2, 'probe')", -k, k)
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			return err
		}
		var pe *pgconn.PgError
		dup := errors.As(ierr, &pe) && pe.Code == "23505"
		switch {
		case held[k] == 1 && !dup:
			return fmt.Errorf("key %d is held by a row, yet a probe got %s: lost entry", k, outcome(ierr))
		case held[k] == 0 && ierr != nil:
			return fmt.Errorf("key %d is free, yet a probe failed: %v", k, describe(ierr))
		}
	}
	t.Logf("%d of keys %d..%d held, each by one row, each with its entry; the others free", len(held), base, base+n-1)
	return nil
}

// outcome describes a statement's result: "ok" or its error.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return describe(err)
}
