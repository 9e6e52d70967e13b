package session_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/coordinator/session"
	"github.com/meridian-db/meridian/om/cluster"
)

// startClusterCNs runs an in-process cluster of cns coordinators and 3
// datanodes and returns it.
func startClusterCNs(t *testing.T, cns int, knobs func(string) *session.TestingKnobs) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: cns, DNs: 3, CNKnobs: knobs,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func dsnOf(c *cluster.Cluster, i int, db string) string {
	return "postgres://meridian@" + c.PGAddrs()[i] + "/" + db + "?sslmode=disable"
}

// connectNotices connects and collects the server's notices.
func connectNotices(t *testing.T, dsn string) (*pgx.Conn, func() []string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Severity+" "+n.Code+" "+n.Message)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := notices
		notices = nil
		return out
	}
}

func wantSQLState(t *testing.T, conn *pgx.Conn, want, sql string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql)
	if code(err) != want {
		t.Fatalf("%s: %v, want SQLSTATE %s", sql, err, want)
	}
}

func rowsOf(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.Join(out, "; ")
}

// TestPreparedTransactions: PREPARE TRANSACTION, COMMIT PREPARED and
// ROLLBACK PREPARED as PostgreSQL has them, from either coordinator; the
// errors' SQLSTATEs; readers are not blocked by a prepared transaction
// while writers of its rows are; pg_prepared_xacts and
// meridian_prepared_xacts list it; it survives the restart of every
// datanode and coordinator and is not resolved behind the user's back.
func TestPreparedTransactions(t *testing.T) {
	c := startClusterCNs(t, 2, nil)
	ctx := context.Background()
	a, notices := connectNotices(t, dsnOf(c, 0, "meridian"))
	b := connect(t, dsnOf(c, 1, "meridian"))
	// A failure must not leave the next step blocked on its row locks.
	exec(t, a, "SET statement_timeout = '20s'")
	exec(t, b, "SET statement_timeout = '20s'")
	exec(t, a, "CREATE TABLE acct (id bigint PRIMARY KEY, bal bigint NOT NULL)")
	exec(t, a, "INSERT INTO acct SELECT i, 100 FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8)) AS v(i)")

	t.Run("errors", func(t *testing.T) {
		wantTag(t, a, "PREPARE TRANSACTION 'x'", "ROLLBACK")
		if n := notices(); len(n) != 1 || !strings.Contains(n[0], "25P01") {
			t.Fatalf("notices %v, want the 25P01 warning", n)
		}
		wantSQLState(t, a, "42704", "COMMIT PREPARED 'nosuch'")
		wantSQLState(t, a, "42704", "ROLLBACK PREPARED 'nosuch'")
		exec(t, a, "BEGIN")
		wantSQLState(t, a, "25001", "COMMIT PREPARED 'nosuch'")
		exec(t, a, "ROLLBACK")
		exec(t, a, "BEGIN")
		wantSQLState(t, a, "25001", "ROLLBACK PREPARED 'nosuch'")
		exec(t, a, "ROLLBACK")
		exec(t, a, "BEGIN")
		exec(t, a, "UPDATE acct SET bal = bal + 1 WHERE id = 1")
		wantSQLState(t, a, "22023", "PREPARE TRANSACTION '"+strings.Repeat("x", 200)+"'")
		// A failed block rolls back.
		exec(t, a, "BEGIN")
		wantSQLState(t, a, "22012", "SELECT 1/0")
		wantTag(t, a, "PREPARE TRANSACTION 'failed'", "ROLLBACK")
		// A duplicate gid fails with 42710 and rolls the second one back.
		exec(t, a, "BEGIN")
		exec(t, a, "UPDATE acct SET bal = bal + 1 WHERE id = 2")
		wantTag(t, a, "PREPARE TRANSACTION 'dup'", "PREPARE TRANSACTION")
		exec(t, b, "BEGIN")
		exec(t, b, "UPDATE acct SET bal = bal + 1 WHERE id = 3")
		wantSQLState(t, b, "42710", "PREPARE TRANSACTION 'dup'")
		wantRows(t, b, "SELECT bal FROM acct WHERE id = 3", "100")
		// Another database cannot finish it (0A000, as in PostgreSQL).
		other := connect(t, dsnOf(c, 1, "otherdb"))
		wantSQLState(t, other, "0A000", "COMMIT PREPARED 'dup'")
		wantTag(t, b, "ROLLBACK PREPARED 'dup'", "ROLLBACK PREPARED")
		wantSQLState(t, b, "42704", "ROLLBACK PREPARED 'dup'")
		wantRows(t, b, "SELECT bal FROM acct WHERE id IN (1, 2, 3) ORDER BY id", "100; 100; 100")
	})

	t.Run("commit and rollback from the other coordinator", func(t *testing.T) {
		exec(t, a, "BEGIN")
		exec(t, a, "UPDATE acct SET bal = bal - 10")
		exec(t, a, "INSERT INTO acct VALUES (100, 1)")
		wantTag(t, a, "PREPARE TRANSACTION 'p1'", "PREPARE TRANSACTION")
		if st := a.PgConn().TxStatus(); st != 'I' {
			t.Fatalf("after PREPARE the session is in state %c, want idle", st)
		}
		// Readers see the state before it, without waiting.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var sum, n int64
		err := b.QueryRow(rctx, "SELECT sum(bal)::bigint, count(*) FROM acct").Scan(&sum, &n)
		cancel()
		if err != nil || sum != 800 || n != 8 {
			t.Fatalf("read during prepared: sum %d count %d err %v; want 800, 8", sum, n, err)
		}
		// Writers of its rows wait (here: fail at lock_timeout).
		exec(t, b, "SET lock_timeout = '300ms'")
		wantSQLState(t, b, "55P03", "UPDATE acct SET bal = 0 WHERE id = 5")
		exec(t, b, "RESET lock_timeout")
		wantRows(t, b, "SELECT gid, owner, database FROM pg_prepared_xacts", "p1 meridian meridian")
		wantRows(t, b, "SELECT count(*) FROM pg_catalog.pg_prepared_xacts p WHERE p.gid = 'p1' AND prepared <= now()", "1")
		wantRows(t, a, "SELECT kind, state, datanodes FROM meridian_prepared_xacts WHERE gid = 'p1'", "explicit prepared 1,2,3")
		wantTag(t, b, "COMMIT PREPARED 'p1'", "COMMIT PREPARED")
		wantRows(t, a, "SELECT sum(bal)::bigint, count(*) FROM acct", "721 9")
		wantRows(t, a, "SELECT * FROM pg_prepared_xacts", "")
		wantSQLState(t, a, "42704", "COMMIT PREPARED 'p1'")

		exec(t, b, "BEGIN ISOLATION LEVEL REPEATABLE READ")
		exec(t, b, "DELETE FROM acct WHERE id = 100")
		exec(t, b, "PREPARE TRANSACTION 'p2'")
		exec(t, a, "ROLLBACK PREPARED 'p2'")
		wantRows(t, a, "SELECT count(*) FROM acct", "9")
		// A transaction that wrote nothing can be prepared too.
		exec(t, a, "BEGIN")
		exec(t, a, "SELECT 1")
		exec(t, a, "PREPARE TRANSACTION 'empty'")
		wantRows(t, b, "SELECT gid FROM pg_prepared_xacts", "empty")
		exec(t, b, "COMMIT PREPARED 'empty'")
	})

	t.Run("survives restarts", func(t *testing.T) {
		exec(t, a, "BEGIN")
		exec(t, a, "UPDATE acct SET bal = bal + 1000 WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8)")
		exec(t, a, "PREPARE TRANSACTION 'kept'")
		a.Close(ctx)
		b.Close(ctx)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		for _, n := range []string{"cn1", "cn2", "dn1", "dn2", "dn3"} {
			if err := c.Kill(n); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []string{"dn1", "dn2", "dn3", "cn1", "cn2"} {
			if err := c.Restart(rctx, n); err != nil {
				t.Fatal(err)
			}
		}
		// Longer than the resolvers' 3 s: they must leave it alone.
		time.Sleep(4 * time.Second)
		b2 := connect(t, dsnOf(c, 1, "meridian"))
		var got string
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			got, err = queryString(b2, "SELECT gid FROM pg_prepared_xacts")
			if err == nil || time.Now().After(deadline) {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got != "kept" {
			t.Fatalf("pg_prepared_xacts after restarts: %q", got)
		}
		wantRows(t, b2, "SELECT sum(bal)::bigint FROM acct", "721")
		wantTag(t, b2, "COMMIT PREPARED 'kept'", "COMMIT PREPARED")
		wantRows(t, b2, "SELECT sum(bal)::bigint FROM acct", "8721")
	})
}

// wantRows checks a query's rows (rowsOf's rendering).
func wantRows(t *testing.T, conn *pgx.Conn, sql, want string) {
	t.Helper()
	if got := rowsOf(t, conn, sql); got != want {
		t.Fatalf("%s: %q, want %q", sql, got, want)
	}
}

// wantTag checks a statement's command tag.
func wantTag(t *testing.T, conn *pgx.Conn, sql, want string) {
	t.Helper()
	if got := tag(t, conn, sql); got != want {
		t.Fatalf("%s: tag %q, want %q", sql, got, want)
	}
}

func queryString(conn *pgx.Conn, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return "", err
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		out = append(out, s)
	}
	return strings.Join(out, "; "), rows.Err()
}
