package planner

import (
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
)

// Decorrelation turns WHERE conditions holding subqueries into joins, so
// that a subquery runs once instead of once per row:
//
//   - EXISTS (correlated by its WHERE) becomes a semi join, NOT EXISTS an
//     anti join, x IN (subquery) a semi join on x = the subquery's column;
//   - a correlated scalar subquery computing an aggregate (not count),
//     correlated by equalities, becomes a left join with the subquery
//     grouped by its correlation columns.
//
// Other subqueries run per row (or once, when uncorrelated).

// RewriteExpr returns e with every node n replaced by f(n) (bottom-up);
// f returns its argument to keep a node.
func RewriteExpr(e *Expr, f func(*Expr) *Expr) *Expr {
	if e == nil {
		return nil
	}
	c := &meridianpb.Expr{Kind: e.Kind, TypeOid: e.TypeOid, Typmod: e.Typmod, Value: e.Value, IsNull: e.IsNull,
		Index: e.Index, Name: e.Name, LevelsUp: e.LevelsUp}
	for _, a := range e.Args {
		c.Args = append(c.Args, RewriteExpr(a, f))
	}
	return f(c)
}

// maxLevel is the deepest enclosing query e references (0: none).
func maxLevel(e *Expr) int32 {
	if e == nil {
		return 0
	}
	m := int32(0)
	if e.Kind == kOuter {
		m = e.LevelsUp
	}
	for _, a := range e.Args {
		m = max(m, maxLevel(a))
	}
	return m
}

// corrSplit splits a subquery's FROM conditions into those referencing
// the enclosing query (through level-1 outer references only) and the
// others; ok = false when the subquery cannot become a join.
func corrSplit(q *Select) (corr, local []*Expr, ok bool) {
	if q.parts == nil || len(q.Subqueries) > 0 || q.Limit != nil || q.Offset != nil {
		return nil, nil, false
	}
	for _, c := range q.parts.conds {
		switch maxLevel(c) {
		case 0:
			local = append(local, c)
		case 1:
			corr = append(corr, c)
		default:
			return nil, nil, false
		}
	}
	var rest []*Expr
	rest = append(rest, q.parts.output...)
	rest = append(rest, q.parts.groupBy...)
	rest = append(rest, q.Having)
	for _, a := range q.parts.aggs {
		rest = append(rest, a.Arg)
	}
	for _, e := range rest {
		if maxLevel(e) > 0 {
			return nil, nil, false
		}
	}
	return corr, local, true
}

// toJoinRow rewrites a condition of a subquery (over its FROM row, with
// level-1 outer references to the enclosing FROM row) to the row of a
// join: the enclosing row (w columns) followed by the subquery's row.
func toJoinRow(c *Expr, w int) *Expr {
	return RewriteExpr(shiftCols(c, w), func(n *Expr) *Expr {
		if n.Kind == kOuter && n.LevelsUp == 1 {
			return expr.Column(int(n.Index), typeOf(n))
		}
		return n
	})
}

// semiJoin tries to turn a WHERE conjunct into a semi or anti join of the
// FROM row (w columns wide) with a subquery.
func semiJoin(c *Expr, subs []*SubPlan, w int) (*JoinRel, bool) {
	neg := false
	if c.Kind == meridianpb.ExprKind_EXPR_NOT && c.Args[0].Kind == kSubq {
		neg, c = true, c.Args[0]
	}
	if c.Kind != kSubq || (c.Name != "exists" && (c.Name != "any" || neg)) {
		return nil, false
	}
	q := subs[c.Index].Query
	corr, local, ok := corrSplit(q)
	if !ok || q.HasAgg || len(q.parts.items) == 0 {
		return nil, false
	}
	right, err := buildJoins(q.parts.items, local)
	if err != nil {
		return nil, false
	}
	j := &JoinRel{Kind: JoinSemi, Left: nil, Right: right}
	if neg {
		j.Kind = JoinAnti
	}
	for _, cc := range corr {
		addJoinCond(j, toJoinRow(cc, w), w)
	}
	if c.Name == "any" {
		n := len(c.Args) - 1
		cmp := RewriteExpr(c.Args[n], func(x *Expr) *Expr {
			if x.Kind != kColumn {
				return x
			}
			if int(x.Index) < n {
				return cloneExpr(c.Args[x.Index])
			}
			return shiftCols(q.parts.output[int(x.Index)-n], w)
		})
		for _, cc := range conjuncts(cmp) {
			addJoinCond(j, cc, w)
		}
	}
	return j, true
}

