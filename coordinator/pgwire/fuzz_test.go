package pgwire

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// encodeMsgs concatenates the wire form of msgs.
func encodeMsgs(t testing.TB, msgs ...pgproto3.FrontendMessage) []byte {
	var out []byte
	for _, m := range msgs {
		var err error
		out, err = m.Encode(out)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// messageSeeds has one entry per frontend message type, alone and in the
// sequences clients send.
func messageSeeds(t testing.TB) [][]byte {
	bigHeader := []byte{'Q', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(bigHeader[1:], 1<<30)
	return [][]byte{
		encodeMsgs(t, &pgproto3.Query{String: "select 1, 'a', null"}),
		encodeMsgs(t, &pgproto3.Query{String: ""}),
		encodeMsgs(t, &pgproto3.Query{String: "series 3; fail 42P01 x; select 1"}),
		encodeMsgs(t, &pgproto3.Query{String: "begin; set a b; notice n; sleep; commit"}),
		encodeMsgs(t, &pgproto3.Query{String: "panic"}),
		encodeMsgs(t, &pgproto3.Parse{Name: "s", Query: "select $1::int4, $2", ParameterOIDs: []uint32{23, 0}},
			&pgproto3.Describe{ObjectType: 'S', Name: "s"},
			&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", ParameterFormatCodes: []int16{1, 0},
				Parameters: [][]byte{{0, 0, 0, 1}, nil}, ResultFormatCodes: []int16{1}},
			&pgproto3.Describe{ObjectType: 'P', Name: "p"},
			&pgproto3.Execute{Portal: "p", MaxRows: 1},
			&pgproto3.Execute{Portal: "p"},
			&pgproto3.Close{ObjectType: 'P', Name: "p"},
			&pgproto3.Close{ObjectType: 'S', Name: "s"},
			&pgproto3.Sync{}),
		encodeMsgs(t, &pgproto3.Parse{Query: "series 5"}, &pgproto3.Bind{}, &pgproto3.Execute{MaxRows: 2},
			&pgproto3.Flush{}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{}),
		encodeMsgs(t, &pgproto3.Bind{PreparedStatement: "missing", ResultFormatCodes: []int16{3}}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		encodeMsgs(t, &pgproto3.Parse{Query: "select $1"}, &pgproto3.Bind{ParameterFormatCodes: []int16{0, 1}}, &pgproto3.Sync{}),
		encodeMsgs(t, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{Portal: "x"}, &pgproto3.Sync{}),
		encodeMsgs(t, &pgproto3.Query{String: "copy t from stdin"}, &pgproto3.CopyData{Data: []byte("a\nb\n")},
			&pgproto3.Flush{}, &pgproto3.Sync{}, &pgproto3.CopyDone{}),
		encodeMsgs(t, &pgproto3.Query{String: "copy t from stdin"}, &pgproto3.CopyFail{Message: "no"}),
		encodeMsgs(t, &pgproto3.Query{String: "copy t from stdin"}, &pgproto3.Query{String: "select 1"}),
		encodeMsgs(t, &pgproto3.Query{String: "copy t to stdout"}),
		encodeMsgs(t, &pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyDone{}, &pgproto3.CopyFail{Message: "m"}),
		encodeMsgs(t, &pgproto3.FunctionCall{Function: 1, ArgFormatCodes: []uint16{0}, Arguments: [][]byte{[]byte("1")}}),
		encodeMsgs(t, &pgproto3.PasswordMessage{Password: "pw"}),
		encodeMsgs(t, &pgproto3.Flush{}, &pgproto3.Sync{}, &pgproto3.Terminate{}),
		{'!', 0, 0, 0, 4},
		{'Q', 0, 0, 0, 2},
		{'D', 0, 0, 0, 6, 'X', 0},
		bigHeader,
	}
}

// FuzzServerMessages feeds arbitrary bytes, after a valid startup, to a
// connection handler over net.Pipe. The handler must return once the
// client hangs up, and nothing may panic: a panic would be recovered by
// the handler and counted, so the counter must stay at zero.
func FuzzServerMessages(f *testing.F) {
	for _, seed := range messageSeeds(f) {
		f.Add(seed)
	}
	s := fuzzServer(f, AuthTrust)
	startup := encodeMsgs(f, &pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": "fuzz", "database": "db"},
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzConn(t, s, append(append([]byte(nil), startup...), data...))
	})
}

// FuzzStartup does the same from the first byte, with SCRAM
// authentication, to cover the startup packet and the SASL exchange.
func FuzzStartup(f *testing.F) {
	startup := encodeMsgs(f, &pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": "alice"},
	})
	f.Add(startup)
	f.Add(append(encodeMsgs(f, &pgproto3.SSLRequest{}, &pgproto3.GSSEncRequest{}), startup...))
	f.Add(encodeMsgs(f, &pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}))
	f.Add(append(append([]byte(nil), startup...), encodeMsgs(f,
		&pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: []byte("n,,n=,r=abcdef")},
		&pgproto3.SASLResponse{Data: []byte("c=biws,r=abcdef,p=AAAA")})...))
	f.Add([]byte{0, 0, 0, 8, 0, 2, 0, 0})
	s := fuzzServer(f, AuthSCRAM)
	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzConn(t, s, data)
	})
}

func fuzzServer(f *testing.F, auth string) *Server {
	e := newFakeEngine()
	e.noPanic = true
	e.maxLines = 100
	e.maxSleep.Store(int64(time.Millisecond))
	cfg := NewConfig()
	cfg.MaxMessageSize = 1 << 20
	cfg.AuthTimeout = 2 * time.Second
	cfg.AuthMethod = auth
	cfg.Users = map[string]string{"alice": "secret"}
	cfg.Log = discardLogger()
	s, err := NewServer(cfg, e)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := s.Close(); err != nil {
			f.Error(err)
		}
	})
	return s
}

func runFuzzConn(t *testing.T, s *Server, input []byte) {
	client, server := net.Pipe()
	c := newConn(s, server)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	go func() { _, _ = io.Copy(io.Discard, client) }()

	_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = client.Write(input)
	_ = client.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the connection handler did not return; goroutines:\n%s", serverGoroutines())
	}
	if n := metricValue(t, s.metrics.Panics); n != 0 {
		t.Fatalf("%v panics recovered in the handler", n)
	}
}
