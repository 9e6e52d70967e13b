package pgwire

import (
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// A header declaring a 1 GiB message is refused from the header alone: the
// server answers FATAL 54000 without waiting for (or allocating) the body,
// closes that connection and goes on serving.
func TestOversizedMessageRefusedWithoutAllocating(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.Log = discardLogger() })
	for _, typ := range []byte{'Q', 'd', 'B', 'Z'} {
		c := ts.dialRaw(t)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		header := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[1:], 1<<30)
		if _, err := c.nc.Write(header); err != nil {
			t.Fatal(err)
		}
		// The body is never sent: an answer proves the server did not wait
		// for it.
		wantReply(t, "1 GiB message", c.untilClosed(), "E:FATAL:54000")

		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Errorf("type %c: the server allocated %d bytes for a refused message", typ, grew)
		}
	}
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "server still up", c.untilReady(), `T:?column?/23/0 | D:"1" | C:SELECT 1 | Z:I`)
}

// The limit counts the whole declared length, as PostgreSQL does.
func TestMessageSizeLimitBoundary(t *testing.T) {
	const limit = 4096
	ts := startServer(t, func(cfg *Config) { cfg.MaxMessageSize = limit; cfg.Log = discardLogger() })
	c := ts.dialRaw(t)
	// Declared length = 4 (length) + len(sql) + 1 (NUL).
	sql := "select '" + strings.Repeat("x", limit-4-1-len("select ''")) + "'"
	c.send(&pgproto3.Query{String: sql})
	if got := c.untilReady(); !strings.HasSuffix(got, "C:SELECT 1 | Z:I") {
		t.Fatalf("message at the limit: %.80s", got)
	}
	c.send(&pgproto3.Query{String: sql + " "})
	wantReply(t, "one byte over", c.untilClosed(), "E:FATAL:54000")
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.MaxConnections = 1; cfg.Log = discardLogger() })
	c := ts.dialRaw(t)

	over := ts.dialNoStartup(t)
	over.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "u"}})
	wantReply(t, "second session", over.untilClosed(), "E:FATAL:53300")

	// Cancel requests are still served at the cap.
	c.send(&pgproto3.Query{String: "sleep"})
	waitStarted(t, ts.engine)
	ts.sendCancel(t, c.pid, c.secret)
	wantReply(t, "cancelled", c.untilReady(), "E:ERROR:57014 | Z:I")

	// A slot frees when a session ends.
	c.send(&pgproto3.Terminate{})
	c.untilClosed()
	waitFor(t, "the slot to free", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.sessions == 0
	})
	ts.dialRaw(t)
}

func TestAuthTimeout(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.AuthTimeout = 100 * time.Millisecond })
	c := ts.dialNoStartup(t)
	start := time.Now()
	if got := c.untilClosed(); got != "" {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
	// Past the startup, no timeout applies.
	c = ts.dialRaw(t)
	time.Sleep(200 * time.Millisecond)
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "after startup", c.untilReady(), `T:?column?/23/0 | D:"1" | C:SELECT 1 | Z:I`)
}

// Close ends every connection: idle ones get FATAL 57P01, running
// statements are cancelled, a connection blocked writing to a client that
// does not read is cut after the grace period; every session is closed
// when Close returns.
func TestCloseEndsConnections(t *testing.T) {
	ts := startServer(t, nil)
	idle := ts.dialRaw(t)
	running := ts.dialRaw(t)
	running.send(&pgproto3.Query{String: "sleep"})
	waitStarted(t, ts.engine)
	stuck := ts.dialRaw(t)
	stuck.send(&pgproto3.Query{String: "series 300000"}) // never read
	waitFor(t, "the stuck connection to block", func() bool {
		return strings.Contains(serverGoroutines(), "(*conn).flush")
	})

	start := time.Now()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if sessions, _ := ts.engine.openSessions(); sessions != 0 {
		t.Errorf("%d sessions open after Close", sessions)
	}
	wantReply(t, "idle", idle.untilClosed(), "E:FATAL:57P01")
	if got := running.untilClosed(); !strings.HasSuffix(got, "E:FATAL:57P01") {
		t.Errorf("running connection got %q", got)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("the listener is still open")
	}
	if err := ts.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
