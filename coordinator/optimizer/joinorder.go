package optimizer

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Join order.
//
// A FROM clause's inner joins form an island: its leaves (tables, derived
// tables, outer joins, ...) and the conditions between them, whatever
// order the query wrote them in. The island is planned by dynamic
// programming over subsets of leaves, smallest first: the best plan of a
// subset is the cheapest join of the best plans of two complementary
// subsets that a condition connects (cross products only when nothing
// connects), where "join" includes placing it — co-located, one side
// redistributed, both, broadcast or gathered — so the order and the data
// movement are chosen together by one cost. Beyond dpLimit leaves the
// search is greedy: it joins the connected pair with the cheapest result
// until one plan is left.
//
// Semi and anti joins that the planner put on top of an island (EXISTS,
// IN) join the search as well (semiIsland): each is a pseudo-leaf that a
// subset may take once it holds the leaves the semi join's conditions
// read, so that it filters where that pays — on its leaf before the inner
// joins multiply the rows, after the joins that cut them, or in between
// (TPC-H Q21: the NOT EXISTS on lineitem l1 after l1 met the Saudi
// suppliers, before orders). Where the search cannot take them (beyond
// dpLimit, correlated subqueries in their conditions) they are planned
// both ways: pushed down onto the leaf whose columns their conditions
// read, and left on top; the cheaper plan wins.

// dpLimit is the most leaves planned exhaustively.
const dpLimit = 10

// island is a flattened tree of inner joins.
type island struct {
	leaves []planner.Rel
	off    []int // first column of each leaf in the flat row
	width  int
	preds  []*Expr // over the flat row
	// out maps the island's output columns to flat columns (nil: the
	// flat row itself).
	out []int
}

// flattenIsland collects the inner joins under r; ok is false when r is
// not an inner join (or a column permutation over one).
func flattenIsland(r planner.Rel) (*island, bool) {
	var out []int
	if p, ok := r.(*planner.ProjectRel); ok {
		if j, ok := p.Input.(*planner.JoinRel); ok && j.Kind == planner.JoinInner {
			for _, e := range p.Exprs {
				if e.Kind != kColumn {
					return nil, false
				}
				out = append(out, int(e.Index))
			}
			r = p.Input
		}
	}
	j, ok := r.(*planner.JoinRel)
	if !ok || j.Kind != planner.JoinInner {
		return nil, false
	}
	is := &island{out: out}
	var add func(r planner.Rel)
	add = func(r planner.Rel) {
		if j, ok := r.(*planner.JoinRel); ok && j.Kind == planner.JoinInner {
			base := is.width
			add(j.Left)
			mid := is.width
			add(j.Right)
			shiftR := func(c int32) int32 { return c + int32(mid) }
			shiftL := func(c int32) int32 { return c + int32(base) }
			for i := range j.LeftKeys {
				l := rewrite(j.LeftKeys[i], shiftL, nil)
				rk := rewrite(j.RightKeys[i], shiftR, nil)
				is.preds = append(is.preds, &Expr{Kind: kFunc, Name: "=", TypeOid: 16, Typmod: -1, Args: []*Expr{l, rk}})
			}
			if j.Cond != nil {
				// Over left ++ right, which starts at base.
				for _, c := range conjuncts(j.Cond) {
					is.preds = append(is.preds, rewrite(c, shiftL, nil))
				}
			}
			return
		}
		is.leaves = append(is.leaves, r)
		is.off = append(is.off, is.width)
		is.width += r.Width()
	}
	add(r)
	return is, true
}

// leafOf returns the leaf holding flat column c.
func (is *island) leafOf(c int) int {
	for i := len(is.off) - 1; i >= 0; i-- {
		if c >= is.off[i] {
			return i
		}
	}
	return 0
}

// mask is the set of leaves an expression reads.
func (is *island) mask(e *Expr) uint64 {
	var m uint64
	refs(e, func(c int) { m |= 1 << uint(is.leafOf(c)) })
	return m
}

