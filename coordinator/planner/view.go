package planner

import (
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Views. A view is stored as the text of its SELECT (ViewDesc); every
// reference to it in FROM is planned as a derived table of that query,
// named by the view (or the reference's alias), so the rewrites that work
// on derived tables — predicate pushdown into them, decorrelation, join
// ordering across them — work on views too. The view's query sees no
// CTE and no column of the query that names it.

// maxViewDepth bounds nested expansion: a view whose query names itself
// through CREATE OR REPLACE would otherwise expand forever.
const maxViewDepth = 64

// resolveView finds the view a range variable names, if any.
func (p *Planner) resolveView(rv *pg_query.RangeVar) (*meridianpb.ViewDesc, bool) {
	if rv.Catalogname != "" {
		return nil, false
	}
	schema := rv.Schemaname
	if schema == "" {
		schema = "public"
	}
	return p.Cat.View(schema, rv.Relname)
}

// parseView parses a view's stored query.
func parseView(vd *meridianpb.ViewDesc) (*pg_query.SelectStmt, error) {
	res, err := pg_query.Parse(vd.Query)
	if err != nil || len(res.Stmts) != 1 || res.Stmts[0].Stmt.GetSelectStmt() == nil {
		return nil, pgerr.New(pgerr.InternalError, "view %q: stored query does not parse: %v", vd.Name, err)
	}
	return res.Stmts[0].Stmt.GetSelectStmt(), nil
}

// view adds a reference to view vd to the FROM list.
func (b *fromBuilder) view(vd *meridianpb.ViewDesc, rv *pg_query.RangeVar, alias string, colAliases []*pg_query.Node) error {
	if b.in.q.views >= maxViewDepth {
		return pgerr.New("42P17", "infinite recursion detected in rules for relation %q", vd.Name)
	}
	sel, err := parseView(vd)
	if err != nil {
		return err
	}
	c := qctx{ps: &params{}, views: b.in.q.views + 1}
	sub, cols, _, err := b.in.q.p.planQuery(sel, c)
	if err != nil {
		return err
	}
	n := len(vd.ColumnNames)
	if len(cols) > n {
		// The query gained columns since CREATE VIEW (SELECT * over a
		// table that gained some): the view keeps its own, the first n.
		wrapped := wrapFirstColumns(sel, len(cols), n)
		if sub, cols, _, err = b.in.q.p.planQuery(wrapped, c); err != nil {
			return err
		}
	}
	if len(cols) != n {
		return viewChanged(vd)
	}
	for i, col := range cols {
		if col.TypeOID != vd.ColumnTypes[i] {
			return viewChanged(vd)
		}
	}
	name := rv.Relname
	if alias != "" {
		name = alias
	}
	r := &rangeEntry{name: name, offset: b.in.width()}
	for i := range cols {
		r.cols = append(r.cols, colInfo{vd.ColumnNames[i], types.Type{OID: vd.ColumnTypes[i], Typmod: vd.ColumnTypmods[i]}})
	}
	if err := renameCols(r, colAliases); err != nil {
		return err
	}
	b.addItem(&QueryRel{Query: sub}, r)
	return nil
}

func viewChanged(vd *meridianpb.ViewDesc) error {
	return pgerr.New(pgerr.ObjectNotInPrerequisiteState,
		"view %q no longer matches its definition: a table it reads lost or changed a column", vd.Name).
		WithHint("Recreate the view with CREATE OR REPLACE VIEW, or drop it.")
}

// wrapFirstColumns returns SELECT c1..cn FROM (sel) AS v(c1..cm).
func wrapFirstColumns(sel *pg_query.SelectStmt, m, n int) *pg_query.SelectStmt {
	names := make([]*pg_query.Node, m)
	for i := range names {
		names[i] = pg_query.MakeStrNode(fmt.Sprintf("?view column %d?", i+1))
	}
	targets := make([]*pg_query.Node, n)
	for i := range targets {
		targets[i] = pg_query.MakeResTargetNodeWithVal(
			pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(fmt.Sprintf("?view column %d?", i+1))}, -1), -1)
	}
	from := &pg_query.Node{Node: &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
		Subquery: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}},
		Alias:    &pg_query.Alias{Aliasname: "?view?", Colnames: names},
	}}}
	return &pg_query.SelectStmt{TargetList: targets, FromClause: []*pg_query.Node{from},
		Op: pg_query.SetOperation_SETOP_NONE, LimitOption: pg_query.LimitOption_LIMIT_OPTION_DEFAULT}
}

// PlanView plans a view's query as CREATE VIEW does: it must plan, and
// its columns become the view's. deps are the ids of the tables and views
// the query names.
func (p *Planner) PlanView(sel *pg_query.SelectStmt) (cols []pgwire.Column, deps []uint32, err error) {
	if len(sel.LockingClause) > 0 {
		return nil, nil, pgerr.Unsupported("FOR UPDATE/SHARE in a view")
	}
	ps := &params{}
	if _, cols, _, err = p.planQuery(sel, qctx{ps: ps, views: 1}); err != nil {
		return nil, nil, err
	}
	if len(ps.types) > 0 {
		return nil, nil, pgerr.New("42P02", "there is no parameter $1")
	}
	ctes := map[string]bool{}
	var names []*pg_query.RangeVar
	walkNodes(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		switch v := m.Interface().(type) {
		case *pg_query.CommonTableExpr:
			ctes[v.Ctename] = true
		case *pg_query.RangeVar:
			names = append(names, v)
		}
		return true
	})
	for _, rv := range names {
		if rv.Schemaname == "" && ctes[rv.Relname] {
			continue
		}
		var id uint32
		if vd, ok := p.resolveView(rv); ok {
			id = vd.Id
		} else if t, err := p.ResolveTable(rv); err == nil {
			id = t.Id
		} else {
			continue
		}
		if !slices.Contains(deps, id) {
			deps = append(deps, id)
		}
	}
	return cols, deps, nil
}
