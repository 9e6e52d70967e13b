package pgwire

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

func waitStarted(t *testing.T, e *fakeEngine) {
	t.Helper()
	select {
	case <-e.started:
	case <-time.After(testTimeout):
		t.Fatal("the statement did not start")
	}
}

// pgx's CancelRequest stops a long-running statement with 57014; the
// connection stays usable.
func TestCancelRequestWithPgx(t *testing.T) {
	ts := startServer(t, nil)
	conn := ts.connectPgx(t, "")
	ctx := testContext(t)

	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.Background(), "sleep")
		done <- err
	}()
	waitStarted(t, ts.engine)
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != pgerr.QueryCanceled {
			t.Fatalf("got %v, want 57014", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the statement was not cancelled")
	}
	var n int32
	if err := conn.QueryRow(ctx, "select 4").Scan(&n); err != nil || n != 4 {
		t.Fatalf("after cancel: %d %v", n, err)
	}
}

// A cancel request must match the secret; one that arrives while the
// connection is idle is dropped and does not touch the next statement.
func TestCancelRequestMatching(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	ts.sendCancel(t, c.pid, []byte{1, 2, 3, 4}) // idle, and wrong anyway
	ts.sendCancel(t, c.pid, c.secret)           // idle
	ts.engine.maxSleep.Store(int64(50 * time.Millisecond))
	c.send(&pgproto3.Query{String: "sleep"})
	waitStarted(t, ts.engine)
	wantReply(t, "sleep after idle cancels", c.untilReady(), "C:SLEEP | Z:I")

	ts.engine.maxSleep.Store(0)
	c.send(&pgproto3.Query{String: "sleep"})
	waitStarted(t, ts.engine)
	ts.sendCancel(t, c.pid, append(append([]byte(nil), c.secret[:3]...), c.secret[3]^1))
	ts.sendCancel(t, c.pid+1000, c.secret)
	_ = c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if got, err := c.recv(); err == nil {
		t.Fatalf("a wrong cancel request cancelled: %q", got)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	ts.sendCancel(t, c.pid, c.secret)
	wantReply(t, "cancelled", c.untilReady(), "E:ERROR:57014 | Z:I")

	// In the extended protocol, the error skips to Sync.
	c.send(&pgproto3.Parse{Query: "sleep"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Parse{Query: "select 1"}, &pgproto3.Sync{})
	waitStarted(t, ts.engine)
	ts.sendCancel(t, c.pid, c.secret)
	wantReply(t, "cancelled extended", c.untilReady(), "1 | 2 | E:ERROR:57014 | Z:I")
}

// A COPY FROM STDIN waiting for data is cancelled too; the data the client
// sends afterwards is dropped.
func TestCancelDuringCopyIn(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "copy t from stdin"})
	if got, err := c.recv(); err != nil || got != "G" {
		t.Fatalf("copy in: %q %v", got, err)
	}
	c.send(&pgproto3.CopyData{Data: []byte("a\n")})
	waitFor(t, "the server to wait for COPY data", func() bool {
		return strings.Contains(serverGoroutines(), "(*copyInReader).next")
	})
	ts.sendCancel(t, c.pid, c.secret)
	wantReply(t, "cancelled copy", c.untilReady(), "E:ERROR:57014 | Z:I")

	c.send(&pgproto3.CopyData{Data: []byte("b\n")}, &pgproto3.CopyDone{}, &pgproto3.Query{String: "copy t to stdout"})
	wantReply(t, "copy out after", c.untilReady(), "H | c | C:COPY 0 | Z:I")
}
