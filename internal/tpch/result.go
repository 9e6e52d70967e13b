package tpch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Result is a query's result as the server printed it (text format).
type Result struct {
	Columns []string
	Rows    [][]Value
}

// Value is one printed value.
type Value struct {
	Text string
	Null bool
}

func (v Value) String() string {
	if v.Null {
		return "NULL"
	}
	return v.Text
}

// formatRow prints a row as "a | b | c".
func formatRow(row []Value) string {
	parts := make([]string, len(row))
	for i, v := range row {
		parts[i] = v.String()
	}
	return strings.Join(parts, " | ")
}

// RunQuery runs one statement with the extended protocol and text
// results, reads every row, and returns the result and the time from
// sending the statement to the last row.
func RunQuery(ctx context.Context, conn *pgconn.PgConn, sql string) (*Result, time.Duration, error) {
	start := time.Now()
	rr := conn.ExecParams(ctx, sql, nil, nil, nil, nil)
	res := &Result{}
	for _, f := range rr.FieldDescriptions() {
		res.Columns = append(res.Columns, f.Name)
	}
	for rr.NextRow() {
		vals := rr.Values()
		row := make([]Value, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = Value{Null: true}
			} else {
				row[i] = Value{Text: string(v)}
			}
		}
		res.Rows = append(res.Rows, row)
	}
	_, err := rr.Close()
	elapsed := time.Since(start)
	if err != nil {
		return nil, elapsed, err
	}
	return res, elapsed, nil
}

// SetStatementTimeout sets the session's statement_timeout, so that a slow
// query fails (SQLSTATE 57014) instead of running on.
func SetStatementTimeout(ctx context.Context, conn *pgconn.PgConn, d time.Duration) error {
	sql := fmt.Sprintf("SET statement_timeout = %d", d.Milliseconds())
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("tpch: %s: %w", sql, err)
	}
	return nil
}

// Describe prints an error with its SQLSTATE when the server sent one.
func Describe(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	return err.Error()
}
