package tpch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// startPostgres starts a throwaway PostgreSQL 15 for a test, or skips the
// test where Debian's postgresql-15 is not installed (.ci/run installs it).
func startPostgres(t *testing.T) *Postgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultPostgresBin, "postgres")); err != nil {
		t.Skipf("PostgreSQL 15 is not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx, PostgresOptions{Settings: []string{"fsync=off", "full_page_writes=off"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(pg.dir); !os.IsNotExist(err) {
			t.Errorf("PostgreSQL's directory %s is still there: %v", pg.dir, err)
		}
	})
	return pg
}

// TestPostgres loads SF 0.01 into PostgreSQL 15 and runs the 22 queries:
// no errors, rows from each, in their ORDER BY order.
func TestPostgres(t *testing.T) {
	pg := startPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if dialectOf(conn) != PostgreSQL {
		t.Errorf("server_version %q taken for Meridian", conn.ParameterStatus("server_version"))
	}
	// Collation "C": text sorts bytewise, as in Meridian.
	res, _, err := RunQuery(ctx, conn, "SELECT 'B' < 'a', datcollate FROM pg_database WHERE datname = current_database()")
	if err != nil {
		t.Fatal(err)
	}
	if got := formatRow(res.Rows[0]); got != "t | C.UTF-8" {
		t.Errorf("'B' < 'a', collation: %s; want t | C.UTF-8", got)
	}

	g, err := NewGenerator(0.01, DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Load(ctx, pg.URL, g, LoadOptions{Dialect: PostgreSQL, Jobs: 2, ChunkRows: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables() {
		res, _, err := RunQuery(ctx, conn, "SELECT count(*) FROM "+tb.String())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Rows[0][0].Text, st.Rows[tb]; got != itoa(want) || want != g.Rows(tb) {
			t.Errorf("%v: count(*) = %s, loaded %d, generated %d", tb, got, want, g.Rows(tb))
		}
	}
	if err := SetStatementTimeout(ctx, conn, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, q := range Queries() {
		res, d, err := RunQuery(ctx, conn, q.SQL)
		if err != nil {
			t.Errorf("%v: %s", q, Describe(err))
			continue
		}
		t.Logf("%v: %d rows in %v", q, len(res.Rows), d.Round(time.Millisecond))
		if len(res.Rows) == 0 {
			t.Errorf("%v: no rows", q)
		}
		if q.Limit > 0 && len(res.Rows) > q.Limit {
			t.Errorf("%v: %d rows, more than LIMIT %d", q, len(res.Rows), q.Limit)
		}
		// Sorted by its keys, and equal to itself.
		if err := Compare(q, res, res); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func itoa(n int64) string { return string(appendInt(nil, n)) }
