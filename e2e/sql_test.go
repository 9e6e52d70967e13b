package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Helpers shared by the SQL tests: statements that must succeed, and
// exact comparisons of numeric results.

// mustExec runs a statement that must succeed and returns its tag.
func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	ctx, cancel := queryCtx()
	defer cancel()
	tag, err := conn.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, describe(err))
	}
	return tag
}

// mustQueryRow runs a one-row query that must succeed and scans it.
func mustQueryRow(t *testing.T, conn *pgx.Conn, dest []any, sql string, args ...any) {
	t.Helper()
	ctx, cancel := queryCtx()
	defer cancel()
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s %v: %v", sql, args, describe(err))
	}
}

// describe adds the SQLSTATE to a server error.
func describe(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%v (SQLSTATE %s)", pe.Message, pe.Code)
	}
	return err.Error()
}

// sqlState is the SQLSTATE of a server error, "" for any other error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// ratOf converts a scanned number (numeric, any integer, text) to a
// rational for exact comparison; ok is false for NULL or another type.
func ratOf(v any) (r *big.Rat, ok bool) {
	switch x := v.(type) {
	case pgtype.Numeric:
		if !x.Valid || x.NaN || x.InfinityModifier != pgtype.Finite {
			return nil, false
		}
		r = new(big.Rat).SetInt(x.Int)
		e := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(x.Exp))), nil)
		if x.Exp >= 0 {
			return r.Mul(r, new(big.Rat).SetInt(e)), true
		}
		return r.Quo(r, new(big.Rat).SetInt(e)), true
	case int64:
		return new(big.Rat).SetInt64(x), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case int16:
		return new(big.Rat).SetInt64(int64(x)), true
	case string:
		return new(big.Rat).SetString(x)
	}
	return nil, false
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// cents is a rational of hundredths.
func cents(c int64) *big.Rat { return big.NewRat(c, 100) }

// checkNum asserts that a scanned number equals want exactly.
func checkNum(t *testing.T, what string, got any, want *big.Rat) {
	t.Helper()
	r, ok := ratOf(got)
	if !ok {
		t.Errorf("%s: got %v (%T), want %s", what, got, got, want.FloatString(2))
		return
	}
	if r.Cmp(want) != 0 {
		t.Errorf("%s: got %s, want %s", what, r.FloatString(2), want.FloatString(2))
	}
}

// queryRows runs a query and returns its rows as values; err is the
// statement's error.
func queryRows(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([][]any, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
