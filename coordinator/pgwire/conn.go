package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

const (
	// flushThreshold is the size of buffered output that is written out
	// without waiting for ReadyForQuery or Flush.
	flushThreshold = 32 << 10
	// maxIdleWriteBuf is the largest write buffer kept between flushes; a
	// larger one (a huge row) is dropped after use.
	maxIdleWriteBuf = 1 << 20
)

// conn is one client connection. Its goroutine (serve) owns everything but
// the fields under mu, which CancelRequest and Server.Close touch.
type conn struct {
	srv *Server
	nc  net.Conn
	rr  recordingReader
	be  *pgproto3.Backend
	log *slog.Logger

	// wbuf holds encoded messages not yet written; werr is the first write
	// error, after which nothing more is written.
	wbuf []byte
	werr error

	mu            sync.Mutex
	closing       bool // Server.Close is ending the connection
	running       bool // an engine call is running under qctx
	copyInWaiting bool // a COPY FROM STDIN read is blocked on the socket
	wakeDeadline  bool // cancelQuery set a read deadline to wake it
	qctx          context.Context
	qcancel       context.CancelFunc

	// Set during startup.
	pid      uint32
	secret   [4]byte
	admitted bool
	user     string
	sess     Session

	// Extended-protocol state; the unnamed statement and portal are kept
	// under "".
	stmts          map[string]*stmtEntry
	portals        map[string]*portalEntry
	ignoreTillSync bool

	// w is the ResultWriter of the running statement, cin its COPY FROM
	// STDIN reader; fatal is a connection-ending error found while the
	// engine had control (a protocol violation during COPY), reported once
	// it returns.
	w     resultWriter
	cin   copyInReader
	fatal error

	// Messages reused to keep the hot path free of allocations.
	msgRFQ    pgproto3.ReadyForQuery
	msgCC     pgproto3.CommandComplete
	msgRow    pgproto3.DataRow
	msgRD     pgproto3.RowDescription
	msgPD     pgproto3.ParameterDescription
	msgErr    pgproto3.ErrorResponse
	msgPS     pgproto3.ParameterStatus
	msgCD     pgproto3.CopyData
	nameBuf   []byte
	fmtBuf    []uint16
	paramBuf  [][]byte
	resultFmt []int16
}

// recordingReader remembers the last error of the socket, which tells an
// I/O failure from a message pgproto3 could not decode.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:     s,
		nc:      nc,
		log:     s.log.With("remote", nc.RemoteAddr().String()),
		stmts:   make(map[string]*stmtEntry),
		portals: make(map[string]*portalEntry),
	}
	c.rr.r = nc
	c.be = pgproto3.NewBackend(&c.rr, nc)
	c.be.SetMaxBodyLen(s.cfg.MaxMessageSize - 4)
	c.qctx, c.qcancel = context.WithCancel(s.ctx)
	c.w.c = c
	c.cin.c = c
	return c
}

// serve runs the connection to its end, then releases it: portals, session,
// socket, registration. A panic anywhere below, in this package or in the
// engine, ends this connection only.
func (c *conn) serve() {
	s := c.srv
	defer s.wg.Done()
	s.metrics.Connections.Inc()
	defer s.metrics.Connections.Dec()
	defer s.untrack(c)
	defer func() { _ = c.nc.Close() }()
	defer c.releaseQuery()
	defer c.closeSession()
	defer func() {
		if v := recover(); v != nil {
			s.metrics.Panics.Inc()
			c.log.Error("panic in connection handler; closing the connection",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.wbuf = c.wbuf[:0] // drop a half-written response
			c.sendError(panicError())
			_ = c.flush()
		}
	}()

	err := c.run()
	switch {
	case err == nil, errors.Is(err, errTerminated):
	case isConnError(err):
		c.log.Debug("connection ended", "err", err)
	default:
		pe := asFatal(toPgError(err, c.isClosing()))
		if pe.Code != pgerr.AdminShutdown {
			c.log.Warn("closing connection", "code", pe.Code, "err", pe.Message)
		}
		c.sendError(pe)
		_ = c.flush()
	}
}

// run is the connection's life: startup, then messages until Terminate,
// a connection-ending error or the end of the socket.
func (c *conn) run() error {
	if err := c.startup(); err != nil {
		return err
	}
	if c.sess == nil { // a cancel request
		return nil
	}
	for {
		msg, err := c.be.Receive()
		if err != nil {
			return c.receiveError(err)
		}
		c.srv.metrics.Messages.Inc()
		if err := c.dispatch(msg); err != nil {
			return err
		}
		if c.werr != nil {
			return c.werr
		}
	}
}

// dispatch handles one message. It returns only errors that end the
// connection; statement errors are sent to the client by the handlers.
func (c *conn) dispatch(msg pgproto3.FrontendMessage) error {
	if c.ignoreTillSync {
		// After an error in the extended protocol everything up to Sync is
		// discarded, as PostgreSQL does.
		switch msg.(type) {
		case *pgproto3.Sync:
			return c.handleSync()
		case *pgproto3.Terminate:
			return errTerminated
		}
		return nil
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		return c.handleQuery(m.String)
	case *pgproto3.Parse:
		return c.handleParse(m)
	case *pgproto3.Bind:
		return c.handleBind(m)
	case *pgproto3.Describe:
		return c.handleDescribe(m)
	case *pgproto3.Execute:
		return c.handleExecute(m)
	case *pgproto3.Close:
		return c.handleClose(m)
	case *pgproto3.Sync:
		return c.handleSync()
	case *pgproto3.Flush:
		return c.flush()
	case *pgproto3.Terminate:
		return errTerminated
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// The tail of a COPY FROM STDIN that failed: dropped, as the
		// protocol says.
		return nil
	case *pgproto3.FunctionCall:
		c.sendError(pgerr.Unsupported("the fastpath function call interface"))
		return c.readyForQuery()
	default:
		return protocolViolation("unexpected message %s", msgName(msg))
	}
}

// receiveError classifies a failed Receive: an I/O error (the client went
// away, or Close interrupted the read), an oversized message, or a message
// that could not be decoded.
func (c *conn) receiveError(err error) error {
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooBig):
		return fatalf(pgerr.ProgramLimitExceeded, "message length %d exceeds the limit of %d bytes",
			int64(tooBig.ActualBodyLen)+4, c.srv.cfg.MaxMessageSize)
	case c.rr.err != nil:
		if c.isClosing() {
			return fatalf(pgerr.AdminShutdown, "terminating connection due to administrator command")
		}
		if errors.Is(c.rr.err, io.EOF) {
			return &connError{err: io.ErrUnexpectedEOF}
		}
		return &connError{err: c.rr.err}
	default:
		return protocolViolation("invalid message: %v", err)
	}
}

