package session

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// write runs a write statement on targets inside the session's
// transaction (or its own, committed here), collecting RETURNING rows.
// global is the table when the statement maintains its global indexes
// (globalindex.go): the entry changes the rows' datanodes report are then
// written before the commit.
func (s *Session) write(ctx context.Context, snap *routing.Snapshot, targets []target, kind stmtKind, retOIDs []uint32,
	global *meridianpb.TableDesc, req func(t target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest) (int64, [][]types.Datum, error) {
	if len(targets) == 0 {
		return 0, nil, nil
	}
	tc, err := s.stmtTxn(ctx, len(targets), kind)
	if err != nil {
		return 0, nil, err
	}
	autocommit := s.txn == nil
	onePhase := autocommit && len(targets) == 1 && global == nil
	if s.txn != nil && kind == stmtWrite && len(targets) == 1 {
		s.txn.lastLocked = targets[0].group
	}
	groups, total, rows, err := s.writeWith(ctx, snap, tc, targets, onePhase, retOIDs, global, req)
	if err != nil {
		if autocommit && !onePhase {
			s.abortGroups(tc.Gxid, groups)
		}
		return 0, nil, err
	}
	if autocommit && !onePhase {
		if err := s.commitGroups(ctx, tc.Gxid, groups, 0, nil); err != nil {
			return 0, nil, err
		}
	}
	return total, rows, nil
}

// writeWith sends a write's requests to its targets in transaction tc
// (committing with the request when onePhase), then the global index
// entry changes they report. It returns the groups the transaction wrote
// on (also on error), the rows written and the RETURNING rows.
func (s *Session) writeWith(ctx context.Context, snap *routing.Snapshot, tc *meridianpb.TxnContext, targets []target, onePhase bool,
	retOIDs []uint32, global *meridianpb.TableDesc,
	req func(t target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest) ([]uint32, int64, [][]types.Datum, error) {
	continues := s.continuing(targets)
	s.noteWriters(targets)
	var mu sync.Mutex
	var total int64
	perGroup := map[uint32][][]types.Datum{}
	var indexOps []*meridianpb.GlobalIndexOp
	groups := make([]uint32, len(targets))
	byGroup := map[uint32]target{}
	for i, t := range targets {
		groups[i] = t.group
		byGroup[t.group] = t
	}
	err := allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
		r := req(byGroup[g], continued(tc, continues[g]))
		r.Commit = onePhase
		var local [][]types.Datum
		resp, err := s.e.execOn(ctx, snap, g, r, retOIDs, func(row []types.Datum) error {
			local = append(local, row)
			return nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		total += resp.RowsAffected
		perGroup[g] = local
		indexOps = append(indexOps, resp.IndexOps...)
		mu.Unlock()
		return nil
	})
	if err == nil && len(indexOps) > 0 {
		if global == nil {
			err = pgerr.New(pgerr.InternalError, "datanode reported global index entries for a statement that does not maintain them")
		} else {
			var more []uint32
			more, err = s.writeGlobal(ctx, snap, tc, global, indexOps, false)
			groups = unionGroups(groups, more)
			for _, g := range more {
				s.noteWriters([]target{{group: g}})
			}
		}
	}
	if err != nil {
		return groups, 0, nil, errTimeout(ctx, err)
	}
	// Returned rows in the targets' order, each target's in its own
	// order, whatever order the datanodes answered in (insertRows puts
	// them back in the VALUES order from there).
	var rows [][]types.Datum
	for _, t := range targets {
		rows = append(rows, perGroup[t.group]...)
	}
	return groups, total, rows, nil
}

func exprOIDs(es []*planner.Expr) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.TypeOid
	}
	return out
}

func retIter(rows [][]types.Datum, ret []*planner.Expr) rowIter {
	if len(ret) == 0 {
		return nil
	}
	return &sliceIter{rows: rows}
}

