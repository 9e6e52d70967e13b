package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// PlanSelect plans a SELECT.
func (p *Planner) PlanSelect(sel *pg_query.SelectStmt, paramTypes []uint32) (*Plan, error) {
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	plain, err := withoutLocking(sel)
	if err != nil {
		return nil, err
	}
	s, cols, _, err := p.planQuery(plain, qctx{ps: ps})
	if err != nil {
		return nil, err
	}
	if plain != sel {
		if err := planLocking(sel, s); err != nil {
			return nil, err
		}
	}
	return &Plan{Select: s, Columns: cols, Params: ps.types, Tag: "SELECT"}, nil
}

// qctx is what a query block is planned in.
type qctx struct {
	ps    *params
	outer *scope  // the enclosing query's scope, for correlated references
	ctes  *cteEnv // WITH queries in scope
	// views counts the views being expanded around this query (view.go).
	views int
}

// planQuery plans one query block; correlated reports references to
// enclosing queries.
func (p *Planner) planQuery(sel *pg_query.SelectStmt, c qctx) (_ *Select, _ []pgwire.Column, correlated bool, _ error) {
	if sel.WithClause != nil {
		env, err := p.planWith(sel.WithClause, c)
		if err != nil {
			return nil, nil, false, err
		}
		c.ctes = env
	}
	switch {
	case sel.Op != pg_query.SetOperation_SETOP_NONE:
		return p.planSetOp(sel, c)
	case len(sel.ValuesLists) > 0:
		return p.planValues(sel, c)
	case sel.IntoClause != nil:
		return nil, nil, false, pgerr.Unsupported("SELECT INTO")
	case len(sel.LockingClause) > 0:
		return nil, nil, false, pgerr.Unsupported("FOR UPDATE/SHARE in a subquery or WITH query")
	}
	ps := c.ps
	in := &scope{params: ps, outer: c.outer, q: &query{p: p, ctes: c.ctes, views: c.views, windowDefs: map[string]*pg_query.WindowDef{}}}
	for _, n := range sel.WindowClause {
		wd := n.GetWindowDef()
		in.q.windowDefs[wd.Name] = wd
	}
	from := &fromBuilder{in: in}
	for _, n := range sel.FromClause {
		if err := from.add(n); err != nil {
			return nil, nil, false, err
		}
	}
	s := &Select{}
	var where []*Expr
	if sel.WhereClause != nil {
		f, err := in.analyzeBool(sel.WhereClause, "WHERE")
		if err != nil {
			return nil, nil, false, err
		}
		where = conjuncts(f)
	}
	cols, err := p.planBlock(sel, s, in)
	if err != nil {
		return nil, nil, false, err
	}
	s.Subqueries = in.q.subs
	s.Having = Fold(s.Having)
	if len(from.items) == 1 && isScan(from.items[0].rel) {
		s.dropRedundantDistinct(in.table())
	}
	conds := normalize(append(append([]*Expr(nil), from.conds...), where...))
	s.parts = &blockParts{items: from.items, conds: conds}
	for _, o := range s.Output {
		s.parts.output = append(s.parts.output, cloneExpr(o))
	}
	for _, g := range s.GroupBy {
		s.parts.groupBy = append(s.parts.groupBy, cloneExpr(g))
	}
	for _, a := range s.Aggs {
		a.Arg = cloneExpr(a.Arg)
		s.parts.aggs = append(s.parts.aggs, a)
	}
	// The FROM clause: one table with no coordinator-side work reads
	// through Access, with the pushdowns that allows; anything else is a
	// join tree the coordinator runs.
	switch {
	case len(from.items) == 0:
		if len(conds) > 0 {
			s.From = &FilterRel{Input: &ValuesRel{Rows: [][]*Expr{{}}}, Cond: andAll(conds)}
		}
	case len(from.items) == 1 && len(in.q.subs) == 0 && len(s.Windows) == 0 && isScan(from.items[0].rel) && len(from.conds) == 0:
		s.Access = planAccess(in.table(), andAll(conds))
		s.planPushdown()
	default:
		if s.From, err = decorrelate(from.items, s.parts.conds, in.q.subs); err != nil {
			return nil, nil, false, err
		}
		s.decorrelateOutput()
	}
	return s, cols, in.correlated, nil
}