// closeSession closes the portals and the session. It runs after a panic
// too, so it guards itself against another one.
func (c *conn) closeSession() {
	defer func() {
		if v := recover(); v != nil {
			c.srv.metrics.Panics.Inc()
			c.log.Error("panic while closing the session", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	c.closeAllPortals()
	clear(c.stmts)
	if c.sess != nil {
		sess := c.sess
		c.sess = nil
		sess.Close()
	}
}

// --- Output -----------------------------------------------------------

// send buffers m, writing the buffer out when it is large. It fails once a
// write has failed, or when m cannot be encoded (over the protocol's
// limits), in which case nothing of m is buffered.
func (c *conn) send(m pgproto3.BackendMessage) error {
	if c.werr != nil {
		return c.werr
	}
	buf, err := m.Encode(c.wbuf)
	if err != nil {
		return pgerr.Wrap(err, pgerr.ProgramLimitExceeded, "cannot send %s", msgName(m))
	}
	c.wbuf = buf
	if len(c.wbuf) >= flushThreshold {
		return c.flush()
	}
	return nil
}

// flush writes the buffered messages to the socket.
func (c *conn) flush() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > maxIdleWriteBuf {
		c.wbuf = nil
	} else {
		c.wbuf = c.wbuf[:0]
	}
	if err != nil {
		c.werr = &connError{err: err}
	}
	return c.werr
}

// sendError sends e as an ErrorResponse.
func (c *conn) sendError(e *pgerr.Error) {
	sev := e.Severity
	if sev == "" {
		sev = severityError
	}
	c.msgErr = pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
	c.srv.metrics.Errors.Inc()
	_ = c.send(&c.msgErr)
}

// statementError reports err, returned by an engine call or found by the
// server, to the client as an ErrorResponse. It returns an error only when
// the connection must end: the socket failed, a protocol violation was
// found during the call, or err is FATAL.
func (c *conn) statementError(err error) error {
	if c.fatal != nil {
		return c.fatal
	}
	if c.werr != nil {
		return c.werr
	}
	if isConnError(err) {
		return err
	}
	pe := toPgError(err, c.isClosing())
	if isFatal(pe) {
		return pe
	}
	c.sendError(pe)
	return c.werr
}

// readyForQuery sends ReadyForQuery with the session's transaction status
// and flushes.
func (c *conn) readyForQuery() error {
	c.msgRFQ.TxStatus = c.txnStatus()
	_ = c.send(&c.msgRFQ)
	return c.flush()
}

func (c *conn) txnStatus() byte {
	switch s := c.sess.TxnStatus(); s {
	case 'I', 'T', 'E':
		return s
	default:
		return 'E'
	}
}

// commandComplete sends CommandComplete with tag.
func (c *conn) commandComplete(tag string) error {
	c.msgCC.CommandTag = append(c.msgCC.CommandTag[:0], tag...)
	return c.send(&c.msgCC)
}

// rowDescription sends the RowDescription of cols with formats (none: all
// text; one: for all; else one per column).
func (c *conn) rowDescription(cols []Column, formats []int16) error {
	fields := c.msgRD.Fields[:0]
	names := c.nameBuf[:0]
	for _, col := range cols {
		names = append(names, col.Name...)
	}
	off := 0
	for i, col := range cols {
		fields = append(fields, pgproto3.FieldDescription{
			Name:                 names[off : off+len(col.Name) : off+len(col.Name)],
			TableOID:             col.TableOID,
			TableAttributeNumber: uint16(col.AttrNum),
			DataTypeOID:          col.TypeOID,
			DataTypeSize:         col.TypeSize,
			TypeModifier:         col.TypeModifier,
			Format:               formatOf(formats, i),
		})
		off += len(col.Name)
	}
	c.msgRD.Fields, c.nameBuf = fields, names
	return c.send(&c.msgRD)
}

// formatOf is the format code of column i under PostgreSQL's rule.
func formatOf(formats []int16, i int) int16 {
	switch {
	case len(formats) == 0:
		return 0
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	default:
		return 0
	}
}

// msgName names a message type for errors and logs.
func msgName(m any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}