// insertRows routes full rows of t to datanodes and inserts them. An
// insert the caller lets defer may be held back (deferred.go); the
// transaction's held-back writes are sent before any other.
func (s *Session) insertRows(ctx context.Context, t *meridianpb.TableDesc, rows [][]types.Datum, ret []*planner.Expr, deferrable bool) (int64, [][]types.Datum, error) {
	for _, r := range rows {
		if err := checkNotNull(t, r); err != nil {
			return 0, nil, err
		}
	}
	snap := s.e.routes.Current()
	type part struct {
		rows    [][]byte
		buckets []uint32
		idx     []int // each row's place in rows
	}
	parts := map[uint32]*part{}
	groups := snap.Groups()
	if len(groups) == 0 {
		return 0, nil, pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	size := 0
	for i, r := range rows {
		enc := codec.EncodeRow(nil, r)
		size += len(enc)
		if t.Dist == meridianpb.DistKind_DIST_REPLICATION {
			for _, g := range groups {
				p := parts[g]
				if p == nil {
					p = &part{}
					parts[g] = p
				}
				p.rows = append(p.rows, enc)
				p.buckets = append(p.buckets, 0)
				p.idx = append(p.idx, i)
			}
			continue
		}
		vals := make([]types.Datum, len(t.DistColumns))
		for i, c := range t.DistColumns {
			vals[i] = r[c]
		}
		b := codec.Bucket(vals)
		g := snap.Owner(b)
		p := parts[g]
		if p == nil {
			p = &part{}
			parts[g] = p
		}
		p.rows = append(p.rows, enc)
		p.buckets = append(p.buckets, b)
		p.idx = append(p.idx, i)
	}
	var targets []target
	for g := range parts {
		targets = append(targets, target{group: g})
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].group < targets[j].group })
	req := func(tg target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
		p := parts[tg.group]
		return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
			Table: t, Rows: p.rows, Buckets: p.buckets, Returning: ret}}}
	}
	if deferrable && s.mayDefer(t, ret) {
		held, err := s.deferInsert(ctx, targets, size, req)
		if err != nil {
			return 0, nil, err
		}
		if held {
			return int64(len(rows)), nil, nil
		}
	}
	if err := s.flushDeferred(ctx); err != nil {
		return 0, nil, err
	}
	n, out, err := s.write(ctx, snap, targets, stmtInsert, exprOIDs(ret), globalTable(t), req)
	if t.Dist == meridianpb.DistKind_DIST_REPLICATION && len(groups) > 0 {
		n /= int64(len(groups))
		if len(ret) > 0 {
			out = out[:len(out)/len(groups)] // the first target's: all rows, in order
		}
	} else if err == nil && len(out) == len(rows) {
		// RETURNING in the order of the rows, as PostgreSQL (ORMs map
		// returned ids back to the objects by position): out holds each
		// target's rows in the order they were sent.
		ordered := make([][]types.Datum, len(rows))
		pos := 0
		for _, tg := range targets {
			for _, i := range parts[tg.group].idx {
				ordered[i] = out[pos]
				pos++
			}
		}
		out = ordered
	}
	return n, out, err
}

func checkNotNull(t *meridianpb.TableDesc, row []types.Datum) error {
	for i, c := range t.Columns {
		if c.NotNull && row[i] == nil {
			var shown []string
			for j, d := range row {
				if d == nil {
					shown = append(shown, "null")
				} else {
					shown = append(shown, types.FormatText(types.Type{OID: t.Columns[j].TypeOid, Typmod: t.Columns[j].Typmod}, d))
				}
			}
			return pgerr.New(pgerr.NotNullViolation, "null value in column %q of relation %q violates not-null constraint", c.Name, t.Name).
				WithDetail("Failing row contains (%s).", strings.Join(shown, ", "))
		}
	}
	return nil
}

func (s *Session) runInsert(ctx context.Context, p *planner.Plan, env *planner.BindEnv) (rowIter, string, error) {
	ins := p.Insert
	if ins.Source != nil {
		return s.runInsertSelect(ctx, ins, env)
	}
	rows := make([][]types.Datum, len(ins.Rows))
	for i, r := range ins.Rows {
		row := make([]types.Datum, len(r))
		for j, e := range r {
			b, err := planner.Bind(e, env)
			if err != nil {
				return nil, "", err
			}
			if b.Kind == meridianpb.ExprKind_EXPR_CONST {
				row[j], err = expr.ConstValue(b)
			} else {
				var ev expr.Eval
				if ev, err = s.compile(ctx, b); err == nil {
					row[j], err = ev(nil)
				}
			}
			if err != nil {
				return nil, "", err
			}
		}
		rows[i] = row
	}
	ret, err := planner.BindAll(ins.Returning, env)
	if err != nil {
		return nil, "", err
	}
	n, out, err := s.insertRows(ctx, ins.Table, rows, ret, true)
	if err != nil {
		return nil, "", err
	}
	return retIter(out, ret), "INSERT 0 " + itoa(n), nil
}

func (s *Session) runUpdate(ctx context.Context, p *planner.Plan, env *planner.BindEnv) (rowIter, string, error) {
	u := p.Update
	sets, err := planner.BindAll(u.SetExprs, env)
	if err != nil {
		return nil, "", err
	}
	setCols := make([]int32, len(u.SetCols))
	for i, c := range u.SetCols {
		setCols[i] = int32(c)
	}
	var global *meridianpb.TableDesc
	if touchesGlobal(u.Access.Table, setCols) {
		global = u.Access.Table
	}
	if u.Source != nil {
		return s.runFromQuery(ctx, u.Source, u.Access, u.Returning, env, "UPDATE", global,
			func(target *meridianpb.ScanSpec, rows *meridianpb.RowTargets, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
				return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
					Target: target, SetColumns: setCols, SetValues: sets, Returning: ret, Rows: rows}}}
			})
	}
	return s.runTargeted(ctx, u.Access, u.Returning, env, "UPDATE", global, func(target *meridianpb.ScanSpec, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
		return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
			Target: target, SetColumns: setCols, SetValues: sets, Returning: ret}}}
	})
}

