package planner

import (
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// expandStar expands * or t.* in a select list.
func (s *scope) expandStar(cr *pg_query.ColumnRef) ([]starCol, error) {
	if len(cr.Fields) == 1 {
		if len(s.entries) == 0 {
			return nil, pgerr.New(pgerr.SyntaxError, "SELECT * with no tables specified is not valid")
		}
		return s.star, nil
	}
	q := cr.Fields[len(cr.Fields)-2].GetString_().GetSval()
	for _, r := range s.entries {
		if r.name == q && r.exprs == nil {
			out := make([]starCol, len(r.cols))
			for i, c := range r.cols {
				out[i] = starCol{c.name, r.colExpr(i)}
			}
			return out, nil
		}
	}
	return nil, pgerr.New(pgerr.UndefinedTable, "missing FROM-clause entry for table %q", q)
}

// planOver plans the ORDER BY / LIMIT part of a query whose FROM is one
// relation given by rel (a set operation or VALUES) with the given
// columns, selecting all of them.
func (p *Planner) planOver(sel *pg_query.SelectStmt, c qctx, rel Rel, cols []colInfo) (*Select, []pgwire.Column, error) {
	in := &scope{params: c.ps, outer: c.outer, q: &query{p: p, ctes: c.ctes}}
	in.addEntry(&rangeEntry{cols: cols})
	star := pg_query.MakeResTargetNodeWithVal(pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeAStarNode()}, -1), -1)
	block := &pg_query.SelectStmt{TargetList: []*pg_query.Node{star}, SortClause: sel.SortClause,
		LimitCount: sel.LimitCount, LimitOffset: sel.LimitOffset, LimitOption: sel.LimitOption}
	s := &Select{From: rel}
	out, err := p.planBlock(block, s, in)
	if err != nil {
		return nil, nil, err
	}
	if len(in.q.subs) > 0 {
		return nil, nil, pgerr.Unsupported("subqueries in ORDER BY of a set operation")
	}
	return s, out, nil
}

func colInfos(cols []pgwire.Column) []colInfo {
	out := make([]colInfo, len(cols))
	for i, c := range cols {
		out[i] = colInfo{c.Name, types.Type{OID: c.TypeOID, Typmod: c.TypeModifier}}
	}
	return out
}

// planSetOp plans UNION / INTERSECT / EXCEPT [ALL]: both sides' columns
// are converted to common types, as PostgreSQL resolves them.
func (p *Planner) planSetOp(sel *pg_query.SelectStmt, c qctx) (*Select, []pgwire.Column, bool, error) {
	if len(sel.LockingClause) > 0 {
		return nil, nil, false, pgerr.Unsupported("FOR UPDATE with set operations")
	}
	l, lcols, lcorr, err := p.planQuery(sel.Larg, c)
	if err != nil {
		return nil, nil, false, err
	}
	r, rcols, rcorr, err := p.planQuery(sel.Rarg, c)
	if err != nil {
		return nil, nil, false, err
	}
	op := map[pg_query.SetOperation]string{pg_query.SetOperation_SETOP_UNION: "union",
		pg_query.SetOperation_SETOP_INTERSECT: "intersect", pg_query.SetOperation_SETOP_EXCEPT: "except"}[sel.Op]
	opName := map[string]string{"union": "UNION", "intersect": "INTERSECT", "except": "EXCEPT"}[op]
	if len(lcols) != len(rcols) {
		return nil, nil, false, pgerr.New(pgerr.SyntaxError, "each %s query must have the same number of columns", opName)
	}
	sc := &scope{params: c.ps}
	cols := make([]colInfo, len(lcols))
	for i := range lcols {
		le, re := l.Output[i], r.Output[i]
		args, t, err := sc.unify([]*Expr{le, re}, opName)
		if err != nil {
			return nil, nil, false, err
		}
		if lcols[i].TypeOID == rcols[i].TypeOID && lcols[i].TypeModifier == rcols[i].TypeModifier {
			t.Typmod = lcols[i].TypeModifier
		}
		l.Output[i], r.Output[i] = args[0], args[1]
		cols[i] = colInfo{lcols[i].Name, t}
	}
	rel := &SetOpRel{Op: op, All: sel.All, Left: l, Right: r, Cols: len(cols)}
	s, out, err := p.planOver(sel, c, rel, cols)
	return s, out, lcorr || rcorr, err
}

