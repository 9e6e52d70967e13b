package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func colType(c *meridianpb.ColumnDesc) types.Type {
	return types.Type{OID: c.TypeOid, Typmod: c.Typmod}
}

func columnIndex(t *meridianpb.TableDesc, name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// returning analyzes a RETURNING list over the table row.
func (s *scope) returning(list []*pg_query.Node) ([]*Expr, []pgwire.Column, error) {
	var out []*Expr
	var cols []pgwire.Column
	for _, n := range list {
		rt := n.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			for _, c := range s.star {
				out = append(out, c.e)
				cols = append(cols, columnOf(c.name, c.e))
			}
			continue
		}
		e, err := s.analyze(rt.Val)
		if err != nil {
			return nil, nil, err
		}
		if e.TypeOid == types.Unknown {
			if e, err = s.cast(e, types.T(types.Text), false); err != nil {
				return nil, nil, err
			}
		}
		name := rt.Name
		if name == "" {
			name = deriveName(rt.Val)
		}
		out = append(out, e)
		cols = append(cols, columnOf(name, e))
	}
	return out, cols, nil
}

// DefaultFor is the expression a column gets when an INSERT omits it.
func DefaultFor(c *meridianpb.ColumnDesc) *Expr {
	if c.DefaultExpr != nil {
		return c.DefaultExpr
	}
	return &Expr{Kind: kConst, TypeOid: c.TypeOid, Typmod: c.Typmod, IsNull: true}
}

// PlanInsert plans INSERT ... VALUES.
func (p *Planner) PlanInsert(ins *pg_query.InsertStmt, paramTypes []uint32) (*Plan, error) {
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	switch {
	case ins.OnConflictClause != nil:
		return nil, pgerr.Unsupported("INSERT ... ON CONFLICT")
	case ins.WithClause != nil:
		return nil, pgerr.Unsupported("WITH")
	}
	t, err := p.ResolveTable(ins.Relation)
	if err != nil {
		return nil, err
	}
	s := tableScope(t, "", ps)
	s.q = &query{p: p, seq: seqDirect}
	var target []int
	if len(ins.Cols) == 0 {
		for i := range t.Columns {
			target = append(target, i)
		}
	} else {
		seen := map[int]bool{}
		for _, c := range ins.Cols {
			rt := c.GetResTarget()
			if len(rt.Indirection) > 0 {
				return nil, pgerr.Unsupported("INSERT into subfields")
			}
			i := columnIndex(t, rt.Name)
			if i < 0 {
				return nil, pgerr.New(pgerr.UndefinedColumn, "column %q of relation %q does not exist", rt.Name, t.Name)
			}
			if seen[i] {
				return nil, pgerr.New(pgerr.DuplicateColumn, "column %q specified more than once", rt.Name)
			}
			seen[i] = true
			target = append(target, i)
		}
	}
	ins2 := &Insert{Table: t}
	var valueRows [][]*pg_query.Node
	if ins.SelectStmt == nil {
		valueRows = [][]*pg_query.Node{nil} // DEFAULT VALUES
		target = nil
	} else {
		sel := ins.SelectStmt.GetSelectStmt()
		if sel == nil {
			return nil, pgerr.Unsupported("INSERT source")
		}
		if len(sel.ValuesLists) == 0 {
			return p.planInsertSelect(ins, sel, t, target, len(ins.Cols) == 0, ps)
		}
		if sel.Op != pg_query.SetOperation_SETOP_NONE {
			return nil, pgerr.Unsupported("INSERT ... VALUES with set operations")
		}
		for _, vl := range sel.ValuesLists {
			valueRows = append(valueRows, vl.GetList().Items)
		}
	}
	implicitCols := len(ins.Cols) == 0
	for _, items := range valueRows {
		if implicitCols && target != nil && len(items) < len(target) {
			target = target[:len(items)]
		}
		if len(items) > len(target) {
			return nil, pgerr.New(pgerr.SyntaxError, "INSERT has more expressions than target columns")
		}
		if len(items) < len(target) {
			return nil, pgerr.New(pgerr.SyntaxError, "INSERT has more target columns than expressions")
		}
		row := make([]*Expr, len(t.Columns))
		for k, item := range items {
			ci := target[k]
			col := t.Columns[ci]
			if item.GetSetToDefault() != nil {
				row[ci] = DefaultFor(col)
				continue
			}
			e, err := s.analyzeValue(item)
			if err != nil {
				return nil, err
			}
			if row[ci], err = s.assign(e, col); err != nil {
				return nil, err
			}
			if dflt, err := identityOverride(col, ins.Override); err != nil {
				return nil, err
			} else if dflt {
				row[ci] = DefaultFor(col)
			}
		}
		for i, c := range t.Columns {
			if row[i] == nil {
				row[i] = DefaultFor(c)
			}
		}
		ins2.Rows = append(ins2.Rows, row)
	}
	s.q.seq = seqRefused // RETURNING runs on the datanodes
	ret, cols, err := s.returning(ins.ReturningList)
	if err != nil {
		return nil, err
	}
	ins2.Returning = ret
	return dmlPlan(&Plan{Insert: ins2, Columns: cols, Params: ps.types, Tag: "INSERT"}, s.q)
}

