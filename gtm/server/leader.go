package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// run is the leader loop: campaign, serve a term, step down, again, until
// ctx is done. It owns every etcd session and term of the replica.
func (s *Server) run(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		err := s.lead(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = minBackoff
			continue
		}
		s.log.Warn("gtm leadership attempt ended", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

func (s *Server) etcdError(err error) error {
	s.lastErr.Store(&err)
	return err
}

// lead opens an etcd session, campaigns, and if elected serves one term.
// It returns when the term ends: nil after a normal step-down or when ctx
// is done, the error otherwise. On the way out it resigns and revokes the
// session lease, unless the replica is crashing.
func (s *Server) lead(ctx context.Context) error {
	grant, err := s.cli.Grant(ctx, s.cfg.LeaseTTL)
	if err != nil {
		return s.etcdError(fmt.Errorf("grant election lease: %w", err))
	}
	s.lastErr.Store(nil)
	sess, err := concurrency.NewSession(s.cli,
		concurrency.WithLease(grant.ID), concurrency.WithTTL(int(grant.TTL)), concurrency.WithContext(ctx))
	if err != nil {
		s.revoke(grant.ID)
		return s.etcdError(fmt.Errorf("election session: %w", err))
	}
	defer func() {
		sess.Orphan()
		if !s.crashed.Load() { // a dead process revokes nothing
			s.revoke(grant.ID)
		}
	}()

	elec := concurrency.NewElection(sess, s.keys.GTMLeader())
	if err := elec.Campaign(sess.Ctx(), s.addr); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return s.etcdError(fmt.Errorf("campaign: %w", err))
	}
	defer func() {
		if s.crashed.Load() {
			return
		}
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := elec.Resign(rctx); err != nil {
			s.log.Warn("resign", "err", err)
		}
	}()

	t := &term{
		s:        s,
		lease:    grant.ID,
		key:      elec.Key(),
		rev:      elec.Rev(),
		ttl:      time.Duration(grant.TTL) * time.Second,
		kick:     make(chan struct{}, 1),
		alloc:    NewAllocator(s.cfg.Window),
		advanced: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancelCause(sess.Ctx())
	defer t.cancel(nil)
	// Clients see the election key now; RPCs wait for begin rather than
	// bounce.
	s.setStarting(true)
	err = t.begin()
	s.setStarting(false)
	if err != nil {
		return err
	}
	s.log.Info("became GTM leader", "next_csn", t.alloc.Next(), "hwm", t.alloc.HWM(), "lease_ttl", t.ttl)
	t.wg.Add(3)
	go t.keepLease()
	go t.persistLoop()
	go t.watchKey()
	s.setTerm(t)
	s.m.terms.Inc()

	<-t.ctx.Done() // from here on t.serving() is false: no CSN goes out
	t.wg.Wait()
	s.setTerm(nil)
	cause := context.Cause(t.ctx)
	if ctx.Err() != nil {
		s.log.Info("GTM leadership given up: closing")
		return nil
	}
	s.log.Warn("GTM leadership lost", "cause", cause)
	return fmt.Errorf("term ended: %w", cause)
}

// revoke revokes the election lease, deleting the election key if the
// replica still has one. ctx of the leader loop may be done already.
func (s *Server) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.cli.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.log.Warn("revoke election lease", "err", err)
	}
}

// term is one leadership term of this replica: the allocator, the lease
// deadline, and the goroutines that keep them going (keepLease,
// persistLoop, watchKey). It ends when ctx is done; its cause says why.
type term struct {
	s     *Server
	lease clientv3.LeaseID
	key   string // election key; we lead while it exists with create revision rev
	rev   int64
	ttl   time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	// deadline (ns since s.epoch) is a lower bound of the time etcd
	// expires our lease: the send time of the last successful keepalive
	// plus the TTL, minus a margin for clock-rate drift. Serving is
	// allowed only before it.
	deadline atomic.Int64
	kick     chan struct{} // wakes persistLoop; capacity 1

	mu       sync.Mutex
	alloc    *Allocator
	advanced chan struct{} // closed and replaced when the hwm advances
	hwmRev   int64         // mod revision of gtm/hwm we last read or wrote; only begin and persistLoop use it
}

// begin checks that the election key is still ours while reading the
// stored hwm, resets the allocator there and persists a first window.
// A successor always starts at or above everything a predecessor may
// have handed out, because those were below the hwm it persisted.
func (t *term) begin() error {
	rctx, rcancel := context.WithTimeout(t.ctx, t.ttl)
	err := t.renew(rctx)
	rcancel()
	if err != nil {
		return err
	}
	s := t.s
	ctx, cancel := t.etcdCtx()
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)).
		Then(clientv3.OpGet(s.keys.GTMHWM())).
		Commit()
	if err != nil {
		return s.etcdError(fmt.Errorf("read hwm: %w", err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("read hwm: election key %s gone: %w", t.key, ErrNotLeader)
	}
	var stored uint64
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		stored, err = strconv.ParseUint(string(kvs[0].Value), 10, 64)
		if err != nil {
			return fmt.Errorf("stored hwm %q at %s: %w", kvs[0].Value, s.keys.GTMHWM(), err)
		}
		t.hwmRev = kvs[0].ModRevision
	}
	t.alloc.Reset(stored)
	target, _ := t.alloc.Persist()
	if err := t.store(target); err != nil {
		return err
	}
	t.alloc.Persisted(target)
	s.m.hwm.Set(float64(target))
	return nil
}

// now is the monotonic time since s.epoch.
func (t *term) now() int64 { return int64(time.Since(t.s.epoch)) }

