package session

import (
	"context"
	"sort"
	"strings"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// bindAccess binds an access path's values and folds each routing and
// index value to a constant of its column's type. A value that the column
// cannot hold exactly (12345 for numeric(3,2), a string longer than
// varchar(n)) matches no row: it is dropped from the routing values, and
// an index lookup with it finds nothing (noRows).
func bindAccess(a planner.Access, env *planner.BindEnv) (b planner.Access, noRows bool, err error) {
	if a.Filter, err = planner.Bind(a.Filter, env); err != nil {
		return a, false, err
	}
	if a.IndexID != 0 {
		ix := indexOf(a.Table, a.IndexID)
		eq := make([]*planner.Expr, len(a.IndexEq))
		for i, v := range a.IndexEq {
			c, ok, err := columnConst(v, a.Table.Columns[ix.Columns[i]], env)
			if err != nil {
				return a, false, err
			}
			if !ok {
				noRows = true
			}
			eq[i] = c
		}
		a.IndexEq = eq
	}
	if a.Route.DistValues != nil {
		dv := make([][]*planner.Expr, len(a.Route.DistValues))
		for i, vals := range a.Route.DistValues {
			col := a.Table.Columns[a.Table.DistColumns[i]]
			for _, v := range vals {
				c, ok, err := columnConst(v, col, env)
				if err != nil {
					return a, false, err
				}
				if ok {
					dv[i] = append(dv[i], c)
				}
			}
			if len(dv[i]) == 0 {
				noRows = true
			}
		}
		a.Route.DistValues = dv
	}
	return a, noRows, nil
}

func indexOf(t *meridianpb.TableDesc, id uint32) *meridianpb.IndexDesc {
	for _, ix := range t.Indexes {
		if ix.Id == id {
			return ix
		}
	}
	return nil
}

// columnConst evaluates a value expression (no column references) and
// converts it to the column's type; ok = false when the value is NULL or
// the column cannot hold it exactly, so no row can equal it.
func columnConst(v *planner.Expr, col *meridianpb.ColumnDesc, env *planner.BindEnv) (*planner.Expr, bool, error) {
	b, err := planner.Bind(v, env)
	if err != nil {
		return nil, false, err
	}
	var d types.Datum
	if b.Kind == meridianpb.ExprKind_EXPR_CONST {
		d, err = expr.ConstValue(b)
	} else {
		var ev expr.Eval
		if ev, err = expr.Compile(b); err == nil {
			d, err = ev(nil)
		}
	}
	if err != nil {
		return nil, false, err
	}
	t := types.Type{OID: col.TypeOid, Typmod: col.Typmod}
	if d == nil {
		return expr.Const(t, nil), false, nil
	}
	c, err := types.Coerce(t, d)
	if err != nil || !sameValue(t, d, c) {
		return expr.Const(t, nil), false, nil
	}
	return expr.Const(t, c), true, nil
}

// sameValue reports whether coercion kept the value (char(n) padding and
// numeric scale do not change it).
func sameValue(t types.Type, a, b types.Datum) bool {
	if t.OID == types.Bpchar {
		return strings.TrimRight(a.(string), " ") == strings.TrimRight(b.(string), " ")
	}
	return types.Compare(a, b) == 0
}

func scanSpec(a planner.Access, t target, projection []*planner.Expr, limit int64) *meridianpb.ScanSpec {
	return &meridianpb.ScanSpec{Table: a.Table, Buckets: t.buckets, IndexId: a.IndexID, IndexEq: a.IndexEq,
		Filter: a.Filter, Projection: projection, Limit: limit}
}

func constInt(e *planner.Expr, what string) (int64, error) {
	if e == nil {
		return -1, nil
	}
	v, err := expr.Compile(e)
	if err != nil {
		return 0, err
	}
	d, err := v(nil)
	if err != nil {
		return 0, err
	}
	if d == nil {
		return -1, nil
	}
	n := d.(int64)
	if n < 0 {
		code := "2201W" // invalid_row_count_in_limit_clause
		if what == "OFFSET" {
			code = "2201X" // invalid_row_count_in_result_offset_clause
		}
		return 0, pgerr.New(code, "%s must not be negative", what)
	}
	return n, nil
}

// scanIter reads one scan from the datanodes of a route.
func (s *Session) scanIter(ctx context.Context, env *planner.BindEnv, snap *routing.Snapshot, targets []target, a planner.Access, cols []int, limit int64, orderBy []*meridianpb.SortKey) (rowIter, error) {
	proj, oids := scanProjection(a.Table, cols)
	tc, err := s.readTxn(ctx, env, len(targets))
	if err != nil {
		return nil, err
	}
	return s.fanout(ctx, snap, targets, oids, func(t target) *meridianpb.ExecRequest {
		spec := scanSpec(a, t, proj, limit)
		spec.OrderBy = orderBy
		return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Scan{Scan: spec}}
	})
}

