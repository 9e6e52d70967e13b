package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Config configures a Client.
type Config struct {
	// Etcd is the etcd client used to find the leader; the caller owns it
	// and must keep it open until Close returns.
	Etcd *clientv3.Client
	// Keys locates the cluster's GTM election prefix.
	Keys meta.Keys
	// Log is the logger (default slog.Default()).
	Log *slog.Logger
	// RPCTimeout bounds one GetCSN attempt (default 2 s); a timed-out
	// attempt is retried like any failed one.
	RPCTimeout time.Duration
}

// DefaultRPCTimeout is the default Config.RPCTimeout.
const DefaultRPCTimeout = 2 * time.Second

const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = 200 * time.Millisecond
)

// Client hands out CSNs from the GTM leader, batching concurrent callers.
// It is safe for concurrent use.
type Client struct {
	cfg    Config
	log    *slog.Logger
	prefix string // election prefix, gtm/leader/

	ctx    context.Context // lifetime, ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // watchLeader and loop

	lmu sync.Mutex
	ls  leaderState

	mu      sync.Mutex
	pending *batch // callers waiting for the next RPC; nil if none
	closed  bool
	kick    chan struct{} // a pending batch exists; capacity 1

	stats struct {
		batches, rpcs, failed, commits, snapshots atomic.Uint64
	}
}

// batch is the set of callers one GetCSN serves.
type batch struct {
	commits   uint32 // Commit callers; the i-th takes first+i
	snapshots uint32 // Snapshot callers
	waiting   atomic.Int32
	done      chan struct{} // closed when first/snap/err are set
	first     uint64
	snap      uint64
	err       error
	lastErr   atomic.Pointer[error] // last failed attempt, for callers who give up
}

// Stats counts a Client's work since New.
type Stats struct {
	// Batches is the number of caller batches sent (each with one or more
	// attempts).
	Batches uint64
	// RPCs is the number of GetCSN attempts, Failed those that failed.
	RPCs, Failed uint64
	// Commits and Snapshots count the CSNs and snapshots handed to callers.
	Commits, Snapshots uint64
}

// New looks the leader up once (bounded by ctx) and starts the Client: a
// goroutine watching the leader and one sending RPCs, both stopped by
// Close. It does not wait for a leader to exist.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("gtm client: Config.Etcd is nil")
	}
	if cfg.Keys.Prefix() == "" {
		return nil, errors.New("gtm client: Config.Keys is empty (use meta.NewKeys)")
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		cfg:    cfg,
		log:    log.With("component", "gtm-client"),
		prefix: cfg.Keys.GTMLeader() + "/",
		ls:     leaderState{changed: make(chan struct{})},
		kick:   make(chan struct{}, 1),
	}
	rev, err := c.fetchLeader(ctx)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.ConnectionFailure, "gtm client")
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.watchLeader(rev)
	}()
	go func() {
		defer c.wg.Done()
		c.loop()
	}()
	return c, nil
}

// Close stops the Client; waiting and later calls fail with ErrClosed.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Snapshot returns a snapshot CSN: every commit CSN below it has been
// handed out, none at or above it.
func (c *Client) Snapshot(ctx context.Context) (uint64, error) {
	b, _, err := c.join(ctx, false)
	if err != nil {
		return 0, err
	}
	c.stats.snapshots.Add(1)
	return b.snap, nil
}

// Commit returns a commit CSN, distinct from every other one and larger
// than every snapshot returned before this call began.
func (c *Client) Commit(ctx context.Context) (uint64, error) {
	b, i, err := c.join(ctx, true)
	if err != nil {
		return 0, err
	}
	c.stats.commits.Add(1)
	return b.first + uint64(i), nil
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Batches:   c.stats.batches.Load(),
		RPCs:      c.stats.rpcs.Load(),
		Failed:    c.stats.failed.Load(),
		Commits:   c.stats.commits.Load(),
		Snapshots: c.stats.snapshots.Load(),
	}
}

// join adds the caller to the pending batch and waits for its RPC. For a
// commit, i is the caller's index in the batch.
func (c *Client) join(ctx context.Context, commit bool) (b *batch, i uint32, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, "")
	}
	b = c.pending
	fresh := b == nil
	if fresh {
		b = &batch{done: make(chan struct{})}
		c.pending = b
	}
	if commit {
		i = b.commits
		b.commits++
	} else {
		b.snapshots++
	}
	b.waiting.Add(1)
	c.mu.Unlock()
	if fresh {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}

	done := ctx.Done()
	if done == nil { // cannot be cancelled: skip the select
		<-b.done
		return b.result(i)
	}
	select {
	case <-b.done:
		return b.result(i)
	case <-done:
		b.waiting.Add(-1)
		// The RPC may still succeed; the CSN it held for us is skipped.
		if p := b.lastErr.Load(); p != nil {
			return nil, 0, pgerr.Wrap(fmt.Errorf("%w; last error: %w", ctx.Err(), *p),
				pgerr.ConnectionFailure, "GTM unreachable")
		}
		return nil, 0, fmt.Errorf("gtm client: waiting for CSN: %w", ctx.Err())
	}
}

