package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// slowQuery redistributes both sides of a large join: it keeps every
// datanode busy for many seconds (a cross join of 2,000 x 2,000 rows on
// non-key columns, counted).
const slowQuery = `SELECT count(*) FROM dq a JOIN dq b ON a.g = b.g JOIN dq c ON b.g = c.g`

// TestDistributedQueryCancel shows that a distributed query stops
// everywhere and the client gets 57014, never a hang: on
// statement_timeout, on a CancelRequest, and that a datanode killed in
// the middle of one fails it with a clear error; the cluster keeps
// answering afterwards, with the same results as before.
func TestDistributedQueryCancel(t *testing.T) {
	tc := startCluster(t, 1, 3)
	top := t
	conn := tc.connect(t, 0)
	mustExec(t, conn, "CREATE TABLE digits (d int PRIMARY KEY) DISTRIBUTE BY REPLICATION")
	mustExec(t, conn, "INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
	mustExec(t, conn, "CREATE TABLE dq (id int PRIMARY KEY, g int, pad text) DISTRIBUTE BY HASH(id)")
	mustExec(t, conn, `INSERT INTO dq SELECT a.d*1000 + b.d*100 + c.d*10 + e.d, (a.d*1000 + b.d*100 + c.d*10 + e.d) % 2,
		'padding padding padding' FROM digits a, digits b, digits c, digits e WHERE a.d < 2`)
	check := func(t *testing.T) {
		t.Helper()
		ctx, cancel := queryCtx()
		defer cancel()
		var n, g int64
		if err := conn.QueryRow(ctx, "SELECT count(*), sum(a.g) FROM dq a JOIN dq b ON a.id = b.g").Scan(&n, &g); err != nil {
			t.Fatalf("query after the cancel: %v", describe(err))
		}
		if n != 2000 || g != 1000 {
			t.Fatalf("query after the cancel: count %d, sum %d; want 2000, 1000", n, g)
		}
	}
	check(t)

	t.Run("statement_timeout", func(t *testing.T) {
		mustExec(t, conn, "SET statement_timeout = '300ms'")
		defer mustExec(t, conn, "SET statement_timeout = 0")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		_, err := conn.Exec(ctx, slowQuery)
		if sqlState(err) != "57014" {
			t.Fatalf("slow query under statement_timeout: %v, want 57014", errText(err))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("statement_timeout of 300ms took %v to end the query", d)
		}
		check(t)
	})

	t.Run("cancel request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(300 * time.Millisecond)
			cancel() // pgx sends a CancelRequest
		}()
		start := time.Now()
		_, err := conn.Exec(ctx, slowQuery)
		if err == nil {
			t.Fatal("canceled query succeeded")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("cancel took %v to end the query", d)
		}
		if conn.IsClosed() {
			// pgx closes the connection when its context ends mid-query;
			// the server must still have stopped the query: a new
			// connection works at once.
			conn = tc.connect(top, 0)
		} else if sqlState(err) != "57014" && !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled query: %v, want 57014", errText(err))
		}
		check(t)
	})

	t.Run("datanode killed", func(t *testing.T) {
		errc := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		go func() {
			_, err := conn.Exec(ctx, slowQuery)
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		tc.kill(t, "dn2")
		var err error
		select {
		case err = <-errc:
		case <-time.After(30 * time.Second):
			t.Fatal("the query hung after a datanode died")
		}
		if err == nil {
			t.Fatal("the query succeeded although a datanode died in the middle of it")
		}
		if code := sqlState(err); code != "08006" && code != "57014" && !strings.Contains(err.Error(), "datanode") {
			t.Errorf("query with a dead datanode: %v, want 08006", errText(err))
		}
		t.Logf("query with a dead datanode: %v", errText(err))
		tc.restart(t, "dn2")
		deadline := time.Now().Add(30 * time.Second)
		for {
			qctx, qcancel := queryCtx()
			var n int64
			err := conn.QueryRow(qctx, "SELECT count(*) FROM dq", pgx.QueryExecModeSimpleProtocol).Scan(&n)
			qcancel()
			if err == nil && n == 2000 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after restarting dn2: count %d, %v", n, errText(err))
			}
			time.Sleep(200 * time.Millisecond)
		}
		check(t)
	})
}
