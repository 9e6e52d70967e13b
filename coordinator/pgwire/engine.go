package pgwire

import (
	"context"
	"io"
)

// The pgwire server drives an Engine: it speaks the protocol and knows no
// SQL; the engine (coordinator/session) knows SQL and no protocol. Values
// cross this line already encoded in the client's requested format (text 0
// or binary 1), so the server never interprets a datum.

// Engine opens sessions for authenticated connections.
type Engine interface {
	// NewSession starts a session for an authenticated user. params are the
	// startup parameters the client sent (user, database, application_name,
	// client_encoding, DateStyle, options, ...).
	NewSession(ctx context.Context, params map[string]string) (Session, error)
}

// Session is one client connection's SQL state. Methods are called from the
// connection's goroutine only, one at a time.
type Session interface {
	// ParameterStatus lists the parameters reported to the client after
	// authentication (server_version, client_encoding, DateStyle, ...).
	ParameterStatus() [][2]string
	// PrepareMulti parses a simple-protocol query string, which may hold
	// several statements (or none: an empty query yields no statements).
	// A syntax error in any of them fails the whole string.
	PrepareMulti(ctx context.Context, sql string) ([]Statement, error)
	// Prepare parses one statement for the extended protocol; paramOIDs are
	// the types the client declared (0 = unspecified), possibly fewer than
	// the statement has. An empty string yields a Statement with Empty().
	Prepare(ctx context.Context, sql string, paramOIDs []uint32) (Statement, error)
	// Bind makes a portal: params are the raw values (nil = NULL) in
	// paramFormats (0 text, 1 binary; one code applies to all, none means
	// text); resultFormats likewise for the result columns.
	Bind(ctx context.Context, stmt Statement, params [][]byte, paramFormats []int16, resultFormats []int16) (Portal, error)
	// TxnStatus is the ReadyForQuery status: 'I' idle, 'T' in a transaction
	// block, 'E' in a failed transaction block.
	TxnStatus() byte
	// Close ends the session, rolling back any open transaction.
	Close()
}

// Statement is a parsed (prepared) statement.
type Statement interface {
	// Empty reports an empty query string (EmptyQueryResponse).
	Empty() bool
	// ParamOIDs are the parameter types, resolved.
	ParamOIDs() []uint32
	// Columns describes the result rows; nil when the statement returns
	// none (Describe answers NoData).
	Columns() []Column
}

// Column is one result column (RowDescription field).
type Column struct {
	Name         string
	TableOID     uint32
	AttrNum      int16
	TypeOID      uint32
	TypeSize     int16
	TypeModifier int32
}

// Portal is a bound statement ready to run.
type Portal interface {
	// Columns describes the result rows, as Statement.Columns, with the
	// format codes the portal will use.
	Columns() []Column
	Formats() []int16
	// Execute runs the portal, writing at most maxRows rows (0: all). It
	// returns suspended = true when rows remain (PortalSuspended); the next
	// Execute continues. On completion it returns the command tag
	// ("SELECT 3", "INSERT 0 1", ...).
	Execute(ctx context.Context, maxRows int, w ResultWriter) (tag string, suspended bool, err error)
	// Close releases the portal.
	Close()
}

// ResultWriter is how a running statement talks to the client.
type ResultWriter interface {
	// WriteRow sends one DataRow; values are in the portal's formats, nil
	// for NULL. The slices may be reused by the caller after return.
	WriteRow(values [][]byte) error
	// CopyIn sends CopyInResponse (format 0 text, 1 binary; ncols columns)
	// and returns a reader of the CopyData payloads. The reader returns
	// io.EOF after CopyDone, or an error carrying SQLSTATE 57014 after
	// CopyFail.
	CopyIn(format int8, ncols int) (io.Reader, error)
	// CopyOut sends CopyOutResponse; then each CopyData call sends one
	// CopyData message; the server sends CopyDone when Execute returns.
	CopyOut(format int8, ncols int) error
	CopyData(data []byte) error
	// ParameterStatus reports a changed parameter (after SET).
	ParameterStatus(name, value string) error
	// Notice sends a NoticeResponse (severity NOTICE or WARNING).
	Notice(severity, code, message string) error
}
