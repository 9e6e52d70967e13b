package pgwire

import (
	"github.com/jackc/pgx/v5/pgproto3"
)

// handleQuery runs a simple-protocol Query: each statement of the string in
// turn (Bind without parameters, text results, RowDescription, Execute to
// the end, CommandComplete), stopping at the first error; then
// ReadyForQuery.
func (c *conn) handleQuery(sql string) error {
	// As in PostgreSQL, a simple query destroys the unnamed statement and
	// portal.
	c.closePortal("")
	delete(c.stmts, "")

	ctx := c.beginQuery()
	stmts, err := c.sess.PrepareMulti(ctx, sql)
	c.endQuery()
	switch {
	case err != nil:
		if err := c.statementError(err); err != nil {
			return err
		}
	case allEmpty(stmts):
		_ = c.send(&pgproto3.EmptyQueryResponse{})
	default:
		for _, st := range stmts {
			if st.Empty() {
				continue
			}
			if err := c.runSimple(st); err != nil {
				if err := c.statementError(err); err != nil {
					return err
				}
				break
			}
		}
	}
	if c.txnStatus() == 'I' {
		c.closeAllPortals()
	}
	return c.readyForQuery()
}

// runSimple runs one statement of a simple query.
func (c *conn) runSimple(st Statement) error {
	ctx := c.beginQuery()
	p, err := c.sess.Bind(ctx, st, nil, nil, nil)
	c.endQuery()
	if err != nil {
		return err
	}
	defer p.Close()
	if cols := p.Columns(); len(cols) > 0 {
		if err := c.rowDescription(cols, p.Formats()); err != nil {
			return err
		}
	}
	tag, _, err := c.execute(p, 0)
	if err != nil {
		return err
	}
	return c.commandComplete(tag)
}

func allEmpty(stmts []Statement) bool {
	for _, st := range stmts {
		if !st.Empty() {
			return false
		}
	}
	return true
}
