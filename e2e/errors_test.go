package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestErrors checks the SQLSTATE of each class of error through the wire,
// in both query protocols, and that the connection is usable after each.
func TestErrors(t *testing.T) {
	tc := startCluster(t, 1, 3)
	conn := tc.connect(t, 0)
	mustExec(t, conn, `CREATE TABLE errt (id bigint PRIMARY KEY, i int NOT NULL, s smallint, t text, ts timestamp) DISTRIBUTE BY HASH(id)`)
	mustExec(t, conn, `INSERT INTO errt (id, i, s, t) VALUES (1, 10, 1, 'one'), (2, 20, 2, 'two'), (3, 0, 3, 'three')`)

	cases := []struct {
		code, sql string
	}{
		{"42601", "SELEC 1"},
		{"42601", "SELECT id FROM errt WHERE"},
		{"42601", "INSERT INTO errt VALUES (1,"},
		{"42P01", "SELECT * FROM nosuch"},
		{"42P01", "INSERT INTO nosuch VALUES (1)"},
		{"42P01", "UPDATE nosuch SET a = 1"},
		{"42703", "SELECT nosuchcol FROM errt"},
		{"42703", "SELECT id FROM errt WHERE nosuchcol = 1"},
		{"42703", "INSERT INTO errt (id, nosuchcol) VALUES (9, 1)"},
		{"42703", "UPDATE errt SET nosuchcol = 1"},
		{"42804", "INSERT INTO errt (id, i) VALUES (9, true)"},
		{"42804", "SELECT id FROM errt WHERE i"},
		{"42804", "UPDATE errt SET i = true WHERE id = 1"},
		{"23505", "INSERT INTO errt (id, i) VALUES (1, 5)"},
		{"23505", "INSERT INTO errt (id, i) VALUES (7, 5), (7, 6)"},
		{"23505", "INSERT INTO errt (id, i) VALUES (8, 5), (2, 6)"},
		{"23502", "INSERT INTO errt (id, i) VALUES (9, NULL)"},
		{"23502", "INSERT INTO errt (id) VALUES (9)"},
		{"23502", "INSERT INTO errt (id, i) VALUES (NULL, 1)"},
		{"23502", "UPDATE errt SET i = NULL WHERE id = 2"},
		{"22012", "SELECT 1/0"},
		{"22012", "SELECT id / (i - i) FROM errt"},
		{"22012", "SELECT id FROM errt WHERE id / i > 0"},
		{"22012", "UPDATE errt SET i = 1 / i WHERE id = 3"},
		{"22003", "SELECT 2147483647::int4 + 1"},
		{"22003", "SELECT 9223372036854775807::int8 * 2"},
		{"22003", "INSERT INTO errt (id, i, s) VALUES (9, 1, 40000)"},
		{"22003", "INSERT INTO errt (id, i) VALUES (9, 3000000000)"},
		{"22003", "UPDATE errt SET s = s + 32767 WHERE id = 2"},
		{"22P02", "SELECT 'abc'::int"},
		{"22P02", "INSERT INTO errt (id, i) VALUES ('x', 1)"},
		{"22P02", "SELECT id FROM errt WHERE i = 'seven'"},
		{"42702", "SELECT id FROM errt a JOIN errt b ON a.id = b.id"},
		{"42P01", "WITH x AS (SELECT 1) SELECT * FROM y"},
		{"21000", "SELECT (SELECT id FROM errt)"},
		{"0A000", "LISTEN meridian_events"},
	}
	modes := []struct {
		name string
		mode pgx.QueryExecMode
	}{
		{"extended", pgx.QueryExecModeCacheStatement},
		{"simple", pgx.QueryExecModeSimpleProtocol},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range cases {
				ctx, cancel := queryCtx()
				_, err := conn.Exec(ctx, c.sql, m.mode)
				cancel()
				if got := sqlState(err); got != c.code {
					t.Errorf("%s: got %v, want SQLSTATE %s", c.sql, errText(err), c.code)
				}
				if conn.IsClosed() {
					t.Fatalf("%s: the connection was closed", c.sql)
				}
				checkRows(t, conn, c.sql)
			}
		})
	}
	// The failed statements changed nothing.
	t.Run("unchanged", func(t *testing.T) {
		ctx, cancel := queryCtx()
		defer cancel()
		rows, err := queryRows(ctx, conn, "SELECT id, i, s, t FROM errt ORDER BY id")
		if err != nil {
			t.Fatal(describe(err))
		}
		want := "[[1 10 1 one] [2 20 2 two] [3 0 3 three]]"
		if got := fmt.Sprint(rows); got != want {
			t.Errorf("errt = %s, want %s", got, want)
		}
	})
	// In a transaction block, an error fails the block (25P02) until
	// ROLLBACK, which leaves nothing of it.
	t.Run("transaction", func(t *testing.T) {
		mustExec(t, conn, "BEGIN")
		mustExec(t, conn, "INSERT INTO errt (id, i) VALUES (100, 1)")
		ctx, cancel := queryCtx()
		defer cancel()
		if _, err := conn.Exec(ctx, "INSERT INTO errt (id, i) VALUES (1, 1)"); sqlState(err) != "23505" {
			t.Errorf("duplicate key in a transaction: got %v, want 23505", errText(err))
		}
		if _, err := conn.Exec(ctx, "SELECT 1"); sqlState(err) != "25P02" {
			t.Errorf("statement in a failed transaction: got %v, want 25P02", errText(err))
		}
		mustExec(t, conn, "ROLLBACK")
		var n int64
		mustQueryRow(t, conn, []any{&n}, "SELECT count(*) FROM errt WHERE id = 100")
		if n != 0 {
			t.Errorf("row of a rolled back transaction: count %d, want 0", n)
		}
	})
	// A COPY that fails on its 900th row stores none of its rows.
	t.Run("copy", func(t *testing.T) {
		var b strings.Builder
		for i := 1000; i < 2000; i++ {
			if i == 1900 {
				fmt.Fprintf(&b, "%d\tnotanumber\n", i)
				continue
			}
			fmt.Fprintf(&b, "%d\t%d\n", i, i)
		}
		ctx, cancel := queryCtx()
		defer cancel()
		_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(b.String()), "COPY errt (id, i) FROM STDIN")
		if sqlState(err) != "22P02" {
			t.Errorf("COPY with a bad integer: got %v, want 22P02", errText(err))
		}
		checkRows(t, conn, "COPY")
		var n int64
		mustQueryRow(t, conn, []any{&n}, "SELECT count(*) FROM errt WHERE id BETWEEN 1000 AND 1999")
		if n != 0 {
			t.Errorf("rows of a failed COPY: %d, want 0", n)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return describe(err)
}

// checkRows checks that conn still runs statements, on a table too.
func checkRows(t *testing.T, conn *pgx.Conn, after string) {
	t.Helper()
	ctx, cancel := queryCtx()
	defer cancel()
	var one, n int64
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after %q: SELECT 1: %v, %v", after, one, errText(err))
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM errt").Scan(&n); err != nil {
		t.Fatalf("after %q: SELECT count(*): %v", after, errText(err))
	}
}