// pushSemiJoins moves a semi or anti join on top of an island onto the
// island leaf its left-side columns all come from.
func pushSemiJoins(r planner.Rel) planner.Rel {
	j, ok := r.(*planner.JoinRel)
	if !ok || (j.Kind != planner.JoinSemi && j.Kind != planner.JoinAnti) {
		return r
	}
	left := pushSemiJoins(j.Left)
	cp := *j
	cp.Left = left
	unpushed := func() planner.Rel {
		if left == j.Left {
			return r // nothing moved: the caller sees r itself
		}
		return &cp
	}
	is, ok := flattenIsland(left)
	if !ok {
		return unpushed()
	}
	lw := left.Width()
	flat := func(c int) int {
		if is.out != nil {
			return is.out[c]
		}
		return c
	}
	leaf := -1
	uses := func(c int) {
		l := is.leafOf(flat(c))
		if leaf == -1 || leaf == l {
			leaf = l
		} else {
			leaf = -2
		}
	}
	for _, k := range j.LeftKeys {
		refs(k, uses)
	}
	refs(j.Cond, func(c int) {
		if c < lw {
			uses(c)
		}
	})
	if leaf < 0 {
		return unpushed()
	}
	lf := is.leaves[leaf]
	lfw := lf.Width()
	toLeaf := func(c int32) int32 {
		if int(c) >= lw {
			return c - int32(lw) + int32(lfw) // the subquery's columns follow the leaf's
		}
		return int32(flat(int(c)) - is.off[leaf])
	}
	pushed := &planner.JoinRel{Kind: j.Kind, Left: lf, Right: j.Right, RightKeys: j.RightKeys}
	for _, k := range j.LeftKeys {
		pushed.LeftKeys = append(pushed.LeftKeys, rewrite(k, toLeaf, nil))
	}
	pushed.Cond = rewrite(j.Cond, toLeaf, nil)
	return replaceLeaf(left, lf, pushed)
}

// replaceLeaf returns r with the leaf old replaced by nw (same width).
func replaceLeaf(r, old, nw planner.Rel) planner.Rel {
	if r == old {
		return nw
	}
	switch x := r.(type) {
	case *planner.ProjectRel:
		cp := *x
		cp.Input = replaceLeaf(x.Input, old, nw)
		return &cp
	case *planner.JoinRel:
		if x.Kind == planner.JoinInner {
			cp := *x
			cp.Left = replaceLeaf(x.Left, old, nw)
			cp.Right = replaceLeaf(x.Right, old, nw)
			return &cp
		}
	}
	return r
}

// subplan is a plan of a set of island leaves.
type subplan struct {
	n *pnode
	// layout[c] is flat column c's position in n's row (-1: absent).
	layout []int
}

// semiIsland collects the semi and anti joins stacked on an island, top
// first; ok when the search can take them (see above).
func semiIsland(r planner.Rel) (is *island, semis []*planner.JoinRel, ok bool) {
	for {
		j, isJoin := r.(*planner.JoinRel)
		if !isJoin || (j.Kind != planner.JoinSemi && j.Kind != planner.JoinAnti) {
			break
		}
		for _, e := range append(append([]*Expr{j.Cond}, j.LeftKeys...), j.RightKeys...) {
			sub := false
			walk(e, func(x *Expr) { sub = sub || x.Kind == kSubq })
			if sub {
				return nil, nil, false
			}
		}
		semis = append(semis, j)
		r = j.Left
	}
	if len(semis) == 0 {
		return nil, nil, false
	}
	is, ok = flattenIsland(r)
	if !ok || len(is.leaves)+len(semis) > dpLimit {
		return nil, nil, false
	}
	return is, semis, true
}

// semiLeaf is a semi or anti join in the search: its right input, planned
// once, and its conditions over the island's flat row (left keys) and
// over the flat row followed by the right input's row (cond).
type semiLeaf struct {
	jt     meridianpb.JoinType
	right  *built
	lk, rk []*Expr
	cond   *Expr
	req    uint64 // the leaves the left side reads
	cnOnly bool
}

// joinIsland plans an island of inner joins; need says which of its
// output columns are read above it.
func (b *builder) joinIsland(sel *planner.Select, is *island, need []bool) (*built, error) {
	return b.joinIslandSemis(sel, is, nil, need)
}