// planValues plans VALUES (...), (...) as a query.
func (p *Planner) planValues(sel *pg_query.SelectStmt, c qctx) (*Select, []pgwire.Column, bool, error) {
	sc := &scope{params: c.ps, outer: c.outer, q: &query{p: p, ctes: c.ctes}}
	var rows [][]*Expr
	for _, n := range sel.ValuesLists {
		items := n.GetList().GetItems()
		if len(rows) > 0 && len(items) != len(rows[0]) {
			return nil, nil, false, pgerr.New(pgerr.SyntaxError, "VALUES lists must all be the same length")
		}
		row, err := sc.analyzeList(items)
		if err != nil {
			return nil, nil, false, err
		}
		rows = append(rows, row)
	}
	if len(sc.q.subs) > 0 {
		return nil, nil, false, pgerr.Unsupported("subqueries in VALUES")
	}
	width := len(rows[0])
	cols := make([]colInfo, width)
	typs := make([]uint32, width)
	for j := 0; j < width; j++ {
		col := make([]*Expr, len(rows))
		for i := range rows {
			col[i] = rows[i][j]
		}
		col, t, err := sc.unify(col, "VALUES")
		if err != nil {
			return nil, nil, false, err
		}
		for i := range rows {
			rows[i][j] = col[i]
		}
		cols[j] = colInfo{"column" + itoa(j+1), t}
		typs[j] = t.OID
	}
	rel := &ValuesRel{Rows: rows, Cols: width, Types: typs}
	s, out, err := p.planOver(sel, c, rel, cols)
	return s, out, sc.correlated, err
}

func itoa(i int) string { return strconv.Itoa(i) }

// planWith plans a WITH clause's queries.
func (p *Planner) planWith(w *pg_query.WithClause, c qctx) (*cteEnv, error) {
	env := &cteEnv{byName: map[string]*cteDef{}, parent: c.ctes}
	for _, n := range w.Ctes {
		ce := n.GetCommonTableExpr()
		sel := ce.Ctequery.GetSelectStmt()
		if sel == nil {
			return nil, pgerr.Unsupported("data-modifying statements in WITH")
		}
		if _, dup := env.byName[ce.Ctename]; dup {
			return nil, pgerr.New(pgerr.DuplicateAlias, "WITH query name %q specified more than once", ce.Ctename)
		}
		cte := &CTE{Name: ce.Ctename}
		cc := qctx{ps: c.ps, outer: c.outer, ctes: env, views: c.views}
		var cols []colInfo
		if w.Recursive && sel.Op == pg_query.SetOperation_SETOP_UNION && refersTo(sel.Rarg, ce.Ctename) {
			base, bcols, corr, err := p.planQuery(sel.Larg, cc)
			if err != nil {
				return nil, err
			}
			if corr {
				return nil, pgerr.Unsupported("WITH queries referencing outer queries")
			}
			if len(sel.SortClause) > 0 || sel.LimitCount != nil || sel.LimitOffset != nil {
				return nil, pgerr.Unsupported("ORDER BY / LIMIT in a recursive query")
			}
			cols = colInfos(bcols)
			if err := aliasCols(cols, ce); err != nil {
				return nil, err
			}
			cte.Query, cte.UnionAll, cte.Cols = base, sel.All, len(cols)
			self := &cteEnv{byName: map[string]*cteDef{ce.Ctename: {cte: cte, cols: cols, self: true}}, parent: env}
			step, scols, corr, err := p.planQuery(sel.Rarg, qctx{ps: c.ps, outer: c.outer, ctes: self, views: c.views})
			if err != nil {
				return nil, err
			}
			if corr {
				return nil, pgerr.Unsupported("WITH queries referencing outer queries")
			}
			if len(scols) != len(cols) {
				return nil, pgerr.New(pgerr.SyntaxError, "each UNION query must have the same number of columns")
			}
			for i, sc := range scols {
				if sc.TypeOID != cols[i].typ.OID {
					return nil, pgerr.New(pgerr.DatatypeMismatch, "recursive query %q column %d has type %s in non-recursive term but type %s overall",
						ce.Ctename, i+1, types.InfoOf(cols[i].typ.OID).Name, types.InfoOf(sc.TypeOID).Name).
						WithHint("Cast the output of the non-recursive term to the correct type.")
				}
			}
			cte.Step = step
		} else {
			q, qcols, corr, err := p.planQuery(sel, cc)
			if err != nil {
				return nil, err
			}
			if corr {
				return nil, pgerr.Unsupported("WITH queries referencing outer queries")
			}
			cols = colInfos(qcols)
			if err := aliasCols(cols, ce); err != nil {
				return nil, err
			}
			cte.Query, cte.Cols = q, len(cols)
		}
		env.byName[ce.Ctename] = &cteDef{cte: cte, cols: cols}
	}
	return env, nil
}