// decorrelateOutput turns the correlated scalar aggregate subqueries of
// a select list into left joins (as decorrelate does for WHERE): the
// joins widen the FROM row past the columns the list reads, and each
// subquery becomes its value over the widened row.
func (s *Select) decorrelateOutput() {
	if s.HasAgg || len(s.Windows) > 0 || s.From == nil {
		return
	}
	for i, o := range s.Output {
		if !coordinatorOnly(o) {
			continue
		}
		s.Output[i] = RewriteExpr(o, func(n *Expr) *Expr {
			if n.Kind != kSubq || n.Name != "scalar" {
				return n
			}
			j, val, ok := scalarJoin(n, s.Subqueries, s.From.Width())
			if !ok {
				return n
			}
			j.Left = s.From
			s.From = j
			return val
		})
	}
}

func isScan(r Rel) bool {
	_, ok := r.(*ScanRel)
	return ok
}

// planBlock plans a query block's select list, grouping, HAVING,
// DISTINCT, ORDER BY and LIMIT over its FROM scope.
func (p *Planner) planBlock(sel *pg_query.SelectStmt, s *Select, in *scope) ([]pgwire.Column, error) {
	ps := in.params
	// Aggregation?
	out := in
	var ac *aggCtx
	hasAgg := len(sel.GroupClause) > 0 || sel.HavingClause != nil || containsAgg(sel.TargetList)
	for _, sb := range sel.SortClause {
		hasAgg = hasAgg || containsAgg([]*pg_query.Node{sb.GetSortBy().Node})
	}
	if hasAgg {
		ac = &aggCtx{input: in}
		groupExpr := func(g *pg_query.Node) (int, error) {
			var ge *Expr
			if pos := constInt(g); pos > 0 {
				// GROUP BY output position
				if int(pos) > len(sel.TargetList) {
					return 0, pgerr.New(pgerr.InvalidColumnReference, "GROUP BY position %d is not in select list", pos)
				}
				e, err := in.analyze(sel.TargetList[pos-1].GetResTarget().Val)
				if err != nil {
					return 0, err
				}
				ge = e
			} else {
				e, err := in.analyze(g)
				if err != nil {
					if alias := aliasTarget(sel.TargetList, g); alias != nil {
						e, err = in.analyze(alias)
					}
					if err != nil {
						return 0, err
					}
				}
				ge = e
			}
			for i, x := range ac.groups {
				if exprEqual(x, ge) {
					return i, nil
				}
			}
			ac.groups = append(ac.groups, ge)
			return len(ac.groups) - 1, nil
		}
		sets, err := groupingSets(sel.GroupClause, groupExpr)
		if err != nil {
			return nil, err
		}
		if len(sets) != 1 || len(sets[0]) != len(ac.groups) {
			s.GroupingSets = sets
		}
		out = &scope{entries: in.entries, star: in.star, outer: in.outer, params: ps, agg: ac, q: in.q}
		s.HasAgg = true
		s.GroupBy = ac.groups
	}
	// Select list.
	in.q.windowsAllowed = true
	var cols []pgwire.Column
	for _, tn := range sel.TargetList {
		rt := tn.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			star, err := in.expandStar(cr)
			if err != nil {
				return nil, err
			}
			if out.agg != nil && len(star) > 0 {
				return nil, pgerr.New(pgerr.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", star[0].name)
			}
			for _, c := range star {
				s.Output = append(s.Output, c.e)
				cols = append(cols, columnOf(c.name, c.e))
			}
			continue
		}
		e, err := out.analyze(rt.Val)
		if err != nil {
			return nil, err
		}
		if e.TypeOid == types.Unknown {
			if e, err = out.cast(e, types.T(types.Text), false); err != nil {
				return nil, err
			}
		}
		name := rt.Name
		if name == "" {
			name = deriveName(rt.Val)
		}
		s.Output = append(s.Output, e)
		cols = append(cols, columnOf(name, e))
	}
	s.Visible = len(s.Output)
	in.q.windowsAllowed = false
	if sel.HavingClause != nil {
		h, err := out.analyzeBool(sel.HavingClause, "HAVING")
		if err != nil {
			return nil, err
		}
		s.Having = h
	}
	s.Distinct = len(sel.DistinctClause) > 0
	if s.Distinct && sel.DistinctClause[0].GetNode() != nil {
		return nil, pgerr.Unsupported("DISTINCT ON")
	}
	// ORDER BY.
	in.q.windowsAllowed = true
	for _, n := range sel.SortClause {
		sb := n.GetSortBy()
		col := -1
		if pos := constInt(sb.Node); pos > 0 {
			if int(pos) > s.Visible {
				return nil, pgerr.New(pgerr.InvalidColumnReference, "ORDER BY position %d is not in select list", pos)
			}
			col = int(pos) - 1
		} else if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
			name := cr.Fields[0].GetString_().GetSval()
			for i := 0; i < s.Visible; i++ {
				if cols[i].Name == name && !isInputColumn(in, name) {
					col = i
					break
				}
			}
		}
		if col < 0 {
			e, err := out.analyze(sb.Node)
			if err != nil {
				return nil, err
			}
			for i, o := range s.Output {
				if exprEqual(o, e) {
					col = i
					break
				}
			}
			if col < 0 {
				if s.Distinct {
					return nil, pgerr.New(pgerr.InvalidColumnReference, "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
				}
				s.Output = append(s.Output, e)
				col = len(s.Output) - 1
			}
		}
		desc := sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC
		nullsFirst := desc
		switch sb.SortbyNulls {
		case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
			nullsFirst = true
		case pg_query.SortByNulls_SORTBY_NULLS_LAST:
			nullsFirst = false
		}
		s.Sort = append(s.Sort, SortKey{Col: col, Desc: desc, NullsFirst: nullsFirst})
	}
	in.q.windowsAllowed = false
	// LIMIT / OFFSET.
	lim := func(n *pg_query.Node, what string) (*Expr, error) {
		if n == nil {
			return nil, nil
		}
		if c := n.GetAConst(); c != nil && c.Isnull {
			return nil, nil
		}
		e, err := in.analyze(n)
		if err != nil {
			return nil, err
		}
		if perRow(e) {
			return nil, pgerr.Unsupported("sequence functions in " + what)
		}
		if !isValue(e) {
			return nil, pgerr.New(pgerr.SyntaxError, "argument of %s must not contain variables", what)
		}
		return in.coerce(e, types.T(types.Int8), "argument of "+what)
	}
	var err error
	if s.Limit, err = lim(sel.LimitCount, "LIMIT"); err != nil {
		return nil, err
	}
	if s.Offset, err = lim(sel.LimitOffset, "OFFSET"); err != nil {
		return nil, err
	}
	base := in.width()
	if ac != nil {
		s.Aggs = ac.aggs
		base = len(s.GroupBy) + len(s.Aggs)
	}
	s.finishWindows(in.q.windows, base)
	return cols, nil
}

