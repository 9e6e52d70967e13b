package pgwire

import (
	"context"
	"errors"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Close.
var ErrServerClosed = errors.New("pgwire: server closed")

// duplicateCursor is SQLSTATE 42P03 (a named portal that exists), which
// sql/pgerr does not name.
const duplicateCursor = "42P03"

// Severities of ErrorResponse and NoticeResponse.
const (
	severityError = "ERROR"
	severityFatal = "FATAL"
)

// errTerminated ends a connection whose client sent Terminate or went
// away; nothing more is sent to it.
var errTerminated = errors.New("pgwire: client terminated the connection")

// fatalf makes a connection-ending error: it is sent with severity FATAL and
// the connection is closed.
func fatalf(code, format string, args ...any) *pgerr.Error {
	e := pgerr.New(code, format, args...)
	e.Severity = severityFatal
	return e
}

// protocolViolation is the FATAL 08P01 error of a malformed or unexpected
// message.
func protocolViolation(format string, args ...any) *pgerr.Error {
	return fatalf(pgerr.ProtocolViolation, format, args...)
}

// asFatal returns e with severity FATAL (a copy: e may be the engine's).
func asFatal(e *pgerr.Error) *pgerr.Error {
	if isFatal(e) {
		return e
	}
	c := *e
	c.Severity = severityFatal
	return &c
}

// isFatal reports whether err ends the connection once sent.
func isFatal(err error) bool {
	var e *pgerr.Error
	return errors.As(err, &e) && (e.Severity == severityFatal || e.Severity == "PANIC")
}

// connError marks an I/O failure on the client socket: the connection is
// dead and nothing more can be sent.
type connError struct{ err error }

func (e *connError) Error() string { return "pgwire: connection: " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// isConnError reports whether err means the socket is unusable.
func isConnError(err error) bool {
	var ce *connError
	return errors.As(err, &ce) || errors.Is(err, errTerminated)
}

// toPgError renders err for an ErrorResponse. A bare context cancellation
// (an engine that did not attach a code) becomes 57014, or 57P01 when the
// server is shutting down.
func toPgError(err error, shuttingDown bool) *pgerr.Error {
	e := pgerr.As(err)
	if e.Code == pgerr.InternalError && errors.Is(err, context.Canceled) {
		if shuttingDown {
			return fatalf(pgerr.AdminShutdown, "terminating connection due to administrator command")
		}
		return pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request")
	}
	if e.Code == "" {
		c := *e
		c.Code = pgerr.InternalError
		e = &c
	}
	return e
}

// panicError is the error a recovered panic becomes. The panic value goes
// to the server log only.
func panicError() *pgerr.Error {
	return fatalf(pgerr.InternalError, "internal error; the connection is closed")
}