func aliasCols(cols []colInfo, ce *pg_query.CommonTableExpr) error {
	if len(ce.Aliascolnames) > len(cols) {
		return pgerr.New(pgerr.InvalidColumnReference, "WITH query %q has %d columns available but %d columns specified",
			ce.Ctename, len(cols), len(ce.Aliascolnames))
	}
	for i, n := range ce.Aliascolnames {
		cols[i].name = n.GetString_().GetSval()
	}
	return nil
}

// refersTo reports whether a statement mentions relation name.
func refersTo(sel *pg_query.SelectStmt, name string) bool {
	found := false
	walkNodes(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && rv.Schemaname == "" && rv.Relname == name {
			found = true
		}
		return !found
	})
	return found
}

// containsSubLink reports whether a parse tree holds a subquery.
func containsSubLink(n *pg_query.Node) bool {
	found := false
	walkNodes(n.ProtoReflect(), func(m protoreflect.Message) bool {
		if _, ok := m.Interface().(*pg_query.SubLink); ok {
			found = true
		}
		return !found
	})
	return found
}

// walkNodes visits every message of a parse tree until f returns false.
func walkNodes(m protoreflect.Message, f func(protoreflect.Message) bool) bool {
	if !f(m) {
		return false
	}
	cont := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && cont; i++ {
				cont = walkNodes(l.Get(i).Message(), f)
			}
		case fd.IsMap():
		default:
			cont = walkNodes(v.Message(), f)
		}
		return cont
	})
	return cont
}

// subLink plans a subquery used as an expression.
func (s *scope) subLink(sl *pg_query.SubLink) (*Expr, error) {
	if s.q == nil {
		return nil, pgerr.Unsupported("subqueries in this statement")
	}
	sel := sl.Subselect.GetSelectStmt()
	if sel == nil {
		return nil, pgerr.Unsupported("this subquery")
	}
	sub, cols, corr, err := s.q.p.planQuery(sel, qctx{ps: s.params, outer: s, ctes: s.q.ctes, views: s.q.views})
	if err != nil {
		return nil, err
	}
	e := &Expr{Kind: kSubq, Index: int32(len(s.q.subs)), TypeOid: types.Bool, Typmod: -1}
	switch sl.SubLinkType {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		e.Name = "exists"
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if len(cols) != 1 {
			return nil, pgerr.New(pgerr.SyntaxError, "subquery must return only one column")
		}
		e.Name, e.TypeOid, e.Typmod = "scalar", cols[0].TypeOID, cols[0].TypeModifier
	case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
		e.Name = "any"
		if sl.SubLinkType == pg_query.SubLinkType_ALL_SUBLINK {
			e.Name = "all"
		}
		op := opName(sl.OperName)
		if op == "" {
			op = "="
		}
		var lefts []*Expr
		if row := sl.Testexpr.GetRowExpr(); row != nil {
			if lefts, err = s.analyzeList(row.Args); err != nil {
				return nil, err
			}
		} else {
			l, err := s.analyze(sl.Testexpr)
			if err != nil {
				return nil, err
			}
			lefts = []*Expr{l}
		}
		if len(lefts) < len(cols) {
			return nil, pgerr.New(pgerr.SyntaxError, "subquery has too many columns")
		}
		if len(lefts) > len(cols) {
			return nil, pgerr.New(pgerr.SyntaxError, "subquery has too few columns")
		}
		var cmps []*Expr
		for i, l := range lefts {
			rt := types.Type{OID: cols[i].TypeOID, Typmod: cols[i].TypeModifier}
			if l.TypeOid == types.Unknown {
				if l, err = s.cast(l, rt, false); err != nil {
					return nil, err
				}
				lefts[i] = l
			}
			c, err := s.binop(op, expr.Column(i, typeOf(l)), expr.Column(len(lefts)+i, rt))
			if err != nil {
				return nil, err
			}
			if c.TypeOid != types.Bool {
				return nil, pgerr.New(pgerr.DatatypeMismatch, "operator %s must return type boolean", op)
			}
			cmps = append(cmps, c)
		}
		e.Args = append(lefts, andAll(cmps))
	default:
		return nil, pgerr.Unsupported("this kind of subquery")
	}
	s.q.subs = append(s.q.subs, &SubPlan{Query: sub, Correlated: corr})
	return e, nil
}
