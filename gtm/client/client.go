package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/rpcconn"
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
	// RPCTimeout bounds the wait for one answer, and the opening of a
	// stream (default 2 s): a leader that does not answer a request in
	// time is treated as unreachable, and the request is sent again like
	// any failed one.
	RPCTimeout time.Duration
	// GRPCStream sends the requests on a gRPC StreamCSN instead of the
	// raw CSN protocol (gtm/server/rawcsn.go) on the same port.
	GRPCStream bool
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
	pending *batch // callers waiting for the next request; nil if none
	closed  bool
	kick    chan struct{} // a pending batch exists; capacity 1

	stats struct {
		batches, rpcs, failed, commits, snapshots atomic.Uint64
	}

	seq seqConn // sequence calls (sequences.go)
}

// batch is the set of callers one request serves.
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
	// RPCs is the number of attempts: requests sent, and streams that
	// could not be opened. Failed counts the attempts that got no answer.
	RPCs, Failed uint64
	// Commits and Snapshots count the CSNs and snapshots handed to callers.
	Commits, Snapshots uint64
}

// New looks the leader up once (bounded by ctx) and starts the Client: a
// goroutine watching the leader and one sending requests, both stopped by
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
	c.seq.close()
}

// Snapshot returns a snapshot CSN: every commit CSN below it has been
// handed out, none at or above it. It is above every commit CSN, and at
// or above every snapshot, returned before this call began.
func (c *Client) Snapshot(ctx context.Context) (uint64, error) {
	b, _, err := c.join(ctx, false)
	if err != nil {
		return 0, err
	}
	c.stats.snapshots.Add(1)
	return b.snap, nil
}

// Commit returns a commit CSN, distinct from every other one, above every
// commit CSN and at or above every snapshot returned before this call
// began (so no such snapshot sees it).
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

// join adds the caller to the pending batch and waits for the answer to
// its request. For a commit, i is the caller's index in the batch.
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
		// The request may still be answered; the CSN it held for us is
		// skipped.
		if p := b.lastErr.Load(); p != nil {
			return nil, 0, pgerr.Wrap(fmt.Errorf("%w; last error: %w", ctx.Err(), *p),
				pgerr.ConnectionFailure, "GTM unreachable")
		}
		return nil, 0, fmt.Errorf("gtm client: waiting for CSN: %w", ctx.Err())
	}
}

// maxInFlight is how many batches a Client keeps on its stream at once.
// Two keep the leader busy while the answer to one travels back and the
// next batch fills; more split the callers into smaller batches, each
// request costing the same (three measured no faster, one about 20%
// slower, in BenchmarkGetCSN64).
const maxInFlight = 2

