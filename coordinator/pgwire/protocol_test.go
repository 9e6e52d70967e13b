package pgwire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func wantReply(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func TestStartupReportsParametersAndKey(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialNoStartup(t)
	c.send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": "alice", "application_name": "app1"},
	})
	got := c.untilReady()
	for _, want := range []string{
		"S:server_version=" + DefaultServerVersion, "S:application_name=app1", "S:client_encoding=UTF8",
		"S:integer_datetimes=on", "S:server_encoding=UTF8", "K",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("startup reply %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "9.9") {
		t.Errorf("the session's server_version leaked: %q", got)
	}
	wantReply(t, "startup", withoutParams(got), "R:ok | Z:I")

	// The database defaults to the user.
	ts.engine.mu.Lock()
	db := ts.engine.sessions[0].params["database"]
	ts.engine.mu.Unlock()
	if db != "alice" {
		t.Errorf("database = %q, want alice", db)
	}
}

// A 3.2 client, or one asking for protocol options, is told 3.0.
func TestNegotiateProtocolVersion(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialNoStartup(t)
	c.send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion32,
		Parameters:      map[string]string{"user": "alice", "_pq_.opt": "x"},
	})
	got := withoutParams(c.untilReady())
	wantReply(t, "startup 3.2", got, "v:0:[_pq_.opt] | R:ok | Z:I")

	// pgx asking for 3.2 settles for 3.0 (and its 4-byte cancel key).
	conn := ts.connectPgx(t, "sslmode=disable&max_protocol_version=3.2")
	var n int32
	if err := conn.QueryRow(testContext(t), "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("pgx 3.2: %d %v", n, err)
	}
}

func TestSSLAndGSSRequestsAnsweredN(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialNoStartup(t)
	for _, m := range []pgproto3.FrontendMessage{&pgproto3.GSSEncRequest{}, &pgproto3.SSLRequest{}} {
		c.send(m)
		b := make([]byte, 1)
		if _, err := c.nc.Read(b); err != nil || b[0] != 'N' {
			t.Fatalf("%T answered %q, %v", m, b, err)
		}
	}
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "bob"}})
	wantReply(t, "startup", withoutParams(c.untilReady()), "R:ok | Z:I")
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "query", c.untilReady(), `T:?column?/23/0 | D:"1" | C:SELECT 1 | Z:I`)
}

func TestStartupErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialNoStartup(t)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"database": "x"}})
	wantReply(t, "no user", c.untilClosed(), "E:FATAL:28000")

	c = ts.dialNoStartup(t)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "a", "database": "nodb"}})
	wantReply(t, "engine refuses the session", c.untilClosed(), "R:ok | E:FATAL:3D000")

	c = ts.dialNoStartup(t)
	_, _ = c.nc.Write([]byte{0, 0, 0, 8, 0, 2, 0, 0}) // protocol 2.0
	wantReply(t, "protocol 2", c.untilClosed(), "E:FATAL:08P01")
}

func TestSimpleQueryMessages(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	c.send(&pgproto3.Query{String: ""})
	wantReply(t, "empty", c.untilReady(), "I | Z:I")
	c.send(&pgproto3.Query{String: " ; ;"})
	wantReply(t, "only semicolons", c.untilReady(), "I | Z:I")

	c.send(&pgproto3.Query{String: "series 2; fail 42P01 no such table; select 1"})
	wantReply(t, "stops at the first error", c.untilReady(),
		`T:n/23/0 | D:"1" | D:"2" | C:SELECT 2 | E:ERROR:42P01 | Z:I`)

	c.send(&pgproto3.Query{String: "select 1; bogus"})
	wantReply(t, "a syntax error fails the whole string", c.untilReady(), "E:ERROR:42601 | Z:I")

	c.send(&pgproto3.Query{String: "begin; set search_path other; notice hello"})
	wantReply(t, "status, ParameterStatus, Notice", c.untilReady(),
		"C:BEGIN | S:search_path=other | C:SET | N:hello | C:DO | Z:T")
	c.send(&pgproto3.Query{String: "fail 23505 dup"})
	wantReply(t, "failed block", c.untilReady(), "E:ERROR:23505 | Z:E")
	c.send(&pgproto3.Query{String: "rollback"})
	wantReply(t, "rollback", c.untilReady(), "C:ROLLBACK | Z:I")

	c.send(&pgproto3.FunctionCall{Function: 1, ResultFormatCode: 0})
	wantReply(t, "function call", c.untilReady(), "E:ERROR:0A000 | Z:I")
}

