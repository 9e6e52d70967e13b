package pgwire

import (
	"errors"
	"io"
	"math"
	"os"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// CopyIn sends CopyInResponse, flushes, and returns the reader of the
// client's CopyData payloads.
func (w *resultWriter) CopyIn(format int8, ncols int) (io.Reader, error) {
	if w.copyIn || w.copyOut {
		return nil, errInCopy
	}
	codes, err := w.c.copyFormats(format, ncols)
	if err != nil {
		return nil, err
	}
	if err := w.c.send(&pgproto3.CopyInResponse{OverallFormat: byte(format), ColumnFormatCodes: codes}); err != nil {
		return nil, err
	}
	if err := w.c.flush(); err != nil {
		return nil, err
	}
	w.copyIn = true
	w.c.cin.start()
	return &w.c.cin, nil
}

// CopyOut sends CopyOutResponse; CopyData calls follow.
func (w *resultWriter) CopyOut(format int8, ncols int) error {
	if w.copyIn || w.copyOut {
		return errInCopy
	}
	codes, err := w.c.copyFormats(format, ncols)
	if err != nil {
		return err
	}
	if err := w.c.send(&pgproto3.CopyOutResponse{OverallFormat: byte(format), ColumnFormatCodes: codes}); err != nil {
		return err
	}
	w.copyOut = true
	return nil
}

// CopyData sends one CopyData message during COPY TO STDOUT.
func (w *resultWriter) CopyData(data []byte) error {
	if !w.copyOut {
		return pgerr.New(pgerr.InternalError, "pgwire: CopyData without CopyOut")
	}
	c := w.c
	c.msgCD.Data = data
	err := c.send(&c.msgCD)
	c.msgCD.Data = nil
	return err
}

// copyFormats is the per-column format list of a Copy*Response.
func (c *conn) copyFormats(format int8, ncols int) ([]uint16, error) {
	if format != 0 && format != 1 {
		return nil, pgerr.New(pgerr.InternalError, "pgwire: invalid COPY format %d", format)
	}
	if ncols < 0 || ncols > math.MaxUint16 {
		return nil, pgerr.New(pgerr.ProgramLimitExceeded, "COPY of %d columns exceeds the protocol's limit", ncols)
	}
	codes := c.fmtBuf[:0]
	for range ncols {
		codes = append(codes, uint16(format))
	}
	c.fmtBuf = codes
	return codes, nil
}

// copyInReader reads the CopyData payloads of a COPY FROM STDIN straight
// from the connection. Flush and Sync are ignored meanwhile, as the
// protocol says; CopyDone ends the data (io.EOF), CopyFail fails it
// (57014); any other message is a protocol violation that ends the
// connection once the engine returns. A cancel request wakes a blocked
// read (see cancel.go).
type copyInReader struct {
	c       *conn
	active  bool   // between CopyIn and the end of Execute
	done    bool   // the data ended: err is what Read returns from now on
	err     error  //
	pending []byte // the rest of the current CopyData payload
}

var errCopyFinished = errors.New("pgwire: COPY FROM STDIN reader used after its statement ended")

func (r *copyInReader) start() {
	*r = copyInReader{c: r.c, active: true}
}

// end invalidates the reader: the engine may not keep it.
func (r *copyInReader) end() {
	r.active = false
	r.pending = nil
}

func (r *copyInReader) Read(p []byte) (int, error) {
	if !r.active {
		return 0, errCopyFinished
	}
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.pending) == 0 {
		if r.done {
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// drain discards the data the engine did not read, up to CopyDone.
func (r *copyInReader) drain() error {
	for !r.done {
		r.pending = nil
		r.next()
	}
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

func errCopyCanceled() error {
	return pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request")
}

func (r *copyInReader) finish(err error) {
	r.done, r.err, r.pending = true, err, nil
}

// next receives one message of the copy stream.
func (r *copyInReader) next() {
	c := r.c
	// The client may be waiting for CopyInResponse or a notice.
	if err := c.flush(); err != nil {
		c.fatal = err
		r.finish(err)
		return
	}
	// Either a cancel request sees copyInWaiting and wakes the read, or
	// the read sees the cancellation and does not start.
	c.mu.Lock()
	if c.qctx.Err() != nil {
		c.mu.Unlock()
		r.finish(errCopyCanceled())
		return
	}
	c.copyInWaiting = true
	c.mu.Unlock()
	msg, err := c.be.Receive()
	cancelled := c.clearWakeDeadline()
	if err != nil {
		if cancelled && errors.Is(c.rr.err, os.ErrDeadlineExceeded) && !c.isClosing() {
			// Woken by a cancel request: the read resumes later where it
			// stopped, and the rest of the copy stream is dropped.
			c.rr.err = nil
			r.finish(errCopyCanceled())
			return
		}
		c.fatal = c.receiveError(err)
		r.finish(c.fatal)
		return
	}
	c.srv.metrics.Messages.Inc()
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		r.pending = m.Data
	case *pgproto3.CopyDone:
		r.finish(io.EOF)
	case *pgproto3.CopyFail:
		r.finish(pgerr.New(pgerr.QueryCanceled, "COPY from stdin failed: %s", m.Message))
	case *pgproto3.Flush, *pgproto3.Sync:
	case *pgproto3.Terminate:
		c.fatal = errTerminated
		r.finish(errTerminated)
	default:
		c.fatal = protocolViolation("unexpected message %s during COPY from stdin", msgName(msg))
		r.finish(c.fatal)
	}
}