// loop runs streams to the leader, one at a time, until Close. A batch
// whose stream fails before it is answered is sent again on the next.
func (c *Client) loop() {
	var (
		conn     *grpc.ClientConn
		connAddr string
		stub     meridianpb.GTMClient
		retry    []*batch // taken batches waiting for (another) attempt, oldest first
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
		if b := c.take(); b != nil {
			retry = append(retry, b)
		}
		for _, b := range retry {
			b.finish(pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, ""))
		}
	}()
	backoff := minBackoff
	for {
		if len(retry) == 0 {
			// Idle: wait for a caller. Its batch is taken now, so that
			// the errors of the attempts to come are recorded on it.
			select {
			case <-c.ctx.Done():
				return
			case <-c.kick:
			}
			if b := c.take(); b != nil {
				retry = append(retry, b)
			}
		}
		retry = slices.DeleteFunc(retry, (*batch).abandoned)
		if c.ctx.Err() != nil {
			return
		}
		if len(retry) == 0 {
			continue
		}
		addr, changed := c.leader()
		if addr == "" {
			setLastErr(retry, ErrNoLeader)
			c.wait(changed, maxBackoff)
			continue
		}
		if addr != connAddr {
			if conn != nil {
				_ = conn.Close()
				conn, stub, connAddr = nil, nil, ""
			}
			cc, err := grpc.NewClient(addr, rpcconn.Options(
				// Fixed windows: no bandwidth-delay pings (see the server).
				grpc.WithInitialWindowSize(1<<20),
				grpc.WithInitialConnWindowSize(1<<20))...)
			if err != nil {
				setLastErr(retry, fmt.Errorf("dial GTM leader %s: %w", addr, err))
				c.wait(changed, maxBackoff)
				continue
			}
			conn, stub, connAddr = cc, meridianpb.NewGTMClient(cc), addr
		}
		var (
			err      error
			answered bool
		)
		retry, answered, err = c.stream(stub, addr, changed, retry)
		if answered {
			backoff = minBackoff
		}
		if err == nil { // the leader changed, or Close
			continue
		}
		err = fmt.Errorf("StreamCSN at %s: %w", addr, err)
		if !retryable(err) && len(retry) > 0 {
			// The GTM refused the oldest unanswered request; the others
			// may fare better.
			retry[0].finish(err)
			retry = retry[1:]
			continue
		}
		setLastErr(retry, err)
		// Redial on the next attempt: a fresh connection does not
		// inherit gRPC's reconnect backoff, which could keep failing a
		// GTM that is back at the same address.
		_ = conn.Close()
		conn, stub, connAddr = nil, nil, ""
		c.wait(changed, backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// take removes the pending batch, if any, for sending.
func (c *Client) take() *batch {
	c.mu.Lock()
	b := c.pending
	c.pending = nil
	c.mu.Unlock()
	if b != nil {
		c.stats.batches.Add(1)
	}
	return b
}

// flight is the state a stream's sender (loop) shares with its receiver.
type flight struct {
	sent     chan *batch   // sent and unanswered, oldest first; capacity maxInFlight
	answered atomic.Uint64 // answers received
	woken    atomic.Uint32 // callers of the last batch answered
	freed    chan struct{} // an answer was received; capacity 1
	done     chan struct{} // closed when the receiver stops
	failed   *batch        // set before done: a batch answered with nonsense
	err      error         // set before done: why the receiver stopped
}

// stream opens a StreamCSN to the leader and sends batches on it, at most
// maxInFlight unanswered at a time: first those of retry, then each
// pending batch as soon as a request may go out. It returns when the
// stream fails (err != nil), the leader changes or the Client closes,
// with the batches taken but not answered, oldest first; answered reports
// whether any request was.
//
// Every batch is sent after its callers joined it, and the leader
// answers requests in order from one counter, so a caller's CSN is above
// every CSN handed out before it called.
func (c *Client) stream(stub meridianpb.GTMClient, addr string, changed <-chan struct{}, retry []*batch) (unanswered []*batch, answered bool, err error) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	// Bound the opening like a request: a leader that does not accept
	// the stream in time is treated as unreachable.
	stopOpen := time.AfterFunc(c.cfg.RPCTimeout, cancel)
	var st csnStream
	if c.cfg.GRPCStream {
		st, err = stub.StreamCSN(ctx)
	} else {
		st, err = dialRaw(ctx, addr)
	}
	if !stopOpen.Stop() && err == nil {
		err = fmt.Errorf("opening the stream: %w", context.DeadlineExceeded)
	}
	if err != nil {
		c.stats.rpcs.Add(1)
		c.stats.failed.Add(1)
		return retry, false, pgerr.FromStatus(err)
	}
	f := &flight{
		sent:  make(chan *batch, maxInFlight),
		freed: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go receive(st, f)

	// end stops the receiver (unless it stopped) and collects the
	// unanswered batches.
	end := func(cause error) ([]*batch, bool, error) {
		cancel()
		<-f.done
		var lost []*batch
		if f.failed != nil {
			lost = append(lost, f.failed)
		}
		for len(f.sent) > 0 {
			lost = append(lost, <-f.sent)
		}
		c.stats.failed.Add(uint64(len(lost)))
		return append(lost, retry...), f.answered.Load() > 0, cause
	}

	tick := time.NewTicker(max(c.cfg.RPCTimeout/8, time.Millisecond))
	defer tick.Stop()
	var (
		n      uint64                 // requests sent
		sentAt [maxInFlight]time.Time // send time of request i at i%maxInFlight
	)
	send := func(b *batch) error {
		sentAt[n%maxInFlight] = time.Now()
		f.sent <- b // never blocks: fewer than maxInFlight are unanswered
		n++
		c.stats.rpcs.Add(1)
		return st.Send(&meridianpb.CSNRequest{CommitCount: b.commits})
	}
	for {
		var kick, freed <-chan struct{}
		if n-f.answered.Load() < maxInFlight {
			retry = slices.DeleteFunc(retry, (*batch).abandoned)
			if len(retry) > 0 {
				b := retry[0]
				retry = retry[1:]
				if err := send(b); err != nil {
					return end(sendErr(f, err))
				}
				continue
			}
			kick = c.kick
		} else {
			freed = f.freed
		}
		select {
		case <-kick:
			if f.woken.Load() > 1 {
				// The callers the receiver just woke are about to call
				// again: let them join this batch rather than the next.
				// Under load this nearly doubles the batch size; a lone
				// caller has no one to wait for.
				runtime.Gosched()
			}
			b := c.take()
			if b == nil || b.abandoned() {
				continue
			}
			if err := send(b); err != nil {
				return end(sendErr(f, err))
			}
		case <-freed:
		case <-f.done:
			return end(f.err)
		case <-changed:
			return end(nil)
		case <-c.ctx.Done():
			return end(nil)
		case <-tick.C:
			oldest := f.answered.Load()
			if oldest < n && time.Since(sentAt[oldest%maxInFlight]) > c.cfg.RPCTimeout {
				return end(pgerr.Wrap(fmt.Errorf("no answer within %v: %w", c.cfg.RPCTimeout, context.DeadlineExceeded),
					pgerr.ConnectionFailure, ""))
			}
		}
	}
}

// sendErr is the error that ended a stream a request could not be sent
// on. gRPC reports io.EOF when the stream has ended and leaves the reason
// to RecvMsg: then the receiver's error is the one.
func sendErr(f *flight, err error) error {
	if !errors.Is(err, io.EOF) {
		return pgerr.FromStatus(err)
	}
	<-f.done
	return f.err
}

// receive reads the answers of a stream, in request order, and wakes
// each batch's callers, until the stream fails.
func receive(st csnStream, f *flight) {
	defer close(f.done)
	var resp meridianpb.CSNResponse
	for {
		if err := st.RecvMsg(&resp); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream ended by the GTM")
			}
			f.err = pgerr.FromStatus(err)
			return
		}
		var b *batch
		select {
		case b = <-f.sent:
		default:
			f.err = errors.New("answer to no request")
			return
		}
		first, snap := resp.GetFirstCommitCsn(), resp.GetSnapshotCsn()
		if b.commits > 0 && (first == 0 || snap < first+uint64(b.commits)) {
			// Never hand out a CSN the GTM did not vouch for.
			f.failed = b
			f.err = fmt.Errorf("bad answer for %d commits: first %d, snapshot %d", b.commits, first, snap)
			return
		}
		b.first, b.snap = first, snap
		f.woken.Store(b.commits + b.snapshots)
		b.finish(nil)
		f.answered.Add(1)
		select {
		case f.freed <- struct{}{}:
		default:
		}
	}
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

// retryable reports whether a failed request may succeed if tried again,
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

// abandoned reports whether b's callers all gave up, and if so ends b.
func (b *batch) abandoned() bool {
	if b.waiting.Load() > 0 {
		return false
	}
	b.finish(errAbandoned) // nobody reads this
	return true
}

// setLastErr records err on each batch, for callers who give up.
func setLastErr(bs []*batch, err error) {
	for _, b := range bs {
		b.lastErr.Store(&err)
	}
}

// finish wakes b's callers with err (nil: the results are set).
func (b *batch) finish(err error) {
	b.err = err
	close(b.done)
}
