package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// shutdownGrace is how long Close lets a connection write its final
// 57P01 message before writes fail.
const shutdownGrace = time.Second

// Server is a PostgreSQL wire-protocol (v3) server in front of an Engine.
// It runs one goroutine per client connection; Close stops them all.
type Server struct {
	cfg     Config
	engine  Engine
	log     *slog.Logger
	metrics *Metrics

	// users holds the SCRAM verifiers; mockKey salts the mock exchange of
	// unknown users.
	users   map[string]*scramVerifier
	mockKey []byte

	// ctx is the parent of every engine call; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	addr      net.Addr
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{} // every accepted connection
	byPID     map[uint32]*conn   // connections that sent BackendKeyData
	sessions  int                // connections past the startup packet
	nextPID   uint32             // last process id handed out
	wg        sync.WaitGroup     // one per connection goroutine
}

// NewServer checks cfg, derives the SCRAM verifiers of cfg.Users and
// registers the metrics in cfg.Registry. It does not listen: call Serve or
// ListenAndServe.
func NewServer(cfg Config, engine Engine) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if engine == nil {
		return nil, errors.New("pgwire: nil Engine")
	}
	s := &Server{
		cfg:       cfg,
		engine:    engine,
		log:       cfg.Log.With("component", "pgwire"),
		metrics:   newMetrics(),
		users:     make(map[string]*scramVerifier, len(cfg.Users)),
		mockKey:   make([]byte, 32),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		byPID:     make(map[uint32]*conn),
	}
	if _, err := rand.Read(s.mockKey); err != nil {
		return nil, err
	}
	if cfg.AuthMethod == AuthSCRAM {
		for user, password := range cfg.Users {
			v, err := newSCRAMVerifier(password, scramIterations)
			if err != nil {
				return nil, fmt.Errorf("pgwire: user %q: %w", user, err)
			}
			s.users[user] = v
		}
	}
	if err := s.metrics.register(cfg.Registry); err != nil {
		return nil, fmt.Errorf("pgwire: register metrics: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// ListenAndServe listens on Config.ListenAddr and serves until Close; it
// then returns ErrServerClosed. Addr is set once it listens.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("pgwire: listen: %w", err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Close (then it returns
// ErrServerClosed) or a permanent accept error. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			// Out of file descriptors and the like: back off, as net/http.
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // no better signal exists
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("pgwire: accept: %w", err)
		}
		delay = 0
		s.startConn(nc)
	}
}

// Addr is the address of the first listener Serve was given, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close shuts the server down, in this order: stop accepting (close the
// listeners); cancel the context of running engine calls; tell each
// connection to end (its pending read fails at once, and it sends FATAL
// 57P01 to its client within a second); wait for every connection
// goroutine, each of which closes its portals, its session and its socket.
// An engine call that ignores its context delays Close until it returns.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var errs []error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	s.cancel()
	for _, c := range conns {
		c.shutdown()
	}
	s.wg.Wait()
	s.metrics.unregister(s.cfg.Registry)
	return errors.Join(errs...)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// startConn tracks nc and starts its goroutine, unless the server closed.
func (s *Server) startConn(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// untrack forgets c; called by c's goroutine as it ends.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.pid != 0 && s.byPID[c.pid] == c {
		delete(s.byPID, c.pid)
	}
	if c.admitted {
		s.sessions--
	}
}

// admit counts c as a session, unless MaxConnections are in use.
func (s *Server) admit(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxConnections > 0 && s.sessions >= s.cfg.MaxConnections {
		return fatalf(pgerr.TooManyConnections, "sorry, too many clients already")
	}
	s.sessions++
	c.admitted = true
	return nil
}

// registerKey gives c a process id and a random secret for BackendKeyData
// and makes it reachable by cancel requests.
func (s *Server) registerKey(c *conn) error {
	if _, err := rand.Read(c.secret[:]); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.nextPID++
		if s.nextPID == 0 || s.nextPID > math.MaxInt32 {
			s.nextPID = 1
		}
		if _, used := s.byPID[s.nextPID]; !used {
			break
		}
	}
	c.pid = s.nextPID
	s.byPID[c.pid] = c
	return nil
}

// cancelRequest serves a CancelRequest: when pid and secret match a
// connection, its running engine call is cancelled. As in PostgreSQL,
// nothing is sent back whatever the outcome.
func (s *Server) cancelRequest(pid uint32, secret []byte) {
	s.mu.Lock()
	c := s.byPID[pid]
	s.mu.Unlock()
	if c == nil || subtle.ConstantTimeCompare(secret, c.secret[:]) != 1 {
		s.log.Debug("cancel request does not match a connection", "pid", pid)
		return
	}
	c.cancelQuery()
}
