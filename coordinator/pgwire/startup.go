package pgwire

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// maxNegotiations bounds the SSLRequest / GSSEncRequest answers before the
// startup packet (a client asks for each at most once).
const maxNegotiations = 2

// defaultParams are reported when the session does not report them: they
// are what PostgreSQL clients assume (pgx refuses the simple protocol
// without the first two). server_version always comes from the Config.
var defaultParams = [][2]string{
	{"client_encoding", "UTF8"},
	{"standard_conforming_strings", "on"},
	{"server_encoding", "UTF8"},
	{"integer_datetimes", "on"},
	{"DateStyle", "ISO, MDY"},
}

// startup runs the connection's startup phase:
//
//	SSLRequest / GSSEncRequest ─> 'N' (no encryption), repeat
//	CancelRequest              ─> cancel the matching connection's query; close
//	StartupMessage (3.0)       ─> [NegotiateProtocolVersion] authentication
//	                              AuthenticationOk, ParameterStatus*,
//	                              BackendKeyData, ReadyForQuery
//
// It leaves c.sess nil after a cancel request.
func (c *conn) startup() error {
	c.setStartupDeadline(c.srv.cfg.AuthTimeout)
	params, err := c.receiveStartup()
	if err != nil || params == nil {
		return err
	}
	if err := c.srv.admit(c); err != nil {
		return err
	}
	if err := c.authenticate(params["user"]); err != nil {
		return err
	}
	if err := c.send(&pgproto3.AuthenticationOk{}); err != nil {
		return err
	}

	ctx := c.beginQuery()
	sess, err := c.srv.engine.NewSession(ctx, params)
	c.endQuery()
	if err != nil {
		return asFatal(toPgError(err, c.isClosing()))
	}
	if sess == nil {
		return fatalf(pgerr.InternalError, "the engine returned no session")
	}
	c.sess = sess

	if err := c.sendParameterStatus(sess.ParameterStatus()); err != nil {
		return err
	}
	if err := c.srv.registerKey(c); err != nil {
		return err
	}
	if err := c.send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]}); err != nil {
		return err
	}
	c.setStartupDeadline(0)
	c.log = c.log.With("pid", c.pid, "user", c.user)
	return c.readyForQuery()
}

// receiveStartup reads up to the StartupMessage and returns its
// parameters, with database defaulting to user and protocol options
// (_pq_.*) removed. It returns nil parameters after serving a cancel
// request.
func (c *conn) receiveStartup() (map[string]string, error) {
	for i := 0; ; i++ {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			if c.rr.err != nil {
				return nil, &connError{err: c.rr.err}
			}
			return nil, protocolViolation("invalid startup packet: %v", err)
		}
		c.srv.metrics.Messages.Inc()
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if i >= maxNegotiations {
				return nil, protocolViolation("too many encryption requests")
			}
			// No TLS, no GSSAPI: answer 'N' and read the next packet on the
			// same connection.
			c.wbuf = append(c.wbuf, 'N')
			if err := c.flush(); err != nil {
				return nil, err
			}
		case *pgproto3.CancelRequest:
			c.srv.cancelRequest(m.ProcessID, m.SecretKey)
			return nil, nil
		case *pgproto3.StartupMessage:
			return c.startupParams(m)
		default:
			return nil, protocolViolation("unexpected startup message %s", msgName(msg))
		}
	}
}

func (c *conn) startupParams(m *pgproto3.StartupMessage) (map[string]string, error) {
	params := make(map[string]string, len(m.Parameters))
	var unknownOpts []string
	for k, v := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			unknownOpts = append(unknownOpts, k)
			continue
		}
		params[k] = v
	}
	// A 3.x client newer than 3.0, or one asking for protocol options, is
	// told what this server speaks, as PostgreSQL does.
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 || len(unknownOpts) > 0 {
		if err := c.send(&pgproto3.NegotiateProtocolVersion{
			NewestMinorProtocol: pgproto3.ProtocolVersion30 & 0xffff,
			UnrecognizedOptions: unknownOpts,
		}); err != nil {
			return nil, err
		}
	}
	user := params["user"]
	if user == "" {
		return nil, fatalf(pgerr.InvalidAuthorization, "no PostgreSQL user name specified in startup packet")
	}
	if params["database"] == "" {
		params["database"] = user
	}
	c.user = user
	return params, nil
}

// sendParameterStatus reports the session's parameters, server_version
// from the Config and defaults for the ones clients rely on.
func (c *conn) sendParameterStatus(ps [][2]string) error {
	version := c.srv.cfg.ServerVersion
	if err := c.parameterStatus("server_version", version); err != nil {
		return err
	}
	for _, kv := range ps {
		if kv[0] == "server_version" {
			continue
		}
		if err := c.parameterStatus(kv[0], kv[1]); err != nil {
			return err
		}
	}
next:
	for _, d := range defaultParams {
		for _, kv := range ps {
			if kv[0] == d[0] {
				continue next
			}
		}
		if err := c.parameterStatus(d[0], d[1]); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) parameterStatus(name, value string) error {
	c.msgPS.Name, c.msgPS.Value = name, value
	return c.send(&c.msgPS)
}

// authenticate runs Config.AuthMethod for user.
func (c *conn) authenticate(user string) error {
	if c.srv.cfg.AuthMethod == AuthTrust {
		return nil
	}
	x := newSCRAMExchange(c.srv.users[user], c.srv.mockKey, user)

	_ = c.send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := c.receiveAuth()
	if err != nil {
		return err
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return protocolViolation("expected SASL response, got %s", msgName(msg))
	}
	if initial.AuthMechanism != scramMechanism {
		return protocolViolation("client selected an invalid SASL authentication mechanism")
	}
	serverFirst, err := x.first(initial.Data)
	if err != nil {
		return err
	}
	_ = c.send(&pgproto3.AuthenticationSASLContinue{Data: serverFirst})
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = c.receiveAuth()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return protocolViolation("expected SASL response, got %s", msgName(msg))
	}
	serverFinal, err := x.final(resp.Data)
	if errors.Is(err, errSCRAMFailed) {
		return authFailed(user)
	}
	if err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeOk); err != nil {
		return err
	}
	return c.send(&pgproto3.AuthenticationSASLFinal{Data: serverFinal})
}

// receiveAuth reads one message during authentication, where only
// password-type ('p') messages may come.
func (c *conn) receiveAuth() (pgproto3.FrontendMessage, error) {
	msg, err := c.be.Receive()
	if err != nil {
		return nil, c.receiveError(err)
	}
	c.srv.metrics.Messages.Inc()
	switch msg.(type) {
	case *pgproto3.SASLInitialResponse, *pgproto3.SASLResponse:
		return msg, nil
	case *pgproto3.Terminate:
		return nil, errTerminated
	}
	return nil, protocolViolation("expected SASL response, got %s", msgName(msg))
}