// planInsertSelect plans INSERT ... SELECT: the query's output columns go
// to the target columns in order, converted as assignments.
func (p *Planner) planInsertSelect(ins *pg_query.InsertStmt, sel *pg_query.SelectStmt, t *meridianpb.TableDesc, target []int, implicitCols bool, ps *params) (*Plan, error) {
	src, err := p.PlanSelect(sel, ps.types)
	if err != nil {
		return nil, err
	}
	ps.types = src.Params
	n := len(src.Columns)
	if implicitCols && n < len(target) {
		target = target[:n]
	}
	if n > len(target) {
		return nil, pgerr.New(pgerr.SyntaxError, "INSERT has more expressions than target columns")
	}
	if n < len(target) {
		return nil, pgerr.New(pgerr.SyntaxError, "INSERT has more target columns than expressions")
	}
	s := tableScope(t, "", ps)
	row := make([]*Expr, len(t.Columns))
	for k, ci := range target {
		col := t.Columns[ci]
		c := src.Columns[k]
		e, err := s.assign(expr.Column(k, types.Type{OID: c.TypeOID, Typmod: c.TypeModifier}), col)
		if err != nil {
			return nil, err
		}
		row[ci] = e
		if dflt, err := identityOverride(col, ins.Override); err != nil {
			return nil, err
		} else if dflt {
			row[ci] = DefaultFor(col)
		}
	}
	for i, c := range t.Columns {
		if row[i] == nil {
			row[i] = DefaultFor(c)
		}
	}
	ret, cols, err := s.returning(ins.ReturningList)
	if err != nil {
		return nil, err
	}
	return &Plan{Insert: &Insert{Table: t, Source: src.Select, SourceRow: row, Returning: ret},
		Columns: cols, Params: ps.types, Tag: "INSERT"}, nil
}

// analyzeValue analyzes a VALUES item, which may not reference columns.
func (s *scope) analyzeValue(n *pg_query.Node) (*Expr, error) {
	noCols := &scope{params: s.params, q: s.q}
	return noCols.analyze(n)
}

// PlanUpdate plans UPDATE. One whose rows depend on other tables (FROM,
// correlated subqueries, WITH) is planned as a query (dmljoin.go); the
// others update the rows their scan finds on each datanode.
func (p *Planner) PlanUpdate(up *pg_query.UpdateStmt, paramTypes []uint32) (*Plan, error) {
	t, err := p.ResolveTable(up.Relation)
	if err != nil {
		return nil, err
	}
	if len(up.FromClause) > 0 || up.WithClause != nil {
		return p.planUpdateQuery(up, t, paramTypes)
	}
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	s := tableScope(t, aliasOf(up.Relation), ps)
	s.q = &query{p: p, seq: seqRefused}
	u := &Update{}
	if u.SetCols, u.SetExprs, err = s.setClause(t, up.TargetList); err != nil {
		return nil, err
	}
	filter, err := s.dmlWhere(up.WhereClause)
	if err != nil {
		return nil, err
	}
	if anyCorrelated(s.q.subs) {
		return p.planUpdateQuery(up, t, paramTypes)
	}
	u.Access = planAccess(t, filter)
	ret, cols, err := s.returning(up.ReturningList)
	if err != nil {
		return nil, err
	}
	u.Returning = ret
	return dmlPlan(&Plan{Update: u, Columns: cols, Params: ps.types, Tag: "UPDATE"}, s.q)
}

