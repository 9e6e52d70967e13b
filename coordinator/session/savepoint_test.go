package session_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/om/cluster"
)

// startClusterN runs a 1-coordinator cluster of dns datanodes in this
// process and returns it with its DSN.
func startClusterN(t *testing.T, dns int) (*cluster.Cluster, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: 1, DNs: dns,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, "postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable"
}

// tag runs sql and returns its command tag.
func tag(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	ct, err := conn.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return ct.String()
}

// fails runs sql and checks that it fails with SQLSTATE want (and, when
// msg is not empty, that message).
func fails(t *testing.T, conn *pgx.Conn, want, msg, sql string, args ...any) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql, args...)
	if code(err) != want {
		t.Fatalf("%s: got %v, want SQLSTATE %s", sql, err, want)
	}
	if msg != "" && err.(*pgconn.PgError).Message != msg {
		t.Fatalf("%s: message %q, want %q", sql, err.(*pgconn.PgError).Message, msg)
	}
}

// keys runs a query of (k, v) rows and returns them as "k=v" in k order.
func keys(t *testing.T, conn *pgx.Conn, q string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	type kv struct {
		k int64
		v string
	}
	var got []kv
	for rows.Next() {
		var r kv
		if err := rows.Scan(&r.k, &r.v); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	slices.SortFunc(got, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
	out := make([]string, len(got))
	for i, r := range got {
		out[i] = fmt.Sprintf("%d=%s", r.k, r.v)
	}
	return strings.Join(out, " ")
}

func TestSavepoints(t *testing.T) {
	_, dsn := startClusterN(t, 3)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE sp (k bigint PRIMARY KEY, v text)")
	exec(t, conn, "CREATE INDEX sp_v ON sp (v)")
	reset := func(t *testing.T) {
		t.Helper()
		exec(t, conn, "TRUNCATE sp")
		// Rows on every datanode.
		exec(t, conn, "INSERT INTO sp SELECT k, 'v' || k FROM (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS x(k)")
	}
	all := "SELECT k, v FROM sp"
	base := "1=v1 2=v2 3=v3 4=v4 5=v5 6=v6 7=v7 8=v8 9=v9"

	t.Run("rollback to undoes inserts updates and deletes", func(t *testing.T) {
		reset(t)
		if got := tag(t, conn, "BEGIN"); got != "BEGIN" {
			t.Fatalf("tag %q", got)
		}
		exec(t, conn, "INSERT INTO sp VALUES (10, 'v10')")
		exec(t, conn, "UPDATE sp SET v = 'before' WHERE k = 1")
		if got := tag(t, conn, "SAVEPOINT a"); got != "SAVEPOINT" {
			t.Fatalf("SAVEPOINT tag %q", got)
		}
		exec(t, conn, "INSERT INTO sp VALUES (11, 'x'), (12, 'x'), (13, 'x'), (14, 'x')")
		exec(t, conn, "UPDATE sp SET v = 'x'")
		exec(t, conn, "DELETE FROM sp WHERE k IN (2, 3, 4, 5)")
		if got := keys(t, conn, all); got != "1=x 6=x 7=x 8=x 9=x 10=x 11=x 12=x 13=x 14=x" {
			t.Fatalf("before rollback to: %s", got)
		}
		if got := tag(t, conn, "ROLLBACK TO SAVEPOINT a"); got != "ROLLBACK" {
			t.Fatalf("ROLLBACK TO tag %q", got)
		}
		want := "1=before 2=v2 3=v3 4=v4 5=v5 6=v6 7=v7 8=v8 9=v9 10=v10"
		if got := keys(t, conn, all); got != want {
			t.Fatalf("after rollback to: %s", got)
		}
		// The index entries are back as they were.
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE v = 'x'"); got != "" {
			t.Fatalf("index still has the undone entries: %s", got)
		}
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE v = 'v3'"); got != "3=v3" {
			t.Fatalf("index lost a restored entry: %s", got)
		}
		// The undone keys can be inserted again.
		exec(t, conn, "INSERT INTO sp VALUES (11, 'again')")
		if got := tag(t, conn, "COMMIT"); got != "COMMIT" {
			t.Fatalf("tag %q", got)
		}
		if got := keys(t, conn, all); got != "1=before 2=v2 3=v3 4=v4 5=v5 6=v6 7=v7 8=v8 9=v9 10=v10 11=again" {
			t.Fatalf("after commit: %s", got)
		}
	})

	t.Run("nested savepoints", func(t *testing.T) {
		reset(t)
		exec(t, conn, "BEGIN")
		exec(t, conn, "SAVEPOINT s1")
		exec(t, conn, "INSERT INTO sp VALUES (20, 'a')")
		exec(t, conn, "SAVEPOINT s2")
		exec(t, conn, "INSERT INTO sp VALUES (21, 'b')")
		exec(t, conn, "UPDATE sp SET v = 'changed' WHERE k = 20")
		exec(t, conn, "SAVEPOINT s3")
		exec(t, conn, "DELETE FROM sp WHERE k < 10")
		exec(t, conn, "ROLLBACK TO s2") // destroys s3
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 20"); got != "20=a" {
			t.Fatalf("after rollback to s2: %s", got)
		}
		fails(t, conn, "3B001", `savepoint "s3" does not exist`, "ROLLBACK TO s3")
		exec(t, conn, "ROLLBACK TO s2") // s2 survives its rollback, and the error
		exec(t, conn, "INSERT INTO sp VALUES (22, 'c')")
		exec(t, conn, "ROLLBACK TO s2")
		exec(t, conn, "INSERT INTO sp VALUES (23, 'd')")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 20"); got != "20=a 23=d" {
			t.Fatalf("after the second rollback to s2: %s", got)
		}
		exec(t, conn, "ROLLBACK TO s1")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 20"); got != "" {
			t.Fatalf("after rollback to s1: %s", got)
		}
		exec(t, conn, "INSERT INTO sp VALUES (24, 'e')")
		exec(t, conn, "COMMIT")
		if got := keys(t, conn, all); got != base+" 24=e" {
			t.Fatalf("after commit: %s", got)
		}
	})

	t.Run("release keeps the writes and destroys later savepoints", func(t *testing.T) {
		reset(t)
		exec(t, conn, "BEGIN")
		exec(t, conn, "SAVEPOINT a")
		exec(t, conn, "INSERT INTO sp VALUES (30, 'a')")
		exec(t, conn, "SAVEPOINT b")
		exec(t, conn, "INSERT INTO sp VALUES (31, 'b')")
		if got := tag(t, conn, "RELEASE SAVEPOINT a"); got != "RELEASE" {
			t.Fatalf("RELEASE tag %q", got)
		}
		fails(t, conn, "3B001", `savepoint "b" does not exist`, "ROLLBACK TO b")
		fails(t, conn, "25P02", "", "SELECT 1")
		if got := tag(t, conn, "COMMIT"); got != "ROLLBACK" {
			t.Fatalf("COMMIT of a failed block: %q", got)
		}
		if got := keys(t, conn, all); got != base {
			t.Fatalf("after the failed block: %s", got)
		}

		exec(t, conn, "BEGIN")
		exec(t, conn, "SAVEPOINT a")
		exec(t, conn, "INSERT INTO sp VALUES (32, 'c')")
		exec(t, conn, "SAVEPOINT b")
		exec(t, conn, "INSERT INTO sp VALUES (33, 'd')")
		exec(t, conn, "RELEASE b")
		exec(t, conn, "ROLLBACK TO a") // a outlived b's release
		exec(t, conn, "INSERT INTO sp VALUES (34, 'e')")
		exec(t, conn, "RELEASE a")
		exec(t, conn, "COMMIT")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 30"); got != "34=e" {
			t.Fatalf("after commit: %s", got)
		}
	})

	t.Run("rollback to after an error", func(t *testing.T) {
		reset(t)
		exec(t, conn, "BEGIN")
		exec(t, conn, "INSERT INTO sp VALUES (40, 'kept')")
		exec(t, conn, "SAVEPOINT a")
		exec(t, conn, "INSERT INTO sp VALUES (41, 'undone')")
		// Rows on several datanodes; the duplicate fails the statement on
		// one of them after the others may have written theirs.
		fails(t, conn, "23505", "", "INSERT INTO sp VALUES (42, 'x'), (43, 'x'), (44, 'x'), (45, 'x'), (1, 'dup'), (46, 'x')")
		fails(t, conn, "25P02", "", "SELECT count(*) FROM sp")
		fails(t, conn, "25P02", "", "SAVEPOINT b")
		fails(t, conn, "25P02", "", "RELEASE a")
		exec(t, conn, "ROLLBACK TO a")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 40"); got != "40=kept" {
			t.Fatalf("after rollback to: %s", got)
		}
		exec(t, conn, "INSERT INTO sp VALUES (42, 'y'), (43, 'y'), (44, 'y'), (45, 'y'), (46, 'y')")
		fails(t, conn, "22012", "", "UPDATE sp SET v = 'z' WHERE 1 / (k - 45) > 0 OR k = 45")
		exec(t, conn, "ROLLBACK TO SAVEPOINT a")
		exec(t, conn, "INSERT INTO sp VALUES (47, 'y')")
		exec(t, conn, "COMMIT")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 40"); got != "40=kept 47=y" {
			t.Fatalf("after commit: %s", got)
		}
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k < 40"); got != base {
			t.Fatalf("rows the failed statements touched: %s", got)
		}
	})

	t.Run("rollback to releases row locks", func(t *testing.T) {
		reset(t)
		other := connect(t, dsn)
		exec(t, other, "SET statement_timeout = '10s'")
		exec(t, conn, "BEGIN")
		exec(t, conn, "UPDATE sp SET v = 'kept' WHERE k = 1")
		exec(t, conn, "SAVEPOINT a")
		exec(t, conn, "UPDATE sp SET v = 'undone' WHERE k = 2")
		exec(t, conn, "INSERT INTO sp VALUES (50, 'undone')")
		done := make(chan error, 1)
		go func() {
			// Waits for conn's lock on k = 2 until the rollback to a.
			_, err := other.Exec(ctx, "UPDATE sp SET v = 'other' WHERE k = 2")
			done <- err
		}()
		time.Sleep(200 * time.Millisecond)
		exec(t, conn, "ROLLBACK TO a")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer of a released row: %v", err)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("the row lock was not released by ROLLBACK TO")
		}
		exec(t, other, "INSERT INTO sp VALUES (50, 'other')")
		exec(t, conn, "COMMIT")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k IN (1, 2, 50)"); got != "1=kept 2=other 50=other" {
			t.Fatalf("after commit: %s", got)
		}
	})

	t.Run("commit of a failed block with savepoints rolls back", func(t *testing.T) {
		reset(t)
		other := connect(t, dsn)
		exec(t, other, "SET statement_timeout = '10s'")
		exec(t, conn, "BEGIN")
		exec(t, conn, "SAVEPOINT a")
		exec(t, conn, "UPDATE sp SET v = 'mine' WHERE k = 3")
		fails(t, conn, "23505", "", "INSERT INTO sp VALUES (60, 'x'), (3, 'x')")
		if got := tag(t, conn, "COMMIT"); got != "ROLLBACK" {
			t.Fatalf("COMMIT of a failed block: %q", got)
		}
		exec(t, other, "UPDATE sp SET v = 'other' WHERE k = 3")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k IN (3, 60)"); got != "3=other" {
			t.Fatalf("after commit: %s", got)
		}
	})

	t.Run("same name twice", func(t *testing.T) {
		reset(t)
		exec(t, conn, "BEGIN")
		exec(t, conn, "SAVEPOINT x")
		exec(t, conn, "INSERT INTO sp VALUES (70, 'a')")
		exec(t, conn, "SAVEPOINT x")
		exec(t, conn, "INSERT INTO sp VALUES (71, 'b')")
		exec(t, conn, "ROLLBACK TO x") // the newer x
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 70"); got != "70=a" {
			t.Fatalf("after rollback to the newer x: %s", got)
		}
		exec(t, conn, "RELEASE x") // the newer x; the older is visible again
		exec(t, conn, "ROLLBACK TO x")
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 70"); got != "" {
			t.Fatalf("after rollback to the older x: %s", got)
		}
		exec(t, conn, "RELEASE x")
		fails(t, conn, "3B001", `savepoint "x" does not exist`, "RELEASE x")
		exec(t, conn, "ROLLBACK")
	})

	t.Run("errors", func(t *testing.T) {
		fails(t, conn, "25P01", "SAVEPOINT can only be used in transaction blocks", "SAVEPOINT a")
		fails(t, conn, "25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks", "ROLLBACK TO a")
		fails(t, conn, "25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks", "ROLLBACK TRANSACTION TO SAVEPOINT a")
		fails(t, conn, "25P01", "RELEASE SAVEPOINT can only be used in transaction blocks", "RELEASE a")
		fails(t, conn, "25P01", "RELEASE SAVEPOINT can only be used in transaction blocks", "RELEASE SAVEPOINT a")

		exec(t, conn, "BEGIN")
		fails(t, conn, "3B001", `savepoint "nope" does not exist`, "ROLLBACK TO nope")
		fails(t, conn, "25P02", "", "SELECT 1")
		fails(t, conn, "3B001", `savepoint "nope" does not exist`, "ROLLBACK WORK TO SAVEPOINT nope")
		exec(t, conn, "ROLLBACK")

		exec(t, conn, "BEGIN")
		fails(t, conn, "3B001", `savepoint "nope" does not exist`, "RELEASE nope")
		exec(t, conn, "ROLLBACK")

		// Without a savepoint, an error inside a block releases its writes
		// at once, and ROLLBACK TO has nothing to return to.
		reset(t)
		exec(t, conn, "BEGIN")
		exec(t, conn, "INSERT INTO sp VALUES (80, 'x')")
		fails(t, conn, "23505", "", "INSERT INTO sp VALUES (1, 'dup')")
		fails(t, conn, "3B001", `savepoint "a" does not exist`, "ROLLBACK TO a")
		exec(t, conn, "ROLLBACK")
		if got := keys(t, conn, all); got != base {
			t.Fatalf("after rollback: %s", got)
		}
	})

	t.Run("extended protocol", func(t *testing.T) {
		reset(t)
		pc := conn.PgConn()
		run := func(sql string, args ...string) (string, error) {
			params := make([][]byte, len(args))
			for i, a := range args {
				params[i] = []byte(a)
			}
			res := pc.ExecParams(ctx, sql, params, nil, nil, nil).Read()
			return res.CommandTag.String(), res.Err
		}
		for _, step := range []struct{ sql, tag, code string }{
			{"SAVEPOINT a", "", "25P01"},
			{"BEGIN", "BEGIN", ""},
			{"INSERT INTO sp VALUES (90, 'kept')", "INSERT 0 1", ""},
			{"SAVEPOINT a", "SAVEPOINT", ""},
			{"INSERT INTO sp VALUES (91, 'x'), (92, 'x'), (93, 'x')", "INSERT 0 3", ""},
			{"INSERT INTO sp VALUES (2, 'dup')", "", "23505"},
			{"SELECT 1", "", "25P02"},
			{"ROLLBACK TO a", "ROLLBACK", ""},
			{"INSERT INTO sp VALUES (94, 'y')", "INSERT 0 1", ""},
			{"RELEASE a", "RELEASE", ""},
			{"RELEASE a", "", "3B001"},
			{"ROLLBACK TO a", "", "3B001"},
			{"COMMIT", "ROLLBACK", ""},
			{"BEGIN", "BEGIN", ""},
			{"SAVEPOINT b", "SAVEPOINT", ""},
			{"INSERT INTO sp VALUES (95, 'y')", "INSERT 0 1", ""},
			{"ROLLBACK TO SAVEPOINT b", "ROLLBACK", ""},
			{"INSERT INTO sp VALUES (96, 'y')", "INSERT 0 1", ""},
			{"COMMIT", "COMMIT", ""},
		} {
			got, err := run(step.sql)
			if code(err) != step.code || (step.code == "" && got != step.tag) {
				t.Fatalf("%s: tag %q, error %v; want tag %q, SQLSTATE %q", step.sql, got, err, step.tag, step.code)
			}
		}
		if got := keys(t, conn, "SELECT k, v FROM sp WHERE k >= 90"); got != "96=y" {
			t.Fatalf("after commit: %s", got)
		}
	})
}