// joinIslandSemis plans an island with semi and anti joins stacked on it
// (semiIsland); their output is the island's.
func (b *builder) joinIslandSemis(sel *planner.Select, is *island, semiJoins []*planner.JoinRel, need []bool) (*built, error) {
	// What the leaves must provide: the needed output columns and every
	// column a condition reads.
	flatNeed := make([]bool, is.width)
	for i, nd := range need {
		if !nd {
			continue
		}
		c := i
		if is.out != nil {
			c = is.out[i]
		}
		flatNeed[c] = true
	}
	for _, p := range is.preds {
		b.mark(sel, flatNeed, p)
	}
	// The semi joins' left columns are island output columns.
	flatOf := func(c int32) int32 {
		if is.out != nil && int(c) < len(is.out) {
			return int32(is.out[c])
		}
		return c
	}
	semis := make([]*semiLeaf, len(semiJoins))
	for k, j := range semiJoins {
		lw, rw := j.Left.Width(), j.Right.Width()
		toFlat := func(c int32) int32 {
			if int(c) < lw {
				return flatOf(c)
			}
			return int32(is.width) + c - int32(lw)
		}
		sl := &semiLeaf{jt: joinTypes[j.Kind], rk: j.RightKeys, cond: rewrite(j.Cond, toFlat, nil)}
		for _, k := range j.LeftKeys {
			sl.lk = append(sl.lk, rewrite(k, flatOf, nil))
		}
		rneed := make([]bool, rw)
		mark(rneed, j.RightKeys...)
		use := func(c int) {
			if c < is.width {
				flatNeed[c] = true
				sl.req |= 1 << uint(is.leafOf(c))
			} else if c-is.width < rw {
				rneed[c-is.width] = true
			}
		}
		for _, e := range sl.lk {
			refs(e, use)
		}
		refs(sl.cond, use)
		r, err := b.rel(sel, j.Right, rneed)
		if err != nil {
			return nil, err
		}
		sl.right = r
		sl.cnOnly = b.cnOnly(b.imp(sel, sl.cond, nil)) || b.cnOnly(b.impAll(sel, sl.lk, nil)...) || b.cnOnly(b.impAll(sel, sl.rk, r.layout)...)
		semis[k] = sl
	}
	n := len(is.leaves)
	leaves := make([]*subplan, n)
	for i, lf := range is.leaves {
		w := lf.Width()
		ln := flatNeed[is.off[i] : is.off[i]+w]
		bt, err := b.rel(sel, lf, ln)
		if err != nil {
			return nil, err
		}
		layout := make([]int, is.width)
		for c := range layout {
			layout[c] = -1
		}
		for c := 0; c < w; c++ {
			layout[is.off[i]+c] = bt.layout[c]
		}
		leaves[i] = &subplan{n: bt.n, layout: layout}
	}
	// Conditions within one leaf filter it.
	type pred struct {
		e    *Expr
		mask uint64
	}
	var preds []pred
	classes, absorbed, colOf := equivClasses(is)
	for i, p := range is.preds {
		if absorbed[i] {
			continue
		}
		m := is.mask(p)
		if bits.OnesCount64(m) <= 1 {
			i := bits.TrailingZeros64(m)
			if m == 0 {
				i = 0
			}
			leaves[i].n = b.filter(leaves[i].n, b.imp(sel, p, leaves[i].layout))
			continue
		}
		preds = append(preds, pred{p, m})
	}
	// Members of a class within one leaf are equal there.
	for _, cl := range classes {
		for i := range leaves {
			ms := cl.in(is, 1<<uint(i))
			for _, x := range ms[min(1, len(ms)):] {
				leaves[i].n = b.filter(leaves[i].n, b.imp(sel, eqExpr(colOf[ms[0]], colOf[x]), leaves[i].layout))
			}
		}
	}
	real := uint64(1)<<uint(n) - 1
	full := uint64(1)<<uint(n+len(semis)) - 1
	// semi applies semi join k to a subplan that holds its left columns.
	semi := func(a *subplan, k int) *subplan {
		sl := semis[k]
		lk := b.impAll(sel, sl.lk, a.layout)
		rk := b.impAll(sel, sl.rk, sl.right.layout)
		nd, _ := b.bestJoin(sl.jt, a.n, sl.right.n, lk, rk, sl.cnOnly, func(lpw int) *Expr {
			layout := make([]int, is.width+len(sl.right.layout))
			copy(layout, a.layout)
			for i, p := range sl.right.layout {
				layout[is.width+i] = -1
				if p >= 0 {
					layout[is.width+i] = p + lpw
				}
			}
			return b.imp(sel, sl.cond, layout)
		})
		return &subplan{n: nd, layout: a.layout}
	}
	// A semi pseudo-leaf alone: c is one of them, a holds what it reads.
	semiOf := func(a, c uint64) int {
		if c&real != 0 || bits.OnesCount64(c) != 1 || a&real == 0 {
			return -1
		}
		k := bits.TrailingZeros64(c) - n
		if semis[k].req&^a != 0 {
			return -1
		}
		return k
	}
	// join joins two subplans under the conditions that connect them.
	join := func(a, c *subplan, am, cm uint64) *subplan {
		var lk, rk []*Expr
		var residual []*Expr
		for _, cl := range classes {
			if cl.mask&am == 0 || cl.mask&cm == 0 {
				continue
			}
			l, r := pickMember(cl.in(is, am), a), pickMember(cl.in(is, cm), c)
			lk = append(lk, b.imp(sel, colOf[l], a.layout))
			rk = append(rk, b.imp(sel, colOf[r], c.layout))
		}
		for _, p := range preds {
			if p.mask&^(am|cm) != 0 || p.mask&^am == 0 || p.mask&^cm == 0 {
				continue // not between a and c alone
			}
			if l, r, ok := splitEquality(p.e, is, am, cm); ok {
				lk = append(lk, b.imp(sel, l, a.layout))
				rk = append(rk, b.imp(sel, r, c.layout))
				continue
			}
			residual = append(residual, p.e)
		}
		layoutAt := func(lw int) []int {
			layout := make([]int, is.width)
			for i := range layout {
				switch {
				case a.layout[i] >= 0:
					layout[i] = a.layout[i]
				case c.layout[i] >= 0:
					layout[i] = c.layout[i] + lw
				default:
					layout[i] = -1
				}
			}
			return layout
		}
		n, lw := b.bestJoin(meridianpb.JoinType_JOIN_INNER, a.n, c.n, lk, rk, false, func(lw int) *Expr {
			if len(residual) == 0 {
				return nil
			}
			return b.imp(sel, andAllExprs(residual), layoutAt(lw))
		})
		return &subplan{n: n, layout: layoutAt(lw)}
	}
	connected := func(am, cm uint64) bool {
		for _, cl := range classes {
			if cl.mask&am != 0 && cl.mask&cm != 0 {
				return true
			}
		}
		for _, p := range preds {
			if p.mask&am != 0 && p.mask&cm != 0 && p.mask&^(am|cm) == 0 {
				return true
			}
		}
		return false
	}
	better := func(x, y *subplan) bool { return y == nil || x.n.cost < y.n.cost }

	var top *subplan
	if n+len(semis) <= dpLimit {
		// best[s]: the cheapest plans of leaf set s, at most one per
		// distribution of their rows (an interesting distribution, like
		// PostgreSQL's interesting orders: a dearer plan hashed on a key a
		// later join wants may win there), cheapest first.
		best := make([]planSet, full+1)
		for i := 0; i < n; i++ {
			best[1<<uint(i)] = planSet{leaves[i]}
		}
		for _, crossOK := range []bool{false, true} {
			for s := uint64(1); s <= full; s++ {
				if bits.OnesCount64(s) < 2 || (len(best[s]) > 0 && !crossOK) {
					continue
				}
				// Every split of s into two non-empty parts, both orders.
				for a := (s - 1) & s; a > 0; a = (a - 1) & s {
					c := s &^ a
					if k := semiOf(a, c); k >= 0 {
						for _, pa := range best[a] {
							if best[s].full() && pa.n.cost >= best[s].worst() {
								continue
							}
							best[s] = best[s].add(semi(pa, k), is.width)
						}
						continue
					}
					if c&real == 0 || a&real == 0 {
						continue // a semi pseudo-leaf joins only as above
					}
					if len(best[a]) == 0 || len(best[c]) == 0 || (!crossOK && !connected(a, c)) {
						continue
					}
					if crossOK && len(best[s]) > 0 {
						break
					}
					for _, pa := range best[a] {
						for _, pc := range best[c] {
							// A join costs at least its inputs: no need to
							// plan it when that already loses.
							if best[s].full() && pa.n.cost+pc.n.cost >= best[s].worst() {
								continue
							}
							best[s] = best[s].add(join(pa, pc, a, c), is.width)
						}
					}
				}
			}
			if len(best[full]) > 0 {
				break
			}
		}
		top = best[full][0]
	} else {
		if len(semis) > 0 {
			return nil, fmt.Errorf("optimizer: %d semi joins on an island of %d relations", len(semis), n)
		}
		// Greedy: join the pair with the cheapest result, connected pairs
		// first.
		parts := append([]*subplan(nil), leaves...)
		masks := make([]uint64, n)
		for i := range masks {
			masks[i] = 1 << uint(i)
		}
		for len(parts) > 1 {
			var bp *subplan
			bi, bj := -1, -1
			for _, crossOK := range []bool{false, true} {
				for i := range parts {
					for j := range parts {
						if i == j || (!crossOK && !connected(masks[i], masks[j])) {
							continue
						}
						if p := join(parts[i], parts[j], masks[i], masks[j]); better(p, bp) {
							bp, bi, bj = p, i, j
						}
					}
				}
				if bp != nil {
					break
				}
			}
			parts[bi], masks[bi] = bp, masks[bi]|masks[bj]
			parts = append(parts[:bj], parts[bj+1:]...)
			masks = append(masks[:bj], masks[bj+1:]...)
		}
		top = parts[0]
	}
	// The island's output columns.
	w := is.width
	if is.out != nil {
		w = len(is.out)
	}
	layout := make([]int, w)
	for i := range layout {
		c := i
		if is.out != nil {
			c = is.out[i]
		}
		layout[i] = top.layout[c]
	}
	return &built{n: top.n, layout: layout}, nil
}