// scalarJoin tries to turn a correlated scalar aggregate subquery into a
// left join with the subquery grouped by its correlation columns; it
// returns the join (Left unset) and the subquery value's column in the
// join's row (the left row being w columns wide).
func scalarJoin(e *Expr, subs []*SubPlan, w int) (*JoinRel, *Expr, bool) {
	sp := subs[e.Index]
	q := sp.Query
	if !sp.Correlated {
		return nil, nil, false
	}
	corr, local, ok := corrSplit(q)
	if !ok || len(corr) == 0 || !q.HasAgg || len(q.parts.groupBy) > 0 || q.Having != nil || q.Distinct || len(q.parts.items) == 0 {
		return nil, nil, false
	}
	for _, a := range q.parts.aggs {
		if a.Func == "count" || a.Distinct {
			return nil, nil, false // count over no rows is 0, not NULL
		}
	}
	// Each correlation must be inner expression = outer column.
	var inner, outer []*Expr
	for _, c := range corr {
		if c.Kind != kFunc || c.Name != "=" || len(c.Args) != 2 {
			return nil, nil, false
		}
		l, r := c.Args[0], c.Args[1]
		if maxLevel(l) > 0 {
			l, r = r, l
		}
		if maxLevel(l) > 0 || r.Kind != kOuter || !Hashable(l, r) {
			return nil, nil, false
		}
		inner = append(inner, l)
		outer = append(outer, expr.Column(int(r.Index), typeOf(r)))
	}
	from, err := buildJoins(q.parts.items, local)
	if err != nil {
		return nil, nil, false
	}
	k := len(inner)
	d := &Select{From: from, HasAgg: true, GroupBy: inner, Visible: k + 1}
	for _, a := range q.parts.aggs {
		a.Arg = cloneExpr(a.Arg)
		d.Aggs = append(d.Aggs, a)
	}
	for i, g := range inner {
		d.Output = append(d.Output, expr.Column(i, typeOf(g)))
	}
	d.Output = append(d.Output, shiftCols(q.parts.output[0], k))
	j := &JoinRel{Kind: JoinLeft, Right: &QueryRel{Query: d}}
	for i, o := range outer {
		j.LeftKeys = append(j.LeftKeys, o)
		j.RightKeys = append(j.RightKeys, expr.Column(i, typeOf(inner[i])))
	}
	return j, expr.Column(w+k, typeOf(e)), true
}

// decorrelate builds a block's FROM tree from its items and conditions,
// turning the conditions' subqueries into joins where it can.
func decorrelate(items []*fromItem, conds []*Expr, subs []*SubPlan) (Rel, error) {
	w := 0
	for _, it := range items {
		w = max(w, it.hi)
	}
	var rest, scalarConds []*Expr
	var semis []*JoinRel
	var scalars []*JoinRel
	for _, c := range conds {
		if j, ok := semiJoin(c, subs, w); ok {
			semis = append(semis, j)
			continue
		}
		if !coordinatorOnly(c) {
			rest = append(rest, c)
			continue
		}
		width := w
		for _, j := range scalars {
			width += j.Right.Width()
		}
		changed := false
		nc := RewriteExpr(c, func(n *Expr) *Expr {
			if n.Kind != kSubq || n.Name != "scalar" {
				return n
			}
			j, col, ok := scalarJoin(n, subs, width)
			if !ok {
				return n
			}
			scalars = append(scalars, j)
			width += j.Right.Width()
			changed = true
			return col
		})
		if changed {
			scalarConds = append(scalarConds, nc)
		} else {
			rest = append(rest, c)
		}
	}
	rel, err := buildJoins(items, rest)
	if err != nil {
		return nil, err
	}
	// Semi joins keep the FROM row as is (their conditions were built
	// for it); scalar joins then widen it.
	for _, j := range semis {
		j.Left = rel
		rel = j
	}
	for _, j := range scalars {
		j.Left = rel
		rel = j
	}
	if len(scalarConds) > 0 {
		rel = &FilterRel{Input: rel, Cond: andAll(scalarConds)}
	}
	return rel, nil
}
