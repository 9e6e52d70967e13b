package session

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Global unique indexes.
//
// A PRIMARY KEY or UNIQUE index of a hash-distributed table that does not
// contain every distribution column cannot be checked on the row's
// datanode: two rows with the same key may live on different ones. Such an
// index is *global* (TableDesc.global_indexes): its entries are placed by
// the hash of the index key, in that bucket, on the datanode owning it,
// so equal keys meet at one entry whatever rows they come from.
//
// A write statement on such a table runs in two steps inside one
// transaction:
//
//	1. the rows: Insert/Update/Delete on the rows' datanodes, which also
//	   maintain the local indexes and answer with the global entry changes
//	   the rows need (index_ops: insert the new key, delete the old one);
//	2. the entries: GlobalIndexWrite to the datanodes that own the entries'
//	   buckets (deletes before inserts), where a live entry of the key
//	   fails the insert with 23505 after waiting for an in-flight writer.
//
// Then it commits on every datanode it wrote on — two-phase commit as soon
// as that is more than one — so a row and its entries commit or abort
// together, and a concurrent insert of the same key through any
// coordinator either waits for the first writer's outcome or fails.

// isGlobal reports whether a unique index of t must be global.
func isGlobal(t *meridianpb.TableDesc, ix *meridianpb.IndexDesc) bool {
	if t.Dist != meridianpb.DistKind_DIST_HASH || !ix.Unique {
		return false
	}
	for _, d := range t.DistColumns {
		if !slices.Contains(ix.Columns, d) {
			return true
		}
	}
	return false
}

// globalTable returns t when a statement writing it must maintain global
// index entries, else nil.
func globalTable(t *meridianpb.TableDesc) *meridianpb.TableDesc {
	if len(t.GlobalIndexes) == 0 {
		return nil
	}
	return t
}

// touchesGlobal reports whether an UPDATE of columns cols may change a
// global index entry of t: its key, or the row key it points to (a
// clustered table's row moves when a column of its cluster index changes).
func touchesGlobal(t *meridianpb.TableDesc, cols []int32) bool {
	if len(t.GlobalIndexes) == 0 {
		return false
	}
	for _, ix := range t.Indexes {
		if ix.Id != t.ClusterIndex {
			continue
		}
		for _, c := range ix.Columns {
			if slices.Contains(cols, c) {
				return true
			}
		}
	}
	for _, ix := range t.GlobalIndexes {
		for _, c := range ix.Columns {
			if slices.Contains(cols, c) {
				return true
			}
		}
	}
	return false
}

// writeGlobal sends entry changes of t's global indexes to the datanodes
// that own their buckets, inside the transaction tc. It returns the groups
// it sent to (also on error: they hold part of the transaction and must be
// committed or aborted with it; the caller counts them as writers).
func (s *Session) writeGlobal(ctx context.Context, snap *routing.Snapshot, tc *meridianpb.TxnContext, t *meridianpb.TableDesc,
	ops []*meridianpb.GlobalIndexOp, build bool) ([]uint32, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	byGroup := map[uint32][]*meridianpb.GlobalIndexOp{}
	for _, op := range ops {
		g := snap.Owner(op.Bucket)
		byGroup[g] = append(byGroup[g], op)
	}
	groups := make([]uint32, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	targets := make([]target, len(groups))
	for i, g := range groups {
		targets[i] = target{group: g}
	}
	continues := s.continuing(targets)
	err := allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
		// Deletes first (each request applies its deletes first too), in
		// requests of a bounded size.
		ops := byGroup[g]
		sort.SliceStable(ops, func(i, j int) bool { return ops[i].Delete && !ops[j].Delete })
		cont := continues[g]
		for len(ops) > 0 {
			n := min(len(ops), maxOpsPerRequest)
			// After the first request the datanode knows the transaction.
			req := &meridianpb.ExecRequest{Txn: continued(tc, cont), Op: &meridianpb.ExecRequest_GlobalIndexWrite{GlobalIndexWrite: &meridianpb.GlobalIndexWrite{
				Table: t, Ops: ops[:n], Build: build}}}
			if _, err := s.e.execOn(ctx, snap, g, req, nil, discardRows); err != nil {
				return err
			}
			cont = true
			ops = ops[n:]
		}
		return nil
	})
	return groups, err
}

// maxOpsPerRequest bounds a GlobalIndexWrite request (a few MB).
const maxOpsPerRequest = 50000

func discardRows([]types.Datum) error { return nil }

// unionGroups merges two sorted-or-not group lists without repeats.
func unionGroups(a, b []uint32) []uint32 {
	out := append([]uint32(nil), a...)
	for _, g := range b {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// buildGlobalIndex fills a new global index ix of t (already in the
// catalog, so writers that see it maintain their own entries) with the
// entries of the rows committed so far, in a transaction of its own: each
// datanode reports its rows' entries at a fresh snapshot, and they are
// inserted where they belong. A duplicate fails the build with
// 23505 and aborts it, leaving no entry behind.
func (s *Session) buildGlobalIndex(ctx context.Context, t *meridianpb.TableDesc, ix *meridianpb.IndexDesc) error {
	snap := s.e.routes.Current()
	groups := snap.Groups()
	if len(groups) == 0 {
		return pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	csn, err := s.e.gtm.Snapshot(ctx)
	if err != nil {
		return err
	}
	read := &meridianpb.TxnContext{Coordinator: s.e.cfg.Name, CommandId: 1, SnapshotCsn: csn}
	var mu sync.Mutex
	var ops []*meridianpb.GlobalIndexOp
	err = allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
		req := &meridianpb.ExecRequest{Txn: read, Op: &meridianpb.ExecRequest_GlobalIndexEntries{
			GlobalIndexEntries: &meridianpb.GlobalIndexEntries{Table: t, IndexId: ix.Id}}}
		resp, err := s.e.execOn(ctx, snap, g, req, nil, discardRows)
		if err != nil {
			return err
		}
		mu.Lock()
		ops = append(ops, resp.IndexOps...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	gxid := s.e.newGxid()
	tc := &meridianpb.TxnContext{Coordinator: s.e.cfg.Name, CommandId: 1, Gxid: gxid, SnapshotCsn: csn}
	s.waitSettings(tc)
	wrote, err := s.writeGlobal(ctx, snap, tc, t, ops, true)
	if err != nil {
		s.abortGroups(gxid, wrote)
		return errTimeout(ctx, err)
	}
	return s.commitGroups(ctx, gxid, wrote, 0, nil)
}

// checkGlobalBuild refuses to build a global index inside a transaction
// block that has written: the build runs in a transaction of its own (DDL
// is not transactional) and could not see the block's uncommitted rows,
// which would then have no entries.
func (s *Session) checkGlobalBuild(ix *meridianpb.IndexDesc) error {
	if s.txn != nil && len(s.txn.writers) > 0 {
		return pgerr.Unsupported("creating unique index \"" + ix.Name + "\" without the distribution columns (a global index) in a transaction block that has written")
	}
	return nil
}

// dropNamed returns ixs without the index called name, which it stores in
// *dropped.
func dropNamed(ixs []*meridianpb.IndexDesc, name string, dropped **meridianpb.IndexDesc) []*meridianpb.IndexDesc {
	var out []*meridianpb.IndexDesc
	for _, ix := range ixs {
		if ix.Name == name {
			*dropped = ix
			continue
		}
		out = append(out, ix)
	}
	return out
}
