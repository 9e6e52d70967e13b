package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// DefaultDeadlockTimeout is how long a wait for a row lock lasts before it
// is checked for a deadlock, when the statement does not say (PostgreSQL's
// deadlock_timeout default).
const DefaultDeadlockTimeout = time.Second

// WaitOptions bound a statement's waits for row locks. The datanode's
// executor puts them in the statement's context (WithWaitOptions).
type WaitOptions struct {
	// LockTimeout fails a wait for one row lock that lasts longer, with
	// 55P03 (lock_timeout); 0 means no limit.
	LockTimeout time.Duration
	// DeadlockTimeout is how long a wait lasts before it is checked for a
	// deadlock (deadlock_timeout); 0 means DefaultDeadlockTimeout.
	DeadlockTimeout time.Duration
	// PID is the backend process id of the waiting session, for messages
	// and wait edges.
	PID int64
}

type waitOptionsKey struct{}

// WithWaitOptions returns ctx carrying o for the waits of the operations
// run under it.
func WithWaitOptions(ctx context.Context, o WaitOptions) context.Context {
	return context.WithValue(ctx, waitOptionsKey{}, o)
}

func waitOptions(ctx context.Context) WaitOptions {
	o, _ := ctx.Value(waitOptionsKey{}).(WaitOptions)
	if o.DeadlockTimeout <= 0 {
		o.DeadlockTimeout = DefaultDeadlockTimeout
	}
	return o
}

// waitInst is one wait of a transaction for another, from its start until
// the waiter gets what it waits for or gives up. While the waiter looks
// again and finds the same blocker it is the same wait (same id, same
// start), so a wait that is woken without being freed (a key's queue
// moved, a savepoint rolled back elsewhere) keeps its age.
type waitInst struct {
	id     uint64
	waiter *Txn
	holder *Txn
	start  time.Time
	opts   WaitOptions
	// broken receives the global deadlock detector's verdict (BreakWait).
	broken chan error
	// checked: the local deadlock check ran (once, at DeadlockTimeout).
	checked bool
}

// waitState is one acquisition's waiting, across its retries.
type waitState struct {
	first time.Time // when it first waited: lock_timeout counts from here
	inst  *waitInst
}

// done ends the acquisition's current wait.
func (ws *waitState) done(e *Engine) {
	if ws.inst != nil {
		e.unregisterWait(ws.inst)
		ws.inst = nil
	}
}

func (e *Engine) registerWait(waiter, holder *Txn, o WaitOptions, now time.Time) *waitInst {
	e.wmu.Lock()
	e.waitSeq++
	w := &waitInst{id: e.waitSeq, waiter: waiter, holder: holder, start: now, opts: o, broken: make(chan error, 1)}
	if e.waits == nil {
		e.waits = map[uint64]*waitInst{}
	}
	e.waits[w.id] = w
	e.wmu.Unlock()
	waiter.waiting.Store(w)
	return w
}

func (e *Engine) unregisterWait(w *waitInst) {
	e.wmu.Lock()
	delete(e.waits, w.id)
	e.wmu.Unlock()
	w.waiter.waiting.CompareAndSwap(w, nil)
}

