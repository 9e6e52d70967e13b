package session_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/om/cluster"
)

// What the logic tests cannot reach: COPY, parameters, several sessions
// and several coordinators.
func TestSequences(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: 2, DNs: 2,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dsn := func(i int) string { return "postgres://meridian@" + c.PGAddrs()[i] + "/meridian?sslmode=disable" }
	a, b := connect(t, dsn(0)), connect(t, dsn(0))
	other := connect(t, dsn(1))
	one := func(conn *pgx.Conn, sql string, args ...any) int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return v
	}

	t.Run("COPY fills serial defaults per row", func(t *testing.T) {
		exec(t, a, "CREATE TABLE cp (id bigserial PRIMARY KEY, v text)")
		data := strings.Repeat("x\n", 2500) // more than one insert batch
		tag, err := a.PgConn().CopyFrom(ctx, strings.NewReader(data), "COPY cp (v) FROM STDIN")
		if err != nil || tag.RowsAffected() != 2500 {
			t.Fatalf("COPY: %v %v", tag, err)
		}
		if n := one(a, "SELECT count(DISTINCT id) FROM cp WHERE id BETWEEN 1 AND 2500"); n != 2500 {
			t.Fatalf("%d distinct ids 1..2500 after COPY, want 2500", n)
		}
	})

	t.Run("parameters", func(t *testing.T) {
		exec(t, a, "CREATE SEQUENCE p")
		if v := one(a, "SELECT nextval($1)", "p"); v != 1 {
			t.Fatalf("nextval($1) = %d", v)
		}
		if v := one(a, "SELECT setval($1::text, $2, $3)", "p", int64(40), true); v != 40 {
			t.Fatalf("setval = %d", v)
		}
		if v := one(a, "SELECT nextval('p') + $1", int64(1000)); v != 1041 {
			t.Fatalf("nextval + $1 = %d", v)
		}
		_, err := a.Exec(ctx, "SELECT nextval($1)", "nosuch")
		if code(err) != "42P01" {
			t.Fatalf("nextval of an unknown name: %v", err)
		}
	})

	t.Run("sessions of one coordinator", func(t *testing.T) {
		exec(t, a, "CREATE SEQUENCE shared")
		var last int64
		for i := range 20 {
			conn := a
			if i%2 == 1 {
				conn = b
			}
			v := one(conn, "SELECT nextval('shared')")
			if v != last+1 {
				t.Fatalf("value %d after %d: one coordinator hands out values in order", v, last)
			}
			last = v
		}
		// currval is per session.
		_, err := other.Exec(ctx, "SELECT currval('shared')")
		if code(err) != "55000" {
			t.Fatalf("currval in a session that never called nextval: %v", err)
		}
	})

	t.Run("setval through one coordinator reaches the other's cache", func(t *testing.T) {
		exec(t, a, "CREATE SEQUENCE reset CACHE 1000")
		first := one(other, "SELECT nextval('reset')") // the other coordinator caches 1000
		if first != 1 {
			t.Fatalf("first value %d", first)
		}
		one(a, "SELECT setval('reset', 100000)")
		// Without the watch, the other coordinator would go on with its
		// 999 cached values; with it, it drops them within milliseconds.
		for i := 0; ; i++ {
			time.Sleep(50 * time.Millisecond)
			v := one(other, "SELECT nextval('reset')")
			if v > 100000 {
				break
			}
			if i == 5 {
				t.Fatalf("after setval through the first coordinator, the second still hands out %d", v)
			}
		}
	})

	t.Run("a sequence created through one coordinator is usable through the other", func(t *testing.T) {
		exec(t, a, "CREATE TABLE tw (id serial, v int)")
		exec(t, other, "INSERT INTO tw (v) VALUES (1)")
		exec(t, a, "INSERT INTO tw (v) VALUES (2)")
		if n := one(a, "SELECT count(DISTINCT id) FROM tw"); n != 2 {
			t.Fatalf("%d distinct ids", n)
		}
		exec(t, other, "DROP TABLE tw")
		_, err := a.Exec(ctx, "SELECT nextval('tw_id_seq')")
		if code(err) != "42P01" {
			t.Fatalf("the owned sequence outlived its table: %v", err)
		}
	})
}
