package client

import "errors"

// Errors of the GTM client; callers see them wrapped in a *pgerr.Error
// with SQLSTATE 08006. Test them with errors.Is.
var (
	// ErrNoLeader: etcd names no GTM leader (none running, or an
	// election in progress).
	ErrNoLeader = errors.New("gtm client: no GTM leader registered in etcd")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("gtm client: closed")

	// errAbandoned ends a batch whose callers all gave up.
	errAbandoned = errors.New("gtm client: batch abandoned by its callers")
)
