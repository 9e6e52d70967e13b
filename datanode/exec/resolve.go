package exec

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Outcome reports what became of a global transaction on this node.
func (x *Executor) Outcome(gxid uint64) (meridianpb.TxnState, uint64) {
	st, csn := x.st.Outcome(gxid)
	switch st {
	case storage.TxnInProgress:
		return meridianpb.TxnState_TXN_IN_PROGRESS, 0
	case storage.TxnPrepared:
		return meridianpb.TxnState_TXN_PREPARED, 0
	case storage.TxnCommitting:
		return meridianpb.TxnState_TXN_COMMITTING, 0
	case storage.TxnCommitted:
		return meridianpb.TxnState_TXN_COMMITTED, csn
	}
	return meridianpb.TxnState_TXN_ABORTED, 0
}

// StatusFunc asks the datanode group primary about a transaction.
type StatusFunc func(ctx context.Context, primary uint32, gxid uint64) (meridianpb.TxnState, uint64, error)

// Resolver finishes two-phase transactions left prepared on this node: a
// coordinator died, or this node restarted, between PREPARE and COMMIT.
//
// The primary participant's outcome is the transaction's (the coordinator
// commits it first). A prepared transaction older than After is resolved:
//
//	this node is its primary  → abort it (presumed abort: the coordinator
//	                            did not commit within After — or within
//	                            After+LiveCoordinatorGrace while it is still
//	                            registered; if it still tries, its COMMIT
//	                            fails and it aborts the rest)
//	else ask the primary      → committed@csn: commit at csn
//	                            aborted / unknown: abort
//	                            prepared / committing: ask again later
//	                            in progress: the coordinator never sent
//	                            the primary's commit (two-phase primaries
//	                            are not prepared, CommitAsPrimary); once
//	                            the coordinator is gone, or After +
//	                            LiveCoordinatorGrace has passed, have the
//	                            primary abort it (AbortAt; refused once its
//	                            commit began) and ask again
//
// It also rolls back orphans: in-progress transactions whose coordinator
// is gone (not registered) or restarted since (the transaction's id is
// older than the coordinator's first id), whose row locks would otherwise
// never be released.
//
// Transactions prepared by PREPARE TRANSACTION are never presumed
// aborted: the user decides them. Their record in etcd (package prepared)
// says what to do once they have been prepared for After:
//
//	no record, or another transaction's  abort (the record outlives every
//	                                      participant's prepare)
//	PREPARING                            its coordinator did not finish
//	                                      PREPARE TRANSACTION: swap to
//	                                      ABORTED, then finish
//	PREPARED                             nothing: the user decides
//	                                      (looked at again every After)
//	COMMIT_DECIDED, COMMITTED, ABORTED   decided, normally finished by the
//	                                      deciding coordinator at once; if
//	                                      still here After later, finish it
//	                                      (prepared.Finish)
type Resolver struct {
	X      *Executor
	Self   uint32 // this datanode's group
	After  time.Duration
	Status StatusFunc
	// AbortAt aborts a transaction on a datanode group (its primary);
	// nil: never.
	AbortAt func(ctx context.Context, group uint32, gxid uint64) error
	// Coordinators lists the live coordinators: number → first global
	// transaction counter of their current incarnation. nil: no orphan
	// check.
	Coordinators func(ctx context.Context) (map[uint32]uint64, error)
	Log          *slog.Logger
	// Xacts, Participants and CSNs resolve explicitly prepared
	// transactions; with Xacts nil they are left alone.
	Xacts        *prepared.Store
	Participants prepared.Participants
	CSNs         prepared.CSNSource

	orphanSince map[uint64]time.Time // candidates, until they have been orphans for After
	// Explicit transactions: when to look at the record again (PREPARED),
	// and since when a decided one has been seen unfinished.
	nextLook     map[uint64]time.Time
	decidedSince map[uint64]time.Time
}

// LiveCoordinatorGrace is how much longer than After a primary keeps a
// prepared transaction of a coordinator that is still registered before
// presuming it aborted.
const LiveCoordinatorGrace = 7 * time.Second

// Orphan reports whether an in-progress transaction's coordinator is gone
// or restarted, given the live coordinators (meta.Orphan).
func Orphan(gxid uint64, live map[uint32]uint64) bool { return meta.Orphan(gxid, live) }

// Run resolves every interval until ctx ends.
func (r *Resolver) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Once(ctx)
		}
	}
}

