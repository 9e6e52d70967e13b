package pgwire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testTimeout bounds every test's client operations.
const testTimeout = 5 * time.Second

// testServer is a Server with a fake engine, serving on 127.0.0.1:0.
type testServer struct {
	*Server
	engine *fakeEngine
	addr   string
}

// startServer starts a server; mut adjusts its Config. Cleanup closes it,
// checks that Serve returned ErrServerClosed, that every session and
// portal was closed and that no connection goroutine is left.
func startServer(t *testing.T, mut func(*Config)) *testServer {
	t.Helper()
	checkNoLeaks(t)
	e := newFakeEngine()
	cfg := NewConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Registry = prometheus.NewRegistry()
	cfg.Log = slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if mut != nil {
		mut(&cfg)
	}
	s, err := NewServer(cfg, e)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if sessions, portals := e.openSessions(); sessions != 0 || portals != 0 {
			t.Errorf("after Close: %d sessions and %d portals still open", sessions, portals)
		}
	})
	return &testServer{Server: s, engine: e, addr: ln.Addr().String()}
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkNoLeaks fails the test if goroutines of this package's server are
// still running once the test's other cleanups are done.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			leaked := serverGoroutines()
			if leaked == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leaked goroutines:\n%s", leaked)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func serverGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "pgwire.(*conn)") || strings.Contains(g, "pgwire.(*Server)") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// connectPgx connects pgx in its default mode.
func (ts *testServer) connectPgx(t *testing.T, opts string) *pgx.Conn {
	t.Helper()
	ctx := testContext(t)
	if opts == "" {
		opts = "sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://alice@%s/db?%s", ts.addr, opts))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// rawClient drives the server with pgproto3's Frontend.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	fe *pgproto3.Frontend

	// From BackendKeyData.
	pid    uint32
	secret []byte
}

// dialRaw connects and completes the startup as user alice (trust).
func (ts *testServer) dialRaw(t *testing.T) *rawClient {
	t.Helper()
	c := ts.dialNoStartup(t)
	c.send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": "alice", "database": "db"},
	})
	got := c.untilReady()
	if !strings.HasPrefix(got, "R:ok | ") || !strings.HasSuffix(got, "Z:I") {
		t.Fatalf("startup answered %q", got)
	}
	return c
}

func (ts *testServer) dialNoStartup(t *testing.T) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
}

func (c *rawClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// recv returns the next message, summarized by describe.
func (c *rawClient) recv() (string, error) {
	m, err := c.fe.Receive()
	if err != nil {
		return "", err
	}
	if k, ok := m.(*pgproto3.BackendKeyData); ok {
		c.pid, c.secret = k.ProcessID, append([]byte(nil), k.SecretKey...)
	}
	return describe(m), nil
}

// untilReady reads messages up to ReadyForQuery and summarizes them,
// separated by " | ".
func (c *rawClient) untilReady() string {
	c.t.Helper()
	var out []string
	for {
		s, err := c.recv()
		if err != nil {
			c.t.Fatalf("receive after %q: %v", out, err)
		}
		out = append(out, s)
		if strings.HasPrefix(s, "Z:") {
			return strings.Join(out, " | ")
		}
	}
}

// untilClosed reads messages until the server closes the connection.
func (c *rawClient) untilClosed() string {
	c.t.Helper()
	var out []string
	for {
		s, err := c.recv()
		if err != nil {
			return strings.Join(out, " | ")
		}
		out = append(out, s)
	}
}

// describe summarizes a backend message in a few characters.
func describe(m pgproto3.BackendMessage) string {
	switch m := m.(type) {
	case *pgproto3.AuthenticationOk:
		return "R:ok"
	case *pgproto3.ParameterStatus:
		return "S:" + m.Name + "=" + m.Value
	case *pgproto3.BackendKeyData:
		return "K"
	case *pgproto3.ReadyForQuery:
		return "Z:" + string(m.TxStatus)
	case *pgproto3.RowDescription:
		var f []string
		for _, fd := range m.Fields {
			f = append(f, fmt.Sprintf("%s/%d/%d", fd.Name, fd.DataTypeOID, fd.Format))
		}
		return "T:" + strings.Join(f, ",")
	case *pgproto3.DataRow:
		var v []string
		for _, b := range m.Values {
			if b == nil {
				v = append(v, "NULL")
			} else {
				v = append(v, fmt.Sprintf("%q", b))
			}
		}
		return "D:" + strings.Join(v, ",")
	case *pgproto3.CommandComplete:
		return "C:" + string(m.CommandTag)
	case *pgproto3.EmptyQueryResponse:
		return "I"
	case *pgproto3.ErrorResponse:
		return "E:" + m.Severity + ":" + m.Code
	case *pgproto3.NoticeResponse:
		return "N:" + m.Message
	case *pgproto3.ParseComplete:
		return "1"
	case *pgproto3.BindComplete:
		return "2"
	case *pgproto3.CloseComplete:
		return "3"
	case *pgproto3.NoData:
		return "n"
	case *pgproto3.PortalSuspended:
		return "s"
	case *pgproto3.ParameterDescription:
		return fmt.Sprintf("t:%v", m.ParameterOIDs)
	case *pgproto3.CopyInResponse:
		return "G"
	case *pgproto3.CopyOutResponse:
		return "H"
	case *pgproto3.CopyData:
		return fmt.Sprintf("d:%q", m.Data)
	case *pgproto3.CopyDone:
		return "c"
	case *pgproto3.NegotiateProtocolVersion:
		return fmt.Sprintf("v:%d:%v", m.NewestMinorProtocol, m.UnrecognizedOptions)
	}
	return fmt.Sprintf("%T", m)
}

// withoutParams drops ParameterStatus and BackendKeyData from a startup
// summary.
func withoutParams(s string) string {
	var out []string
	for f := range strings.SplitSeq(s, " | ") {
		if !strings.HasPrefix(f, "S:") && f != "K" {
			out = append(out, f)
		}
	}
	return strings.Join(out, " | ")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitFor polls cond for up to testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", m.Desc())
	return 0
}

// sendCancel sends a CancelRequest on a new connection and waits for the
// server to close it.
func (ts *testServer) sendCancel(t *testing.T, pid uint32, secret []byte) {
	t.Helper()
	c := ts.dialNoStartup(t)
	c.send(&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret})
	if got := c.untilClosed(); got != "" {
		t.Fatalf("cancel request answered %q", got)
	}
}
