package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// UPDATE and DELETE planned as queries.
//
// An UPDATE ... FROM, a DELETE ... USING, one with a WITH clause or with
// subqueries that read the target row is planned as a query over the
// target table joined with the other FROM items (so joins, data movement
// and decorrelation are the SELECT planner's and the optimizer's). Each of
// the query's rows names one target row — by its row key (the target
// scan's RowKey column), or, for a replicated table, whose copies number
// their rows each, by its values — and carries the extras: the values of
// the other tables (and of subqueries) that SET, RETURNING and the
// recheck read. The coordinator keeps the first row it gets for each
// target row (a row joining several FROM rows is changed once, with an
// arbitrary one of them, as in PostgreSQL) and sends them in batches to
// the datanodes, which read each row again, re-check it and change it as
// a scan-driven UPDATE or DELETE does (RowTargets).
//
// The recheck is the WHERE clause's (and inner joins' ON) conditions on
// the target row that hold no subquery, over the row and the extras: when
// a concurrent transaction changed the row, READ COMMITTED re-reads it and
// applies it to the new version with the same FROM rows, as PostgreSQL's
// EvalPlanQual does; conditions in subqueries (EXISTS, IN) and SET values
// computed by subqueries are not evaluated again.

// RowSource is how an UPDATE or DELETE planned as a query finds its rows.
type RowSource struct {
	// Query's rows: the target row's identity (its row key; with ByImage
	// the table's columns), then the extras.
	Query   *Select
	ByImage bool
	// Extras are the extras' types. In SetExprs, Returning and
	// Access.Filter (the recheck) table column i is column i, extra k
	// column len(table columns)+k.
	Extras []types.Type
	// Names names those columns, for EXPLAIN.
	Names []string
}

// dmlQuery is an UPDATE or DELETE being planned as a query.
type dmlQuery struct {
	t       *meridianpb.TableDesc
	in      *scope // FROM row: the target's columns (and row key), then the FROM items'
	from    *fromBuilder
	n       int // the target table's width
	byImage bool
	extras  []*Expr // over the FROM row
}