// planPushdown decides what a single-table query's datanodes do beyond
// the scan: partial aggregation, top-N or a row limit; then it narrows
// the scan to the columns used.
func (s *Select) planPushdown() {
	if s.HasAgg {
		s.PushAgg = len(s.GroupingSets) == 0
		for _, a := range s.Aggs {
			s.PushAgg = s.PushAgg && !a.Distinct
		}
		if s.PushAgg {
			for _, g := range s.GroupBy {
				s.DNGroupBy = append(s.DNGroupBy, cloneExpr(g))
			}
			for _, a := range s.Aggs {
				a.Arg = cloneExpr(a.Arg)
				s.DNAggs = append(s.DNAggs, a)
			}
		}
	}
	s.PushLimit = !s.HasAgg && !s.Distinct && len(s.Sort) == 0 && s.Limit != nil
	if !s.HasAgg && !s.Distinct && len(s.Sort) > 0 && s.Limit != nil {
		for _, k := range s.Sort {
			s.DNOrderBy = append(s.DNOrderBy, &meridianpb.SortKey{Expr: cloneExpr(s.Output[k.Col]), Desc: k.Desc, NullsFirst: k.NullsFirst})
		}
	}
	s.remapScan(s.Access.Table)
}

// isInputColumn reports whether name is a column of the FROM scope.
func isInputColumn(in *scope, name string) bool {
	_, found, err := in.lookup([]string{name})
	return found || err != nil
}

func aliasTarget(targets []*pg_query.Node, g *pg_query.Node) *pg_query.Node {
	cr := g.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 {
		return nil
	}
	name := cr.Fields[0].GetString_().GetSval()
	for _, t := range targets {
		if rt := t.GetResTarget(); rt.Name == name {
			return rt.Val
		}
	}
	return nil
}

