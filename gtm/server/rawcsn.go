package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// The raw CSN protocol: StreamCSN's requests and answers as fixed frames
// on a plain TCP connection to the gRPC port, without HTTP/2. A round trip
// costs a third of a gRPC stream message's on the project's machine (two
// syscalls and no goroutine hand-offs per side), and a caller of the GTM
// client waits about one round trip, so this is what lets 64 callers get
// a million CSNs a second (docs/benchmarks.md).
//
//	client                                      leader
//	"MCS1"                                 ──▶  (once: selects this protocol)
//	commit_count (uint32 BE)               ──▶  getCSN, in order, as StreamCSN
//	                                       ◀──  0x00 first (uint64 BE) snapshot (uint64 BE)
//	                                       ◀──  0x01 SQLSTATE (5) len (uint16 BE) message, then close
//
// Connections are told apart by their first four bytes: a gRPC client's
// begin with the HTTP/2 preface ("PRI "), which is handed to the gRPC
// server with the bytes read put back.
const rawMagic = "MCS1"

// Answer status bytes of the raw protocol.
const (
	rawOK  byte = 0
	rawErr byte = 1
)

// muxListener is the listener the gRPC server serves: it receives the
// connections that are not raw CSN connections.
type muxListener struct {
	net.Listener
	s       *Server
	conns   chan net.Conn
	done    chan struct{}
	closeMu sync.Once
	wg      sync.WaitGroup // the accept loop and the sniffing goroutines
}

func newMuxListener(s *Server, ln net.Listener) *muxListener {
	m := &muxListener{Listener: ln, s: s, conns: make(chan net.Conn), done: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

func (m *muxListener) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.Listener.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.Close()
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

// route reads a connection's first bytes and hands it on.
func (m *muxListener) route(c net.Conn) {
	head := make([]byte, len(rawMagic))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, head); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if string(head) == rawMagic {
		m.s.serveRaw(c)
		return
	}
	select {
	case m.conns <- &prefixConn{Conn: c, head: head}:
	case <-m.done:
		_ = c.Close()
	}
}

// Accept returns the next gRPC connection.
func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting (gRPC's Stop and GracefulStop call it).
func (m *muxListener) Close() error {
	m.closeMu.Do(func() {
		close(m.done)
		_ = m.Listener.Close()
	})
	return nil
}

// prefixConn gives back the bytes read to tell the protocol.
type prefixConn struct {
	net.Conn
	head []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// serveRaw answers a raw CSN connection until it fails, the client closes
// it, or the server stops serving raw connections (Close, Crash).
func (s *Server) serveRaw(c net.Conn) {
	if !s.trackRaw(c, true) {
		_ = c.Close()
		return
	}
	defer s.trackRaw(c, false)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(s.rawCtx, cancel)
	defer stop()
	r := bufio.NewReaderSize(c, 256)
	var (
		req [4]byte
		out = make([]byte, 0, 64)
	)
	for {
		if _, err := io.ReadFull(r, req[:]); err != nil {
			return
		}
		first, snap, err := s.getCSN(ctx, binary.BigEndian.Uint32(req[:]))
		out = out[:0]
		if err != nil {
			e := pgerr.As(pgerr.FromStatus(err))
			msg := e.Message
			if len(msg) > 1<<15 {
				msg = msg[:1<<15]
			}
			code := (e.Code + "     ")[:5]
			out = append(out, rawErr)
			out = append(out, code...)
			out = binary.BigEndian.AppendUint16(out, uint16(len(msg)))
			out = append(out, msg...)
			_, _ = c.Write(out)
			return
		}
		out = append(out, rawOK)
		out = binary.BigEndian.AppendUint64(out, first)
		out = binary.BigEndian.AppendUint64(out, snap)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// trackRaw adds (or removes) a raw connection; it refuses new ones once
// the server stops serving them.
func (s *Server) trackRaw(c net.Conn, add bool) bool {
	s.rawMu.Lock()
	defer s.rawMu.Unlock()
	if !add {
		delete(s.raw, c)
		return true
	}
	if s.rawCtx.Err() != nil {
		return false
	}
	s.raw[c] = struct{}{}
	return true
}

// closeRaw ends every raw connection: their requests in progress fail on
// the client, which sends them again to the next leader.
func (s *Server) closeRaw() {
	s.rawStop()
	s.rawMu.Lock()
	for c := range s.raw {
		_ = c.Close()
	}
	s.rawMu.Unlock()
}