// newDMLQuery sets up the FROM row of an UPDATE or DELETE: the target
// table first, then the FROM (USING) items; WITH queries are in scope.
func (p *Planner) newDMLQuery(t *meridianpb.TableDesc, rv *pg_query.RangeVar, with *pg_query.WithClause, from []*pg_query.Node, ps *params) (*dmlQuery, error) {
	in := &scope{params: ps, q: &query{p: p, seq: seqRefused}}
	if with != nil {
		env, err := p.planWith(with, qctx{ps: ps})
		if err != nil {
			return nil, err
		}
		in.q.ctes = env
	}
	d := &dmlQuery{t: t, in: in, from: &fromBuilder{in: in}, n: len(t.Columns), byImage: t.Dist == meridianpb.DistKind_DIST_REPLICATION}
	r := tableEntry(t, aliasOf(rv), 0)
	in.addEntry(r)
	it := &fromItem{rel: &ScanRel{Access: Access{Table: t}, RowKey: !d.byImage}, lo: 0, hi: d.n}
	for _, c := range r.cols {
		it.types = append(it.types, c.typ)
	}
	if !d.byImage {
		// The row key: a column no name reaches.
		in.entries = append(in.entries, &rangeEntry{offset: d.n, cols: []colInfo{{"", types.T(types.Bytea)}}})
		it.hi++
		it.types = append(it.types, types.T(types.Bytea))
	}
	d.from.items = append(d.from.items, it)
	for _, n := range from {
		if err := d.from.add(n); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, e := range in.entries {
		if e.name == "" {
			continue // the row key, JOIN ... USING's merged columns
		}
		if seen[e.name] {
			return nil, pgerr.New(pgerr.DuplicateAlias, "table name %q specified more than once", e.name)
		}
		seen[e.name] = true
	}
	return d, nil
}

// extract rewrites e, over the FROM row, to read the target row and the
// extras: columns of the other FROM items and subqueries become extras.
func (d *dmlQuery) extract(e *Expr) *Expr {
	if e == nil {
		return nil
	}
	if e.Kind == kSubq || (e.Kind == kColumn && int(e.Index) >= d.n) {
		k := -1
		for i, x := range d.extras {
			if exprEqual(x, e) {
				k = i
				break
			}
		}
		if k < 0 {
			k = len(d.extras)
			d.extras = append(d.extras, cloneExpr(e))
		}
		return expr.Column(d.n+k, typeOf(e))
	}
	c := &Expr{Kind: e.Kind, TypeOid: e.TypeOid, Typmod: e.Typmod, Value: e.Value, IsNull: e.IsNull,
		Index: e.Index, Name: e.Name, LevelsUp: e.LevelsUp}
	for _, a := range e.Args {
		c.Args = append(c.Args, d.extract(a))
	}
	return c
}

func (d *dmlQuery) extractAll(es []*Expr) []*Expr {
	out := make([]*Expr, len(es))
	for i, e := range es {
		out[i] = d.extract(e)
	}
	return out
}

// source builds the query and the recheck (the target's access) from
// the WHERE clause's filter, once every other expression the statement
// evaluates was extracted.
func (d *dmlQuery) source(filter *Expr) (*RowSource, Access, error) {
	in := d.in
	conds := conjuncts(filter)
	conds = normalize(append(append([]*Expr(nil), d.from.conds...), conds...))
	// The recheck: the conditions a concurrent update of the target row
	// may make false (those reading a column that can change).
	mutable := map[int32]bool{}
	for i := range d.t.Columns {
		mutable[int32(i)] = true
	}
	if !d.byImage {
		for _, c := range d.t.DistColumns {
			mutable[c] = false // never updated
		}
	}
	var recheck []*Expr
	for _, c := range conds {
		reads := false
		colRefs(c, func(i int32) { reads = reads || mutable[i] })
		if reads && !coordinatorOnly(c) {
			recheck = append(recheck, d.extract(c))
		}
	}
	rel, err := decorrelate(d.from.items, conds, in.q.subs)
	if err != nil {
		return nil, Access{}, err
	}
	src := &RowSource{ByImage: d.byImage, Names: tableNames(d.t)}
	var fromNames []string
	for _, it := range d.from.items {
		fromNames = append(fromNames, relNames(it.rel)...)
	}
	q := &Select{From: rel, Subqueries: in.q.subs}
	if d.byImage {
		for i, c := range d.t.Columns {
			q.Output = append(q.Output, expr.Column(i, colType(c)))
		}
	} else {
		q.Output = append(q.Output, expr.Column(d.n, types.T(types.Bytea)))
	}
	for _, x := range d.extras {
		q.Output = append(q.Output, x)
		src.Extras = append(src.Extras, typeOf(x))
		src.Names = append(src.Names, fmtExpr(x, fromNames))
	}
	q.Visible = len(q.Output)
	q.decorrelateOutput()
	src.Query = q
	return src, Access{Table: d.t, Filter: andAll(recheck)}, nil
}

// dmlQueryFor starts planning an UPDATE or DELETE as a query: its FROM
// row, then (PostgreSQL's order) its WHERE clause and RETURNING list.
func (p *Planner) dmlQueryFor(t *meridianpb.TableDesc, rv *pg_query.RangeVar, with *pg_query.WithClause, from []*pg_query.Node,
	where *pg_query.Node, returning []*pg_query.Node, paramTypes []uint32) (*dmlQuery, *Expr, []*Expr, []pgwire.Column, error) {
	ps := &params{types: append([]uint32(nil), paramTypes...)}
	d, err := p.newDMLQuery(t, rv, with, from, ps)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	filter, err := d.in.dmlWhere(where)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ret, cols, err := d.in.returning(returning)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return d, filter, d.extractAll(ret), cols, nil
}

// planUpdateQuery plans an UPDATE as a query.
func (p *Planner) planUpdateQuery(up *pg_query.UpdateStmt, t *meridianpb.TableDesc, paramTypes []uint32) (*Plan, error) {
	d, filter, ret, cols, err := p.dmlQueryFor(t, up.Relation, up.WithClause, up.FromClause, up.WhereClause, up.ReturningList, paramTypes)
	if err != nil {
		return nil, err
	}
	setCols, sets, err := d.in.setClause(t, up.TargetList)
	if err != nil {
		return nil, err
	}
	for _, e := range ret {
		if readsCorrelated(e, d) {
			// It would read the old row, RETURNING the new one.
			return nil, pgerr.Unsupported("correlated subqueries in UPDATE ... RETURNING")
		}
	}
	u := &Update{SetCols: setCols, SetExprs: d.extractAll(sets), Returning: ret}
	if u.Source, u.Access, err = d.source(filter); err != nil {
		return nil, err
	}
	return &Plan{Update: u, Columns: cols, Params: d.in.params.types, Tag: "UPDATE"}, nil
}

// readsCorrelated reports whether e, extracted, reads an extra that is
// a correlated subquery.
func readsCorrelated(e *Expr, d *dmlQuery) bool {
	found := false
	colRefs(e, func(i int32) {
		if k := int(i) - d.n; k >= 0 {
			x := d.extras[k]
			found = found || (x.Kind == kSubq && d.in.q.subs[x.Index].Correlated)
		}
	})
	return found
}

// planDeleteQuery plans a DELETE as a query.
func (p *Planner) planDeleteQuery(del *pg_query.DeleteStmt, t *meridianpb.TableDesc, paramTypes []uint32) (*Plan, error) {
	d, filter, ret, cols, err := p.dmlQueryFor(t, del.Relation, del.WithClause, del.UsingClause, del.WhereClause, del.ReturningList, paramTypes)
	if err != nil {
		return nil, err
	}
	dl := &Delete{Returning: ret}
	if dl.Source, dl.Access, err = d.source(filter); err != nil {
		return nil, err
	}
	return &Plan{Delete: dl, Columns: cols, Params: d.in.params.types, Tag: "DELETE"}, nil
}