func containsAgg(ns []*pg_query.Node) bool {
	found := false
	var walk func(n any)
	walk = func(n any) {
		if found {
			return
		}
		switch v := n.(type) {
		case *pg_query.Node:
			if v == nil {
				return
			}
			if f := v.GetFuncCall(); f != nil && aggNames[funcName(f)] && f.Over == nil {
				found = true
				return
			}
			if rt := v.GetResTarget(); rt != nil {
				walk(rt.Val)
				return
			}
			if a := v.GetAExpr(); a != nil {
				walk(a.Lexpr)
				walk(a.Rexpr)
				return
			}
			if f := v.GetFuncCall(); f != nil {
				for _, x := range f.Args {
					walk(x)
				}
				return
			}
			if b := v.GetBoolExpr(); b != nil {
				for _, x := range b.Args {
					walk(x)
				}
				return
			}
			if c := v.GetTypeCast(); c != nil {
				walk(c.Arg)
				return
			}
			if c := v.GetCaseExpr(); c != nil {
				walk(c.Arg)
				for _, w := range c.Args {
					walk(w.GetCaseWhen().Expr)
					walk(w.GetCaseWhen().Result)
				}
				walk(c.Defresult)
				return
			}
			if c := v.GetCoalesceExpr(); c != nil {
				for _, x := range c.Args {
					walk(x)
				}
				return
			}
			if l := v.GetList(); l != nil {
				for _, x := range l.Items {
					walk(x)
				}
				return
			}
			if t := v.GetNullTest(); t != nil {
				walk(t.Arg)
			}
		}
	}
	for _, n := range ns {
		walk(n)
	}
	return found
}

// deriveName is PostgreSQL's default output column name.
func deriveName(n *pg_query.Node) string {
	switch v := n.Node.(type) {
	case *pg_query.Node_ColumnRef:
		last := v.ColumnRef.Fields[len(v.ColumnRef.Fields)-1]
		return last.GetString_().GetSval()
	case *pg_query.Node_FuncCall:
		return funcName(v.FuncCall)
	case *pg_query.Node_TypeCast:
		if name := deriveName(v.TypeCast.Arg); name != "?column?" {
			return name
		}
		tn := v.TypeCast.TypeName.Names
		return tn[len(tn)-1].GetString_().GetSval()
	case *pg_query.Node_CaseExpr:
		return "case"
	case *pg_query.Node_CoalesceExpr:
		return "coalesce"
	case *pg_query.Node_SqlvalueFunction:
		switch v.SqlvalueFunction.Op {
		case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
			return "current_timestamp"
		case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
			return "current_date"
		case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
			return "current_user"
		}
	}
	return "?column?"
}

// remapScan makes the datanodes return only the columns the coordinator
// uses and rewrites the coordinator-side expressions to that layout.
func (s *Select) remapScan(t *meridianpb.TableDesc) {
	used := map[int32]bool{}
	var collect func(e *Expr)
	collect = func(e *Expr) {
		if e == nil {
			return
		}
		if e.Kind == kColumn {
			used[e.Index] = true
		}
		for _, a := range e.Args {
			collect(a)
		}
	}
	if s.HasAgg {
		for _, g := range s.GroupBy {
			collect(g)
		}
		for _, a := range s.Aggs {
			collect(a.Arg)
		}
	} else {
		for _, o := range s.Output {
			collect(o)
		}
	}
	remap := map[int32]int32{}
	for i := range t.Columns {
		if used[int32(i)] {
			remap[int32(i)] = int32(len(s.ScanCols))
			s.ScanCols = append(s.ScanCols, i)
		}
	}
	var rewrite func(e *Expr) *Expr
	rewrite = func(e *Expr) *Expr {
		if e == nil {
			return nil
		}
		c := cloneExpr(e)
		if c.Kind == kColumn {
			c.Index = remap[c.Index]
		}
		for i, a := range c.Args {
			c.Args[i] = rewrite(a)
		}
		return c
	}
	if s.HasAgg {
		for i, g := range s.GroupBy {
			s.GroupBy[i] = rewrite(g)
		}
		for i := range s.Aggs {
			s.Aggs[i].Arg = rewrite(s.Aggs[i].Arg)
		}
	} else {
		for i, o := range s.Output {
			s.Output[i] = rewrite(o)
		}
	}
}

// groupingSets expands a GROUP BY clause into its grouping sets (lists
// of group expression numbers): plain items are in every set; ROLLUP,
// CUBE and GROUPING SETS items multiply the sets.
func groupingSets(items []*pg_query.Node, groupExpr func(*pg_query.Node) (int, error)) ([][]int, error) {
	sets := [][]int{{}}
	for _, it := range items {
		alts, err := groupingAlternatives(it, groupExpr)
		if err != nil {
			return nil, err
		}
		var next [][]int
		for _, s := range sets {
			for _, a := range alts {
				next = append(next, append(append([]int(nil), s...), a...))
			}
		}
		sets = next
		if len(sets) > 4096 {
			return nil, pgerr.New(pgerr.ProgramLimitExceeded, "too many grouping sets present (maximum 4096)")
		}
	}
	return sets, nil
}

