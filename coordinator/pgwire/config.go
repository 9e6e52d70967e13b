package pgwire

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Authentication methods accepted in Config.AuthMethod.
const (
	// AuthTrust admits every user without a password.
	AuthTrust = "trust"
	// AuthSCRAM asks for a password with SCRAM-SHA-256 (RFC 5802, RFC 7677)
	// and checks it against Config.Users.
	AuthSCRAM = "scram-sha-256"
)

// Defaults of NewConfig.
const (
	DefaultListenAddr     = "127.0.0.1:5432"
	DefaultMaxMessageSize = 64 << 20
	DefaultServerVersion  = "15.0 (Meridian)"
	DefaultAuthTimeout    = time.Minute

	// minMaxMessageSize keeps the limit above the size of any message a
	// client must be able to send (a short query, a Sync, a SCRAM reply).
	minMaxMessageSize = 1 << 10
	// maxMaxMessageSize is the protocol's own bound (PostgreSQL refuses
	// messages of 1 GiB and more; pgproto3 cannot encode them).
	maxMaxMessageSize = 1<<30 - 1
)

// Config configures a Server. Build it with NewConfig, change fields, and
// pass it to NewServer, which calls Validate.
type Config struct {
	// ListenAddr is the TCP address ListenAndServe listens on. Serve, which
	// takes a listener, ignores it.
	ListenAddr string
	// MaxMessageSize bounds the declared length of a client message
	// (including its 4-byte length field). A longer message is refused with
	// FATAL 54000 before its body is read or allocated, and the connection
	// is closed.
	MaxMessageSize int
	// AuthMethod is AuthTrust or AuthSCRAM.
	AuthMethod string
	// Users maps user names to passwords for AuthSCRAM. The server keeps
	// only SCRAM verifiers (salted, 4096 iterations), made in NewServer.
	// Passwords are normalized as SCRAM clients normalize them (SASLprep).
	Users map[string]string
	// ServerVersion is reported as the server_version parameter; clients
	// parse its leading "major.minor".
	ServerVersion string
	// AuthTimeout bounds the startup phase (SSL negotiation, startup
	// packet, authentication, session creation), as PostgreSQL's
	// authentication_timeout. 0 disables it.
	AuthTimeout time.Duration
	// MaxConnections caps the number of client sessions (connections past
	// the startup packet); further clients get FATAL 53300. Cancel requests
	// are always served. 0 means no cap.
	MaxConnections int
	// Log receives connection-level events (protocol violations, panics,
	// I/O errors). Never nil after NewConfig.
	Log *slog.Logger
	// Registry, when not nil, receives the server's metrics.
	Registry prometheus.Registerer
}

// NewConfig returns a Config with the defaults: trust authentication on
// 127.0.0.1:5432, 64 MiB messages, server_version "15.0 (Meridian)", a one
// minute authentication timeout and a logger that discards.
func NewConfig() Config {
	return Config{
		ListenAddr:     DefaultListenAddr,
		MaxMessageSize: DefaultMaxMessageSize,
		AuthMethod:     AuthTrust,
		ServerVersion:  DefaultServerVersion,
		AuthTimeout:    DefaultAuthTimeout,
		Log:            slog.New(slog.DiscardHandler),
	}
}

// Validate reports the first problem with c. It has no side effects.
func (c *Config) Validate() error {
	if c.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			return fmt.Errorf("pgwire: ListenAddr %q: %w", c.ListenAddr, err)
		}
	}
	if c.MaxMessageSize < minMaxMessageSize || c.MaxMessageSize > maxMaxMessageSize {
		return fmt.Errorf("pgwire: MaxMessageSize %d is outside [%d, %d]", c.MaxMessageSize, minMaxMessageSize, maxMaxMessageSize)
	}
	switch c.AuthMethod {
	case AuthTrust:
	case AuthSCRAM:
		if len(c.Users) == 0 {
			return errors.New("pgwire: AuthMethod scram-sha-256 needs at least one entry in Users")
		}
		for u, p := range c.Users {
			if u == "" {
				return errors.New("pgwire: Users has an empty user name")
			}
			if p == "" {
				return fmt.Errorf("pgwire: user %q has an empty password", u)
			}
		}
	default:
		return fmt.Errorf("pgwire: unknown AuthMethod %q (want %q or %q)", c.AuthMethod, AuthTrust, AuthSCRAM)
	}
	if c.ServerVersion == "" || c.ServerVersion[0] < '0' || c.ServerVersion[0] > '9' {
		return fmt.Errorf("pgwire: ServerVersion %q must start with a version number", c.ServerVersion)
	}
	if c.AuthTimeout < 0 {
		return fmt.Errorf("pgwire: AuthTimeout %v is negative", c.AuthTimeout)
	}
	if c.MaxConnections < 0 {
		return fmt.Errorf("pgwire: MaxConnections %d is negative", c.MaxConnections)
	}
	if c.Log == nil {
		return errors.New("pgwire: Log is nil")
	}
	return nil
}