func TestExtendedProtocolBasics(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	c.send(
		&pgproto3.Parse{Name: "s1", Query: "select $1::int4, $2", ParameterOIDs: []uint32{0, 25}},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
		&pgproto3.Bind{PreparedStatement: "s1", ParameterFormatCodes: []int16{1, 0},
			Parameters: [][]byte{{0, 0, 1, 0}, []byte("x")}, ResultFormatCodes: []int16{0, 1}},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	wantReply(t, "parse/describe/bind/describe/execute", c.untilReady(),
		`1 | t:[23 25] | T:?column?/23/0,?column?/25/0 | 2 | T:?column?/23/0,?column?/25/1 | D:"256","x" | C:SELECT 1 | Z:I`)

	// One result format code applies to all columns; NULL and empty values.
	c.send(
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{nil, {}}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	wantReply(t, "one format for all", c.untilReady(), `2 | T:?column?/23/1,?column?/25/1 | D:NULL,"" | C:SELECT 1 | Z:I`)

	// Statements without rows describe as NoData; empty ones execute as
	// EmptyQueryResponse.
	c.send(
		&pgproto3.Parse{Query: "insert into t"},
		&pgproto3.Describe{ObjectType: 'S'},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Parse{Query: ""},
		&pgproto3.Bind{},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	wantReply(t, "no rows, empty", c.untilReady(), "1 | t:[] | n | 2 | C:INSERT 0 1 | 1 | 2 | n | I | Z:I")

	// Close of a missing statement or portal is not an error.
	c.send(&pgproto3.Close{ObjectType: 'S', Name: "nope"}, &pgproto3.Close{ObjectType: 'P', Name: "nope"},
		&pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Sync{})
	wantReply(t, "close", c.untilReady(), "3 | 3 | 3 | Z:I")

	// Flush sends what is buffered without ending the batch.
	c.send(&pgproto3.Parse{Name: "s2", Query: "select 5"}, &pgproto3.Flush{})
	if got, err := c.recv(); err != nil || got != "1" {
		t.Fatalf("after Flush: %q %v", got, err)
	}
	c.send(&pgproto3.Sync{})
	wantReply(t, "sync", c.untilReady(), "Z:I")
}

func TestExtendedProtocolErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	c.send(&pgproto3.Parse{Name: "s", Query: "select $1"}, &pgproto3.Sync{})
	wantReply(t, "parse", c.untilReady(), "1 | Z:I")

	// Redefining a named statement: 42P05, then everything up to Sync is
	// skipped.
	c.send(&pgproto3.Parse{Name: "s", Query: "select 1"}, &pgproto3.Bind{PreparedStatement: "s"},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	wantReply(t, "duplicate statement", c.untilReady(), "E:ERROR:42P05 | Z:I")

	for _, tc := range []struct {
		name string
		bind *pgproto3.Bind
		want string
	}{
		{"missing statement", &pgproto3.Bind{PreparedStatement: "zz"}, "E:ERROR:26000 | Z:I"},
		{"too few params", &pgproto3.Bind{PreparedStatement: "s"}, "E:ERROR:08P01 | Z:I"},
		{"param formats", &pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{0, 0}, Parameters: [][]byte{nil}}, "E:ERROR:08P01 | Z:I"},
		{"result formats", &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{nil}, ResultFormatCodes: []int16{0, 0}}, "E:ERROR:08P01 | Z:I"},
		{"bad format code", &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{nil}, ResultFormatCodes: []int16{7}}, "E:ERROR:22023 | Z:I"},
		{"binary text parameter", &pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{1}}}, `2 | D:"\x01" | C:SELECT 1 | Z:I`},
	} {
		c.send(tc.bind, &pgproto3.Execute{}, &pgproto3.Sync{})
		wantReply(t, tc.name, c.untilReady(), tc.want)
	}

	c.send(&pgproto3.Describe{ObjectType: 'P', Name: "nope"}, &pgproto3.Sync{})
	wantReply(t, "describe missing portal", c.untilReady(), "E:ERROR:34000 | Z:I")
	c.send(&pgproto3.Execute{Portal: "nope"}, &pgproto3.Sync{})
	wantReply(t, "execute missing portal", c.untilReady(), "E:ERROR:34000 | Z:I")
	c.send(&pgproto3.Parse{Query: "bogus"}, &pgproto3.Sync{})
	wantReply(t, "parse error", c.untilReady(), "E:ERROR:42601 | Z:I")

	// Named portals: a second Bind to the same name is 42P03.
	c.send(&pgproto3.Query{String: "begin"})
	wantReply(t, "begin", c.untilReady(), "C:BEGIN | Z:T")
	c.send(&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", Parameters: [][]byte{[]byte("a")}},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", Parameters: [][]byte{[]byte("b")}},
		&pgproto3.Sync{})
	// The error is the server's: the engine's transaction goes on.
	wantReply(t, "duplicate portal", c.untilReady(), "2 | E:ERROR:42P03 | Z:T")
	c.send(&pgproto3.Query{String: "rollback"})
	wantReply(t, "rollback", c.untilReady(), "C:ROLLBACK | Z:I")
	// The connection is still fine.
	c.send(&pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("ok")}}, &pgproto3.Execute{}, &pgproto3.Sync{})
	wantReply(t, "after errors", c.untilReady(), `2 | D:"ok" | C:SELECT 1 | Z:I`)
}

