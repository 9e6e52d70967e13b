package pgwire

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/secure/precis"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// The server side of SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), as
// PostgreSQL speaks it over AuthenticationSASL / SASLContinue / SASLFinal:
//
//	client                                   server
//	SASLInitialResponse  n,,n=,r=<cnonce>  ─>
//	                                        <─ SASLContinue r=<cnonce><snonce>,s=<salt>,i=4096
//	SASLResponse c=biws,r=<nonce>,p=<proof> ─>
//	                                        <─ SASLFinal v=<server signature>
//
// This file is the pure exchange; conn.go does the I/O. Channel binding
// (SCRAM-SHA-256-PLUS) is not offered: the server speaks no TLS.

const (
	scramMechanism  = "SCRAM-SHA-256"
	scramIterations = 4096
	scramSaltLen    = 16
	scramNonceLen   = 18 // raw bytes, as PostgreSQL
)

// errSCRAMFailed is a wrong password (or an unknown user).
var errSCRAMFailed = errors.New("pgwire: SCRAM proof does not match")

// scramVerifier is what the server keeps of a password.
type scramVerifier struct {
	salt       []byte
	iterations int
	storedKey  [sha256.Size]byte
	serverKey  [sha256.Size]byte
}

// newSCRAMVerifier derives the verifier of password with a fresh random salt.
func newSCRAMVerifier(password string, iterations int) (*scramVerifier, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return scramVerifierFromSalt(password, salt, iterations)
}

func scramVerifierFromSalt(password string, salt []byte, iterations int) (*scramVerifier, error) {
	salted, err := pbkdf2.Key(sha256.New, saslPrep(password), salt, iterations, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("pgwire: derive SCRAM key: %w", err)
	}
	v := &scramVerifier{salt: salt, iterations: iterations}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	v.storedKey = sha256.Sum256(clientKey[:])
	v.serverKey = hmacSHA256(salted, []byte("Server Key"))
	return v, nil
}

// saslPrep normalizes a password as SCRAM clients do (SASLprep, here its
// successor PRECIS OpaqueString, as pgx); a password it rejects is used
// as is, as PostgreSQL does.
func saslPrep(password string) string {
	if p, err := precis.OpaqueString.String(password); err == nil {
		return p
	}
	return password
}

func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// scramExchange is one authentication attempt. mock is set for a user the
// server does not know: the exchange runs to the end with a made-up salt,
// so a client cannot tell unknown users from wrong passwords, and fails.
type scramExchange struct {
	v    *scramVerifier
	mock bool

	// serverNonce, when set (tests), replaces the random server nonce.
	serverNonce string

	gs2Header       string // "n,," or "y,,"
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
}

// newSCRAMExchange starts an exchange against v; a nil v runs a mock
// exchange whose salt is derived from mockKey and user.
func newSCRAMExchange(v *scramVerifier, mockKey []byte, user string) *scramExchange {
	if v != nil {
		return &scramExchange{v: v}
	}
	salt := hmacSHA256(mockKey, []byte(user))
	return &scramExchange{v: &scramVerifier{salt: salt[:scramSaltLen], iterations: scramIterations}, mock: true}
}

func malformedSCRAM(format string, args ...any) error {
	return protocolViolation("malformed SCRAM message: "+format, args...)
}

