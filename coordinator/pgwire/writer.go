package pgwire

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// execute runs portal p for at most maxRows rows (0: all) with the
// connection's ResultWriter, and finishes a COPY the statement began: a
// COPY FROM STDIN the engine left unread is read to its CopyDone, a COPY
// TO STDOUT gets its CopyDone. The caller sends CommandComplete or
// PortalSuspended.
func (c *conn) execute(p Portal, maxRows int) (tag string, suspended bool, err error) {
	c.w.reset()
	ctx := c.beginQuery()
	tag, suspended, err = p.Execute(ctx, maxRows, &c.w)
	if err == nil && c.w.copyIn {
		err = c.cin.drain()
	}
	c.endQuery()
	c.cin.end()
	if err != nil {
		return "", false, err
	}
	if c.w.copyOut {
		if err := c.send(&pgproto3.CopyDone{}); err != nil {
			return "", false, err
		}
	}
	return tag, suspended, nil
}

// resultWriter is the ResultWriter of the connection's running statement.
type resultWriter struct {
	c       *conn
	copyIn  bool // CopyIn was called
	copyOut bool // CopyOut was called
}

var _ ResultWriter = (*resultWriter)(nil)

func (w *resultWriter) reset() { w.copyIn, w.copyOut = false, false }

var errInCopy = pgerr.New(pgerr.InternalError, "pgwire: a COPY is in progress")

// WriteRow sends a DataRow. values is not retained.
func (w *resultWriter) WriteRow(values [][]byte) error {
	if w.copyIn || w.copyOut {
		return errInCopy
	}
	c := w.c
	c.msgRow.Values = values
	err := c.send(&c.msgRow)
	c.msgRow.Values = nil
	return err
}

// ParameterStatus reports a changed run-time parameter.
func (w *resultWriter) ParameterStatus(name, value string) error {
	return w.c.parameterStatus(name, value)
}

// Notice sends a NoticeResponse, at once (as PostgreSQL): a client shows
// notices while a long statement runs.
func (w *resultWriter) Notice(severity, code, message string) error {
	if severity == "" {
		severity = "NOTICE"
	}
	if err := w.c.send(&pgproto3.NoticeResponse{
		Severity: severity, SeverityUnlocalized: severity, Code: code, Message: message,
	}); err != nil {
		return err
	}
	return w.c.flush()
}
