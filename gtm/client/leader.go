package client

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaderState is the GTM leader address as last seen in etcd.
type leaderState struct {
	addr    string        // "" when there is no leader
	changed chan struct{} // closed when addr changes
}

// leader returns the current leader address ("" if none) and a channel
// closed at its next change.
func (c *Client) leader() (string, <-chan struct{}) {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	return c.ls.addr, c.ls.changed
}

func (c *Client) setLeader(addr string) {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	if addr == c.ls.addr {
		return
	}
	c.log.Info("GTM leader", "addr", addr)
	close(c.ls.changed)
	c.ls = leaderState{addr: addr, changed: make(chan struct{})}
}

// fetchLeader reads the election prefix: the leader is the key with the
// lowest create revision.
func (c *Client) fetchLeader(ctx context.Context) (rev int64, err error) {
	resp, err := c.cfg.Etcd.Get(ctx, c.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return 0, fmt.Errorf("read GTM leader at %s: %w", c.prefix, err)
	}
	addr := ""
	if len(resp.Kvs) > 0 {
		addr = string(resp.Kvs[0].Value)
	}
	c.setLeader(addr)
	return resp.Header.Revision, nil
}

// watchLeader keeps the leader address current until c.ctx is done: it
// watches the election prefix and re-reads the leader on every change.
func (c *Client) watchLeader(rev int64) {
	backoff := minBackoff
	for c.ctx.Err() == nil {
		if rev == 0 {
			var err error
			if rev, err = c.fetchLeader(c.ctx); err != nil {
				if c.ctx.Err() == nil {
					c.log.Warn("GTM leader lookup", "err", err)
				}
				select {
				case <-c.ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(c.ctx))
		wch := c.cfg.Etcd.Watch(wctx, c.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			if _, err := c.fetchLeader(c.ctx); err != nil {
				break
			}
		}
		cancel()
		// The watch ended (error, compaction, etcd leader loss, Close):
		// look the leader up again and start a new one.
		rev = 0
	}
}