// TestSavepointRestart: a two-phase commit after ROLLBACK TO commits only
// the writes before the savepoint, also once the datanodes restart.
func TestSavepointRestart(t *testing.T) {
	c, dsn := startClusterN(t, 3)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE r (k bigint PRIMARY KEY, v text)")
	exec(t, conn, "INSERT INTO r VALUES (1, 'a'), (2, 'a'), (3, 'a'), (4, 'a'), (5, 'a'), (6, 'a')")
	exec(t, conn, "BEGIN")
	exec(t, conn, "UPDATE r SET v = 'kept' WHERE k IN (1, 2, 3)")
	exec(t, conn, "INSERT INTO r VALUES (7, 'kept'), (8, 'kept'), (9, 'kept')")
	exec(t, conn, "SAVEPOINT a")
	exec(t, conn, "UPDATE r SET v = 'undone'")
	exec(t, conn, "DELETE FROM r WHERE k IN (4, 5, 6)")
	exec(t, conn, "INSERT INTO r VALUES (10, 'undone'), (11, 'undone'), (12, 'undone')")
	exec(t, conn, "ROLLBACK TO a")
	exec(t, conn, "COMMIT")
	want := "1=kept 2=kept 3=kept 4=a 5=a 6=a 7=kept 8=kept 9=kept"
	if got := keys(t, conn, "SELECT k, v FROM r"); got != want {
		t.Fatalf("after commit: %s", got)
	}
	for _, dn := range []string{"dn1", "dn2", "dn3"} {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := c.Restart(rctx, dn)
		cancel()
		if err != nil {
			t.Fatalf("restart %s: %v", dn, err)
		}
	}
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := conn.Query(ctx, "SELECT k, v FROM r")
		if err == nil {
			rows.Close()
			if err = rows.Err(); err == nil {
				got = keys(t, conn, "SELECT k, v FROM r")
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not back after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("after the restart: %s", got)
	}
	// The undone keys are free.
	exec(t, conn, "INSERT INTO r VALUES (10, 'new')")
}

// TestSavepointDatanodeDown: a ROLLBACK TO that cannot reach a datanode
// fails and leaves the block failed, without the later savepoints; once
// the datanode is back without the transaction (lost in its restart), the
// rollback refuses to go on (40001) and the block can only roll back.
func TestSavepointDatanodeDown(t *testing.T) {
	c, dsn := startClusterN(t, 3)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE d (k bigint PRIMARY KEY, v text)")
	var vals []string
	for k := 1; k <= 30; k++ {
		vals = append(vals, fmt.Sprintf("(%d, 'a')", k))
	}
	// Rows on every datanode, before the savepoint.
	exec(t, conn, "BEGIN")
	exec(t, conn, "INSERT INTO d VALUES "+strings.Join(vals, ", "))
	exec(t, conn, "SAVEPOINT a")
	exec(t, conn, "UPDATE d SET v = 'b'")
	exec(t, conn, "SAVEPOINT b")
	if err := c.Kill("dn3"); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, "ROLLBACK TO a")
	if err == nil {
		t.Fatal("ROLLBACK TO with a datanode down succeeded")
	}
	fails(t, conn, "25P02", "", "SELECT 1")
	fails(t, conn, "3B001", `savepoint "b" does not exist`, "ROLLBACK TO b")
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = c.Restart(rctx, "dn3")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = conn.Exec(ctx, "ROLLBACK TO a")
		if code(err) != "08006" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code(err) != "40001" {
		t.Fatalf("ROLLBACK TO after the datanode lost the transaction: %v", err)
	}
	if got := tag(t, conn, "COMMIT"); got != "ROLLBACK" {
		t.Fatalf("COMMIT of the failed block: %q", got)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM d").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after the rolled-back block: %d %v", n, err)
	}
}