// splitEquality returns the two sides of an equality condition between
// the leaves of am and those of cm, in that order.
func splitEquality(e *Expr, is *island, am, cm uint64) (*Expr, *Expr, bool) {
	if e.Kind != kFunc || e.Name != "=" || len(e.Args) != 2 {
		return nil, nil, false
	}
	l, r := e.Args[0], e.Args[1]
	lm, rm := is.mask(l), is.mask(r)
	if lm == 0 || rm == 0 {
		return nil, nil, false
	}
	if !planner.Hashable(l, r) {
		return nil, nil, false
	}
	switch {
	case lm&^am == 0 && rm&^cm == 0:
		return l, r, true
	case lm&^cm == 0 && rm&^am == 0:
		return r, l, true
	}
	return nil, nil, false
}

func andAllExprs(cs []*Expr) *Expr {
	if len(cs) == 1 {
		return cs[0]
	}
	return &Expr{Kind: kAnd, TypeOid: 16, Typmod: -1, Args: cs}
}

// maxKept is how many plans of one leaf set the search keeps (one per
// distribution).
const maxKept = 3

// planSet holds the cheapest plans of a leaf set with different
// distributions, cheapest first.
type planSet []*subplan

func (ps planSet) full() bool { return len(ps) >= maxKept }

func (ps planSet) worst() float64 { return ps[len(ps)-1].n.cost }

