package session

import (
	"context"
	"sort"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// runLockingSelect runs a SELECT ... FOR UPDATE/SHARE: one table, read
// and locked on the datanodes that hold its rows (lockRows), then the
// select list, ORDER BY and LIMIT/OFFSET on the coordinator.
func (s *Session) runLockingSelect(ctx context.Context, sel *planner.Select, env *planner.BindEnv) (rowIter, error) {
	bound := func(e *planner.Expr, what string) (int64, error) {
		b, err := planner.Bind(e, env)
		if err != nil {
			return 0, err
		}
		return constInt(b, what)
	}
	limit, err := bound(sel.Limit, "LIMIT")
	if err != nil {
		return nil, err
	}
	offset, err := bound(sel.Offset, "OFFSET")
	if err != nil {
		return nil, err
	}
	offset = max(offset, 0)
	a, noRows, err := planner.BindAccess(sel.Access, env)
	if err != nil {
		return nil, err
	}
	if noRows || limit == 0 {
		return &sliceIter{}, nil
	}
	snap := s.e.routes.Current()
	s.pick++
	targets, err := route(snap, &a, false, s.pick)
	if err != nil {
		return nil, err
	}
	push := int64(0)
	var orderBy []*meridianpb.SortKey
	if limit >= 0 {
		push = limit + offset
		if len(sel.DNOrderBy) > 0 {
			for _, k := range sel.DNOrderBy {
				e, err := planner.Bind(k.Expr, env)
				if err != nil {
					return nil, err
				}
				orderBy = append(orderBy, &meridianpb.SortKey{Expr: e, Desc: k.Desc, NullsFirst: k.NullsFirst})
			}
		}
	}
	src, err := s.lockRows(ctx, snap, targets, a, sel, push, orderBy)
	if err != nil {
		return nil, err
	}
	defer src.close()
	outs := make([]expr.Eval, len(sel.Output))
	for i, o := range sel.Output {
		b, err := planner.Bind(o, env)
		if err != nil {
			return nil, err
		}
		if outs[i], err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	var rows [][]types.Datum
	for {
		r, err := src.next(ctx)
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		out := make([]types.Datum, len(outs))
		for i, o := range outs {
			if out[i], err = o(r); err != nil {
				return nil, err
			}
		}
		rows = append(rows, out)
	}
	if len(sel.Sort) > 0 {
		sort.SliceStable(rows, func(i, j int) bool { return less(sel.Sort, rows[i], rows[j]) })
	}
	if offset >= int64(len(rows)) {
		rows = nil
	} else {
		rows = rows[offset:]
	}
	if limit >= 0 && limit < int64(len(rows)) {
		rows = rows[:limit]
	}
	for i, r := range rows {
		rows[i] = r[:sel.Visible]
	}
	return &sliceIter{rows: rows}, nil
}

// less orders rows by ORDER BY keys over their columns.
func less(keys []planner.SortKey, a, b []types.Datum) bool {
	for _, k := range keys {
		x, y := a[k.Col], b[k.Col]
		var c int
		switch {
		case x == nil && y == nil:
			c = 0
		case x == nil:
			return k.NullsFirst
		case y == nil:
			return !k.NullsFirst
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
