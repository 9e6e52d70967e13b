package pgwire

import (
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// The extended query protocol: Parse, Bind, Describe, Execute, Close,
// Sync. Prepared statements live until Close or the end of the connection;
// portals until Close, the next Bind of the same (unnamed) name, or the
// end of the transaction, which the server sees at Sync or at the end of a
// simple query as the session going idle ('I').

// stmtEntry is a prepared statement.
type stmtEntry struct {
	name string
	stmt Statement
}

// portalEntry is a portal; p is nil for a portal of an empty statement,
// which the engine never sees.
type portalEntry struct {
	stmt *stmtEntry
	p    Portal
}

// extendedError reports err and discards messages until Sync. It returns
// an error only when the connection must end.
func (c *conn) extendedError(err error) error {
	if err := c.statementError(err); err != nil {
		return err
	}
	c.ignoreTillSync = true
	return nil
}

func (c *conn) handleParse(m *pgproto3.Parse) error {
	if m.Name != "" {
		if _, ok := c.stmts[m.Name]; ok {
			return c.extendedError(pgerr.New(pgerr.DuplicatePreparedStatement,
				"prepared statement \"%s\" already exists", m.Name))
		}
	}
	ctx := c.beginQuery()
	st, err := c.sess.Prepare(ctx, m.Query, m.ParameterOIDs)
	c.endQuery()
	if err != nil {
		return c.extendedError(err)
	}
	c.stmts[m.Name] = &stmtEntry{name: m.Name, stmt: st}
	return c.send(&pgproto3.ParseComplete{})
}

func (c *conn) lookupStmt(name string) (*stmtEntry, error) {
	if se, ok := c.stmts[name]; ok {
		return se, nil
	}
	if name == "" {
		return nil, pgerr.New(pgerr.InvalidPreparedStatement, "unnamed prepared statement does not exist")
	}
	return nil, pgerr.New(pgerr.InvalidPreparedStatement, "prepared statement \"%s\" does not exist", name)
}

func (c *conn) lookupPortal(name string) (*portalEntry, error) {
	if pe, ok := c.portals[name]; ok {
		return pe, nil
	}
	return nil, pgerr.New(pgerr.InvalidCursorName, "portal \"%s\" does not exist", name)
}

func (c *conn) handleBind(m *pgproto3.Bind) error {
	se, err := c.lookupStmt(m.PreparedStatement)
	if err != nil {
		return c.extendedError(err)
	}
	if m.DestinationPortal == "" {
		c.closePortal("")
	} else if _, ok := c.portals[m.DestinationPortal]; ok {
		return c.extendedError(pgerr.New(duplicateCursor, "portal \"%s\" already exists", m.DestinationPortal))
	}
	if err := c.checkBind(m, se); err != nil {
		return c.extendedError(err)
	}
	pe := &portalEntry{stmt: se}
	if !se.stmt.Empty() {
		ctx := c.beginQuery()
		pe.p, err = c.sess.Bind(ctx, se.stmt, copyParams(m.Parameters), m.ParameterFormatCodes, m.ResultFormatCodes)
		c.endQuery()
		if err != nil {
			return c.extendedError(err)
		}
	}
	c.portals[m.DestinationPortal] = pe
	return c.send(&pgproto3.BindComplete{})
}

// checkBind checks the counts and values of Bind's parameters and format
// codes, as PostgreSQL does before binding.
func (c *conn) checkBind(m *pgproto3.Bind, se *stmtEntry) error {
	nParams := len(m.Parameters)
	if want := len(se.stmt.ParamOIDs()); nParams != want {
		return pgerr.New(pgerr.ProtocolViolation,
			"bind message supplies %d parameters, but prepared statement \"%s\" requires %d", nParams, se.name, want)
	}
	if n := len(m.ParameterFormatCodes); n > 1 && n != nParams {
		return pgerr.New(pgerr.ProtocolViolation, "bind message has %d parameter formats but %d parameters", n, nParams)
	}
	if err := checkFormats(m.ParameterFormatCodes); err != nil {
		return err
	}
	if se.stmt.Empty() {
		return nil
	}
	if n, cols := len(m.ResultFormatCodes), len(se.stmt.Columns()); n > 1 && n != cols {
		return pgerr.New(pgerr.ProtocolViolation, "bind message has %d result formats but query has %d columns", n, cols)
	}
	return checkFormats(m.ResultFormatCodes)
}

func checkFormats(codes []int16) error {
	for _, f := range codes {
		if f != 0 && f != 1 {
			return pgerr.New(pgerr.InvalidParameterValue, "unsupported format code: %d", f)
		}
	}
	return nil
}

// copyParams copies Bind's parameter values, which point into the read
// buffer, into one allocation the portal may keep. NULLs stay nil, empty
// values stay non-nil.
func copyParams(in [][]byte) [][]byte {
	if len(in) == 0 {
		return nil
	}
	total := 0
	for _, p := range in {
		total += len(p)
	}
	buf := make([]byte, 0, total)
	out := make([][]byte, len(in))
	for i, p := range in {
		if p == nil {
			continue
		}
		start := len(buf)
		buf = append(buf, p...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

func (c *conn) handleDescribe(m *pgproto3.Describe) error {
	switch m.ObjectType {
	case 'S':
		se, err := c.lookupStmt(m.Name)
		if err != nil {
			return c.extendedError(err)
		}
		c.msgPD.ParameterOIDs = se.stmt.ParamOIDs()
		err = c.send(&c.msgPD)
		c.msgPD.ParameterOIDs = nil
		if err != nil {
			return c.extendedError(err)
		}
		// A statement's result formats are not known yet: text.
		return c.describeRows(se.stmt.Columns(), nil)
	case 'P':
		pe, err := c.lookupPortal(m.Name)
		if err != nil {
			return c.extendedError(err)
		}
		if pe.p == nil {
			return c.send(&pgproto3.NoData{})
		}
		return c.describeRows(pe.p.Columns(), pe.p.Formats())
	default:
		return protocolViolation("invalid DESCRIBE message subtype %d", m.ObjectType)
	}
}

// describeRows answers the row part of Describe: RowDescription, or NoData
// for a statement that returns no rows.
func (c *conn) describeRows(cols []Column, formats []int16) error {
	if len(cols) == 0 {
		return c.send(&pgproto3.NoData{})
	}
	if err := c.rowDescription(cols, formats); err != nil {
		return c.extendedError(err)
	}
	return nil
}

func (c *conn) handleExecute(m *pgproto3.Execute) error {
	pe, err := c.lookupPortal(m.Portal)
	if err != nil {
		return c.extendedError(err)
	}
	if pe.p == nil {
		return c.send(&pgproto3.EmptyQueryResponse{})
	}
	// MaxRows is unsigned on the wire; PostgreSQL reads it as int32, where
	// a negative count means all rows.
	maxRows := int(int32(m.MaxRows))
	if maxRows < 0 {
		maxRows = 0
	}
	tag, suspended, err := c.execute(pe.p, maxRows)
	if err != nil {
		return c.extendedError(err)
	}
	if suspended {
		return c.send(&pgproto3.PortalSuspended{})
	}
	return c.commandComplete(tag)
}

func (c *conn) handleClose(m *pgproto3.Close) error {
	switch m.ObjectType {
	case 'S':
		if se, ok := c.stmts[m.Name]; ok {
			delete(c.stmts, m.Name)
			// Closing a statement closes the portals made from it.
			for name, pe := range c.portals {
				if pe.stmt == se {
					c.closePortal(name)
				}
			}
		}
	case 'P':
		c.closePortal(m.Name)
	default:
		return protocolViolation("invalid CLOSE message subtype %d", m.ObjectType)
	}
	return c.send(&pgproto3.CloseComplete{})
}

func (c *conn) handleSync() error {
	c.ignoreTillSync = false
	if c.txnStatus() == 'I' {
		c.closeAllPortals()
	}
	return c.readyForQuery()
}

// closePortal closes and forgets the named portal, if it exists.
func (c *conn) closePortal(name string) {
	pe, ok := c.portals[name]
	if !ok {
		return
	}
	delete(c.portals, name)
	if pe.p != nil {
		pe.p.Close()
	}
}

func (c *conn) closeAllPortals() {
	switch len(c.portals) {
	case 0:
		return
	case 1:
		if _, ok := c.portals[""]; ok { // the common case: skip the map walk
			c.closePortal("")
			return
		}
	}
	for name := range c.portals {
		c.closePortal(name)
	}
}
