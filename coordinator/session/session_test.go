package session_test

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/om/cluster"
)

// startCluster runs a 1-coordinator, 3-datanode cluster in this process.
func startCluster(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: 1, DNs: 3,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return "postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable"
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestSession(t *testing.T) {
	dsn := startCluster(t)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (k bigint PRIMARY KEY, v text)")
	exec(t, conn, "INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c')")

	t.Run("value expressions pin the key", func(t *testing.T) {
		for _, q := range []string{
			"SELECT v FROM kv WHERE k = 1 + 1",
			"SELECT v FROM kv WHERE k = abs(-2)",
			"SELECT v FROM kv WHERE k IN (2, 5 + 5)",
		} {
			var v string
			if err := conn.QueryRow(ctx, q).Scan(&v); err != nil || v != "b" {
				t.Fatalf("%s: %q %v", q, v, err)
			}
		}
		// A parameter declared int4 against a bigint key (JDBC's setInt).
		pc := conn.PgConn()
		sd, err := pc.Prepare(ctx, "int4param", "SELECT v FROM kv WHERE k = $1", []uint32{23})
		if err != nil {
			t.Fatal(err)
		}
		res := pc.ExecPrepared(ctx, sd.Name, [][]byte{[]byte("3")}, nil, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "c" {
			t.Fatalf("int4 parameter on a bigint key: %v %v", res.Rows, res.Err)
		}
	})

	t.Run("values the key type cannot hold match nothing", func(t *testing.T) {
		exec(t, conn, "CREATE TABLE nk (k numeric(3,2) PRIMARY KEY, v int)")
		exec(t, conn, "INSERT INTO nk VALUES (1.25, 1)")
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM nk WHERE k = 12345").Scan(&n); err != nil || n != 0 {
			t.Fatalf("count %d, %v", n, err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM nk WHERE k = 1.25").Scan(&n); err != nil || n != 1 {
			t.Fatalf("count %d, %v", n, err)
		}
	})

	t.Run("an error before execution fails the block", func(t *testing.T) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO kv VALUES (10, 'x')"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT * FROM nosuch"); code(err) != "42P01" {
			t.Fatalf("got %v", err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1"); code(err) != "25P02" {
			t.Fatalf("after an error: %v", err)
		}
		_ = tx.Commit(ctx) // answered ROLLBACK
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM kv WHERE k = 10").Scan(&n); err != nil || n != 0 {
			t.Fatalf("row of the failed block: %d %v", n, err)
		}
	})

	t.Run("a prepared statement whose result changed", func(t *testing.T) {
		other := connect(t, dsn)
		pc := conn.PgConn()
		sd, err := pc.Prepare(ctx, "star", "SELECT * FROM kv WHERE k = 1", nil)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, other, "ALTER TABLE kv ADD COLUMN z int DEFAULT 5")
		res := pc.ExecPrepared(ctx, sd.Name, nil, nil, nil).Read()
		if code(res.Err) != "0A000" {
			t.Fatalf("got %v (rows %v)", res.Err, res.Rows)
		}
		var z int
		if err := conn.QueryRow(ctx, "SELECT z FROM kv WHERE k = 1").Scan(&z); err != nil || z != 5 {
			t.Fatalf("new column: %d %v", z, err)
		}
	})

	t.Run("UPDATE ... FROM and DELETE ... USING with parameters, prepared once", func(t *testing.T) {
		exec(t, conn, "CREATE TABLE pt (k int PRIMARY KEY, v int)")
		exec(t, conn, "CREATE TABLE pf (id int PRIMARY KEY, k int, d int)")
		exec(t, conn, "INSERT INTO pt VALUES (1, 0), (2, 0), (3, 0)")
		exec(t, conn, "INSERT INTO pf VALUES (10, 1, 5), (11, 2, 7), (12, 3, 9)")
		pc := conn.PgConn()
		up, err := pc.Prepare(ctx, "upfrom", "UPDATE pt SET v = v + pf.d * $1 FROM pf WHERE pf.k = pt.k AND pf.d > $2 RETURNING pt.k, pt.v", nil)
		if err != nil {
			t.Fatal(err)
		}
		run := func(sd *pgconn.StatementDescription, args ...string) []string {
			t.Helper()
			var params [][]byte
			for _, a := range args {
				params = append(params, []byte(a))
			}
			res := pc.ExecPrepared(ctx, sd.Name, params, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%s %v: %v", sd.SQL, args, res.Err)
			}
			var got []string
			for _, r := range res.Rows {
				got = append(got, string(r[0])+":"+string(r[1]))
			}
			sort.Strings(got)
			return got
		}
		if got := strings.Join(run(up, "1", "6"), " "); got != "2:7 3:9" {
			t.Fatalf("first run: %s", got)
		}
		if got := strings.Join(run(up, "10", "0"), " "); got != "1:50 2:77 3:99" {
			t.Fatalf("second run: %s", got)
		}
		del, err := pc.Prepare(ctx, "delusing", "DELETE FROM pt USING pf WHERE pf.k = pt.k AND pf.id = $1 RETURNING pt.k, pf.d", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(run(del, "11"), " "); got != "2:7" {
			t.Fatalf("delete: %s", got)
		}
		// A FROM table's change makes the statement plan again.
		exec(t, conn, "ALTER TABLE pf ADD COLUMN z int DEFAULT 1")
		if got := strings.Join(run(up, "1", "0"), " "); got != "1:55 3:108" {
			t.Fatalf("after ALTER TABLE of the FROM table: %s", got)
		}
	})

	t.Run("csv copy keeps empty strings apart from NULL", func(t *testing.T) {
		exec(t, conn, "CREATE TABLE csvt (k int PRIMARY KEY, s text)")
		data := "1,\"\"\n2,\n3,\"a,\"\"b\"\"\nc\"\n"
		if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data), "COPY csvt FROM STDIN WITH (FORMAT csv)"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "SELECT k, s IS NULL, coalesce(s, '?') FROM csvt ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var k int
			var isNull bool
			var s string
			if err := rows.Scan(&k, &isNull, &s); err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join([]string{string(rune('0' + k)), map[bool]string{true: "null", false: "value"}[isNull], s}, "|"))
		}
		want := []string{"1|value|", "2|null|?", "3|value|a,\"b\"\nc"}
		if strings.Join(got, ";") != strings.Join(want, ";") {
			t.Fatalf("got %q, want %q", got, want)
		}
		var out strings.Builder
		if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY csvt TO STDOUT WITH (FORMAT csv)"); err != nil {
			t.Fatal(err)
		}
		exec(t, conn, "TRUNCATE csvt")
		if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(out.String()), "COPY csvt FROM STDIN WITH (FORMAT csv)"); err != nil {
			t.Fatal(err)
		}
		var nulls int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM csvt WHERE s IS NULL").Scan(&nulls); err != nil || nulls != 1 {
			t.Fatalf("round trip changed NULLs: %d %v", nulls, err)
		}
	})
}
