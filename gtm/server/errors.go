package server

import "errors"

// Errors of the GTM server. Test them with errors.Is.
var (
	// ErrInvalidConfig marks every error returned by Config.Validate.
	ErrInvalidConfig = errors.New("gtm: invalid config")
	// ErrNotLeader: this replica does not hold the GTM leadership (never
	// had it, lost its election key, or was deposed during a write).
	ErrNotLeader = errors.New("gtm: not the leader")
	// ErrLeaseExpired: the leader could not renew its etcd lease before
	// its local deadline, so it must assume a successor may be elected.
	ErrLeaseExpired = errors.New("gtm: leader lease expired")
	// ErrHWMConflict: gtm/hwm was changed by a writer other than this
	// term, which must therefore step down and resync.
	ErrHWMConflict = errors.New("gtm: hwm changed by another writer")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("gtm: server closed")

	// errWindowExhausted: Alloc needs a higher persisted hwm first.
	errWindowExhausted = errors.New("gtm: CSN window exhausted; waiting for hwm to be persisted")
	// errCSNSpaceExhausted: the 64-bit CSN space would overflow.
	errCSNSpaceExhausted = errors.New("gtm: CSN space exhausted")
)