// fanoutIter merges rows streamed from several datanodes.
type fanoutIter struct {
	cancel context.CancelFunc
	ch     chan batchOrErr
	cur    [][]types.Datum
	i      int
	open   int
}

type batchOrErr struct {
	rows [][]types.Datum
	err  error
	done bool
}

func (s *Session) fanout(ctx context.Context, snap *routing.Snapshot, targets []target, oids []uint32, req func(target) *meridianpb.ExecRequest) (rowIter, error) {
	if len(targets) == 1 {
		r := req(targets[0])
		if smallResult(r) {
			var rows [][]types.Datum
			if _, err := s.e.execOn(ctx, snap, targets[0].group, r, oids, func(row []types.Datum) error {
				rows = append(rows, row)
				return nil
			}); err != nil {
				return nil, errTimeout(ctx, err)
			}
			return &sliceIter{rows: rows}, nil
		}
		return s.streamFrom(ctx, snap, targets[0], oids, r)
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &fanoutIter{cancel: cancel, ch: make(chan batchOrErr, 4*len(targets)), open: len(targets)}
	for _, t := range targets {
		go func(t target) {
			var batch [][]types.Datum
			_, err := s.e.execOn(ctx, snap, t.group, req(t), oids, func(row []types.Datum) error {
				batch = append(batch, row)
				if len(batch) >= 256 {
					select {
					case it.ch <- batchOrErr{rows: batch}:
					case <-ctx.Done():
						return ctx.Err()
					}
					batch = nil
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				select {
				case it.ch <- batchOrErr{rows: batch}:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			select {
			case it.ch <- batchOrErr{err: err, done: true}:
			case <-ctx.Done():
			}
		}(t)
	}
	return it, nil
}

func (it *fanoutIter) next(ctx context.Context) ([]types.Datum, error) {
	for it.i >= len(it.cur) {
		if it.open == 0 {
			return nil, nil
		}
		select {
		case b := <-it.ch:
			if b.done {
				it.open--
				if b.err != nil {
					it.close()
					return nil, errTimeout(ctx, b.err)
				}
				continue
			}
			it.cur, it.i = b.rows, 0
		case <-ctx.Done():
			it.close()
			return nil, errTimeout(ctx, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request"))
		}
	}
	it.i++
	return it.cur[it.i-1], nil
}

func (it *fanoutIter) close() {
	it.cancel()
	it.open = 0
}

// runSelect runs a query and returns its rows.
func (s *Session) runSelect(ctx context.Context, sel *planner.Select, env *planner.BindEnv) (rowIter, error) {
	var berr error
	limit, err := constInt(mustBind(sel.Limit, env, &berr), "LIMIT")
	if err != nil {
		return nil, err
	}
	offset, err := constInt(mustBind(sel.Offset, env, &berr), "OFFSET")
	if err != nil {
		return nil, err
	}
	if berr != nil {
		return nil, berr
	}
	if offset < 0 {
		offset = 0
	}
	b := newBlockRun(ctx, s, sel, env)
	if len(sel.Subqueries) > 0 {
		// Each subquery is a scan of its own: one snapshot for all.
		env.Memo[multiScan{}] = true
	}
	var src rowIter
	switch {
	case sel.From != nil:
		env.Memo[multiScan{}] = true
		if src, err = b.rel(ctx, sel.From); err != nil {
			return nil, err
		}
	case sel.Access.Table == nil:
		src = &sliceIter{rows: [][]types.Datum{{}}}
	default:
		a, noRows, err := bindAccess(sel.Access, env)
		if err != nil {
			return nil, err
		}
		if noRows && !sel.HasAgg {
			return &sliceIter{}, nil
		}
		snap := s.e.routes.Current()
		s.pick++
		targets, err := route(snap, &a, false, s.pick)
		if err != nil {
			return nil, err
		}
		push := int64(0)
		if sel.PushLimit && limit >= 0 {
			push = limit + offset
			if push == 0 {
				return &sliceIter{}, nil
			}
		}
		switch {
		case sel.PushAgg:
			if noRows {
				targets = nil
			}
			rows, err := s.aggregatePushed(ctx, snap, targets, a, sel, env, b.compile)
			if err != nil {
				return nil, err
			}
			src = &sliceIter{rows: rows}
		case len(targets) == 0 || noRows:
			src = &sliceIter{}
		default:
			var orderBy []*meridianpb.SortKey
			if len(sel.DNOrderBy) > 0 && limit >= 0 {
				// Top-N on each datanode: the first LIMIT+OFFSET rows in order.
				push = limit + offset
				if push == 0 {
					return &sliceIter{}, nil
				}
				if orderBy, err = bindSortKeys(sel.DNOrderBy, env); err != nil {
					return nil, err
				}
			}
			if src, err = s.scanOrLock(ctx, env, snap, targets, a, sel, push, orderBy); err != nil {
				return nil, err
			}
		}
	}
	outs, err := b.compileAll(sel.Output)
	if err != nil {
		src.close()
		return nil, err
	}
	if sel.HasAgg && !sel.PushAgg {
		rows, err := s.aggregate(ctx, sel, src, b.compile)
		if err != nil {
			return nil, err
		}
		src = &sliceIter{rows: rows}
	}
	if len(sel.Windows) > 0 {
		rows, err := drainRows(ctx, src)
		if err != nil {
			return nil, err
		}
		if rows, err = b.windows(rows); err != nil {
			return nil, err
		}
		src = &sliceIter{rows: rows}
	}
	p := &pipeIter{src: src, outs: outs, visible: sel.Visible, offset: offset, limit: limit}
	if !sel.Distinct && len(sel.Sort) == 0 {
		return p, nil
	}
	// Materialize for DISTINCT / ORDER BY.
	p.offset, p.limit = 0, -1
	p.visible = len(sel.Output)
	var rows [][]types.Datum
	for {
		r, err := p.next(ctx)
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		rows = append(rows, r)
	}
	if sel.Distinct {
		seen := map[string]bool{}
		out := rows[:0]
		for _, r := range rows {
			if k := rowKey(r[:sel.Visible]); !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
		rows = out
	}
	if len(sel.Sort) > 0 {
		sort.SliceStable(rows, func(i, j int) bool { return less(sel.Sort, rows[i], rows[j]) })
	}
	for i, r := range rows {
		rows[i] = r[:sel.Visible]
	}
	if offset > 0 {
		if offset >= int64(len(rows)) {
			rows = nil
		} else {
			rows = rows[offset:]
		}
	}
	if limit >= 0 && limit < int64(len(rows)) {
		rows = rows[:limit]
	}
	return &sliceIter{rows: rows}, nil
}

func mustBind(e *planner.Expr, env *planner.BindEnv, errp *error) *planner.Expr {
	b, err := planner.Bind(e, env)
	if err != nil {
		*errp = err
	}
	return b
}

func less(keys []planner.SortKey, a, b []types.Datum) bool {
	for _, k := range keys {
		x, y := a[k.Col], b[k.Col]
		var c int
		switch {
		case x == nil && y == nil:
			c = 0
		case x == nil:
			if k.NullsFirst {
				return true
			}
			return false
		case y == nil:
			return k.NullsFirst == false
		default:
			c = types.Compare(x, y)
			if k.Desc {
				c = -c
			}
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

// pipeIter evaluates output expressions and applies OFFSET/LIMIT.
type pipeIter struct {
	src           rowIter
	outs          []expr.Eval
	visible       int
	offset, limit int64
	n             int64
}

func (p *pipeIter) next(ctx context.Context) ([]types.Datum, error) {
	for {
		if p.limit >= 0 && p.n >= p.limit {
			p.src.close()
			return nil, nil
		}
		in, err := p.src.next(ctx)
		if err != nil || in == nil {
			return nil, err
		}
		if p.offset > 0 {
			p.offset--
			continue
		}
		out := make([]types.Datum, len(p.outs))
		for i, o := range p.outs {
			if out[i], err = o(in); err != nil {
				p.src.close()
				return nil, err
			}
		}
		p.n++
		return out[:max(p.visible, 0)], nil
	}
}

func (p *pipeIter) close() { p.src.close() }

// streamIter reads one datanode's stream in the caller's goroutine.
type streamIter struct {
	cancel context.CancelFunc
	stream meridianpb.DataNode_ExecClient
	oids   []uint32
	rows   [][]byte
	i      int
	done   bool
}

func (s *Session) streamFrom(ctx context.Context, snap *routing.Snapshot, t target, oids []uint32, req *meridianpb.ExecRequest) (rowIter, error) {
	c, err := s.e.dn(snap, t.group)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Exec(ctx, req)
	if err != nil {
		cancel()
		return nil, pgerr.FromStatus(err)
	}
	return &streamIter{cancel: cancel, stream: stream, oids: oids}, nil
}

func (it *streamIter) next(ctx context.Context) ([]types.Datum, error) {
	for it.i >= len(it.rows) {
		if it.done {
			return nil, nil
		}
		resp, err := it.stream.Recv()
		if err != nil {
			it.close()
			return nil, errTimeout(ctx, pgerr.FromStatus(err))
		}
		it.rows, it.i, it.done = resp.Rows, 0, resp.Done
	}
	it.i++
	row, err := decodeRow(it.oids, it.rows[it.i-1])
	if err != nil {
		it.close()
		return nil, err
	}
	return row, nil
}

func (it *streamIter) close() {
	if it.cancel != nil {
		it.cancel()
	}
	it.done, it.rows = true, nil
}

func bindSortKeys(keys []*meridianpb.SortKey, env *planner.BindEnv) ([]*meridianpb.SortKey, error) {
	out := make([]*meridianpb.SortKey, len(keys))
	for i, k := range keys {
		e, err := planner.Bind(k.Expr, env)
		if err != nil {
			return nil, err
		}
		out[i] = &meridianpb.SortKey{Expr: e, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	return out, nil
}

// scanAll opens a scan returning every column of the table.
func (s *Session) scanAll(ctx context.Context, a planner.Access, env *planner.BindEnv) (rowIter, error) {
	a, noRows, err := bindAccess(a, env)
	if err != nil || noRows {
		return &sliceIter{}, err
	}
	snap := s.e.routes.Current()
	s.pick++
	targets, err := route(snap, &a, false, s.pick)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return &sliceIter{}, nil
	}
	cols := make([]int, len(a.Table.Columns))
	for i := range cols {
		cols[i] = i
	}
	return s.scanIter(ctx, env, snap, targets, a, cols, 0, nil)
}

// Keys of a statement's executor state (BindEnv.Memo).
type (
	// stmtSnapshot: the TxnContext every read of the statement uses.
	stmtSnapshot struct{}
	// multiScan: the statement reads more than one scan, so it needs a
	// global snapshot even if one scan reaches a single datanode.
	multiScan struct{}
)

// readTxn is the transaction context of a statement's reads: one per
// statement, so that all its scans and subqueries see one snapshot.
func (s *Session) readTxn(ctx context.Context, env *planner.BindEnv, ntargets int) (*meridianpb.TxnContext, error) {
	if env == nil || env.Memo == nil {
		return s.stmtTxn(ctx, ntargets, stmtRead)
	}
	if tc, ok := env.Memo[stmtSnapshot{}].(*meridianpb.TxnContext); ok {
		return tc, nil
	}
	if env.Memo[multiScan{}] == true {
		ntargets = max(ntargets, 2)
	}
	tc, err := s.stmtTxn(ctx, ntargets, stmtRead)
	if err == nil {
		env.Memo[stmtSnapshot{}] = tc
	}
	return tc, err
}
