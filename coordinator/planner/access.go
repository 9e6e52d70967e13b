package planner

import (
	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Planner plans statements against a catalog.
type Planner struct {
	Cat Catalog
}

// Catalog is what the planner reads of the catalog (a *catalog.Catalog).
type Catalog interface {
	Table(schema, name string) (*meridianpb.TableDesc, bool)
	Sequence(schema, name string) (*meridianpb.SequenceDesc, bool)
	RelationExists(schema, name string) bool
	SchemaExists(name string) bool
	OwnedSequences(tableID uint32) []*meridianpb.SequenceDesc
	View(schema, name string) (*meridianpb.ViewDesc, bool)
}

var _ Catalog = (*catalog.Catalog)(nil)

// ResolveTable finds a table named by a RangeVar.
func (p *Planner) ResolveTable(rv *pg_query.RangeVar) (*meridianpb.TableDesc, error) {
	schema := rv.Schemaname
	if schema == "" {
		schema = "public"
	}
	if rv.Catalogname != "" {
		return nil, pgerr.Unsupported("cross-database references")
	}
	t, ok := p.Cat.Table(schema, rv.Relname)
	if !ok {
		if schema == "pg_catalog" || schema == "information_schema" {
			return nil, pgerr.Unsupported("system catalog " + schema + "." + rv.Relname)
		}
		if _, isSeq := p.Cat.Sequence(schema, rv.Relname); isSeq {
			return nil, pgerr.Unsupported("reading or writing sequence \"" + rv.Relname + "\" as a table")
		}
		if _, isView := p.Cat.View(schema, rv.Relname); isView {
			// FROM expands views before it gets here: this is a write.
			return nil, pgerr.Unsupported("writing to view \"" + rv.Relname + "\" (updatable views)")
		}
		return nil, pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", rv.Relname)
	}
	return t, nil
}

// conjuncts splits an AND tree.
func conjuncts(e *Expr) []*Expr {
	if e == nil {
		return nil
	}
	if e.Kind == meridianpb.ExprKind_EXPR_AND {
		var out []*Expr
		for _, a := range e.Args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*Expr{e}
}

// isValue reports an expression with no column references (constant
// after Bind).
func isValue(e *Expr) bool {
	if e.Kind == kColumn {
		return false
	}
	for _, a := range e.Args {
		if !isValue(a) {
			return false
		}
	}
	return true
}

// colEquals finds, for each column, the values the filter pins it to.
func colEquals(filter *Expr) map[int][][]*Expr {
	out := map[int][][]*Expr{}
	for _, c := range conjuncts(filter) {
		switch {
		case c.Kind == kFunc && c.Name == "=" && len(c.Args) == 2:
			l, r := c.Args[0], c.Args[1]
			if r.Kind == kColumn && isValue(l) {
				l, r = r, l
			}
			if l.Kind == kColumn && isValue(r) {
				out[int(l.Index)] = append(out[int(l.Index)], []*Expr{r})
			}
		case c.Kind == meridianpb.ExprKind_EXPR_IN && len(c.Args) > 1 && c.Args[0].Kind == kColumn:
			vals := c.Args[1:]
			ok := true
			for _, v := range vals {
				ok = ok && isValue(v)
			}
			if ok {
				out[int(c.Args[0].Index)] = append(out[int(c.Args[0].Index)], vals)
			}
		}
	}
	return out
}

// planAccess fills route and index choice from the filter. Values are
// compared in the column's type: an equality whose value had to be cast
// from another type still pins the column only if the cast is exact, so
// only same-type equalities are used.
func planAccess(t *meridianpb.TableDesc, filter *Expr) Access {
	a := Access{Table: t, Filter: filter}
	eq := colEquals(filter)
	sameType := func(col int, v *Expr) bool {
		return v.TypeOid == t.Columns[col].TypeOid
	}
	if t.Dist == meridianpb.DistKind_DIST_HASH {
		var dv [][]*Expr
		for _, c := range t.DistColumns {
			var pick []*Expr
			for _, vals := range eq[int(c)] {
				ok := true
				for _, v := range vals {
					ok = ok && sameType(int(c), v)
				}
				if ok && (pick == nil || len(vals) < len(pick)) {
					pick = vals
				}
			}
			if pick == nil {
				dv = nil
				break
			}
			dv = append(dv, pick)
		}
		a.Route.DistValues = dv
	}
	// Index: every column pinned to one value; unique indexes first.
	best := -1
	for i, ix := range t.Indexes {
		ok := true
		for _, c := range ix.Columns {
			found := false
			for _, vals := range eq[int(c)] {
				if len(vals) == 1 && sameType(int(c), vals[0]) {
					found = true
				}
			}
			ok = ok && found
		}
		if ok && (best < 0 || (ix.Unique && !t.Indexes[best].Unique)) {
			best = i
		}
	}
	if best >= 0 {
		ix := t.Indexes[best]
		a.IndexID = ix.Id
		for _, c := range ix.Columns {
			for _, vals := range eq[int(c)] {
				if len(vals) == 1 && sameType(int(c), vals[0]) {
					a.IndexEq = append(a.IndexEq, vals[0])
					break
				}
			}
		}
	}
	return a
}

// columnOf describes an output column.
func columnOf(name string, e *Expr) pgwire.Column {
	t := typeOf(e)
	oid := t.OID
	if oid == types.Unknown {
		oid = types.Text
	}
	return pgwire.Column{Name: name, TypeOID: oid, TypeSize: types.InfoOf(oid).Size, TypeModifier: t.Typmod}
}
