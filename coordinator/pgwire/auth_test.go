package pgwire

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

func scramServer(t *testing.T) *testServer {
	return startServer(t, func(cfg *Config) {
		cfg.AuthMethod = AuthSCRAM
		cfg.Users = map[string]string{"alice": "secret", "bob": "pässwörd"}
		cfg.Log = discardLogger()
	})
}

func TestSCRAMWithPgx(t *testing.T) {
	ts := scramServer(t)
	ctx := testContext(t)

	for _, userPass := range []string{"alice:secret", "bob:pässwörd"} {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/db?sslmode=disable", userPass, ts.addr))
		if err != nil {
			t.Fatalf("%s: %v", userPass, err)
		}
		var n int32
		if err := conn.QueryRow(ctx, "select 9").Scan(&n); err != nil || n != 9 {
			t.Fatalf("%s: %d %v", userPass, n, err)
		}
		_ = conn.Close(ctx)
	}

	for _, userPass := range []string{"alice:wrong", "alice:", "nobody:secret", "bob:passwort"} {
		_, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/db?sslmode=disable", userPass, ts.addr))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != pgerr.InvalidPassword || pe.Severity != "FATAL" {
			t.Fatalf("%s: got %v, want FATAL 28P01", userPass, err)
		}
		if !strings.Contains(pe.Message, "password authentication failed for user") {
			t.Errorf("%s: message %q", userPass, pe.Message)
		}
	}
	if sessions, _ := ts.engine.openSessions(); sessions != 0 {
		t.Errorf("failed logins opened %d sessions", sessions)
	}
}

// Trust lets anyone in, password or not.
func TestTrustIgnoresPassword(t *testing.T) {
	ts := startServer(t, nil)
	conn, err := pgx.Connect(testContext(t), fmt.Sprintf("postgres://anyone:whatever@%s/db?sslmode=disable", ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(context.Background())
}

func TestSCRAMProtocolErrors(t *testing.T) {
	ts := scramServer(t)
	start := func() *rawClient {
		c := ts.dialNoStartup(t)
		c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "alice"}})
		if got, err := c.recv(); err != nil || got != "*pgproto3.AuthenticationSASL" {
			t.Fatalf("auth request: %q %v", got, err)
		}
		return c
	}

	c := start()
	c.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-1", Data: []byte("n,,n=,r=abc")})
	wantReply(t, "wrong mechanism", c.untilClosed(), "E:FATAL:08P01")

	c = start()
	c.send(&pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: []byte("p=tls-server-end-point,,n=,r=abc")})
	wantReply(t, "channel binding", c.untilClosed(), "E:FATAL:08P01")

	c = start()
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "query instead of SASL", c.untilClosed(), "E:FATAL:08P01")

	c = start()
	c.send(&pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: []byte("n,,n=,r=abc")})
	if got, err := c.recv(); err != nil || got != "*pgproto3.AuthenticationSASLContinue" {
		t.Fatalf("continue: %q %v", got, err)
	}
	c.send(&pgproto3.SASLResponse{Data: []byte("c=biws,r=abcWRONG,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)))})
	wantReply(t, "nonce mismatch", c.untilClosed(), "E:FATAL:08P01")

	// A client that hangs up at the password prompt (as psql does) just
	// ends its connection.
	c = start()
	_ = c.nc.Close()
}

// The RFC 7677 test vector.
func TestSCRAMExchangeRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := scramVerifierFromSalt("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	x := newSCRAMExchange(v, nil, "user")
	x.serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	sf, err := x.first([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(sf) != want {
		t.Fatalf("server-first %q, want %q", sf, want)
	}
	final, err := x.final([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(final) != want {
		t.Fatalf("server-final %q, want %q", final, want)
	}

	// The same exchange with a wrong proof fails.
	x = newSCRAMExchange(v, nil, "user")
	x.serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	_, _ = x.first([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	_, err = x.final([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if !errors.Is(err, errSCRAMFailed) {
		t.Fatalf("wrong proof: %v", err)
	}
}

func TestSCRAMMalformedMessages(t *testing.T) {
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct{ first, final string }{
		{first: ""},
		{first: "x,,n=,r=a"},
		{first: "n,a=admin,n=,r=a"},
		{first: "n,,"},
		{first: "n,,n=,r="},
		{first: "n,,m=ext,n=,r=a"},
		{first: "n,,r=a,n="},
		{first: "n"},
		{first: "n,,n=,r=a,b", final: "c=biws,r=a"},
		{first: "n,,n=,r=a", final: "c=eSws,r=aSN,p=" + proof},
		{first: "n,,n=,r=a", final: "c=biws,r=aSN,p=short"},
		{first: "n,,n=,r=a", final: "r=aSN,c=biws,p=" + proof},
		{first: "n,,n=,r=a", final: ""},
	} {
		v, _ := scramVerifierFromSalt("pw", []byte("0123456789abcdef"), 16)
		x := newSCRAMExchange(v, nil, "u")
		x.serverNonce = "SN"
		_, err := x.first([]byte(tc.first))
		if err == nil {
			_, err = x.final([]byte(tc.final))
		}
		if pgerr.Code(err) != pgerr.ProtocolViolation || !isFatal(err) {
			t.Errorf("first %q final %q: got %v, want FATAL 08P01", tc.first, tc.final, err)
		}
	}
}
