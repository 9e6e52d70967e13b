package optimizer

import (
	"slices"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/types"
)

// Equivalence classes of an island's columns (PostgreSQL's
// EquivalenceClass). The island's equalities between two plain columns of
// one type, a = b and b = c, make a, b and c one class: on every row the
// island puts out they are equal. The join search does not take the
// written equalities one by one but the classes: any two subsets that each
// hold a member of a class are joined on one pair of members, so the
// implied a = c connects a's and c's leaves as well as the written ones
// do. TPC-H Q5 is the case: c_nationkey = s_nationkey and
// s_nationkey = n_nationkey let customer join nation (and region's
// filter) before orders and lineitem, instead of dragging every
// customer's orders through the lineitem lookups first. One equality per
// class and join keeps the estimates right: the written a = b and b = c
// between the same two subsets would count the one condition twice.
//
// By induction over the joins, the members of a class that one subplan
// holds are equal on every one of its rows: within a leaf, filters make
// them so (a = c of one leaf is implied too), and each join equates one
// member of each side.

// eclass is one class: its flat columns, ascending, and the leaves
// holding them.
type eclass struct {
	members []int
	mask    uint64
}

// equivClasses builds the classes of is.preds; absorbed[i] says that
// pred i is one of their equalities (and needs no planning of its own).
// col[c] is a column expression of flat column c for each member.
func equivClasses(is *island) (classes []eclass, absorbed []bool, col map[int]*Expr) {
	absorbed = make([]bool, len(is.preds))
	sets := planner.DisjointSets[int]{}
	col = map[int]*Expr{}
	for i, p := range is.preds {
		a, b, ok := columnEquality(p)
		if !ok {
			continue
		}
		ca, cb := int(a.Index), int(b.Index)
		if x, ok := col[ca]; ok && !sameColumnType(x, a) {
			continue
		}
		if x, ok := col[cb]; ok && !sameColumnType(x, b) {
			continue
		}
		col[ca], col[cb] = a, b
		absorbed[i] = true
		sets.Union(ca, cb)
	}
	byRoot := map[int][]int{}
	for c := range col {
		r := sets.Find(c)
		byRoot[r] = append(byRoot[r], c)
	}
	for _, ms := range byRoot {
		slices.Sort(ms)
		var m uint64
		for _, c := range ms {
			m |= 1 << uint(is.leafOf(c))
		}
		classes = append(classes, eclass{members: ms, mask: m})
	}
	slices.SortFunc(classes, func(x, y eclass) int { return x.members[0] - y.members[0] })
	return classes, absorbed, col
}

// columnEquality matches a = b of two different plain columns of one
// type whose equality is hashable (so transitive: one comparison
// semantics for the whole class).
func columnEquality(e *Expr) (a, b *Expr, ok bool) {
	if e.Kind != kFunc || e.Name != "=" || len(e.Args) != 2 {
		return nil, nil, false
	}
	a, b = e.Args[0], e.Args[1]
	if a.Kind != kColumn || b.Kind != kColumn || a.Index == b.Index || !sameColumnType(a, b) || !planner.Hashable(a, b) {
		return nil, nil, false
	}
	return a, b, true
}

func sameColumnType(a, b *Expr) bool {
	return a.TypeOid == b.TypeOid && a.TypeOid != types.Unknown && (a.TypeOid != types.Bpchar || a.Typmod == b.Typmod)
}

// in returns the members of c among the leaves of mask m.
func (c eclass) in(is *island, m uint64) []int {
	var out []int
	for _, x := range c.members {
		if m&(1<<uint(is.leafOf(x))) != 0 {
			out = append(out, x)
		}
	}
	return out
}

// eqExpr is a = b of two flat columns.
func eqExpr(a, b *Expr) *Expr {
	return &Expr{Kind: kFunc, Name: "=", TypeOid: types.Bool, Typmod: -1, Args: []*Expr{a, b}}
}

// pickMember chooses the member of a subplan to join a class on: one its
// rows are distributed by, when there is one, so that a co-located join
// stays co-located; else the first.
func pickMember(ms []int, sp *subplan) int {
	if d := sp.n.dist; d.kind == distHashed {
		for _, c := range ms {
			pos := sp.layout[c]
			for _, alt := range d.keys {
				if slices.Contains(alt, pos) {
					return c
				}
			}
		}
	}
	return ms[0]
}