// startupMessage is a protocol 3.0 StartupMessage for user meridian.
func startupMessage() []byte {
	body := []byte{0, 3, 0, 0}
	for _, s := range []string{"user", "meridian", "database", "meridian", ""} {
		body = append(body, s...)
		body = append(body, 0)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...)
}

// message is a typed protocol message with the length field set to
// length (the true one when length < 0).
func message(typ byte, length int64, body []byte) []byte {
	if length < 0 {
		length = int64(len(body) + 4)
	}
	return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(length)), body...)
}

// readMessages reads backend messages until the server closes the
// connection or the deadline passes; it returns their types and whether the
// connection was closed (EOF or reset) in time.
func readMessages(nc net.Conn, until time.Time, stopAtReady bool) (types []byte, closed bool, err error) {
	_ = nc.SetReadDeadline(until)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return types, isClosed(err), err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<20 {
			return types, false, fmt.Errorf("bad backend message length %d", n)
		}
		if _, err := io.CopyN(io.Discard, nc, int64(n)); err != nil {
			return types, isClosed(err), err
		}
		types = append(types, hdr[0])
		if stopAtReady && hdr[0] == 'Z' {
			return types, false, nil
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestMalformedProtocol sends bad bytes over raw TCP: the coordinator
// answers with an error or closes that connection, in bounded time, and
// other connections and the process carry on.
func TestMalformedProtocol(t *testing.T) {
	tc := startCluster(t, 1, 2)
	bystander := tc.connect(t, 0)
	mustExec(t, bystander, "CREATE TABLE bystander (id int PRIMARY KEY, v text)")
	mustExec(t, bystander, "INSERT INTO bystander VALUES (1, 'still here')")
	addr := tc.PGAddrs()[0]

	cases := []struct {
		name    string
		startup bool   // send a valid startup first and wait for ReadyForQuery
		bad     []byte // then these bytes
	}{
		{"query claiming 2 GiB", true, message('Q', 1<<31-1, []byte("SELECT 1\x00"))},
		{"query claiming 4 GiB - 1", true, message('Q', 1<<32-1, []byte("SELECT 1\x00"))},
		{"length below 4", true, message('Q', 2, []byte("SELECT 1\x00"))},
		{"unknown message type", true, message(0x01, -1, []byte("garbage"))},
		{"garbage bytes", true, bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x37}, 64)},
		{"truncated Parse", true, message('P', -1, []byte("stmt"))},
		{"Bind of an unknown statement", true, append(message('B', -1, []byte("\x00nosuch\x00\x00\x00\x00\x00\x00\x00")), message('S', -1, nil)...)},
		{"Bind claiming 30000 parameters", true, append(message('B', -1, []byte("\x00\x00\x00\x00\x75\x30\x00\x00")), message('S', -1, nil)...)},
		{"startup claiming 2 GiB", false, append(binary.BigEndian.AppendUint32(nil, 1<<31-1), 0, 3, 0, 0)},
		{"startup with an odd protocol", false, append(binary.BigEndian.AppendUint32(nil, 8), 0x12, 0x34, 0x56, 0x78)},
		{"HTTP request", false, []byte("GET / HTTP/1.1\r\nHost: meridian\r\n\r\n")},
		{"startup without terminator", false, append(binary.BigEndian.AppendUint32(nil, 16), 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x', 'y', 'z')},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if c.startup {
				if _, err := nc.Write(startupMessage()); err != nil {
					t.Fatal(err)
				}
				types, _, err := readMessages(nc, time.Now().Add(10*time.Second), true)
				if err != nil || len(types) == 0 || types[len(types)-1] != 'Z' {
					t.Fatalf("startup: got messages %q, %v; want ReadyForQuery", types, err)
				}
			}
			// The server may close as soon as it has read the header, so a
			// write error is a fine answer too.
			_, werr := nc.Write(c.bad)
			types, closed, err := readMessages(nc, time.Now().Add(15*time.Second), true)
			switch {
			case closed || (werr != nil && isClosed(werr)):
				t.Logf("messages %q, then the connection was closed", types)
			case err == nil && bytes.ContainsRune(types, 'E'):
				// An error, then ReadyForQuery: fine if the connection is
				// still usable (the extended-protocol error cases).
				if _, err := nc.Write(message('Q', -1, []byte("SELECT 1\x00"))); err != nil {
					t.Fatalf("after the error: %v", err)
				}
				more, _, err := readMessages(nc, time.Now().Add(10*time.Second), true)
				if err != nil || !bytes.ContainsRune(more, 'Z') {
					t.Errorf("after the error %q the connection kept open does not answer: %q, %v", types, more, err)
				}
			default:
				t.Errorf("got messages %q and %v (write: %v); want an ErrorResponse or a closed connection within 15s", types, err, werr)
			}
		})
	}
	// Many bad connections at once.
	t.Run("parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				defer nc.Close()
				_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_, _ = nc.Write(startupMessage())
				_, _ = nc.Write(message(byte(i), 1<<31-1+int64(i), []byte("xx")))
				_, closed, err := readMessages(nc, time.Now().Add(15*time.Second), false)
				if !closed {
					t.Errorf("bad connection %d: %v; want it closed", i, err)
				}
			})
		}
		wg.Wait()
	})

	// The coordinator is still up: the old connection and new ones work.
	if !tc.healthy("cn1") {
		t.Errorf("cn1 is not healthy after the malformed messages")
	}
	var v string
	mustQueryRow(t, bystander, []any{&v}, "SELECT v FROM bystander WHERE id = 1")
	if v != "still here" {
		t.Errorf("bystander read %q", v)
	}
	fresh := tc.connect(t, 0)
	mustExec(t, fresh, "INSERT INTO bystander VALUES (2, 'new')")
	var n int64
	mustQueryRow(t, bystander, []any{&n}, "SELECT count(*) FROM bystander")
	if n != 2 {
		t.Errorf("bystander count %d, want 2", n)
	}
}

