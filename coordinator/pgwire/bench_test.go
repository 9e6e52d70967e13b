package pgwire

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The server's own cost per pgbench -S transaction, without sockets or a
// real engine: a connection reads b.N copies of one transaction's messages
// from memory and writes to nowhere; the engine answers from preallocated
// objects. Allocations reported are the server's (and pgproto3's).

// benchEngine returns the same statement and portal every time.
type benchEngine struct{ sess benchSession }

type benchSession struct {
	stmt   benchStmt
	portal benchPortal
}

type benchStmt struct{}

type benchPortal struct{ row [][]byte }

var (
	benchCols   = []Column{{Name: "abalance", TypeOID: 23, TypeSize: 4, TypeModifier: -1}}
	benchParams = []uint32{23}
)

func (e *benchEngine) NewSession(context.Context, map[string]string) (Session, error) {
	e.sess.portal.row = [][]byte{[]byte("0")}
	return &e.sess, nil
}
func (s *benchSession) ParameterStatus() [][2]string { return nil }
func (s *benchSession) PrepareMulti(context.Context, string) ([]Statement, error) {
	return []Statement{&s.stmt}, nil
}
func (s *benchSession) Prepare(context.Context, string, []uint32) (Statement, error) {
	return &s.stmt, nil
}
func (s *benchSession) Bind(context.Context, Statement, [][]byte, []int16, []int16) (Portal, error) {
	return &s.portal, nil
}
func (s *benchSession) TxnStatus() byte  { return 'I' }
func (s *benchSession) Close()           {}
func (benchStmt) Empty() bool            { return false }
func (benchStmt) ParamOIDs() []uint32    { return benchParams }
func (benchStmt) Columns() []Column      { return benchCols }
func (p *benchPortal) Columns() []Column { return benchCols }
func (p *benchPortal) Formats() []int16  { return nil }
func (p *benchPortal) Close()            {}
func (p *benchPortal) Execute(_ context.Context, _ int, w ResultWriter) (string, bool, error) {
	if err := w.WriteRow(p.row); err != nil {
		return "", false, err
	}
	return "SELECT 1", false, nil
}

// memConn is a net.Conn that reads head once, then body n times, then EOF,
// and discards what is written.
type memConn struct {
	head, body []byte
	cur        []byte
	n          int
}

func (m *memConn) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if len(m.cur) == 0 {
			switch {
			case m.head != nil:
				m.cur, m.head = m.head, nil
			case m.n > 0:
				m.cur = m.body
				m.n--
			default:
				if total > 0 {
					return total, nil
				}
				return 0, io.EOF
			}
		}
		k := copy(p, m.cur)
		m.cur, p, total = m.cur[k:], p[k:], total+k
	}
	return total, nil
}

func (m *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

func benchTransactions(b *testing.B, setup, txn []pgproto3.FrontendMessage) {
	cfg := NewConfig()
	cfg.Log = discardLogger()
	s, err := NewServer(cfg, &benchEngine{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	head := encodeMsgs(b, append([]pgproto3.FrontendMessage{&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "bench"},
	}}, setup...)...)
	mc := &memConn{head: head, body: encodeMsgs(b, txn...), n: b.N}
	c := newConn(s, mc)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	c.serve()
}

// pgbench -S -M prepared: Bind, Execute, Sync.
func BenchmarkPreparedSelect(b *testing.B) {
	benchTransactions(b,
		[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "P0_1", Query: "SELECT abalance FROM pgbench_accounts WHERE aid = $1"}, &pgproto3.Sync{}},
		[]pgproto3.FrontendMessage{
			&pgproto3.Bind{PreparedStatement: "P0_1", Parameters: [][]byte{[]byte("12345")}},
			&pgproto3.Execute{}, &pgproto3.Sync{},
		})
}

// pgbench -S -M simple: one Query.
func BenchmarkSimpleSelect(b *testing.B) {
	benchTransactions(b, nil, []pgproto3.FrontendMessage{
		&pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"},
	})
}

// pgbench -S -M extended: Parse, Bind, Describe, Execute, Sync.
func BenchmarkExtendedSelect(b *testing.B) {
	benchTransactions(b, nil, []pgproto3.FrontendMessage{
		&pgproto3.Parse{Query: "SELECT abalance FROM pgbench_accounts WHERE aid = $1"},
		&pgproto3.Bind{Parameters: [][]byte{[]byte("12345")}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{},
	})
}