// add keeps p if it is the cheapest plan with its distribution so far.
func (ps planSet) add(p *subplan, width int) planSet {
	sig := distSig(p, width)
	for i, q := range ps {
		if distSig(q, width) == sig {
			if p.n.cost < q.n.cost {
				ps[i] = p
				sortPlans(ps)
			}
			return ps
		}
	}
	ps = append(ps, p)
	sortPlans(ps)
	if len(ps) > maxKept {
		ps = ps[:maxKept]
	}
	return ps
}

func sortPlans(ps planSet) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].n.cost < ps[j-1].n.cost; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// distSig describes where a plan's rows are, in terms of the island's
// columns (plans of one leaf set lay their columns out differently).
func distSig(p *subplan, width int) string {
	d := p.n.dist
	if d.kind != distHashed {
		return d.kind.String()
	}
	flat := map[int]int{}
	for c := 0; c < width; c++ {
		if pos := p.layout[c]; pos >= 0 {
			if _, ok := flat[pos]; !ok {
				flat[pos] = c
			}
		}
	}
	var alts []string
	for _, alt := range d.keys {
		s := ""
		for _, pos := range alt {
			if c, ok := flat[pos]; ok {
				s += fmt.Sprintf("%d,", c)
			} else {
				s += "?,"
			}
		}
		alts = append(alts, s)
	}
	sort.Strings(alts)
	return "hashed:" + strings.Join(alts, "|")
}