// loop sends one RPC at a time, for the batch that filled meanwhile.
func (c *Client) loop() {
	var conn *grpc.ClientConn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
		c.mu.Lock()
		b := c.pending
		c.pending = nil
		c.mu.Unlock()
		if b != nil {
			b.finish(pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, ""))
		}
	}()
	var (
		connAddr string
		stub     meridianpb.GTMClient
		woken    int // callers of the last batch
	)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		}
		if woken > 1 {
			// The callers just woken are about to call again: let them
			// join this batch rather than wait for the next one. Under
			// load this doubles the batch size (and the throughput);
			// with a single caller there is no one to wait for.
			runtime.Gosched()
		}
		c.mu.Lock()
		b := c.pending
		c.pending = nil
		c.mu.Unlock()
		if b == nil {
			continue
		}
		c.stats.batches.Add(1)
		woken = int(b.commits + b.snapshots)
		backoff := minBackoff
		for {
			if c.ctx.Err() != nil {
				b.finish(pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, ""))
				return
			}
			if b.waiting.Load() == 0 {
				b.finish(errAbandoned) // everybody left; nobody reads this
				break
			}
			addr, changed := c.leader()
			if addr == "" {
				b.setLastErr(ErrNoLeader)
				c.wait(changed, maxBackoff)
				continue
			}
			if addr != connAddr {
				if conn != nil {
					_ = conn.Close()
					conn, stub, connAddr = nil, nil, ""
				}
				cc, err := grpc.NewClient(addr,
					grpc.WithTransportCredentials(insecure.NewCredentials()),
					// Fixed windows: no bandwidth-delay pings (see the server).
					grpc.WithInitialWindowSize(1<<20),
					grpc.WithInitialConnWindowSize(1<<20))
				if err != nil {
					b.setLastErr(fmt.Errorf("dial GTM leader %s: %w", addr, err))
					c.wait(changed, maxBackoff)
					continue
				}
				conn, stub, connAddr = cc, meridianpb.NewGTMClient(cc), addr
			}
			err := c.call(stub, b)
			if err == nil {
				break
			}
			err = fmt.Errorf("GetCSN at %s: %w", addr, err)
			if !retryable(err) {
				b.finish(err)
				break
			}
			b.setLastErr(err)
			// Redial on the next attempt: a fresh connection does not
			// inherit gRPC's reconnect backoff, which could keep failing a
			// GTM that is back at the same address.
			_ = conn.Close()
			conn, stub, connAddr = nil, nil, ""
			c.wait(changed, backoff)
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// call sends b's RPC once and, on success, wakes b's callers.
func (c *Client) call(stub meridianpb.GTMClient, b *batch) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RPCTimeout)
	defer cancel()
	c.stats.rpcs.Add(1)
	resp, err := stub.GetCSN(ctx, &meridianpb.CSNRequest{CommitCount: b.commits})
	if err != nil {
		c.stats.failed.Add(1)
		return pgerr.FromStatus(err)
	}
	b.first, b.snap = resp.GetFirstCommitCsn(), resp.GetSnapshotCsn()
	if b.commits > 0 && (b.first == 0 || b.snap < b.first+uint64(b.commits)) {
		// Never hand out a CSN the GTM did not vouch for.
		return fmt.Errorf("bad GetCSN answer for %d commits: first %d, snapshot %d", b.commits, b.first, b.snap)
	}
	b.finish(nil)
	return nil
}

// wait sleeps for d, or until the leader changes or the Client closes.
func (c *Client) wait(changed <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// retryable reports whether a failed GetCSN may succeed if tried again,
// here or at another leader: connection failures, timeouts and internal
// errors are; errors the GTM attached another SQLSTATE to are not.
func retryable(err error) bool {
	switch pgerr.Code(err) {
	case pgerr.ConnectionFailure, pgerr.QueryCanceled, pgerr.InternalError:
		return true
	}
	return false
}

func (b *batch) result(i uint32) (*batch, uint32, error) {
	if b.err != nil {
		return nil, 0, b.err
	}
	return b, i, nil
}

func (b *batch) setLastErr(err error) { b.lastErr.Store(&err) }

// finish wakes b's callers with err (nil: the results are set).
func (b *batch) finish(err error) {
	b.err = err
	close(b.done)
}
