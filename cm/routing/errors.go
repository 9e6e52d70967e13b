package routing

import "errors"

// ErrClosed is returned by WaitReady once the Watcher is closed.
var ErrClosed = errors.New("routing watcher closed")