// serving reports whether the term may still hand out CSNs.
func (t *term) serving() bool {
	return t.ctx.Err() == nil && t.now() < t.deadline.Load()
}

// etcdCtx bounds an etcd call of the term by the lease deadline: past it
// the call is pointless, as a successor may be elected.
func (t *term) etcdCtx() (context.Context, context.CancelFunc) {
	d := time.Duration(t.deadline.Load() - t.now())
	return context.WithDeadline(t.ctx, time.Now().Add(d))
}

// renew refreshes the lease once and moves the deadline.
func (t *term) renew(ctx context.Context) error {
	sent := t.now()
	resp, err := t.s.cli.KeepAliveOnce(ctx, t.lease)
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("renew lease: %w", ErrLeaseExpired)
		}
		return fmt.Errorf("renew lease: %w", err)
	}
	ttl := time.Duration(resp.TTL) * time.Second
	t.deadline.Store(sent + int64(ttl-ttl/10))
	t.s.lastErr.Store(nil)
	return nil
}

// keepLease renews the lease every quarter TTL and ends the term once it
// cannot do so before the deadline.
func (t *term) keepLease() {
	defer t.wg.Done()
	tick := time.NewTicker(t.ttl / 4)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := t.etcdCtx()
		err := t.renew(ctx)
		cancel()
		switch {
		case err == nil:
		case t.ctx.Err() != nil:
			return
		case errors.Is(err, ErrLeaseExpired) || t.now() >= t.deadline.Load():
			t.cancel(fmt.Errorf("%w: %w", ErrLeaseExpired, err))
			return
		default:
			t.s.log.Warn("renew leader lease", "err", err)
		}
	}
}

// watchKey ends the term when the election key is deleted or replaced
// (an operator deleting it, or the lease expiring behind our back).
func (t *term) watchKey() {
	defer t.wg.Done()
	s := t.s
	rev := t.rev
	for t.ctx.Err() == nil {
		wch := s.cli.Watch(clientv3.WithRequireLeader(t.ctx), t.key, clientv3.WithRev(rev+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || ev.Kv.CreateRevision != t.rev {
					t.cancel(fmt.Errorf("election key %s deleted or replaced: %w", t.key, ErrNotLeader))
					return
				}
				rev = ev.Kv.ModRevision
			}
		}
		if t.ctx.Err() != nil {
			return
		}
		// The watch broke: check the key directly, then watch again.
		ctx, cancel := t.etcdCtx()
		resp, err := s.cli.Get(ctx, t.key)
		cancel()
		switch {
		case err != nil:
			if t.ctx.Err() == nil {
				s.log.Warn("check election key", "err", err)
			}
			select {
			case <-t.ctx.Done():
			case <-time.After(minBackoff):
			}
		case len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != t.rev:
			t.cancel(fmt.Errorf("election key %s gone: %w", t.key, ErrNotLeader))
			return
		default:
			rev = resp.Header.Revision
		}
	}
}

// allocate is the hot path of GetCSN. When the window is too small it
// returns a channel that is closed once the hwm advances.
func (t *term) allocate(k uint32) (first, snap uint64, wait <-chan struct{}, err error) {
	t.mu.Lock()
	first, snap, err = t.alloc.Alloc(k)
	need := t.alloc.NeedPersist()
	if errors.Is(err, errWindowExhausted) {
		wait, err = t.advanced, nil
	}
	t.mu.Unlock()
	if need {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
	return first, snap, wait, err
}

// persistLoop writes the hwm the allocator asks for, ahead of need.
func (t *term) persistLoop() {
	defer t.wg.Done()
	s := t.s
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.kick:
		}
		for t.ctx.Err() == nil {
			t.mu.Lock()
			target, ok := t.alloc.Persist()
			t.mu.Unlock()
			if !ok {
				break
			}
			err := t.store(target)
			t.mu.Lock()
			if err == nil {
				t.alloc.Persisted(target)
				close(t.advanced)
				t.advanced = make(chan struct{})
			} else {
				t.alloc.PersistFailed()
			}
			t.mu.Unlock()
			if err == nil {
				s.m.hwm.Set(float64(target))
				continue
			}
			if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrHWMConflict) {
				t.cancel(err)
				return
			}
			if t.ctx.Err() == nil {
				s.log.Warn("persist hwm", "hwm", target, "err", err)
				select {
				case <-t.ctx.Done():
				case <-time.After(minBackoff):
				}
			}
		}
	}
}

// store writes hwm, provided the election key is still ours and nobody
// else wrote gtm/hwm since we last read or wrote it.
func (t *term) store(hwm uint64) error {
	s := t.s
	key := s.keys.GTMHWM()
	ctx, cancel := t.etcdCtx()
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev),
			clientv3.Compare(clientv3.ModRevision(key), "=", t.hwmRev)).
		Then(clientv3.OpPut(key, strconv.FormatUint(hwm, 10))).
		Else(clientv3.OpGet(t.key)).
		Commit()
	if err != nil {
		s.m.persists.WithLabelValues("error").Inc()
		return s.etcdError(fmt.Errorf("persist hwm %d: %w", hwm, err))
	}
	if !resp.Succeeded {
		s.m.persists.WithLabelValues("error").Inc()
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 || kvs[0].CreateRevision != t.rev {
			return fmt.Errorf("persist hwm %d: election key %s gone: %w", hwm, t.key, ErrNotLeader)
		}
		return fmt.Errorf("persist hwm %d: %w", hwm, ErrHWMConflict)
	}
	s.m.persists.WithLabelValues("ok").Inc()
	s.lastErr.Store(nil)
	t.hwmRev = resp.Header.Revision
	return nil
}