// first reads the client-first-message and returns the server-first-message.
func (x *scramExchange) first(msg []byte) ([]byte, error) {
	s := string(msg)
	// gs2-header: cbind-flag "," [authzid] ","
	if s == "" {
		return nil, malformedSCRAM("empty client-first-message")
	}
	switch s[0] {
	case 'n', 'y':
		if len(s) < 2 || s[1] != ',' {
			return nil, malformedSCRAM("bad GS2 header")
		}
	case 'p':
		return nil, protocolViolation("SCRAM channel binding is not supported by this server")
	default:
		return nil, malformedSCRAM("unexpected channel-binding flag %q", s[0])
	}
	rest := s[2:]
	if len(rest) > 0 && rest[0] == 'a' {
		return nil, protocolViolation("client uses authorization identity, but it is not supported")
	}
	if len(rest) == 0 || rest[0] != ',' {
		return nil, malformedSCRAM("bad GS2 header")
	}
	x.gs2Header = s[:3]
	x.clientFirstBare = rest[1:]

	attrs := splitAttrs(x.clientFirstBare)
	if len(attrs) < 2 {
		return nil, malformedSCRAM("client-first-message too short")
	}
	if attrs[0].key == 'm' {
		return nil, protocolViolation("SCRAM mandatory extensions are not supported")
	}
	// The user name is ignored, as in PostgreSQL: the startup packet's user
	// is authenticated.
	if attrs[0].key != 'n' {
		return nil, malformedSCRAM("expected user name attribute")
	}
	if attrs[1].key != 'r' || attrs[1].val == "" || !printableNonce(attrs[1].val) {
		return nil, malformedSCRAM("bad client nonce")
	}
	serverNonce := x.serverNonce
	if serverNonce == "" {
		var raw [scramNonceLen]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, err
		}
		serverNonce = base64.StdEncoding.EncodeToString(raw[:])
	}
	x.nonce = attrs[1].val + serverNonce
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.v.salt) +
		",i=" + strconv.Itoa(x.v.iterations)
	return []byte(x.serverFirst), nil
}

// final checks the client-final-message and returns the
// server-final-message; errSCRAMFailed means a wrong password.
func (x *scramExchange) final(msg []byte) ([]byte, error) {
	s := string(msg)
	i := bytes.LastIndex(msg, []byte(",p="))
	if i < 0 {
		return nil, malformedSCRAM("missing proof")
	}
	withoutProof := s[:i]
	proof, err := base64.StdEncoding.DecodeString(s[i+3:])
	if err != nil || len(proof) != sha256.Size {
		return nil, malformedSCRAM("bad proof")
	}
	attrs := splitAttrs(withoutProof)
	if len(attrs) < 2 || attrs[0].key != 'c' || attrs[1].key != 'r' {
		return nil, malformedSCRAM("expected channel binding and nonce")
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0].val)
	if err != nil || string(cb) != x.gs2Header {
		return nil, malformedSCRAM("unexpected channel binding data")
	}
	if attrs[1].val != x.nonce {
		return nil, malformedSCRAM("nonce does not match")
	}

	authMessage := []byte(x.clientFirstBare + "," + x.serverFirst + "," + withoutProof)
	clientSig := hmacSHA256(x.v.storedKey[:], authMessage)
	var clientKey [sha256.Size]byte
	for j := range clientKey {
		clientKey[j] = proof[j] ^ clientSig[j]
	}
	stored := sha256.Sum256(clientKey[:])
	if subtle.ConstantTimeCompare(stored[:], x.v.storedKey[:]) != 1 || x.mock {
		return nil, errSCRAMFailed
	}
	serverSig := hmacSHA256(x.v.serverKey[:], authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig[:])), nil
}

type scramAttr struct {
	key byte
	val string
}

// splitAttrs splits "k=v,k=v" into attributes; a part that is not k=v
// yields key 0, which no caller accepts.
func splitAttrs(s string) []scramAttr {
	parts := strings.Split(s, ",")
	out := make([]scramAttr, len(parts))
	for i, p := range parts {
		if len(p) >= 2 && p[1] == '=' {
			out[i] = scramAttr{key: p[0], val: p[2:]}
		}
	}
	return out
}

// printableNonce checks RFC 5802's printable: %x21-2B / %x2D-7E.
func printableNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// authFailed is the FATAL 28P01 a wrong password gets.
func authFailed(user string) error {
	return fatalf(pgerr.InvalidPassword, "password authentication failed for user %q", user)
}
