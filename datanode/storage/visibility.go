package storage

import (
	"context"
	"math"
)

// Latest is the snapshot CSN that sees every committed version: the
// visibility rule csn < Latest holds for every CSN the GTM hands out
// (Commit refuses math.MaxUint64).
const Latest uint64 = math.MaxUint64

// Snapshot selects the versions a read sees.
type Snapshot struct {
	// CSN: versions of transactions committed with a CSN below it are
	// visible. Latest sees everything committed.
	CSN uint64
	// Txn is the reading transaction, or nil. Its own versions are visible
	// when written by an earlier command.
	Txn *Txn
	// CommandID is the reading command: own versions with a smaller
	// command id are visible (a statement does not see its own writes).
	CommandID uint32
}

// verdict is the outcome of the visibility rule for one version.
type verdict uint8

const (
	invisible verdict = iota
	visible
	wait // the writer is prepared or committing: wait for it to end, then decide again
)

// decide is the visibility rule (pure): may snapshot snap see a version
// with header h whose writer has status st? st is not consulted for the
// snapshot's own versions.
//
//	writer                      verdict
//	snap.Txn itself             visible iff h.commandID < snap.CommandID
//	committed at csn c          visible iff c < snap.CSN
//	in progress                 invisible
//	prepared / committing       wait, then decide again
//	PREPARE TRANSACTION'd,      invisible (no CSN can exist for it before
//	  not marked committing       MarkCommitIntent; see there)
//	aborted (or unknown)        invisible
func decide(snap *Snapshot, h versionHeader, st xidStatus) verdict {
	if snap.Txn != nil && h.xid == snap.Txn.xid {
		if h.commandID < snap.CommandID {
			return visible
		}
		return invisible
	}
	switch st.state {
	case TxnCommitted:
		if st.csn < snap.CSN {
			return visible
		}
		return invisible
	case TxnPrepared, TxnCommitting:
		if st.idle {
			return invisible
		}
		return wait
	default: // in progress, aborted
		return invisible
	}
}

// statusCache remembers the last final (committed or aborted) status
// looked up, as consecutive versions often share a writer.
type statusCache struct {
	xid uint64
	st  xidStatus
	ok  bool
}

func (c *statusCache) lookup(e *Engine, xid uint64) xidStatus {
	if c.ok && c.xid == xid {
		return c.st
	}
	st := e.xidTab.lookup(xid)
	if st.state == TxnCommitted || st.state == TxnAborted {
		*c = statusCache{xid: xid, st: xidStatus{state: st.state, csn: st.csn}, ok: true}
	}
	return st
}

// isVisible applies decide, waiting for prepared and committing writers.
func (e *Engine) isVisible(ctx context.Context, snap *Snapshot, h versionHeader, cache *statusCache) (bool, error) {
	for {
		var st xidStatus
		if snap.Txn == nil || h.xid != snap.Txn.xid {
			st = cache.lookup(e, h.xid)
		}
		switch decide(snap, h, st) {
		case visible:
			return true, nil
		case invisible:
			return false, nil
		}
		if err := e.waitEnd(ctx, st.txn); err != nil {
			return false, err
		}
	}
}
