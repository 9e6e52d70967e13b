package session

import (
	"context"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/types"
)

// Deferred inserts.
//
// Inside a transaction block, an INSERT ... VALUES without RETURNING into a
// hash-distributed table that has no unique and no global index cannot be
// refused by a datanode for a reason of its rows: the coordinator checked
// their types and NOT NULL, there is no key to collide with and no lock to
// wait for (new rows get fresh row ids), and CHECK and FOREIGN KEY
// constraints do not exist. Such an insert is held back on the coordinator
// and sent before the transaction's next statement runs or, when COMMIT
// comes first, inside the PREPARE (or the one-phase COMMIT) of its
// datanodes: one round trip fewer per insert. In pgbench's TPC-B, whose
// INSERT into pgbench_history comes between the UPDATE of the hot branch
// row and COMMIT, the branch row's lock is held that much shorter.
//
// What a client sees differently: a datanode that fails such an insert
// (unreachable, restarted, out of disk) reports it at the transaction's
// next statement or at COMMIT, which then rolls back — as PostgreSQL
// reports a deferred constraint at COMMIT.

// maxDeferredBytes bounds the rows a transaction holds back; beyond it
// they are sent.
const maxDeferredBytes = 1 << 20

// deferredWrite is a held-back request for one datanode group.
type deferredWrite struct {
	group uint32
	req   *meridianpb.ExecRequest
}

// mayDefer reports whether an INSERT of rows into t may be held back.
func (s *Session) mayDefer(t *meridianpb.TableDesc, ret []*planner.Expr) bool {
	if s.txn == nil || s.txn.failed || len(ret) > 0 || t.Dist == meridianpb.DistKind_DIST_REPLICATION || len(t.GlobalIndexes) > 0 {
		return false
	}
	for _, ix := range t.Indexes {
		if ix.Unique {
			return false
		}
	}
	return true
}

// deferInsert holds back an insert of size bytes of rows on targets,
// whose request for a group req builds (as for write); false when they
// would pass the bound (the caller sends them instead, after the
// held-back ones).
func (s *Session) deferInsert(ctx context.Context, targets []target, size int,
	req func(t target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest) (bool, error) {
	if s.txn.deferredBytes+size > maxDeferredBytes {
		return false, nil
	}
	tc, err := s.stmtTxn(ctx, len(targets), stmtInsert)
	if err != nil {
		return true, err
	}
	continues := s.continuing(targets)
	s.noteWriters(targets)
	for _, tg := range targets {
		s.txn.deferred = append(s.txn.deferred, deferredWrite{group: tg.group, req: req(tg, continued(tc, continues[tg.group]))})
	}
	s.txn.deferredBytes += size
	return true, nil
}

// flushDeferred sends the transaction's held-back writes (each group's in
// order, the groups in parallel). On error the statement that flushes
// fails, and with it the transaction block.
func (s *Session) flushDeferred(ctx context.Context) error {
	byGroup := s.takeDeferred()
	if len(byGroup) == 0 {
		return nil
	}
	groups := make([]uint32, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	snap := s.e.routes.Current()
	err := allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
		for _, req := range byGroup[g] {
			if _, err := s.e.execOn(ctx, snap, g, req, nil, func([]types.Datum) error { return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	return errTimeout(ctx, err)
}

// takeDeferred returns the held-back writes by group, in order, and
// forgets them.
func (s *Session) takeDeferred() map[uint32][]*meridianpb.ExecRequest {
	if s.txn == nil || len(s.txn.deferred) == 0 {
		return nil
	}
	out := map[uint32][]*meridianpb.ExecRequest{}
	for _, d := range s.txn.deferred {
		out[d.group] = append(out[d.group], d.req)
	}
	s.txn.deferred, s.txn.deferredBytes = nil, 0
	return out
}

// dropDeferred forgets held-back writes of a transaction that rolls back.
func (s *Session) dropDeferred() {
	if s.txn != nil {
		s.txn.deferred, s.txn.deferredBytes = nil, 0
	}
}