// setClause analyzes UPDATE's SET list: the columns assigned and their
// new values (over the scope's row).
func (s *scope) setClause(t *meridianpb.TableDesc, list []*pg_query.Node) ([]int, []*Expr, error) {
	var cols []int
	var exprs []*Expr
	seen := map[int]bool{}
	for _, n := range list {
		rt := n.GetResTarget()
		if rt.Val.GetMultiAssignRef() != nil {
			return nil, nil, pgerr.Unsupported("multiple-column UPDATE assignment")
		}
		ci := columnIndex(t, rt.Name)
		if ci < 0 {
			// SET t.col = ...: the target's columns are never qualified
			// (PostgreSQL reads t as a column with a subfield).
			return nil, nil, pgerr.New(pgerr.UndefinedColumn, "column %q of relation %q does not exist", rt.Name, t.Name)
		}
		if len(rt.Indirection) > 0 {
			return nil, nil, pgerr.Unsupported("UPDATE of subfields")
		}
		if seen[ci] {
			return nil, nil, pgerr.New(pgerr.SyntaxError, "multiple assignments to same column %q", rt.Name)
		}
		seen[ci] = true
		col := t.Columns[ci]
		if err := updateIdentity(col, rt.Val.GetSetToDefault() != nil); err != nil {
			return nil, nil, err
		}
		for _, d := range t.DistColumns {
			if int(d) == ci && t.Dist == meridianpb.DistKind_DIST_HASH {
				return nil, nil, pgerr.Unsupported("updating distribution key column " + rt.Name)
			}
		}
		var e *Expr
		if rt.Val.GetSetToDefault() != nil {
			e = DefaultFor(col)
		} else {
			v, err := s.analyze(rt.Val)
			if err != nil {
				return nil, nil, err
			}
			if e, err = s.assign(v, col); err != nil {
				return nil, nil, err
			}
		}
		cols = append(cols, ci)
		exprs = append(exprs, e)
	}
	return cols, exprs, nil
}

// PlanDelete plans DELETE; as UPDATE, one whose rows depend on other
// tables (USING, correlated subqueries, WITH) is planned as a query.
func (p *Planner) PlanDelete(del *pg_query.DeleteStmt, paramTypes []uint32) (*Plan, error) {
	t, err := p.ResolveTable(del.Relation)
	if err != nil {
		return nil, err
	}
	if len(del.UsingClause) > 0 || del.WithClause != nil {
		return p.planDeleteQuery(del, t, paramTypes)
	}
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	s := tableScope(t, aliasOf(del.Relation), ps)
	s.q = &query{p: p, seq: seqRefused}
	filter, err := s.dmlWhere(del.WhereClause)
	if err != nil {
		return nil, err
	}
	if anyCorrelated(s.q.subs) {
		return p.planDeleteQuery(del, t, paramTypes)
	}
	d := &Delete{Access: planAccess(t, filter)}
	ret, cols, err := s.returning(del.ReturningList)
	if err != nil {
		return nil, err
	}
	d.Returning = ret
	return dmlPlan(&Plan{Delete: d, Columns: cols, Params: ps.types, Tag: "DELETE"}, s.q)
}

// dmlWhere analyzes the WHERE clause of an UPDATE or DELETE (nil: none).
func (s *scope) dmlWhere(n *pg_query.Node) (*Expr, error) {
	if n == nil {
		return nil, nil
	}
	if n.GetCurrentOfExpr() != nil {
		return nil, pgerr.Unsupported("WHERE CURRENT OF")
	}
	return s.analyzeBool(n, "WHERE")
}

func anyCorrelated(subs []*SubPlan) bool {
	for _, sp := range subs {
		if sp.Correlated {
			return true
		}
	}
	return false
}

// AnalyzeDefault types a column DEFAULT expression (no columns, no
// parameters) and converts it to the column's type; sequences it names by
// constant (nextval('s')) are resolved now.
func (p *Planner) AnalyzeDefault(n *pg_query.Node, col *meridianpb.ColumnDesc) (*Expr, error) {
	s := &scope{params: &params{}, q: &query{p: p, seq: seqDirect}}
	e, err := s.analyze(n)
	if err != nil {
		return nil, err
	}
	if len(s.params.types) > 0 {
		return nil, pgerr.New(pgerr.SyntaxError, "cannot use parameters in DEFAULT")
	}
	if len(s.q.subs) > 0 {
		return nil, pgerr.New(pgerr.FeatureNotSupported, "cannot use subquery in DEFAULT expression")
	}
	return s.assign(e, col)
}

func aliasOf(rv *pg_query.RangeVar) string {
	if rv.Alias != nil {
		return rv.Alias.Aliasname
	}
	return ""
}

// dmlPlan attaches a data-modifying statement's subqueries, which run
// before it (once each).
func dmlPlan(p *Plan, q *query) (*Plan, error) {
	if anyCorrelated(q.subs) {
		return nil, pgerr.Unsupported("correlated subqueries in " + p.Tag)
	}
	p.Subqueries = q.subs
	return p, nil
}