var preparedRE = regexp.MustCompile(`msg="storage opened".* prepared_xids=(\d+)`)

// preparedHint tells, from a datanode's log, whether it restarted with
// prepared transactions (the in-doubt ones of a crash), which readers of
// their rows wait for until they are resolved.
func (tc *testCluster) preparedHint(node string) string {
	b, err := os.ReadFile(filepath.Join(tc.dir, node+".log"))
	if err != nil {
		return ""
	}
	m := preparedRE.FindAllSubmatch(b, -1)
	if len(m) < 2 || string(m[len(m)-1][1]) == "0" {
		return ""
	}
	return fmt.Sprintf("\n(%s restarted with prepared_xids=%s: transactions left prepared by the crash, never resolved, block the readers of their rows)",
		node, m[len(m)-1][1])
}

// insResult is the outcome of one INSERT statement of the loop.
type insResult struct {
	done    bool
	err     error
	elapsed time.Duration
}

// TestDatanodeKillDuringInsert kills a datanode while multi-datanode INSERT
// statements run in a loop on two connections: each statement either
// stores all its rows or, having returned an error in bounded time, none of
// them.
func TestDatanodeKillDuringInsert(t *testing.T) {
	const rowsPerStmt = 300
	const workers = 2
	const stmtTimeout = 30 * time.Second
	tc := startCluster(t, 1, 3)
	conn := tc.connect(t, 0)
	mustExec(t, conn, "CREATE TABLE ins (k bigint PRIMARY KEY, stmt int NOT NULL) DISTRIBUTE BY HASH(k)")

	var (
		mu      sync.Mutex
		results []insResult // by statement number, in start order
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	count := func(since int, failed bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results[min(since, len(results)):] {
			if r.done && (r.err != nil) == failed {
				n++
			}
		}
		return n
	}
	stmtSQL := func(s int) string {
		var b strings.Builder
		b.WriteString("INSERT INTO ins (k, stmt) VALUES ")
		for j := range rowsPerStmt {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%d, %d)", s*rowsPerStmt+j, s)
		}
		return b.String()
	}
	worker := func(c *pgx.Conn) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			s := len(results)
			results = append(results, insResult{})
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), stmtTimeout)
			start := time.Now()
			_, err := c.Exec(ctx, stmtSQL(s))
			cancel()
			mu.Lock()
			results[s] = insResult{done: true, err: err, elapsed: time.Since(start)}
			mu.Unlock()
			if c.IsClosed() {
				// Not expected (the coordinator stays up), but keep going
				// on a new connection; the checks below report it.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if nc, err := pgx.Connect(ctx, tc.dsn(0)); err == nil {
					c = nc
					defer nc.Close(context.Background())
				}
				cancel()
			}
			if err != nil {
				// Pace the failing statements a little; successes run
				// back to back.
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	wg.Go(func() { worker(conn) })
	for range workers - 1 {
		c := tc.connect(t, 0)
		wg.Go(func() { worker(c) })
	}
	stopLoop := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoop()

	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: gave up after %v", what, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("10 INSERTs", 60*time.Second, func() bool { return count(0, false) >= 10 })
	mu.Lock()
	killedAt := len(results)
	mu.Unlock()
	tc.kill(t, "dn2")
	waitFor("INSERTs to fail with dn2 down", 2*stmtTimeout, func() bool { return count(killedAt, true) >= 3 })
	mu.Lock()
	restartAt := len(results)
	mu.Unlock()
	tc.restart(t, "dn2")
	waitFor("INSERTs to succeed again after dn2 restarted", 90*time.Second, func() bool { return count(restartAt, false) >= 5 })
	stopLoop()

	// Read every statement's rows once all datanodes answer.
	var perStmt map[int64]int64
	err := poll(60*time.Second, func(ctx context.Context) error {
		rc, err := pgx.Connect(ctx, tc.dsn(0))
		if err != nil {
			return err
		}
		defer rc.Close(ctx)
		rows, err := queryRows(ctx, rc, "SELECT stmt, count(*) FROM ins GROUP BY stmt")
		if err != nil {
			return err
		}
		perStmt = map[int64]int64{}
		for _, r := range rows {
			s, _ := r[0].(int32)
			n, _ := r[1].(int64)
			perStmt[int64(s)] = n
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SELECT stmt, count(*) FROM ins GROUP BY stmt after dn2 restarted: %v%s", err, tc.preparedHint("dn2"))
	}
	var ok, failed int
	for s, r := range results {
		got := perStmt[int64(s)]
		delete(perStmt, int64(s))
		if r.elapsed >= stmtTimeout-time.Second {
			t.Errorf("statement %d hung: no answer within %v (%v)", s, r.elapsed.Round(time.Millisecond), errText(r.err))
			continue
		}
		if r.err == nil {
			ok++
			if got != rowsPerStmt {
				t.Errorf("statement %d succeeded but %d of its %d rows exist", s, got, rowsPerStmt)
			}
			continue
		}
		failed++
		var pe *pgconn.PgError
		if !errors.As(r.err, &pe) {
			t.Errorf("statement %d failed without an SQLSTATE (the client connection broke?): %v", s, r.err)
		}
		if got != 0 {
			t.Errorf("statement %d failed (%v) but %d of its %d rows exist", s, errText(r.err), got, rowsPerStmt)
		}
		if s >= killedAt-workers && s < killedAt+3 {
			t.Logf("statement %d after the kill: %v in %v", s, errText(r.err), r.elapsed.Round(time.Millisecond))
		}
	}
	for s, n := range perStmt {
		t.Errorf("%d rows of statement %d, which was never run", n, s)
	}
	t.Logf("%d INSERTs of %d rows succeeded, %d failed; dn2 was killed when statement %d had started, restarted at %d",
		ok, rowsPerStmt, failed, killedAt-1, restartAt-1)
}
