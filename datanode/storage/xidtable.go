package storage

import (
	"sync"
)

// xidShards is the number of shards of the xid table; a power of two.
const xidShards = 64

// xidTable maps a local xid to its state. Live transactions (in progress,
// prepared, committing) are in active; committed ones, loaded at Open and
// added at commit, in committed. An xid in neither is aborted: either it
// aborted in this incarnation, or it was in progress (had no durable
// record) when the node stopped, or it was prepared and then aborted (its
// record was deleted). Every xid handed out in this incarnation is in
// active from creation until it commits or aborts, so "absent" cannot be
// mistaken for "in progress".
//
// committed grows with every committed transaction until the cleaner
// (clean.go) freezes the xid's versions (rewrites them as visible to all)
// and prunes the xid. frozenXID is not in the table: it reads as committed
// before every snapshot.
type xidTable struct {
	shards [xidShards]xidShard
}

type xidShard struct {
	mu        sync.RWMutex
	active    map[uint64]*Txn
	committed map[uint64]uint64 // xid -> csn
	_         [32]byte          // keep shards on separate cache lines
}

func (x *xidTable) init() {
	for i := range x.shards {
		x.shards[i].active = make(map[uint64]*Txn)
		x.shards[i].committed = make(map[uint64]uint64)
	}
}

func (x *xidTable) shard(xid uint64) *xidShard { return &x.shards[xid&(xidShards-1)] }

// xidStatus is what a reader learns about the writer of a version.
type xidStatus struct {
	state TxnState
	csn   uint64 // when committed
	txn   *Txn   // when live: wait on txn.done
	// idle: prepared by PREPARE TRANSACTION and not marked committing:
	// no commit CSN exists for it yet, so readers need not wait.
	idle bool
}

func (x *xidTable) lookup(xid uint64) xidStatus {
	if xid == frozenXID {
		return xidStatus{state: TxnCommitted} // before every snapshot
	}
	s := x.shard(xid)
	s.mu.RLock()
	t := s.active[xid]
	csn, committed := s.committed[xid]
	s.mu.RUnlock()
	switch {
	case t != nil:
		st := t.State()
		if st == TxnCommitted {
			return xidStatus{state: st, csn: t.csn.Load()}
		}
		return xidStatus{state: st, txn: t, idle: st == TxnPrepared && t.idle()}
	case committed:
		return xidStatus{state: TxnCommitted, csn: csn}
	default:
		return xidStatus{state: TxnAborted}
	}
}

func (x *xidTable) addActive(t *Txn) {
	s := x.shard(t.xid)
	s.mu.Lock()
	s.active[t.xid] = t
	s.mu.Unlock()
}

func (x *xidTable) addCommitted(xid, csn uint64) {
	s := x.shard(xid)
	s.mu.Lock()
	s.committed[xid] = csn
	s.mu.Unlock()
}

// finish moves xid out of active, into committed when committed.
func (x *xidTable) finish(xid uint64, committed bool, csn uint64) {
	s := x.shard(xid)
	s.mu.Lock()
	delete(s.active, xid)
	if committed {
		s.committed[xid] = csn
	}
	s.mu.Unlock()
}

// counts returns the number of live and committed xids in memory.
func (x *xidTable) counts() (active, committed int) {
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		active += len(s.active)
		committed += len(s.committed)
		s.mu.RUnlock()
	}
	return active, committed
}
