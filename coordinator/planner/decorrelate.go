package planner

import (
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Decorrelation turns WHERE conditions holding subqueries into joins, so
// that a subquery runs once instead of once per row:
//
//   - EXISTS (correlated by its WHERE) becomes a semi join, NOT EXISTS an
//     anti join, x IN (subquery) a semi join on x = the subquery's column
//     (an uncorrelated one whatever it computes: a semi join with the
//     subquery as a derived table);
//   - x NOT IN (subquery) becomes an anti join only when x and the
//     subquery's column are provably never NULL (NOT NULL columns, not on
//     the nullable side of an outer join, or filtered by a strict
//     condition): with a NULL on either side NOT IN is NULL, not true;
//   - a correlated scalar subquery computing aggregates, correlated by
//     equalities, becomes a left join with the subquery grouped by its
//     correlation columns; its value is computed above the join, with
//     count's NULL (no group) read as 0.
//
// A subquery that has subqueries of its own is lifted as a derived table
// that keeps them (decorrelating them in turn), provided none of them
// reads a query outside it (TPC-H Q20's IN subquery with a correlated
// aggregate and another IN). Other subqueries run per row (or once, when
// uncorrelated).

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
	if q.parts == nil || q.Limit != nil || q.Offset != nil || len(q.Windows) > 0 {
		return nil, nil, false
	}
	// Subqueries of the subquery may only read it, not the queries
	// around it: lifted, the subquery's row is no longer where they look.
	for _, sp := range q.Subqueries {
		if sp.Correlated && outerDepth(sp.Query) > 1 {
			return nil, nil, false
		}
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

// fromRow builds a subquery's FROM tree from its items and local
// conditions. Without subqueries of its own the tree joins the enclosing
// block directly; with them it is a derived table keeping them, whose
// visible columns are the FROM row.
func fromRow(q *Select, local []*Expr) (Rel, error) {
	if len(q.Subqueries) == 0 {
		return buildJoins(q.parts.items, local)
	}
	rel, err := decorrelate(q.parts.items, local, q.Subqueries)
	if err != nil {
		return nil, err
	}
	w := 0
	var ts []types.Type
	for _, it := range q.parts.items {
		w = max(w, it.hi)
		ts = append(ts, it.types...)
	}
	d := &Select{From: rel, Subqueries: q.Subqueries, Visible: w}
	for i := 0; i < w; i++ {
		d.Output = append(d.Output, expr.Column(i, ts[i]))
	}
	return &QueryRel{Query: d}, nil
}

// semiJoin tries to turn a WHERE conjunct into a semi or anti join of the
// FROM row (items, w columns wide) with a subquery.
func semiJoin(c *Expr, subs []*SubPlan, items []*fromItem, conds []*Expr, w int) (*JoinRel, bool) {
	neg := false
	if c.Kind == meridianpb.ExprKind_EXPR_NOT && c.Args[0].Kind == kSubq {
		neg, c = true, c.Args[0]
	}
	if c.Kind != kSubq || (c.Name != "exists" && c.Name != "any") {
		return nil, false
	}
	sp := subs[c.Index]
	q := sp.Query
	if c.Name == "any" && !sp.Correlated && !neg {
		return uncorrelatedIn(c, q, w)
	}
	corr, local, ok := corrSplit(q)
	if !ok || q.HasAgg || len(q.parts.items) == 0 {
		return nil, false
	}
	if neg && c.Name == "any" && !notInIsAnti(c, q, local, items, conds) {
		return nil, false
	}
	// What joins the enclosing block must not evaluate the subquery's own
	// subqueries (they are the derived table's).
	for _, cc := range corr {
		if coordinatorOnly(cc) {
			return nil, false
		}
	}
	if c.Name == "any" {
		for _, o := range q.parts.output {
			if coordinatorOnly(o) {
				return nil, false
			}
		}
	}
	right, err := fromRow(q, local)
	if err != nil {
		return nil, false
	}
	j := &JoinRel{Kind: JoinSemi, Right: right}
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

// uncorrelatedIn turns x IN (uncorrelated subquery) into a semi join
// with the subquery as a derived table (its visible columns): it may
// aggregate, sort, limit, or have subqueries; it runs once either way.
func uncorrelatedIn(c *Expr, q *Select, w int) (*JoinRel, bool) {
	n := len(c.Args) - 1
	for _, a := range c.Args[:n] {
		if coordinatorOnly(a) {
			return nil, false
		}
	}
	j := &JoinRel{Kind: JoinSemi, Right: &QueryRel{Query: q}}
	cmp := RewriteExpr(c.Args[n], func(x *Expr) *Expr {
		if x.Kind != kColumn {
			return x
		}
		if int(x.Index) < n {
			return cloneExpr(c.Args[x.Index])
		}
		return expr.Column(w+int(x.Index)-n, typeOf(x))
	})
	for _, cc := range conjuncts(cmp) {
		addJoinCond(j, cc, w)
	}
	return j, true
}

// notInIsAnti reports whether x NOT IN (q) may be an anti join on x =
// q's column: a plain equality, and neither side ever NULL.
func notInIsAnti(c *Expr, q *Select, local []*Expr, items []*fromItem, conds []*Expr) bool {
	n := len(c.Args) - 1
	if n != 1 || len(q.parts.output) < 1 {
		return false
	}
	cmp := c.Args[n]
	if cmp.Kind != kFunc || cmp.Name != "=" || len(cmp.Args) != 2 {
		return false
	}
	l, r := cmp.Args[0], cmp.Args[1]
	if l.Kind != kColumn || l.Index != 0 || r.Kind != kColumn || r.Index != 1 {
		return false // a cast on either side: keep it per row
	}
	x, y := c.Args[0], q.parts.output[0]
	return x.Kind == kColumn && neverNull(x.Index, items, conds) &&
		y.Kind == kColumn && neverNull(y.Index, q.parts.items, local)
}

// neverNull reports whether FROM-row column col of a block (its items
// and WHERE conjuncts) is never NULL in the rows the WHERE keeps: a NOT
// NULL table column read by a table item (not an outer join's), or a
// column a strict conjunct tests (x = ..., x > ..., x IS NOT NULL).
func neverNull(col int32, items []*fromItem, conds []*Expr) bool {
	for _, it := range items {
		if int(col) < it.lo || int(col) >= it.hi {
			continue
		}
		if sr, ok := it.rel.(*ScanRel); ok {
			if c := int(col) - it.lo; c >= len(sr.Access.Table.Columns) || sr.Access.Table.Columns[c].NotNull {
				return true // a NOT NULL column, or the row key
			}
		}
	}
	for _, c := range conds {
		switch {
		case c.Kind == meridianpb.ExprKind_EXPR_IS_NOT_NULL:
			if a := c.Args[0]; a.Kind == kColumn && a.Index == col {
				return true
			}
		case c.Kind == kFunc && len(c.Args) == 2 && (c.Name == "=" || c.Name == "<>" || c.Name == "<" || c.Name == "<=" || c.Name == ">" || c.Name == ">="):
			for _, a := range c.Args {
				if a.Kind == kColumn && a.Index == col {
					return true
				}
			}
		}
	}
	return false
}

// scalarJoin tries to turn a correlated scalar aggregate subquery into a
// left join with the subquery grouped by its correlation columns; it
// returns the join (Left unset) and the subquery's value over the join's
// row (the left row being w columns wide).
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
		if maxLevel(l) > 0 || r.Kind != kOuter || r.LevelsUp != 1 || !Hashable(l, r) {
			return nil, nil, false
		}
		inner = append(inner, l)
		outer = append(outer, expr.Column(int(r.Index), typeOf(r)))
	}
	from, err := decorrelate(q.parts.items, local, q.Subqueries)
	if err != nil {
		return nil, nil, false
	}
	// The derived table: the correlation columns and the aggregates.
	k := len(inner)
	d := &Select{From: from, HasAgg: true, GroupBy: inner, Subqueries: q.Subqueries, Visible: k + len(q.parts.aggs)}
	for _, a := range q.parts.aggs {
		a.Arg = cloneExpr(a.Arg)
		d.Aggs = append(d.Aggs, a)
	}
	for i, g := range inner {
		d.Output = append(d.Output, expr.Column(i, typeOf(g)))
	}
	for i, a := range d.Aggs {
		d.Output = append(d.Output, expr.Column(k+i, a.Type))
	}
	j := &JoinRel{Kind: JoinLeft, Right: &QueryRel{Query: d}}
	for i, o := range outer {
		j.LeftKeys = append(j.LeftKeys, o)
		j.RightKeys = append(j.RightKeys, expr.Column(i, typeOf(inner[i])))
	}
	// The subquery's value, over the join's row: its select list reads
	// the aggregates (the post-aggregation row of a query without GROUP
	// BY); a missing group is the aggregates of no rows: count 0, the
	// others NULL.
	val := RewriteExpr(q.parts.output[0], func(n *Expr) *Expr {
		if n.Kind != kColumn {
			return n
		}
		a := d.Aggs[n.Index]
		c := expr.Column(w+k+int(n.Index), a.Type)
		if a.Func == "count" {
			return &Expr{Kind: kCoal, TypeOid: a.Type.OID, Typmod: -1, Args: []*Expr{c, expr.Const(a.Type, int64(0))}}
		}
		return c
	})
	if coordinatorOnly(val) {
		return nil, nil, false // a subquery in the select list
	}
	return j, val, true
}

// reduceScalarJoin narrows the grouped derived table of a decorrelated
// scalar subquery to the keys the enclosing query can ask for (a
// semi-join reduction, "magic sets"): when every outer key column comes
// from one table of the enclosing block that the block's own conditions
// filter (conditions on it alone, or IN subqueries turned into semi
// joins of it alone), the derived table's rows are joined with the
// distinct keys of that table's rows passing those conditions before
// they are grouped.
// Every row that reaches the left join passed those conditions, so no
// group it would find is lost; the groups of keys it cannot ask for are
// not computed. The join order search may then start from the few keys
// and reach the subquery's table through an index (TPC-H Q17: the parts
// of one brand and container instead of all of lineitem grouped by part).
func reduceScalarJoin(j *JoinRel, items []*fromItem, conds []*Expr, semis []*JoinRel) {
	qr, ok := j.Right.(*QueryRel)
	if !ok || len(j.LeftKeys) == 0 {
		return
	}
	d := qr.Query
	var it *fromItem
	for _, lk := range j.LeftKeys {
		if lk.Kind != kColumn {
			return
		}
		var found *fromItem
		for _, x := range items {
			if int(lk.Index) >= x.lo && int(lk.Index) < x.hi {
				found = x
			}
		}
		if found == nil || (it != nil && it != found) {
			return
		}
		it = found
	}
	scan, ok := it.rel.(*ScanRel)
	if !ok || scan.RowKey {
		return
	}
	shift := func(e *Expr) *Expr {
		return RewriteExpr(cloneExpr(e), func(n *Expr) *Expr {
			if n.Kind == kColumn {
				n.Index -= int32(it.lo)
			}
			return n
		})
	}
	var local []*Expr
	for _, c := range conds {
		inside, any := true, false
		colRefs(c, func(i int32) {
			any = true
			inside = inside && int(i) >= it.lo && int(i) < it.hi
		})
		if any && inside && maxLevel(c) == 0 && !coordinatorOnly(c) {
			local = append(local, shift(c))
		}
	}
	cp := *scan
	var from Rel = &cp
	if len(local) > 0 {
		from = &FilterRel{Input: from, Cond: andAll(local)}
	}
	reduced := len(local) > 0
	for _, s := range semis {
		// An uncorrelated IN (a derived table, planned again here) whose
		// left side is the table alone.
		sub, ok := s.Right.(*QueryRel)
		if !ok || s.Cond != nil || len(s.LeftKeys) == 0 {
			continue
		}
		inside := true
		for _, lk := range s.LeftKeys {
			colRefs(lk, func(i int32) { inside = inside && int(i) >= it.lo && int(i) < it.hi })
		}
		if !inside {
			continue
		}
		f := &JoinRel{Kind: s.Kind, Left: from, Right: &QueryRel{Query: sub.Query}}
		for i := range s.LeftKeys {
			f.LeftKeys = append(f.LeftKeys, shift(s.LeftKeys[i]))
			f.RightKeys = append(f.RightKeys, cloneExpr(s.RightKeys[i]))
		}
		from, reduced = f, true
	}
	if !reduced {
		return // all of the table: no narrower than grouping everything
	}
	k := len(j.LeftKeys)
	keys := &Select{From: from, HasAgg: true, Visible: k}
	for i, lk := range j.LeftKeys {
		keys.GroupBy = append(keys.GroupBy, shift(lk))
		keys.Output = append(keys.Output, expr.Column(i, typeOf(lk)))
	}
	red := &JoinRel{Kind: JoinInner, Left: d.From, Right: &QueryRel{Query: keys}}
	for i, g := range d.GroupBy {
		red.LeftKeys = append(red.LeftKeys, cloneExpr(g))
		red.RightKeys = append(red.RightKeys, expr.Column(i, typeOf(j.LeftKeys[i])))
	}
	d.From = red
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
		if j, ok := semiJoin(c, subs, items, conds, w); ok {
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
		var added []*JoinRel
		nc := RewriteExpr(c, func(n *Expr) *Expr {
			if n.Kind != kSubq || n.Name != "scalar" {
				return n
			}
			j, val, ok := scalarJoin(n, subs, width)
			if !ok {
				return n
			}
			added = append(added, j)
			width += j.Right.Width()
			changed = true
			return val
		})
		if changed {
			scalars = append(scalars, added...)
			scalarConds = append(scalarConds, nc)
		} else {
			rest = append(rest, c)
		}
	}
	rel, err := buildJoins(items, rest)
	if err != nil {
		return nil, err
	}
	for _, j := range scalars {
		reduceScalarJoin(j, items, rest, semis)
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

// outerDepth is how many query levels out of q its expressions (and its
// subqueries', counted from them) reach: 0 for an uncorrelated query.
func outerDepth(q *Select) int32 {
	if q == nil {
		return 0
	}
	d := int32(0)
	see := func(es ...*Expr) {
		for _, e := range es {
			d = max(d, maxLevel(e))
		}
	}
	see(q.Output...)
	see(q.GroupBy...)
	see(q.Having, q.Limit, q.Offset, q.Access.Filter)
	see(q.Access.IndexEq...)
	for _, vs := range q.Access.Route.DistValues {
		see(vs...)
	}
	for _, a := range q.Aggs {
		see(a.Arg)
	}
	for _, wf := range q.Windows {
		see(wf.Args...)
		see(wf.PartitionBy...)
		for _, o := range wf.OrderBy {
			see(o.Expr)
		}
	}
	var rel func(r Rel)
	rel = func(r Rel) {
		switch r := r.(type) {
		case *ScanRel:
			see(r.Access.Filter)
		case *FilterRel:
			see(r.Cond)
			rel(r.Input)
		case *ProjectRel:
			see(r.Exprs...)
			rel(r.Input)
		case *JoinRel:
			see(r.Cond)
			see(r.LeftKeys...)
			see(r.RightKeys...)
			rel(r.Left)
			rel(r.Right)
		case *QueryRel:
			d = max(d, outerDepth(r.Query)) // derived tables see the block's outer queries
		case *ValuesRel:
			for _, row := range r.Rows {
				see(row...)
			}
		case *SeriesRel:
			see(r.Start, r.Stop, r.Step)
		case *SetOpRel:
			d = max(d, outerDepth(r.Left), outerDepth(r.Right))
		}
	}
	rel(q.From)
	for _, sp := range q.Subqueries {
		if sp.Correlated {
			d = max(d, outerDepth(sp.Query)-1)
		}
	}
	return d
}
