// Package horizon computes the cluster's snapshot horizon: a CSN below
// which no snapshot in use, or taken from now on, can be. The datanodes'
// old versions cleaner removes what no snapshot at or above it can see.
//
//	coordinator                          etcd                    datanode cleaner
//	 sessions ── Acquire/Set/Release      horizon/cn1 = 812        G := GTM Snapshot()
//	 Tracker: min(holds, floor) ──────▶   horizon/cn2 = 790  ───▶ H := min(G, horizon/*)
//	 Publisher (every second, lease)      (under each lease)       Clean(H)
//
// The rules that make it safe:
//
//   - A coordinator's published value never exceeds a snapshot its
//     sessions hold, or will take: a session registers a hold at the
//     coordinator's floor before it asks the GTM for a snapshot (the GTM's
//     snapshots only grow, so the answer is at least that floor) and keeps
//     it until its statement (READ COMMITTED) or transaction (REPEATABLE
//     READ) ends. The floor is a snapshot this coordinator saw returned:
//     the largest so far, refreshed by the publisher every interval.
//   - A statement that reads one datanode without a GTM snapshot (the
//     datanode's local snapshot, storage.Engine.LocalSnapshot) sends its
//     hold's value as the local snapshot's floor, so that snapshot is not
//     below the horizon either.
//   - A coordinator publishes 0 before it serves any statement, so one
//     that a computation did not see has not taken a snapshot yet.
//   - Compute asks the GTM for a snapshot G before it reads the published
//     values: a coordinator that publishes after the read takes its
//     snapshots after G was handed out, so they are at least G.
//
// Limit: a coordinator that loses its etcd lease (cut off from etcd for
// longer than the TTL) while its sessions hold snapshots drops out of the
// computation until it publishes again.
package horizon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/internal/meta"
)

// Snapshotter hands out GTM snapshots (the GTM client).
type Snapshotter interface {
	Snapshot(ctx context.Context) (uint64, error)
}

// Tracker is a coordinator's set of held snapshots. Safe for concurrent
// use.
type Tracker struct {
	floor atomic.Uint64
	mu    sync.Mutex
	holds map[*Hold]struct{}
}

// Hold is one registered snapshot (or placeholder).
type Hold struct {
	csn uint64 // guarded by Tracker.mu
}

// NewTracker returns an empty tracker with floor 0.
func NewTracker() *Tracker { return &Tracker{holds: map[*Hold]struct{}{}} }

// Acquire registers a hold at the current floor, which it returns: every
// GTM snapshot asked for from now on is at least that.
func (t *Tracker) Acquire() (*Hold, uint64) {
	t.mu.Lock()
	h := &Hold{csn: t.floor.Load()}
	t.holds[h] = struct{}{}
	t.mu.Unlock()
	return h, h.csn
}

// Set raises h to the snapshot it got (and the floor with it).
func (t *Tracker) Set(h *Hold, csn uint64) {
	t.Observe(csn)
	t.mu.Lock()
	if csn > h.csn {
		h.csn = csn
	}
	t.mu.Unlock()
}

// Release drops h; releasing twice is harmless.
func (t *Tracker) Release(h *Hold) {
	t.mu.Lock()
	delete(t.holds, h)
	t.mu.Unlock()
}

// Observe raises the floor to csn, a snapshot the GTM returned.
func (t *Tracker) Observe(csn uint64) {
	for {
		cur := t.floor.Load()
		if csn <= cur || t.floor.CompareAndSwap(cur, csn) {
			return
		}
	}
}

// Oldest is the smallest snapshot a session holds or may take: the
// value to publish.
func (t *Tracker) Oldest() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.floor.Load()
	for h := range t.holds {
		v = min(v, h.csn)
	}
	return v
}

// Holds is the number of holds (tests, metrics).
func (t *Tracker) Holds() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.holds)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Etcd     *clientv3.Client // owned by the caller
	Keys     meta.Keys
	Node     string // the coordinator's name: horizon/<node>
	Tracker  *Tracker
	GTM      Snapshotter
	Interval time.Duration // default 1 s
	TTL      int64         // lease TTL in seconds, default 5
	Log      *slog.Logger
}

