package optimizer

import (
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

var joinTypes = map[planner.JoinKind]meridianpb.JoinType{
	planner.JoinInner: meridianpb.JoinType_JOIN_INNER, planner.JoinLeft: meridianpb.JoinType_JOIN_LEFT,
	planner.JoinRight: meridianpb.JoinType_JOIN_RIGHT, planner.JoinFull: meridianpb.JoinType_JOIN_FULL,
	planner.JoinSemi: meridianpb.JoinType_JOIN_SEMI, planner.JoinAnti: meridianpb.JoinType_JOIN_ANTI,
}

// join plans a join of a FROM tree.
func (b *builder) join(sel *planner.Select, j *planner.JoinRel, need []bool) (*built, error) {
	lw, rw := j.Left.Width(), j.Right.Width()
	leftOnly := j.Kind == planner.JoinSemi || j.Kind == planner.JoinAnti
	lneed := make([]bool, lw)
	rneed := make([]bool, rw)
	copy(lneed, need)
	if !leftOnly && len(need) > lw {
		copy(rneed, need[lw:])
	}
	mark(lneed, j.LeftKeys...)
	mark(rneed, j.RightKeys...)
	refs(j.Cond, func(c int) {
		if c < lw {
			lneed[c] = true
		} else if c-lw < rw {
			rneed[c-lw] = true
		}
	})
	l, err := b.rel(sel, j.Left, lneed)
	if err != nil {
		return nil, err
	}
	r, err := b.rel(sel, j.Right, rneed)
	if err != nil {
		return nil, err
	}
	lk := b.impAll(sel, j.LeftKeys, l.layout)
	rk := b.impAll(sel, j.RightKeys, r.layout)
	jt := joinTypes[j.Kind]
	cnOnly := b.cnOnly(b.imp(sel, j.Cond, nil)) || b.cnOnly(lk...) || b.cnOnly(rk...)
	// The right side's columns follow the left's actual width (placing
	// may add key columns to it).
	condAt := func(lpw int) *Expr {
		condLayout := make([]int, lw+rw)
		for c := range condLayout {
			if c < lw {
				condLayout[c] = l.layout[c]
			} else if p := r.layout[c-lw]; p >= 0 {
				condLayout[c] = p + lpw
			} else {
				condLayout[c] = -1
			}
		}
		return b.imp(sel, j.Cond, condLayout)
	}
	n, lpw := b.bestJoin(jt, l.n, r.n, lk, rk, cnOnly, condAt)
	layout := make([]int, 0, lw+rw)
	layout = append(layout, l.layout...)
	if !leftOnly {
		for _, p := range r.layout {
			if p >= 0 {
				p += lpw
			}
			layout = append(layout, p)
		}
	}
	return &built{n: n, layout: layout}, nil
}

// joinNode builds a placed join of ln and rn (keys over each side's row,
// cond over left ++ right).
func (b *builder) joinNode(jt meridianpb.JoinType, ln, rn *pnode, lk, rk []*Expr, cond *Expr, d dist) *pnode {
	leftOnly := jt == meridianpb.JoinType_JOIN_SEMI || jt == meridianpb.JoinType_JOIN_ANTI
	types := append([]uint32(nil), ln.types...)
	names := append([]string(nil), ln.names...)
	if !leftOnly {
		types = append(types, rn.types...)
		names = append(names, rn.names...)
	}
	algo := meridianpb.JoinAlgo_JOIN_HASH
	rows := joinRows(jt, ln, rn, lk, rk, cond)
	cost := ln.cost + rn.cost + rn.rows*cpuBuild + ln.rows*cpuTuple + rows*cpuTuple
	switch {
	case len(lk) == 0:
		algo = meridianpb.JoinAlgo_JOIN_NESTED_LOOP
		cost += ln.rows * rn.rows * cpuOperator
	case b.o.Off.HashJoin && !b.o.Off.MergeJoin:
		// A merge join over both inputs sorted by their keys.
		algo = meridianpb.JoinAlgo_JOIN_MERGE
		ln, rn = b.sortBy(ln, lk), b.sortBy(rn, rk)
		cost = ln.cost + rn.cost + (ln.rows+rn.rows)*cpuTuple + rows*cpuTuple
	}
	jn := &meridianpb.JoinNode{Type: jt, Algo: algo, LeftKeys: lk, RightKeys: rk, Residual: cond}
	buildLeftOK := jt == meridianpb.JoinType_JOIN_LEFT || jt == meridianpb.JoinType_JOIN_SEMI || jt == meridianpb.JoinType_JOIN_ANTI
	if algo == meridianpb.JoinAlgo_JOIN_HASH && buildLeftOK && len(lk) > 0 && 2*ln.rows < rn.rows {
		// Build the hash table of the smaller, preserved side and probe it
		// with the other (sql/exec.NewJoinBuildLeft). The cost stays the
		// one of building the right side: charged less, the hash join beat
		// index nested loops that are faster (TPC-H Q4, Q16, Q20 in
		// alternating runs).
		jn.BuildLeft = true
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Join{Join: jn}}
	n := b.newNode(op, types, names, d, rows, cost, ln, rn)
	cols := append([]colStat(nil), padCols(ln)...)
	if !leftOnly {
		cols = append(cols, padCols(rn)...)
	}
	n.cols = capCols(cols, rows)
	return n
}

// keyMatch finds, for a hashed distribution's key alternative (columns of
// one side), the join key positions whose expressions are those columns:
// pos[i] is the join key that reads alt[i]. ok when every column of alt
// has one.
func keyMatch(alt []int, keys []*Expr) (pos []int, ok bool) {
	pos = make([]int, len(alt))
	for i, c := range alt {
		pos[i] = -1
		for p, k := range keys {
			if bc, isCol := baseColumn(k); isCol && bc == c {
				pos[i] = p
				break
			}
		}
		if pos[i] < 0 {
			return nil, false
		}
	}
	return pos, true
}

// classesMatch reports whether the other side's key expressions at pos
// hash like the distribution columns alt (of a side with types typs).
func classesMatch(alt []int, typs []uint32, other []*Expr, pos []int) bool {
	for i, c := range alt {
		ca, ok1 := hashClass(&Expr{TypeOid: typs[c]})
		co, ok2 := hashClass(other[pos[i]])
		if !ok1 || !ok2 || ca != co {
			return false
		}
	}
	return true
}

// coLocated reports whether equal join keys of ln and rn are on the same
// datanode already.
func coLocated(ln, rn *pnode, lk, rk []*Expr) bool {
	if ln.dist.kind != distHashed || rn.dist.kind != distHashed {
		return false
	}
	for _, la := range ln.dist.keys {
		pos, ok := keyMatch(la, lk)
		if !ok || !classesMatch(la, ln.types, rk, pos) {
			continue
		}
		for _, ra := range rn.dist.keys {
			if len(ra) != len(la) {
				continue
			}
			same := true
			for i, c := range ra {
				bc, isCol := baseColumn(rk[pos[i]])
				if !isCol || bc != c {
					same = false
					break
				}
			}
			if same {
				return true
			}
		}
	}
	return false
}

// joinDist is the distribution of a join placed on the datanodes whose
// inputs are ln (hashed by its keys or not) and rn.
func joinDist(jt meridianpb.JoinType, ln, rn *pnode) dist {
	lw := ln.width()
	shift := func(d dist) dist { return mapDist(d, func(c int) int { return c + lw }) }
	switch jt {
	case meridianpb.JoinType_JOIN_INNER:
		switch {
		case ln.dist.kind == distHashed && rn.dist.kind == distHashed:
			r := shift(rn.dist)
			return dist{kind: distHashed, keys: append(append([][]int(nil), ln.dist.keys...), r.keys...)}
		case ln.dist.kind == distHashed || ln.dist.kind == distAny:
			return ln.dist
		case rn.dist.kind == distHashed || rn.dist.kind == distAny:
			return shift(rn.dist)
		}
		return ln.dist
	case meridianpb.JoinType_JOIN_LEFT, meridianpb.JoinType_JOIN_SEMI, meridianpb.JoinType_JOIN_ANTI:
		return ln.dist
	case meridianpb.JoinType_JOIN_RIGHT:
		return shift(rn.dist)
	}
	if ln.dist.kind == rn.dist.kind && (ln.dist.kind == distConst || ln.dist.kind == distReplicated) {
		return ln.dist
	}
	return dist{kind: distAny}
}

// everywhere reports rows every node that runs the join has.
func everywhere(d dist) bool { return d.kind == distConst || d.kind == distReplicated }

// placeJoin decides where a join runs and which inputs move: not at all
// when the inputs are co-located or one side is on every datanode and
// the join type allows it; else the cheapest of redistributing one side
// to match the other's distribution, redistributing both by the join
// keys, broadcasting one side, or gathering both to the coordinator.
func (b *builder) placeJoin(jt meridianpb.JoinType, ln, rn *pnode, lk, rk []*Expr, cnOnly bool) (*pnode, *pnode, dist) {
	cn := dist{kind: distCN}
	keepsLeft := jt == meridianpb.JoinType_JOIN_INNER || jt == meridianpb.JoinType_JOIN_LEFT ||
		jt == meridianpb.JoinType_JOIN_SEMI || jt == meridianpb.JoinType_JOIN_ANTI
	keepsRight := jt == meridianpb.JoinType_JOIN_INNER || jt == meridianpb.JoinType_JOIN_RIGHT
	switch {
	case cnOnly || ln.dist.kind == distCN || rn.dist.kind == distCN:
		return b.gather(ln, nil), b.gather(rn, nil), cn
	case ln.dist.kind == distConst && rn.dist.kind == distConst:
		return ln, rn, dist{kind: distConst}
	case everywhere(ln.dist) && everywhere(rn.dist):
		return ln, rn, dist{kind: distReplicated}
	case everywhere(rn.dist) && keepsLeft:
		return ln, rn, joinDist(jt, ln, rn)
	case everywhere(ln.dist) && keepsRight:
		return ln, rn, joinDist(jt, ln, rn)
	case coLocated(ln, rn, lk, rk):
		return ln, rn, joinDist(jt, ln, rn)
	}
	type option struct {
		cost   float64
		ln, rn *pnode
		d      dist
	}
	var best *option
	try := func(l, r *pnode, d dist) {
		c := l.cost + r.cost
		if best == nil || c < best.cost {
			best = &option{cost: c, ln: l, rn: r, d: d}
		}
	}
	// Redistribute one side onto the other's distribution.
	if rn.dist.kind == distHashed && ln.dist.kind != distConst {
		for _, ra := range rn.dist.keys {
			if pos, ok := keyMatch(ra, rk); ok && classesMatch(ra, rn.types, lk, pos) {
				l, cols := b.keyColumns(ln, pickExprs(lk, pos))
				l = b.redistribute(l, cols)
				try(l, rn, joinDist(jt, l, rn))
				break
			}
		}
	}
	if ln.dist.kind == distHashed && rn.dist.kind != distConst {
		for _, la := range ln.dist.keys {
			if pos, ok := keyMatch(la, lk); ok && classesMatch(la, ln.types, rk, pos) {
				r, cols := b.keyColumns(rn, pickExprs(rk, pos))
				r = b.redistribute(r, cols)
				try(ln, r, joinDist(jt, ln, r))
				break
			}
		}
	}
	// Redistribute both by the join keys.
	if len(lk) > 0 && ln.dist.kind != distConst && rn.dist.kind != distConst && keysHashAlike(lk, rk) {
		l, lcols := b.keyColumns(ln, lk)
		r, rcols := b.keyColumns(rn, rk)
		l, r = b.redistribute(l, lcols), b.redistribute(r, rcols)
		try(l, r, joinDist(jt, l, r))
	}
	// Broadcast one side to where the other is.
	if keepsLeft && ln.dist.onDatanodes() && !everywhere(ln.dist) {
		r := b.broadcast(rn)
		try(ln, r, joinDist(jt, ln, r))
	}
	if keepsRight && rn.dist.onDatanodes() && !everywhere(rn.dist) {
		l := b.broadcast(ln)
		try(l, rn, joinDist(jt, l, rn))
	}
	// Bring both to the coordinator.
	try(b.gather(ln, nil), b.gather(rn, nil), cn)
	return best.ln, best.rn, best.d
}

func pickExprs(es []*Expr, pos []int) []*Expr {
	out := make([]*Expr, len(pos))
	for i, p := range pos {
		out[i] = es[p]
	}
	return out
}

// keysHashAlike reports whether each pair of join keys hashes alike.
func keysHashAlike(lk, rk []*Expr) bool {
	for i := range lk {
		a, ok1 := hashClass(lk[i])
		c, ok2 := hashClass(rk[i])
		if !ok1 || !ok2 || a != c {
			return false
		}
	}
	return true
}

// padCols returns n's column statistics, one per output column.
func padCols(n *pnode) []colStat {
	if len(n.cols) == n.width() {
		return n.cols
	}
	out := make([]colStat, n.width())
	copy(out, n.cols)
	return out
}

// sortBy sorts n's rows by keys, ascending with NULLs last (the order a
// merge join reads).
func (b *builder) sortBy(n *pnode, keys []*Expr) *pnode {
	sk := make([]*meridianpb.SortKey, len(keys))
	for i, k := range keys {
		sk[i] = &meridianpb.SortKey{Expr: k}
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Sort{Sort: &meridianpb.SortNode{Keys: sk}}}
	return b.newNode(op, n.types, n.names, n.dist, n.rows, n.cost+sortCost(n.rows), n)
}