// Once makes one pass over the prepared and in-progress transactions.
func (r *Resolver) Once(ctx context.Context) {
	var liveCNs map[uint32]uint64
	if r.Coordinators != nil {
		if live, err := r.Coordinators(ctx); err == nil {
			liveCNs = live
			seen := map[uint64]time.Time{}
			for _, gxid := range r.X.st.InProgressTxns() {
				if !Orphan(gxid, live) {
					continue
				}
				// A coordinator can be briefly unregistered (a lost lease,
				// a start not yet registered): act only on a transaction
				// that has looked orphaned for After.
				since, ok := r.orphanSince[gxid]
				if !ok {
					since = time.Now()
				}
				seen[gxid] = since
				if time.Since(since) < r.After {
					continue
				}
				delete(seen, gxid)
				if t, ok := r.X.st.LookupTxn(gxid); ok && t.State() == storage.TxnInProgress {
					if err := t.Abort(); err == nil {
						r.Log.Warn("rolled back a transaction whose coordinator is gone", "gxid", gxid, "coordinator", gxid>>48)
					}
				}
			}
			r.orphanSince = seen
		}
	}
	live := map[uint64]bool{}
	for _, p := range r.X.st.PreparedTxns() {
		live[p.GXID] = true
		if time.Since(p.PreparedAt) < r.After {
			continue
		}
		t, ok := r.X.st.LookupTxn(p.GXID)
		if !ok {
			continue
		}
		if p.Explicit {
			r.explicit(ctx, p, t)
			continue
		}
		if p.Primary == r.Self || p.Primary == 0 {
			if liveCNs != nil && !Orphan(p.GXID, liveCNs) && time.Since(p.PreparedAt) < r.After+LiveCoordinatorGrace {
				// Its coordinator is alive: it may be waiting for the
				// commit CSN through a GTM failover (the GTM's lease TTL,
				// 3 s by default). Presuming abort now would fail a
				// commit that is about to happen.
				continue
			}
			if err := t.Abort(); err == nil {
				r.Log.Warn("aborted an in-doubt transaction this node decides", "gxid", p.GXID)
			}
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, csn, err := r.Status(cctx, p.Primary, p.GXID)
		if err == nil && st == meridianpb.TxnState_TXN_IN_PROGRESS && r.AbortAt != nil {
			coordinatorAlive := r.Coordinators != nil && (liveCNs == nil || !Orphan(p.GXID, liveCNs))
			if !coordinatorAlive || time.Since(p.PreparedAt) >= r.After+LiveCoordinatorGrace {
				if aerr := r.AbortAt(cctx, p.Primary, p.GXID); aerr == nil {
					r.Log.Warn("had the primary abort an in-doubt transaction whose commit never came", "gxid", p.GXID, "primary", p.Primary)
				}
				st, csn, err = r.Status(cctx, p.Primary, p.GXID)
			}
		}
		cancel()
		if err != nil {
			r.Log.Debug("in-doubt transaction: primary unreachable", "gxid", p.GXID, "primary", p.Primary, "err", err)
			continue
		}
		switch st {
		case meridianpb.TxnState_TXN_COMMITTED:
			if err := t.Commit(ctx, csn); err != nil {
				r.Log.Error("commit of an in-doubt transaction failed", "gxid", p.GXID, "err", err)
			} else {
				r.Log.Info("committed an in-doubt transaction", "gxid", p.GXID, "csn", csn)
			}
		case meridianpb.TxnState_TXN_ABORTED:
			if err := t.Abort(); err == nil {
				r.Log.Info("aborted an in-doubt transaction", "gxid", p.GXID)
			}
		}
	}
	for g := range r.nextLook {
		if !live[g] {
			delete(r.nextLook, g)
		}
	}
	for g := range r.decidedSince {
		if !live[g] {
			delete(r.decidedSince, g)
		}
	}
}

// explicit resolves, if its record says so, a transaction prepared by
// PREPARE TRANSACTION and prepared here for After (see Resolver).
func (r *Resolver) explicit(ctx context.Context, p storage.PreparedInfo, t *storage.Txn) {
	if r.Xacts == nil {
		return
	}
	now := time.Now()
	if next, ok := r.nextLook[p.GXID]; ok && now.Before(next) {
		return
	}
	if r.nextLook == nil {
		r.nextLook, r.decidedSince = map[uint64]time.Time{}, map[uint64]time.Time{}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec, rev, err := r.Xacts.Get(cctx, p.GID)
	if err != nil {
		r.Log.Debug("prepared transaction: record unreadable", "gid", p.GID, "err", err)
		return
	}
	switch {
	case rec == nil || rec.Gxid != p.GXID:
		if err := t.Abort(); err == nil {
			r.Log.Warn("aborted a prepared transaction that has no record", "gid", p.GID, "gxid", p.GXID)
		}
		return
	case rec.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARED:
		r.nextLook[p.GXID] = now.Add(r.After)
		return
	case rec.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARING:
		rec.State = meridianpb.PreparedXactState_PREPARED_XACT_ABORTED
		if ok, err := r.Xacts.Swap(cctx, rev, rec); err != nil || !ok {
			return // changed meanwhile: look again next time
		}
		r.Log.Warn("PREPARE TRANSACTION did not finish; aborting it", "gid", p.GID, "gxid", p.GXID)
	default:
		since, ok := r.decidedSince[p.GXID]
		if !ok {
			r.decidedSince[p.GXID] = now
			return
		}
		if now.Sub(since) < r.After {
			return
		}
	}
	state, err := prepared.Finish(cctx, r.Xacts, r.Participants, r.CSNs, p.GID, p.GXID)
	switch {
	case err == nil:
		r.Log.Info("finished a prepared transaction its coordinator left", "gid", p.GID, "gxid", p.GXID, "outcome", state)
	case errors.Is(err, prepared.ErrUnfinished):
		r.Log.Debug("prepared transaction not finished yet", "gid", p.GID, "err", err)
	default:
		r.Log.Warn("finish a prepared transaction", "gid", p.GID, "err", err)
	}
}
