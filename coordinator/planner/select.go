package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// PlanSelect plans a SELECT.
func (p *Planner) PlanSelect(sel *pg_query.SelectStmt, paramTypes []uint32) (*Plan, error) {
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	switch {
	case sel.Op != pg_query.SetOperation_SETOP_NONE:
		return nil, pgerr.Unsupported("UNION / INTERSECT / EXCEPT")
	case sel.WithClause != nil:
		return nil, pgerr.Unsupported("WITH")
	case len(sel.ValuesLists) > 0:
		return nil, pgerr.Unsupported("VALUES lists as a query")
	case sel.IntoClause != nil:
		return nil, pgerr.Unsupported("SELECT INTO")
	case len(sel.WindowClause) > 0:
		return nil, pgerr.Unsupported("window functions")
	case len(sel.LockingClause) > 0:
		return nil, pgerr.Unsupported("SELECT ... FOR UPDATE/SHARE")
	case len(sel.FromClause) > 1:
		return nil, pgerr.Unsupported("joins")
	}
	in := &scope{params: ps}
	if len(sel.FromClause) == 1 {
		rv := sel.FromClause[0].GetRangeVar()
		if rv == nil {
			return nil, pgerr.Unsupported("joins and subqueries in FROM")
		}
		t, err := p.ResolveTable(rv)
		if err != nil {
			return nil, err
		}
		in.table = t
		if rv.Alias != nil {
			in.alias = rv.Alias.Aliasname
		}
	}
	s := &Select{}
	if sel.WhereClause != nil {
		f, err := in.analyzeBool(sel.WhereClause, "WHERE")
		if err != nil {
			return nil, err
		}
		if in.table == nil {
			return nil, pgerr.Unsupported("WHERE without FROM")
		}
		s.Access.Filter = f
	}
	if in.table != nil {
		s.Access = planAccess(in.table, s.Access.Filter)
	}
	// Aggregation?
	out := in
	var ac *aggCtx
	hasAgg := len(sel.GroupClause) > 0 || sel.HavingClause != nil || containsAgg(sel.TargetList)
	for _, sb := range sel.SortClause {
		hasAgg = hasAgg || containsAgg([]*pg_query.Node{sb.GetSortBy().Node})
	}
	if hasAgg {
		ac = &aggCtx{input: in}
		for _, g := range sel.GroupClause {
			if g.GetGroupingSet() != nil {
				return nil, pgerr.Unsupported("GROUPING SETS / ROLLUP / CUBE")
			}
			var ge *Expr
			if pos := constInt(g); pos > 0 {
				// GROUP BY output position
				if int(pos) > len(sel.TargetList) {
					return nil, pgerr.New(pgerr.InvalidColumnReference, "GROUP BY position %d is not in select list", pos)
				}
				e, err := in.analyze(sel.TargetList[pos-1].GetResTarget().Val)
				if err != nil {
					return nil, err
				}
				ge = e
			} else {
				e, err := in.analyze(g)
				if err != nil {
					if alias := aliasTarget(sel.TargetList, g); alias != nil {
						e, err = in.analyze(alias)
					}
					if err != nil {
						return nil, err
					}
				}
				ge = e
			}
			ac.groups = append(ac.groups, ge)
		}
		out = &scope{table: in.table, alias: in.alias, params: ps, agg: ac}
		s.HasAgg = true
		s.GroupBy = ac.groups
	}
	// Select list.
	var cols []pgwire.Column
	for _, tn := range sel.TargetList {
		rt := tn.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			if in.table == nil {
				return nil, pgerr.New(pgerr.SyntaxError, "SELECT * with no tables specified is not valid")
			}
			if out.agg != nil {
				return nil, pgerr.New(pgerr.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", in.table.Columns[0].Name)
			}
			for i, c := range in.table.Columns {
				e := expr.Column(i, types.Type{OID: c.TypeOid, Typmod: c.Typmod})
				s.Output = append(s.Output, e)
				cols = append(cols, columnOf(c.Name, e))
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
				if cols[i].Name == name && !isTableColumn(in.table, name) {
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
	if ac != nil {
		s.Aggs = ac.aggs
		if in.table != nil {
			s.PushAgg = true
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
	}
	s.PushLimit = !s.HasAgg && !s.Distinct && len(s.Sort) == 0 && s.Limit != nil
	if in.table != nil && !s.HasAgg && !s.Distinct && len(s.Sort) > 0 && s.Limit != nil {
		for _, k := range s.Sort {
			s.DNOrderBy = append(s.DNOrderBy, &meridianpb.SortKey{Expr: cloneExpr(s.Output[k.Col]), Desc: k.Desc, NullsFirst: k.NullsFirst})
		}
	}
	if in.table != nil {
		s.remapScan(in.table)
	}
	return &Plan{Select: s, Columns: cols, Params: ps.types, Tag: "SELECT"}, nil
}

func isTableColumn(t *meridianpb.TableDesc, name string) bool {
	if t == nil {
		return false
	}
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
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