// waitLock blocks waiter until blocker ends, changed or undo is closed
// (the key's locks changed, or a rollback to a savepoint may have freed
// it: the caller looks again), or the wait fails: ctx ends (57014), the
// engine closes, waiter aborts, lock_timeout passes (55P03), or a
// deadlock is found (40P01) — by the local check at deadlock_timeout or
// by the global detector (BreakWait).
func (e *Engine) waitLock(ctx context.Context, ws *waitState, waiter, blocker *Txn, changed, undo <-chan struct{}) error {
	select {
	case <-blocker.done:
		return nil
	default:
	}
	o := waitOptions(ctx)
	if o.PID != 0 {
		waiter.pid.Store(o.PID)
	}
	now := time.Now()
	if ws.first.IsZero() {
		ws.first = now
	}
	if ws.inst == nil || ws.inst.holder != blocker {
		ws.done(e)
		ws.inst = e.registerWait(waiter, blocker, o, now)
	}
	w := ws.inst
	e.metrics.Waits.Inc()
	if k := e.cfg.Knobs; k != nil && k.OnWait != nil {
		k.OnWait(blocker.xid)
	}
	var lockTimer <-chan time.Time
	if o.LockTimeout > 0 {
		d := o.LockTimeout - time.Since(ws.first)
		if d <= 0 {
			e.metrics.LockTimeouts.Inc()
			return errLockTimeout()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		lockTimer = t.C
	}
	var deadlockTimer <-chan time.Time
	if !w.checked {
		t := time.NewTimer(max(w.opts.DeadlockTimeout-time.Since(w.start), 0))
		defer t.Stop()
		deadlockTimer = t.C
	}
	for {
		select {
		case <-blocker.done:
			return nil
		case <-changed:
			return nil
		case <-undo:
			return nil
		case <-ctx.Done():
			return canceled(ctx)
		case <-e.closedCh:
			return errClosed()
		case <-waiter.done:
			return notActive(waiter, "wait")
		case err := <-w.broken:
			e.metrics.Deadlocks.Inc()
			return err
		case <-lockTimer:
			e.metrics.LockTimeouts.Inc()
			return errLockTimeout()
		case <-deadlockTimer:
			// As in PostgreSQL, the waiter whose deadlock_timeout expires
			// checks once whether it closes a cycle, and if so gives up.
			w.checked, deadlockTimer = true, nil
			if cycle := localCycle(w); cycle != nil {
				e.metrics.Deadlocks.Inc()
				return deadlockError(e.cfg.NodeNum, cycle)
			}
		}
	}
}

// waitEnd blocks until holder ends (a reader meeting a prepared or
// committing writer: not a lock wait), ctx ends or the engine closes.
func (e *Engine) waitEnd(ctx context.Context, holder *Txn) error {
	select {
	case <-holder.done:
		return nil
	default:
	}
	e.metrics.Waits.Inc()
	if k := e.cfg.Knobs; k != nil && k.OnWait != nil {
		k.OnWait(holder.xid)
	}
	select {
	case <-holder.done:
		return nil
	case <-ctx.Done():
		return canceled(ctx)
	case <-e.closedCh:
		return errClosed()
	}
}

// localCycle returns the waits of a cycle of transactions on this
// datanode that start's waiter closes, or nil. It walks the chain of
// waits twice and accepts the cycle only if every wait is the same in
// both walks: each one then lasted from the first walk to the second, so
// at one moment they all existed together (waits seen at different
// moments could otherwise form a cycle that never existed).
func localCycle(start *waitInst) []*waitInst {
	path := []*waitInst{start}
	h := start.holder
	for i := 0; ; i++ {
		if h == start.waiter {
			break
		}
		w := h.waiting.Load()
		if w == nil || i == maxWaitChain {
			return nil
		}
		path = append(path, w)
		h = w.holder
	}
	for _, w := range path {
		if w.waiter.waiting.Load() != w {
			return nil
		}
	}
	return path
}

// deadlockError is the 40P01 error of a cycle found on datanode node.
func deadlockError(node uint32, cycle []*waitInst) error {
	lines := make([]string, len(cycle))
	for i, w := range cycle {
		lines[i] = fmt.Sprintf("Process %d (transaction %d) waits for transaction %d on datanode %d; blocked by process %d.",
			w.opts.PID, w.waiter.gxid, w.holder.gxid, node, w.holder.pid.Load())
	}
	return DeadlockError(strings.Join(lines, "\n"))
}

// DeadlockError is the 40P01 error a deadlock victim gets; detail names
// the waits of the cycle.
func DeadlockError(detail string) error {
	e := pgerr.Wrap(ErrDeadlock, pgerr.DeadlockDetected, "")
	e.Message = "deadlock detected"
	return e.WithDetail("%s", detail)
}

// WaitEdge is a wait for a row lock in progress: transaction WaiterGXID
// waits for HolderGXID to end or to release the row.
type WaitEdge struct {
	// ID identifies this wait on this datanode: a new wait, even between
	// the same transactions, gets a new id.
	ID                     uint64
	WaiterGXID, HolderGXID uint64
	WaiterPID, HolderPID   int64
	// Waited is how long it has lasted.
	Waited time.Duration
	// DeadlockTimeout is the waiter's deadlock_timeout.
	DeadlockTimeout time.Duration
}

// WaitEdges lists the waits for row locks in progress (those whose holder
// has not ended yet), by id. With ids, only those still in progress.
func (e *Engine) WaitEdges(ids ...uint64) []WaitEdge {
	now := time.Now()
	e.wmu.Lock()
	var ws []*waitInst
	if len(ids) > 0 {
		for _, id := range ids {
			if w := e.waits[id]; w != nil {
				ws = append(ws, w)
			}
		}
	} else {
		for _, w := range e.waits {
			ws = append(ws, w)
		}
	}
	e.wmu.Unlock()
	out := make([]WaitEdge, 0, len(ws))
	for _, w := range ws {
		if w.holder.ended() || w.waiter.ended() {
			continue
		}
		out = append(out, WaitEdge{ID: w.id, WaiterGXID: w.waiter.gxid, HolderGXID: w.holder.gxid,
			WaiterPID: w.opts.PID, HolderPID: w.holder.pid.Load(), Waited: now.Sub(w.start), DeadlockTimeout: w.opts.DeadlockTimeout})
	}
	slices.SortFunc(out, func(a, b WaitEdge) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// BreakWait fails wait id, if it is still in progress, with err (the
// global deadlock detector's 40P01). It reports whether the wait was
// found.
func (e *Engine) BreakWait(id uint64, err error) bool {
	e.wmu.Lock()
	w := e.waits[id]
	e.wmu.Unlock()
	if w == nil || w.holder.ended() {
		return false
	}
	select {
	case w.broken <- err:
	default:
	}
	return true
}