// Execute with a row limit suspends the portal; the next Execute resumes.
func TestExecuteRowLimitSuspends(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)

	c.send(&pgproto3.Parse{Query: "series 5"}, &pgproto3.Bind{},
		&pgproto3.Execute{MaxRows: 2}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{})
	wantReply(t, "two pages", c.untilReady(), `1 | 2 | D:"1" | D:"2" | s | D:"3" | D:"4" | s | Z:I`)
	// Sync in an implicit transaction ended the portal.
	c.send(&pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{})
	wantReply(t, "portal gone after Sync", c.untilReady(), "E:ERROR:34000 | Z:I")

	// In a transaction block, a named portal survives Sync.
	c.send(&pgproto3.Query{String: "begin"})
	wantReply(t, "begin", c.untilReady(), "C:BEGIN | Z:T")
	c.send(&pgproto3.Parse{Name: "five", Query: "series 5"}, &pgproto3.Bind{DestinationPortal: "cur", PreparedStatement: "five"},
		&pgproto3.Execute{Portal: "cur", MaxRows: 3}, &pgproto3.Sync{})
	wantReply(t, "first page", c.untilReady(), `1 | 2 | D:"1" | D:"2" | D:"3" | s | Z:T`)
	c.send(&pgproto3.Execute{Portal: "cur", MaxRows: 3}, &pgproto3.Sync{})
	wantReply(t, "rest", c.untilReady(), `D:"4" | D:"5" | C:SELECT 2 | Z:T`)
	c.send(&pgproto3.Query{String: "commit"})
	wantReply(t, "commit", c.untilReady(), "C:COMMIT | Z:I")
	if _, portals := ts.engine.openSessions(); portals != 0 {
		t.Errorf("%d portals open after the transaction ended", portals)
	}

	// Closing a statement closes its portals.
	c.send(&pgproto3.Query{String: "begin"})
	wantReply(t, "begin", c.untilReady(), "C:BEGIN | Z:T")
	c.send(&pgproto3.Bind{DestinationPortal: "cur2", PreparedStatement: "five"},
		&pgproto3.Close{ObjectType: 'S', Name: "five"},
		&pgproto3.Execute{Portal: "cur2"}, &pgproto3.Sync{})
	wantReply(t, "portal of a closed statement", c.untilReady(), "2 | 3 | E:ERROR:34000 | Z:T")
}

// Malformed or unexpected messages end the connection with FATAL 08P01;
// the server goes on.
func TestMalformedMessagesAreFatal(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"unknown type", []byte{'!', 0, 0, 0, 4}},
		{"length below 4", []byte{'Q', 0, 0, 0, 2}},
		{"query without terminator", []byte{'Q', 0, 0, 0, 6, 'a', 'b'}},
		{"bad describe subtype", []byte{'D', 0, 0, 0, 6, 'X', 0}},
		{"bad close subtype", []byte{'C', 0, 0, 0, 6, 'X', 0}},
		{"password message after startup", []byte{'p', 0, 0, 0, 5, 0}},
		{"short bind", []byte{'B', 0, 0, 0, 6, 0, 0}},
		{"short execute", []byte{'E', 0, 0, 0, 5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dialRaw(t)
			if _, err := c.nc.Write(tc.raw); err != nil {
				t.Fatal(err)
			}
			wantReply(t, tc.name, c.untilClosed(), "E:FATAL:08P01")
		})
	}
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "server still up", c.untilReady(), `T:?column?/23/0 | D:"1" | C:SELECT 1 | Z:I`)
}

// A panic in the engine closes that connection only, with FATAL XX000.
func TestEnginePanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, func(cfg *Config) { cfg.Log = discardLogger() })
	other := ts.dialRaw(t)
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "panic"})
	wantReply(t, "panic", c.untilClosed(), "E:FATAL:XX000")

	other.send(&pgproto3.Query{String: "select 2"})
	wantReply(t, "other connection", other.untilReady(), `T:?column?/23/0 | D:"2" | C:SELECT 1 | Z:I`)
	if got := ts.engine.sessionsClosed(); got != 1 {
		t.Errorf("%d sessions closed, want 1", got)
	}
}

func TestTerminateClosesSession(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.send(&pgproto3.Terminate{})
	wantReply(t, "terminate", c.untilClosed(), "")
	waitFor(t, "the session to close", func() bool { return ts.engine.sessionsClosed() == 1 })
}
