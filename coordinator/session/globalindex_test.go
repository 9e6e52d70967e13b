package session_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestGlobalIndexCopyAndBulk: COPY checks a global unique index (the
// whole COPY fails on a duplicate, with PostgreSQL's DETAIL); bulk loads,
// a build and a delete of more entries than one datanode message carries.
func TestGlobalIndexCopyAndBulk(t *testing.T) {
	dsn := startCluster(t)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE cg (id int PRIMARY KEY, k int UNIQUE, v text)")

	_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("1\t10\ta\n2\t20\tb\n3\t10\tc\n"), "COPY cg FROM STDIN")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.Message != `duplicate key value violates unique constraint "cg_k_key"` ||
		pe.Detail != "Key (k)=(10) already exists." {
		t.Fatalf("COPY with a duplicate: %v", err)
	}
	if n := count(t, conn, "SELECT count(*) FROM cg"); n != 0 {
		t.Fatalf("%d rows after a failed COPY", n)
	}

	const rows = 20001 // over several COPY batches and index messages
	var data strings.Builder
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&data, "%d\t%d\tv%d\n", i, i*7, i)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data.String()), "COPY cg FROM STDIN"); err != nil {
		t.Fatal(err)
	}
	mustFail23505(t, conn, "INSERT INTO cg VALUES (-1, 7*19999, 'dup')")
	exec(t, conn, "INSERT INTO cg VALUES (-1, -7, 'new')")

	// A build over all of them (CREATE UNIQUE INDEX) and a failed one.
	exec(t, conn, "CREATE UNIQUE INDEX cg_v ON cg (v)")
	mustFail23505(t, conn, "INSERT INTO cg VALUES (-2, -14, 'v123')")
	_, err = conn.Exec(ctx, "UPDATE cg SET v = 'same' WHERE id IN (5, 6)")
	if code(err) != "23505" {
		t.Fatalf("two rows given one key: %v", err)
	}
	exec(t, conn, "UPDATE cg SET v = 'x' || v")
	_, err = conn.Exec(ctx, "CREATE UNIQUE INDEX cg_id_mod ON cg ((id % 2))")
	if code(err) != "0A000" {
		t.Fatalf("expression index: %v", err)
	}
	exec(t, conn, "UPDATE cg SET k = k + 1 WHERE id < 5000")
	if _, err := conn.Exec(ctx, "DELETE FROM cg WHERE id >= 0"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count(*) FROM cg"); n != 1 {
		t.Fatalf("%d rows left", n)
	}
	// Every deleted key is free again; the remaining row's is not.
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data.String()), "COPY cg FROM STDIN"); err != nil {
		t.Fatalf("COPY after the delete: %v", err)
	}
	mustFail23505(t, conn, "INSERT INTO cg VALUES (-3, -6, 'other')") // id -1 took k + 1 above
}

func count(t *testing.T, conn *pgx.Conn, q string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func mustFail23505(t *testing.T, conn *pgx.Conn, q string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), q); code(err) != "23505" {
		t.Fatalf("%s: %v, want 23505", q, err)
	}
}

// TestGlobalIndexInvariant runs random inserts, key updates and deletes
// from several sessions — autocommit, and in blocks that commit, roll
// back or roll back to a savepoint — over a small key space, then checks
// that the index holds exactly the keys of the live rows: inserting a
// taken key fails, inserting a free one succeeds (no lost entry, no
// phantom one), and no key is held twice.
func TestGlobalIndexInvariant(t *testing.T) {
	dsn := startCluster(t)
	ctx := context.Background()
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE inv (id int PRIMARY KEY, k int, n int)")
	exec(t, conn, "CREATE UNIQUE INDEX inv_k ON inv (k)")
	const keys, workers, steps = 30, 4, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(ctx)
			r := rand.New(rand.NewPCG(uint64(w), 7))
			next := w * 100000
			stmt := func() string {
				switch r.IntN(4) {
				case 0, 1:
					next++
					return fmt.Sprintf("INSERT INTO inv VALUES (%d, %d, 0)", next, r.IntN(keys))
				case 2:
					return fmt.Sprintf("UPDATE inv SET k = %d WHERE k = %d", r.IntN(keys), r.IntN(keys))
				}
				return fmt.Sprintf("DELETE FROM inv WHERE k = %d", r.IntN(keys))
			}
			for i := 0; i < steps; i++ {
				if err := randomStep(ctx, c, r, stmt); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
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
	live := map[int64]int{}
	rows, err := conn.Query(ctx, "SELECT k FROM inv WHERE k IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		live[k]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for k := int64(0); k < keys; k++ {
		if live[k] > 1 {
			t.Fatalf("key %d held by %d rows", k, live[k])
		}
		exec(t, conn, "BEGIN")
		_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO inv VALUES (%d, %d, 1)", -1-k, k))
		exec(t, conn, "ROLLBACK")
		switch {
		case live[k] == 1 && code(err) != "23505":
			t.Errorf("key %d is taken but a new row got it (%v): lost entry", k, err)
		case live[k] == 0 && err != nil:
			t.Errorf("key %d is free but cannot be inserted (%v): phantom entry", k, err)
		}
	}
	t.Logf("%d of %d keys live at the end", len(live), keys)
}

// randomStep runs one autocommit statement, or a block of a few that
// commits, rolls back, or rolls back to a savepoint first. Unique
// violations, deadlocks and serialization failures are expected
// outcomes; other errors are not.
func randomStep(ctx context.Context, c *pgx.Conn, r *rand.Rand, stmt func() string) error {
	ok := func(err error) error {
		switch code(err) {
		case "", "23505", "40P01", "40001":
			return nil
		}
		return err
	}
	if r.IntN(2) == 0 {
		_, err := c.Exec(ctx, stmt())
		return ok(err)
	}
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	failed := false
	for i, n := 0, 1+r.IntN(3); i < n; i++ {
		if i == 1 && r.IntN(2) == 0 {
			if _, err := c.Exec(ctx, "SAVEPOINT s"); err != nil {
				return err
			}
			_, err := c.Exec(ctx, stmt())
			if err := ok(err); err != nil {
				return err
			}
			if _, err := c.Exec(ctx, "ROLLBACK TO SAVEPOINT s"); err != nil {
				return err
			}
			continue
		}
		_, err := c.Exec(ctx, stmt())
		if err := ok(err); err != nil {
			return err
		}
		if err != nil {
			failed = true // the block can only roll back now
			break
		}
	}
	end := "COMMIT"
	if failed || r.IntN(3) == 0 {
		end = "ROLLBACK"
	}
	_, err := c.Exec(ctx, end)
	return ok(err)
}