func (s *Session) runDelete(ctx context.Context, p *planner.Plan, env *planner.BindEnv) (rowIter, string, error) {
	d := p.Delete
	if d.Source != nil {
		return s.runFromQuery(ctx, d.Source, d.Access, d.Returning, env, "DELETE", globalTable(d.Access.Table),
			func(target *meridianpb.ScanSpec, rows *meridianpb.RowTargets, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
				return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{Target: target, Returning: ret, Rows: rows}}}
			})
	}
	return s.runTargeted(ctx, d.Access, d.Returning, env, "DELETE", globalTable(d.Access.Table), func(target *meridianpb.ScanSpec, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
		return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{Target: target, Returning: ret}}}
	})
}

// runTargeted runs an UPDATE or DELETE: the rows its access path selects,
// on every datanode the route reaches (all of them for a replicated table,
// whose row count is then counted once). global: see write.
func (s *Session) runTargeted(ctx context.Context, access planner.Access, returning []*planner.Expr, env *planner.BindEnv, verb string,
	global *meridianpb.TableDesc,
	mk func(target *meridianpb.ScanSpec, ret []*planner.Expr, tc *meridianpb.TxnContext) *meridianpb.ExecRequest) (rowIter, string, error) {
	a, noRows, err := planner.BindAccess(access, env)
	if err != nil {
		return nil, "", err
	}
	ret, err := planner.BindAll(returning, env)
	if err != nil {
		return nil, "", err
	}
	snap := s.e.routes.Current()
	targets, err := route(snap, &a, true, 0)
	if err != nil {
		return nil, "", err
	}
	if noRows {
		targets = nil
	}
	n, out, err := s.write(ctx, snap, targets, stmtWrite, exprOIDs(ret), global, func(t target, tc *meridianpb.TxnContext) *meridianpb.ExecRequest {
		return mk(scanSpec(a, t, nil, 0), ret, tc)
	})
	if err != nil {
		return nil, "", err
	}
	if a.Table.Dist == meridianpb.DistKind_DIST_REPLICATION && len(targets) > 0 {
		n /= int64(len(targets))
		if len(ret) > 0 {
			out = out[:len(out)/len(targets)]
		}
	}
	return retIter(out, ret), verb + " " + itoa(n), nil
}

// runInsertSelect inserts a query's rows in batches, all in one
// transaction (the session's, or its own).
func (s *Session) runInsertSelect(ctx context.Context, ins *planner.Insert, env *planner.BindEnv) (rowIter, string, error) {
	ret, err := planner.BindAll(ins.Returning, env)
	if err != nil {
		return nil, "", err
	}
	conv := make([]expr.Eval, len(ins.SourceRow))
	for i, e := range ins.SourceRow {
		b, err := planner.Bind(e, env)
		if err != nil {
			return nil, "", err
		}
		if conv[i], err = s.compile(ctx, b); err != nil {
			return nil, "", err
		}
	}
	var total int64
	var out [][]types.Datum
	err = s.inTxn(ctx, env, func() error {
		src, err := s.runSelect(ctx, ins.Source, env)
		if err != nil {
			return err
		}
		defer src.close()
		const batchSize = 2000
		var batch [][]types.Datum
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			n, r, err := s.insertRows(ctx, ins.Table, batch, ret, false)
			total += n
			out = append(out, r...)
			batch = batch[:0]
			return err
		}
		for {
			in, err := src.next(ctx)
			if err != nil {
				return err
			}
			if in == nil {
				break
			}
			row := make([]types.Datum, len(conv))
			for i, c := range conv {
				if row[i], err = c(in); err != nil {
					return err
				}
			}
			batch = append(batch, row)
			if len(batch) >= batchSize {
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
	return retIter(out, ret), "INSERT 0 " + itoa(total), nil
}

// inTxn runs f inside the session's transaction, or inside one of its own
// that commits when f succeeds and rolls back when it fails (a statement
// made of several datanode writes: INSERT ... SELECT, COPY).
func (s *Session) inTxn(ctx context.Context, env *planner.BindEnv, f func() error) error {
	if s.txn != nil {
		return f()
	}
	iso, _ := parseIsolation(s.settings["default_transaction_isolation"])
	s.txn = &txn{writers: map[uint32]bool{}, start: env.Now, iso: iso}
	if err := f(); err != nil {
		s.rollback(context.Background())
		return err
	}
	_, err := s.commit(ctx)
	return err
}
