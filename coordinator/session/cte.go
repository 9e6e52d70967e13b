package session

import (
	"context"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func rowKey(r []types.Datum) string {
	var k []byte
	for _, d := range r {
		k = codec.AppendKey(k, d)
	}
	return string(k)
}

// distinctRows keeps the first of equal rows, skipping those seen holds.
func distinctRows(rows [][]types.Datum, seen map[string]bool) [][]types.Datum {
	if seen == nil {
		seen = map[string]bool{}
	}
	out := rows[:0:0]
	for _, row := range rows {
		k := rowKey(row)
		if !seen[k] {
			seen[k] = true
			out = append(out, row)
		}
	}
	return out
}

type workTable struct{ cte *planner.CTE }

type cteKey struct{ cte *planner.CTE }

// cteRows computes a WITH query once per statement. A recursive one
// runs its recursive term on the previous round's new rows until none
// come (UNION also drops rows already produced).
func (s *Session) cteRows(ctx context.Context, c *planner.CTE, env *planner.BindEnv) ([][]types.Datum, error) {
	if rows, ok := env.Memo[cteKey{c}].([][]types.Datum); ok {
		return rows, nil
	}
	rows, err := s.queryRows(ctx, c.Query, env, -1)
	if err != nil {
		return nil, err
	}
	if c.Step != nil {
		var seen map[string]bool
		if !c.UnionAll {
			seen = map[string]bool{}
			rows = distinctRows(rows, seen)
		}
		work := rows
		for len(work) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, errTimeout(ctx, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request"))
			}
			env.Memo[workTable{c}] = work
			next, err := s.queryRows(ctx, c.Step, env, -1)
			if err != nil {
				return nil, err
			}
			if !c.UnionAll {
				next = distinctRows(next, seen)
			}
			rows = append(rows, next...)
			work = next
		}
		delete(env.Memo, workTable{c})
	}
	env.Memo[cteKey{c}] = rows
	return rows, nil
}

// inliner computes a data-modifying statement's subqueries (once each)
// and replaces each by an expression of its result: a constant, or for
// x op ANY/ALL (subquery) the comparisons with every row, ORed or ANDed
// (x IN (...) for a hashable equality), as three-valued logic has them.
func (s *Session) inliner(ctx context.Context, subs []*planner.SubPlan, env *planner.BindEnv) func(*planner.Expr) (*planner.Expr, error) {
	results := make([][][]types.Datum, len(subs))
	done := make([]bool, len(subs))
	qenv := *env
	qenv.Inline = nil
	return func(e *planner.Expr) (*planner.Expr, error) {
		i := int(e.Index)
		if i >= len(subs) {
			return nil, pgerr.New(pgerr.InternalError, "unknown subquery %d", i)
		}
		if !done[i] {
			rows, err := s.queryRows(ctx, subs[i].Query, &qenv, -1)
			if err != nil {
				return nil, err
			}
			results[i], done[i] = rows, true
		}
		rows := results[i]
		t := types.Type{OID: e.TypeOid, Typmod: e.Typmod}
		switch e.Name {
		case "exists":
			return expr.Const(t, len(rows) > 0), nil
		case "scalar":
			switch len(rows) {
			case 0:
				return expr.Const(t, nil), nil
			case 1:
				return expr.Const(t, rows[0][0]), nil
			}
			return nil, pgerr.New(pgerr.CardinalityViolation, "more than one row returned by a subquery used as an expression")
		}
		isAny := e.Name == "any"
		if len(rows) == 0 {
			return expr.Const(t, !isAny), nil
		}
		n := len(e.Args) - 1
		cmp := e.Args[n]
		if isAny && n == 1 && cmp.Kind == meridianpb.ExprKind_EXPR_FUNC && cmp.Name == "=" &&
			cmp.Args[0].Kind == meridianpb.ExprKind_EXPR_COLUMN && cmp.Args[1].Kind == meridianpb.ExprKind_EXPR_COLUMN &&
			planner.Hashable(cmp.Args[0], cmp.Args[1]) {
			in := &planner.Expr{Kind: meridianpb.ExprKind_EXPR_IN, TypeOid: types.Bool, Typmod: -1, Args: []*planner.Expr{e.Args[0]}}
			for _, r := range rows {
				in.Args = append(in.Args, expr.Const(expr.TypeOf(cmp.Args[1]), r[0]))
			}
			return in, nil
		}
		kind := meridianpb.ExprKind_EXPR_AND
		if isAny {
			kind = meridianpb.ExprKind_EXPR_OR
		}
		out := &planner.Expr{Kind: kind, TypeOid: types.Bool, Typmod: -1}
		for _, r := range rows {
			out.Args = append(out.Args, planner.RewriteExpr(cmp, func(x *planner.Expr) *planner.Expr {
				if x.Kind != meridianpb.ExprKind_EXPR_COLUMN {
					return x
				}
				if int(x.Index) < n {
					return e.Args[x.Index]
				}
				return expr.Const(expr.TypeOf(x), r[int(x.Index)-n])
			}))
		}
		return out, nil
	}
}
