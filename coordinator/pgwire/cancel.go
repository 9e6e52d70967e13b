package pgwire

import (
	"context"
	"time"
)

// Query cancellation. A CancelRequest arrives on another connection and
// must stop whatever engine call this connection is running, and nothing
// else: a cancel that arrives while the connection is idle is dropped, as
// in PostgreSQL.
//
// Every engine call runs under c.qctx, a child of the server's context
// that is replaced only after it was cancelled, so the common path
// allocates nothing. beginQuery marks a call as running; cancelQuery
// cancels qctx only while one is. A COPY FROM STDIN blocked reading client
// data is woken with a read deadline in the past (see copy.go).
//
// c.mu also serializes every change of the socket's read deadline, so that
// Close's deadline (shutdown) is never undone by a connection clearing its
// own.

// beginQuery returns the context of the engine call about to run.
func (c *conn) beginQuery() context.Context {
	c.mu.Lock()
	c.running = true
	ctx := c.qctx
	c.mu.Unlock()
	return ctx
}

// endQuery marks the engine call finished and renews qctx if it was
// cancelled.
func (c *conn) endQuery() {
	c.mu.Lock()
	c.running = false
	if c.qctx.Err() != nil && c.srv.ctx.Err() == nil {
		c.qcancel()
		c.qctx, c.qcancel = context.WithCancel(c.srv.ctx)
	}
	c.mu.Unlock()
}

// cancelQuery cancels the running engine call, if any.
func (c *conn) cancelQuery() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	c.qcancel()
	if c.copyInWaiting {
		c.wakeDeadline = true
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// clearWakeDeadline undoes cancelQuery's read deadline, unless the server
// is closing. It reports whether the query was cancelled.
func (c *conn) clearWakeDeadline() (cancelled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.copyInWaiting = false
	if c.wakeDeadline && !c.closing {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.wakeDeadline = false
	return c.qctx.Err() != nil
}

// shutdown is Server.Close's request to end the connection: the pending
// read fails now, writes fail after shutdownGrace.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	now := time.Now()
	_ = c.nc.SetReadDeadline(now)
	_ = c.nc.SetWriteDeadline(now.Add(shutdownGrace))
}

// isClosing reports whether Server.Close asked the connection to end.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// setStartupDeadline bounds the startup phase by Config.AuthTimeout (zero
// d clears the bound), unless the server is closing.
func (c *conn) setStartupDeadline(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	_ = c.nc.SetDeadline(t)
}

// releaseQuery frees qctx; called when the connection ends.
func (c *conn) releaseQuery() {
	c.mu.Lock()
	c.qcancel()
	c.mu.Unlock()
}