// Publisher keeps horizon/<node> at the tracker's oldest snapshot.
type Publisher struct {
	cfg    PublisherConfig
	mu     sync.Mutex // one publication at a time
	lease  clientv3.LeaseID
	last   uint64 // the value last published
	cancel context.CancelFunc
	done   chan struct{}
}

// Publish writes 0 under a fresh lease (bounded by ctx) and starts the
// goroutine that refreshes the floor from the GTM and publishes the
// oldest snapshot every interval, until Close.
func Publish(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &Publisher{cfg: cfg, done: make(chan struct{})}
	if err := p.grant(ctx, 0); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.loop(lctx)
	return p, nil
}

// grant takes a new lease and writes v under it.
func (p *Publisher) grant(ctx context.Context, v uint64) error {
	l, err := p.cfg.Etcd.Grant(ctx, p.cfg.TTL)
	if err != nil {
		return fmt.Errorf("horizon: grant lease: %w", err)
	}
	if _, err := p.cfg.Etcd.Put(ctx, p.cfg.Keys.Horizon(p.cfg.Node), strconv.FormatUint(v, 10), clientv3.WithLease(l.ID)); err != nil {
		return fmt.Errorf("horizon: publish: %w", err)
	}
	p.lease = l.ID
	return nil
}

func (p *Publisher) loop(ctx context.Context) {
	defer close(p.done)
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = p.cfg.Etcd.Revoke(rctx, p.lease)
		cancel()
	}()
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	keepEvery := time.Duration(p.cfg.TTL) * time.Second / 3
	lastKeep := time.Now()
	for {
		ectx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
		var err error
		if time.Since(lastKeep) >= keepEvery {
			if _, err = p.cfg.Etcd.KeepAliveOnce(ectx, p.lease); err == nil {
				lastKeep = time.Now()
			}
		}
		if err == nil {
			err = p.Now(ectx)
		}
		if err != nil && ctx.Err() == nil {
			// The lease may be gone: publish again under a new one.
			p.cfg.Log.Warn("publishing the snapshot horizon", "err", err)
			p.mu.Lock()
			if err = p.grant(ectx, p.cfg.Tracker.Oldest()); err != nil {
				p.cfg.Log.Warn("publishing the snapshot horizon under a new lease", "err", err)
			} else {
				lastKeep = time.Now()
			}
			p.mu.Unlock()
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Now refreshes the floor from the GTM and publishes the oldest snapshot
// at once (VACUUM does, so that what just ended here no longer holds the
// horizon back).
func (p *Publisher) Now(ctx context.Context) error {
	if snap, err := p.cfg.GTM.Snapshot(ctx); err == nil {
		p.cfg.Tracker.Observe(snap)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.cfg.Tracker.Oldest()
	if v == p.last {
		return nil
	}
	if _, err := p.cfg.Etcd.Put(ctx, p.cfg.Keys.Horizon(p.cfg.Node), strconv.FormatUint(v, 10), clientv3.WithLease(p.lease)); err != nil {
		return fmt.Errorf("horizon: publish: %w", err)
	}
	p.last = v
	return nil
}

// Close stops publishing and revokes the lease (the key goes with it).
func (p *Publisher) Close() {
	p.cancel()
	<-p.done
}

// Compute returns the cluster's horizon: the smallest of a GTM snapshot
// taken first and every coordinator's published value.
func Compute(ctx context.Context, cli *clientv3.Client, keys meta.Keys, gtm Snapshotter) (uint64, error) {
	h, err := gtm.Snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("horizon: GTM snapshot: %w", err)
	}
	resp, err := cli.Get(ctx, keys.Horizons(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("horizon: read %s: %w", keys.Horizons(), err)
	}
	for _, kv := range resp.Kvs {
		v, err := strconv.ParseUint(string(kv.Value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("horizon: %s = %q: %w", kv.Key, kv.Value, err)
		}
		h = min(h, v)
	}
	if h == math.MaxUint64 {
		h = 0
	}
	return h, nil
}
