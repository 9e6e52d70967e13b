package planner

import (
	"slices"

	"github.com/meridian-db/meridian/sql/types"
)

// withClosure adds the conditions the transitive closure of a list of
// conjuncts' equalities implies: columns equal to each other (a = b, of
// one type, so with one comparison semantics) form a class, and a value
// one member is pinned to (a = 3, a IN (1, 2), a = $1) pins every other
// member too. So t1.k = t2.k AND t1.k = 5 gives t2's scan the filter
// t2.k = 5, which prunes its buckets as it does t1's. Conjuncts are
// over one row (a block's FROM row), so every derived condition holds
// wherever the originals do.
func withClosure(conds []*Expr) []*Expr {
	sets := DisjointSets[int32]{}
	find := sets.Find
	colType := map[int32]types.Type{}
	edges := 0
	for _, c := range conds {
		a, b, ok := colEqCol(c)
		if !ok {
			continue
		}
		colType[a.Index], colType[b.Index] = typeOf(a), typeOf(b)
		if sets.Union(a.Index, b.Index) {
			edges++
		}
	}
	if edges == 0 {
		return conds
	}
	// The values each column is pinned to: a list (= v is a list of one).
	type pin struct {
		col  int32
		vals []*Expr
	}
	var pins []pin
	has := func(col int32, vals []*Expr) bool {
		for _, p := range pins {
			if p.col == col && len(p.vals) == len(vals) {
				same := true
				for i := range vals {
					same = same && exprEqual(p.vals[i], vals[i])
				}
				if same {
					return true
				}
			}
		}
		return false
	}
	for _, c := range conds {
		if col, vals, ok := colPinned(c); ok && !has(col.Index, vals) {
			pins = append(pins, pin{col.Index, vals})
		}
	}
	members := make([]int32, 0, len(colType))
	for m := range colType {
		members = append(members, m)
	}
	slices.Sort(members)
	out := conds
	for _, p := range append([]pin(nil), pins...) {
		if _, inClass := colType[p.col]; !inClass {
			continue
		}
		root := find(p.col)
		for _, m := range members {
			t := colType[m]
			if m == p.col || find(m) != root || has(m, p.vals) || t.OID != colType[p.col].OID {
				continue
			}
			pins = append(pins, pin{m, p.vals})
			out = append(out, pinExpr(m, t, p.vals))
		}
	}
	return out
}

// colEqCol matches a = b of two plain columns of one type.
func colEqCol(e *Expr) (a, b *Expr, ok bool) {
	if e.Kind != kFunc || e.Name != "=" || len(e.Args) != 2 {
		return nil, nil, false
	}
	a, b = e.Args[0], e.Args[1]
	if a.Kind != kColumn || b.Kind != kColumn || a.TypeOid != b.TypeOid || a.Index == b.Index || a.TypeOid == types.Unknown {
		return nil, nil, false
	}
	return a, b, true
}

// colPinned matches col = value and col IN (values).
func colPinned(e *Expr) (*Expr, []*Expr, bool) {
	if col, v, ok := colEqValue(e); ok {
		return col, []*Expr{v}, true
	}
	if e.Kind != kIn || len(e.Args) < 2 || e.Args[0].Kind != kColumn {
		return nil, nil, false
	}
	col := e.Args[0]
	for _, v := range e.Args[1:] {
		if v.TypeOid != col.TypeOid || !isValue(v) || coordinatorOnly(v) || maxLevel(v) > 0 {
			return nil, nil, false
		}
	}
	return col, e.Args[1:], true
}

// pinExpr is col = v, or col IN (vals).
func pinExpr(col int32, t types.Type, vals []*Expr) *Expr {
	c := &Expr{Kind: kColumn, Index: col, TypeOid: t.OID, Typmod: t.Typmod}
	if len(vals) == 1 {
		return &Expr{Kind: kFunc, Name: "=", TypeOid: types.Bool, Typmod: -1, Args: []*Expr{c, cloneExpr(vals[0])}}
	}
	args := []*Expr{c}
	for _, v := range vals {
		args = append(args, cloneExpr(v))
	}
	return boolExpr(kIn, args...)
}

// DisjointSets is a union-find forest (columns equal to each other).
type DisjointSets[K comparable] map[K]K

// Find returns the representative of x's set.
func (d DisjointSets[K]) Find(x K) K {
	p, ok := d[x]
	if !ok || p == x {
		return x
	}
	r := d.Find(p)
	d[x] = r
	return r
}

// Union merges the sets of a and b; it reports whether they were apart.
func (d DisjointSets[K]) Union(a, b K) bool {
	ra, rb := d.Find(a), d.Find(b)
	if ra == rb {
		return false
	}
	d[ra] = rb
	return true
}
