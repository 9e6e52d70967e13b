package pgwire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// pgx's default mode: the extended protocol with a statement cache (Parse
// + Describe once, then Bind/Execute/Sync), binary and text formats.
func TestPgxExtendedQueryWithParams(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "")
	ctx := testContext(t)

	if got := conn.PgConn().ParameterStatus("server_version"); got != DefaultServerVersion {
		t.Errorf("server_version = %q, want %q", got, DefaultServerVersion)
	}

	for i := range 3 { // the second and third runs use pgx's cached statement
		var a int32
		var b string
		var c int64
		var null *string
		err := conn.QueryRow(ctx, "select $1::int4, $2::text, $3::int8, $4::text", int32(40+i), "hello", int64(-7), nil).
			Scan(&a, &b, &c, &null)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if a != int32(40+i) || b != "hello" || c != -7 || null != nil {
			t.Fatalf("run %d: got %d %q %d %v", i, a, b, c, null)
		}
	}

	for _, formats := range []pgx.QueryResultFormats{
		{pgx.TextFormatCode, pgx.TextFormatCode},
		{pgx.BinaryFormatCode, pgx.BinaryFormatCode},
		{pgx.BinaryFormatCode},
	} {
		rows, err := conn.Query(ctx, "select $1::int4, $2::int8", formats, int32(5), int64(1)<<40)
		if err != nil {
			t.Fatalf("formats %v: %v", formats, err)
		}
		var got [][]any
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			if fd := rows.FieldDescriptions(); fd[0].Format != formats[0] {
				t.Errorf("formats %v: column 0 came in format %d", formats, fd[0].Format)
			}
			got = append(got, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("formats %v: %v", formats, err)
		}
		if len(got) != 1 || got[0][0] != int32(5) || got[0][1] != int64(1)<<40 {
			t.Fatalf("formats %v: rows %v", formats, got)
		}
	}

	rows, err := conn.Query(ctx, "series 100")
	if err != nil {
		t.Fatal(err)
	}
	sum := int32(0)
	for rows.Next() {
		var n int32
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if err := rows.Err(); err != nil || sum != 5050 {
		t.Fatalf("series 100: sum %d, err %v", sum, err)
	}
	if tag := rows.CommandTag().String(); tag != "SELECT 100" {
		t.Errorf("tag %q", tag)
	}
	if n := metricValue(t, ts.Metrics().Messages); n < 10 {
		t.Errorf("messages counter = %v", n)
	}
	if n := metricValue(t, ts.Metrics().Connections); n != 1 {
		t.Errorf("connections gauge = %v, want 1", n)
	}
}

// A simple-protocol string of several statements gives one result each.
func TestSimpleProtocolMultiStatement(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "")
	ctx := testContext(t)

	results, err := conn.PgConn().Exec(ctx, "select 1, 'one'; series 2; insert into t values (1);").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		var rows []string
		for _, row := range r.Rows {
			var vals []string
			for _, v := range row {
				vals = append(vals, string(v))
			}
			rows = append(rows, strings.Join(vals, ","))
		}
		got = append(got, r.CommandTag.String()+"["+strings.Join(rows, ";")+"]")
	}
	want := "SELECT 1[1,one] SELECT 2[1;2] INSERT 0 1[]"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}

	// The simple protocol through pgx's own query path.
	var n int32
	if err := conn.QueryRow(ctx, "select 7", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 7 {
		t.Fatalf("simple protocol select: %d %v", n, err)
	}
}

// Errors carry the engine's SQLSTATE, detail and hint, and the connection
// stays usable in both protocols.
func TestErrorsKeepConnectionUsable(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "")
	ctx := testContext(t)

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		_, err := conn.Exec(ctx, "fail 23505 duplicate key value", mode)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != pgerr.UniqueViolation || pe.Message != "duplicate key value" ||
			pe.Detail != "fake detail" || pe.Hint != "fake hint" || pe.Severity != "ERROR" {
			t.Fatalf("mode %v: error %#v", mode, err)
		}
		_, err = conn.Exec(ctx, "bogus statement", mode)
		if !errors.As(err, &pe) || pe.Code != pgerr.SyntaxError {
			t.Fatalf("mode %v: syntax error came back as %v", mode, err)
		}
		var n int32
		if err := conn.QueryRow(ctx, "select 3", mode).Scan(&n); err != nil || n != 3 {
			t.Fatalf("mode %v: after errors: %d %v", mode, n, err)
		}
	}

	// The transaction status follows the session: an error in a block
	// leaves it failed ('E') until ROLLBACK.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "fail 22012 division by zero"); err == nil {
		t.Fatal("want an error")
	}
	if s := conn.PgConn().TxStatus(); s != 'E' {
		t.Errorf("TxStatus = %c, want E", s)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if s := conn.PgConn().TxStatus(); s != 'I' {
		t.Errorf("TxStatus = %c, want I", s)
	}
	if n := metricValue(t, ts.Metrics().Errors); n < 7 {
		t.Errorf("errors counter = %v, want >= 7", n)
	}
}

// sslmode=prefer: the server answers the SSLRequest 'N' and pgx goes on
// in plain text.
func TestPgxSSLPrefer(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "sslmode=prefer")
	var n int32
	if err := conn.QueryRow(testContext(t), "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestPgxCopyFromAndTo(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "")
	ctx := testContext(t)

	data := strings.Repeat("line\n", 20000) + "last\n" // > one CopyData chunk
	tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data), "COPY t FROM STDIN")
	if err != nil {
		t.Fatal(err)
	}
	if tag.String() != "COPY 20001" {
		t.Fatalf("copy from: tag %q", tag)
	}

	var out bytes.Buffer
	tag, err = conn.PgConn().CopyTo(ctx, &out, "COPY t TO STDOUT")
	if err != nil {
		t.Fatal(err)
	}
	if tag.String() != "COPY 20001" || out.String() != data {
		t.Fatalf("copy to: tag %q, %d bytes (want %d)", tag, out.Len(), len(data))
	}

	// A failing reader makes pgx send CopyFail: 57014 with its message.
	_, err = conn.PgConn().CopyFrom(ctx, io.MultiReader(strings.NewReader("x\n"), errReader{}), "copy t from stdin")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != pgerr.QueryCanceled || !strings.Contains(pe.Message, "reader broke") {
		t.Fatalf("copy fail: %v", err)
	}

	// Engine error during COPY: the rest of the client's data is dropped.
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(data), "copy t to somewhere from a file")
	if !errors.As(err, &pe) || pe.Code != pgerr.FeatureNotSupported {
		t.Fatalf("bad copy: %v", err)
	}
	var n int32
	if err := conn.QueryRow(ctx, "select 2").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after copy: %d %v", n, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("reader broke") }
