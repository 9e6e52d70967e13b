// Package pgwire is the coordinator's PostgreSQL wire-protocol (v3) server.
//
// It is the edge where clients (psql, pgx, JDBC, pgbench) meet Meridian,
// and it is deliberately ignorant: it speaks the protocol and knows no SQL.
// Everything about statements, types and transactions belongs to the
// Engine (engine.go), which the coordinator's session layer implements.
// Values cross that line already encoded in the format the client asked
// for, so the server never parses, converts or even looks at a datum.
//
//	           TCP                          pgwire                         Engine
//	client ─────────── Server.Serve ── conn goroutine (one per client) ─── Session
//	                      │               │ startup: SSL 'N', auth,        │ Prepare, PrepareMulti
//	  CancelRequest ──────┤               │   ParameterStatus, key         │ Bind ──> Portal
//	  (new connection)    │               │ simple: Query                  │   Execute(ctx, maxRows, w)
//	                      │  pid/secret   │ extended: Parse Bind Describe  │        │
//	                      └──────────────>│   Execute Close Flush Sync     │        v
//	                        cancel qctx   │ copy: CopyIn / CopyOut  <──────┼── ResultWriter
//	                                      └ buffered writer, flushed at ReadyForQuery,
//	                                        Flush, 32 KiB, or before reading COPY data
//
// # A connection's life
//
// A connection starts with the startup phase (startup.go): SSLRequest and
// GSSEncRequest are answered 'N' (no encryption) and the client goes on in
// plain text on the same socket; a CancelRequest is served and the socket
// closed; the StartupMessage (protocol 3.0; newer 3.x minors are told 3.0
// with NegotiateProtocolVersion) is followed by authentication, trust or
// SCRAM-SHA-256 (auth_scram.go), then AuthenticationOk, the session's
// ParameterStatus list, BackendKeyData and ReadyForQuery.
//
// Then messages are handled one at a time by the connection's goroutine.
// A simple Query (simple.go) runs every statement of its string, stopping
// at the first error. The extended protocol (extended.go) keeps named and
// unnamed prepared statements and portals; after an error it discards
// messages until Sync, as PostgreSQL does. Portals are closed when the
// session is idle at Sync or at the end of a simple query, i.e. when the
// transaction that made them has ended. COPY (copy.go) is driven by the
// engine through the ResultWriter: CopyIn hands it a reader of the client's
// CopyData stream, CopyOut lets it send CopyData.
//
// # Failure
//
// A statement error becomes an ErrorResponse with the SQLSTATE attached by
// whoever made the error (sql/pgerr); the connection stays usable. A
// malformed or unexpected message, an oversized one (Config.MaxMessageSize,
// refused from its header before the body is read or allocated), or a
// panic in the server or the engine ends only that connection, with a
// FATAL ErrorResponse (08P01, 54000, XX000). No input may crash the
// process.
//
// # Cancellation and shutdown
//
// Every engine call gets a context (cancel.go). A CancelRequest that
// matches a connection's process id and random secret cancels the context
// of the call it is running; the engine then returns 57014. Server.Close
// stops accepting, cancels all contexts, sends each client FATAL 57P01 and
// waits for every connection goroutine to close its session.
//
// # Example
//
//	cfg := pgwire.NewConfig()
//	cfg.ListenAddr = "127.0.0.1:5432"
//	cfg.AuthMethod = pgwire.AuthSCRAM
//	cfg.Users = map[string]string{"alice": "secret"}
//	srv, err := pgwire.NewServer(cfg, engine)
//	if err != nil {
//		return err
//	}
//	go func() { _ = srv.ListenAndServe() }()
//	defer srv.Close()
package pgwire