// groupingAlternatives lists the column sets one GROUP BY item stands for.
func groupingAlternatives(n *pg_query.Node, groupExpr func(*pg_query.Node) (int, error)) ([][]int, error) {
	gs := n.GetGroupingSet()
	if gs == nil {
		if row := n.GetRowExpr(); row != nil {
			var cols []int
			for _, a := range row.Args {
				c, err := groupExpr(a)
				if err != nil {
					return nil, err
				}
				cols = append(cols, c)
			}
			return [][]int{cols}, nil
		}
		c, err := groupExpr(n)
		if err != nil {
			return nil, err
		}
		return [][]int{{c}}, nil
	}
	var elems [][]int // each element's columns
	for _, c := range gs.Content {
		if gs.Kind == pg_query.GroupingSetKind_GROUPING_SET_SETS {
			continue
		}
		alts, err := groupingAlternatives(c, groupExpr)
		if err != nil {
			return nil, err
		}
		if len(alts) != 1 {
			return nil, pgerr.New(pgerr.SyntaxError, "nested grouping sets are only allowed in GROUPING SETS")
		}
		elems = append(elems, alts[0])
	}
	switch gs.Kind {
	case pg_query.GroupingSetKind_GROUPING_SET_EMPTY:
		return [][]int{{}}, nil
	case pg_query.GroupingSetKind_GROUPING_SET_SIMPLE:
		var cols []int
		for _, e := range elems {
			cols = append(cols, e...)
		}
		return [][]int{cols}, nil
	case pg_query.GroupingSetKind_GROUPING_SET_ROLLUP:
		var out [][]int
		for k := len(elems); k >= 0; k-- {
			var cols []int
			for _, e := range elems[:k] {
				cols = append(cols, e...)
			}
			out = append(out, cols)
		}
		return out, nil
	case pg_query.GroupingSetKind_GROUPING_SET_CUBE:
		if len(elems) > 12 {
			return nil, pgerr.New(pgerr.ProgramLimitExceeded, "CUBE is limited to 12 elements")
		}
		var out [][]int
		for mask := (1 << len(elems)) - 1; mask >= 0; mask-- {
			cols := []int{}
			for i, e := range elems {
				if mask&(1<<i) != 0 {
					cols = append(cols, e...)
				}
			}
			out = append(out, cols)
		}
		return out, nil
	case pg_query.GroupingSetKind_GROUPING_SET_SETS:
		var out [][]int
		for _, c := range gs.Content {
			alts, err := groupingAlternatives(c, groupExpr)
			if err != nil {
				return nil, err
			}
			out = append(out, alts...)
		}
		return out, nil
	}
	return nil, pgerr.Unsupported("grouping set kind " + gs.Kind.String())
}

// dropRedundantDistinct removes a single-table block's DISTINCT, or its
// GROUP BY without aggregates, when the distinct (grouping) columns
// include a unique key whose columns are NOT NULL: every row is distinct
// already. A GROUP BY becomes a plain select list over the table row.
func (s *Select) dropRedundantDistinct(t *meridianpb.TableDesc) {
	if t == nil {
		return
	}
	switch {
	case s.Distinct && !s.HasAgg:
		if uniqueCols(t, s.Output[:s.Visible]) {
			s.Distinct = false
		}
	case s.HasAgg && len(s.Aggs) == 0 && s.Having == nil && len(s.GroupingSets) == 0 && len(s.Windows) == 0:
		if !uniqueCols(t, s.GroupBy) {
			return
		}
		group := s.GroupBy
		for i, o := range s.Output {
			s.Output[i] = RewriteExpr(o, func(n *Expr) *Expr {
				if n.Kind == kColumn {
					return cloneExpr(group[n.Index])
				}
				return n
			})
		}
		s.HasAgg, s.GroupBy = false, nil
		if s.Distinct && uniqueCols(t, s.Output[:s.Visible]) {
			s.Distinct = false
		}
	}
}

// uniqueCols reports whether es, expressions over t's row, include every
// column of a unique index of NOT NULL columns.
func uniqueCols(t *meridianpb.TableDesc, es []*Expr) bool {
	have := map[int32]bool{}
	for _, e := range es {
		if e.Kind == kColumn {
			have[e.Index] = true
		}
	}
	for _, ix := range t.Indexes {
		if !ix.Unique {
			continue
		}
		ok := true
		for _, c := range ix.Columns {
			ok = ok && have[c] && (ix.Primary || t.Columns[c].NotNull)
		}
		if ok {
			return true
		}
	}
	return false
}
