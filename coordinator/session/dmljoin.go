package session

import (
	"context"
	"sort"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// rowTargetBatch is how many target rows an UPDATE or DELETE planned as a
// query sends to the datanodes at a time.
const rowTargetBatch = 2000

// runFromQuery runs an UPDATE or DELETE planned as a query (planner's
// RowSource): the query's rows name the target rows, each kept once (the
// first row that names it), and the datanodes change them in batches
// (RowTargets), re-checking access.Filter. It all runs in the session's
// transaction, or in one of its own. The batches share one command id,
// after the query's, so neither the query (still running) nor a batch sees
// the rows a batch changed (each row is changed once); under
// READ COMMITTED their snapshot is taken when the first batch is sent,
// after the query's: a row changed and committed in between is read in
// its new version and re-checked, as a concurrent update found by the
// write would be.
func (s *Session) runFromQuery(ctx context.Context, src *planner.RowSource, access planner.Access, returning []*planner.Expr,
	env *planner.BindEnv, verb string, global *meridianpb.TableDesc,
	mk func(target *meridianpb.ScanSpec, rows *meridianpb.RowTargets, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest) (rowIter, string, error) {
	t := access.Table
	if s.txn != nil && s.txn.readOnly {
		// Checked first: the statement may find no row to change.
		return nil, "", pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute %s in a read-only transaction", verb)
	}
	recheck, err := planner.Bind(access.Filter, env)
	if err != nil {
		return nil, "", err
	}
	ret, err := planner.BindAll(returning, env)
	if err != nil {
		return nil, "", err
	}
	extraOIDs := make([]uint32, len(src.Extras))
	for i, x := range src.Extras {
		extraOIDs[i] = x.OID
	}
	idWidth := 1
	if src.ByImage {
		idWidth = len(t.Columns)
	}
	var total int64
	var out [][]types.Datum
	var tc *meridianpb.TxnContext
	var ids, extras [][]byte // the batch's targets
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		snap := s.e.routes.Current()
		if tc == nil {
			var err error
			if tc, err = s.stmtTxn(ctx, max(len(snap.Groups()), 2), stmtWrite); err != nil {
				return err
			}
		}
		parts := map[uint32]*meridianpb.RowTargets{}
		part := func(g uint32) *meridianpb.RowTargets {
			if parts[g] == nil {
				parts[g] = &meridianpb.RowTargets{ExtraTypes: extraOIDs}
			}
			return parts[g]
		}
		var targets []target
		if src.ByImage {
			// Every copy of the table has the rows.
			all := &meridianpb.RowTargets{Images: ids, Extras: extras, ExtraTypes: extraOIDs}
			for _, g := range snap.Groups() {
				targets = append(targets, target{group: g})
				parts[g] = all
			}
		} else {
			for i, id := range ids {
				_, bucket, _, err := codec.DecodeRowKey(id)
				if err != nil {
					return pgerr.Wrap(err, pgerr.InternalError, "%s: bad row key", verb)
				}
				rt := part(snap.Owner(bucket))
				rt.RowKeys = append(rt.RowKeys, id)
				if len(extras) > 0 {
					rt.Extras = append(rt.Extras, extras[i])
				}
			}
			for g := range parts {
				targets = append(targets, target{group: g})
			}
			sort.Slice(targets, func(i, j int) bool { return targets[i].group < targets[j].group })
		}
		if len(targets) == 0 {
			return pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
		}
		_, n, rows, err := s.writeWith(ctx, snap, tc, targets, false, exprOIDs(ret), global,
			func(tg target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
				return mk(&meridianpb.ScanSpec{Table: t, Filter: recheck}, parts[tg.group], ret, tc)
			})
		if err != nil {
			return err
		}
		if src.ByImage {
			// Every copy changed the same rows: count one.
			n /= int64(len(targets))
			rows = rows[:len(rows)/len(targets)]
		}
		total += n
		out = append(out, rows...)
		ids, extras = nil, nil
		return nil
	}
	err = s.inTxn(ctx, env, func() error {
		it, err := s.runSelect(ctx, src.Query, env)
		if err != nil {
			return err
		}
		defer it.close()
		seen := map[string]bool{}
		for {
			row, err := it.next(ctx)
			if err != nil {
				return err
			}
			if row == nil {
				break
			}
			var id []byte
			if src.ByImage {
				id = codec.EncodeRow(nil, row[:idWidth])
			} else if id, _ = row[0].([]byte); id == nil {
				return pgerr.New(pgerr.InternalError, "%s: the query returned no row key", verb)
			}
			if seen[string(id)] {
				continue // another FROM row for the same target row
			}
			seen[string(id)] = true
			ids = append(ids, id)
			if len(extraOIDs) > 0 {
				extras = append(extras, codec.EncodeRow(nil, row[idWidth:]))
			}
			if len(ids) >= rowTargetBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return nil, "", err
	}
	return retIter(out, ret), verb + " " + itoa(total), nil
}
