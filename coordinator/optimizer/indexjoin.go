package optimizer

import (
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// lookupCost is the cost of one random read on a datanode: an index
// seek, or fetching a row an index entry points to. A random read costs
// several times a row read by a scan (cpuTuple plus its bytes).
const lookupCost = 0.15

// bestJoin plans a join of ln and rn (keys over each side's row) the
// cheapest way: a hash join placed by placeJoin, or an index nested-loop
// join when rn is a table scan with an index on the right keys. cond
// returns the residual condition (over the left row, lw columns wide,
// followed by the right row); the result's left side is lw columns wide.
func (b *builder) bestJoin(jt meridianpb.JoinType, ln, rn *pnode, lk, rk []*Expr, cnOnly bool, cond func(lw int) *Expr) (*pnode, int) {
	pl, pr, d := b.placeJoin(jt, ln, rn, lk, rk, cnOnly)
	best := b.joinNode(jt, pl, pr, lk, rk, cond(pl.width()), d)
	lw := pl.width()
	if !cnOnly && !b.o.Off.NestLoop {
		if ij := b.indexJoin(jt, ln, rn, lk, rk, cond(ln.width())); ij != nil && ij.cost < best.cost {
			return ij, ln.width()
		}
	}
	return best, lw
}

// indexJoin plans ln joined with rn's table through one of its indexes,
// or returns nil when no index fits: rn must be a plain scan, an index's
// leading columns must be right keys whose left keys are columns of ln,
// and ln must be able to meet the index's rows (see below).
func (b *builder) indexJoin(jt meridianpb.JoinType, ln, rn *pnode, lk, rk []*Expr, cond *Expr) *pnode {
	sn := rn.op.GetScan()
	if rn.exch != nil || sn == nil || rn.scan == nil || sn.IndexId != 0 || len(lk) == 0 {
		return nil
	}
	switch jt {
	case meridianpb.JoinType_JOIN_INNER, meridianpb.JoinType_JOIN_LEFT, meridianpb.JoinType_JOIN_SEMI, meridianpb.JoinType_JOIN_ANTI:
	default:
		return nil
	}
	if !ln.dist.onDatanodes() && ln.dist.kind != distConst {
		return nil // the coordinator does not send rows to datanodes
	}
	t := sn.Table
	// The index with the most leading columns given by the join keys.
	var bestIdx *meridianpb.IndexDesc
	var bestPos []int // join key of each used leading column
	for _, ix := range t.Indexes {
		var pos []int
		for _, col := range ix.Columns {
			p := -1
			for k := range rk {
				if c, ok := baseColumn(rk[k]); ok && c < len(sn.Columns) && sn.Columns[c] == col {
					if _, isCol := baseColumn(lk[k]); isCol {
						p = k
						break
					}
				}
			}
			if p < 0 {
				break
			}
			pos = append(pos, p)
		}
		if len(pos) > len(bestPos) {
			bestIdx, bestPos = ix, pos
		}
	}
	if bestIdx == nil {
		return nil
	}
	// Where the lookups run: next to the rows the index finds.
	outer := ln
	var d dist
	lw := ln.width()
	shift := func(dd dist) dist { return mapDist(dd, func(c int) int { return c + lw }) }
	switch {
	case t.Dist == meridianpb.DistKind_DIST_REPLICATION:
		d = ln.dist // every datanode has every row
	default:
		// The lookup values pin the distribution columns: send each outer
		// row to the datanode that owns its bucket.
		var hashCols []int
		for _, dc := range t.DistColumns {
			found := false
			for i, col := range bestIdx.Columns[:len(bestPos)] {
				if col == dc {
					c, _ := baseColumn(lk[bestPos[i]])
					hashCols = append(hashCols, c)
					found = true
				}
			}
			if !found {
				hashCols = nil
				break
			}
		}
		switch {
		case hashCols != nil:
			if !classesMatchCols(hashCols, ln, t) {
				return nil
			}
			if ln.dist.kind == distHashed && sameKey(ln.dist, hashCols) {
				d = ln.dist
			} else {
				outer = b.redistribute(ln, hashCols)
				d = outer.dist
			}
		case jt == meridianpb.JoinType_JOIN_INNER:
			// The matching rows may be on any datanode: every datanode
			// looks up its own part for every outer row.
			outer = b.broadcast(ln)
			d = shift(dist{kind: distAny})
		default:
			return nil
		}
	}
	lookups := make([]*Expr, len(bestPos))
	used := map[int]bool{}
	for i, p := range bestPos {
		lookups[i] = lk[p]
		used[p] = true
	}
	// Key pairs the index does not cover are checked on the joined row.
	var residual []*Expr
	for k := range lk {
		if !used[k] {
			residual = append(residual, &Expr{Kind: kFunc, Name: "=", TypeOid: 16, Typmod: -1,
				Args: []*Expr{lk[k], rewrite(rk[k], func(c int32) int32 { return c + int32(lw) }, nil)}})
		}
	}
	if cond != nil {
		residual = append(residual, cond)
	}
	var res *Expr
	if len(residual) > 0 {
		res = andAllExprs(residual)
	}
	leftOnly := jt == meridianpb.JoinType_JOIN_SEMI || jt == meridianpb.JoinType_JOIN_ANTI
	types := append([]uint32(nil), ln.types...)
	names := append([]string(nil), ln.names...)
	if !leftOnly {
		types = append(types, rn.types...)
		names = append(names, rn.names...)
	}
	rows := joinRows(jt, ln, rn, lk, rk, cond)
	// Rows read through the index: the table's filter is checked on each
	// row the index finds, so an inner or left join reads rows/filter
	// selectivity of them (a lookup of a key with many rows that the
	// filter then drops is what makes an index join lose to a hash join).
	matches := max(rows, outer.rows)
	switch jt {
	case meridianpb.JoinType_JOIN_INNER, meridianpb.JoinType_JOIN_LEFT:
		_, fsel, _ := b.scanEstimate(t, sn.Filter, false)
		matches = max(rows/max(fsel, 1e-6), outer.rows)
	default:
		// A semi or anti probe reads the key's rows until one passes the
		// filter and the residual — all of them when none does (an anti
		// join's usual case): the table's rows per key value.
		trows, _, tcols := b.scanEstimate(t, nil, false)
		ndv := 1.0
		for _, col := range bestIdx.Columns[:len(bestPos)] {
			if int(col) < len(tcols) && tcols[col].ndv > 0 {
				ndv *= tcols[col].ndv
			} else {
				ndv = trows // unknown: take the key as unique
				break
			}
		}
		matches = max(matches, outer.rows*max(trows/min(ndv, trows), 1))
	}
	// Probes: with a broadcast outer side every datanode probes its own
	// part of the index for every outer row.
	probes := outer.rows
	if d.kind == distAny {
		probes *= float64(b.datanodes())
	}
	cost := outer.cost + probes*lookupCost + matches*lookupCost + rows*cpuTuple
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_IndexJoin{IndexJoin: &meridianpb.IndexJoinNode{Type: jt, Table: t,
		IndexId: bestIdx.Id, LookupKeys: lookups, Columns: sn.Columns, Filter: sn.Filter, Residual: res}}}
	n := b.newNode(op, types, names, d, rows, cost, outer)
	cols := append([]colStat(nil), padCols(ln)...)
	if !leftOnly {
		cols = append(cols, padCols(rn)...)
	}
	n.cols = capCols(cols, rows)
	return n
}

// sameKey reports whether a hashed distribution has the key cols.
func sameKey(d dist, cols []int) bool {
	for _, alt := range d.keys {
		if len(alt) != len(cols) {
			continue
		}
		same := true
		for i := range alt {
			same = same && alt[i] == cols[i]
		}
		if same {
			return true
		}
	}
	return false
}

// classesMatchCols reports whether ln's columns cols hash like the
// table's distribution columns.
func classesMatchCols(cols []int, ln *pnode, t *meridianpb.TableDesc) bool {
	for i, c := range cols {
		a, ok1 := hashClass(&Expr{TypeOid: ln.types[c]})
		b, ok2 := hashClass(&Expr{TypeOid: t.Columns[t.DistColumns[i]].TypeOid})
		if !ok1 || !ok2 || a != b {
			return false
		}
	}
	return true
}
