package optimizer

import (
	"slices"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/codec"
)

// aggregate plans a block's GROUP BY and aggregates over its FROM row;
// the result's row is (group values..., aggregate results...).
func (b *builder) aggregate(sel *planner.Select, in *built) (*built, error) {
	group := b.impAll(sel, sel.GroupBy, in.layout)
	aggs := make([]*meridianpb.AggFunc, len(sel.Aggs))
	for i, a := range sel.Aggs {
		f := &meridianpb.AggFunc{Func: a.Func, Arg: b.imp(sel, a.Arg, in.layout), TypeOid: a.Type.OID, Typmod: a.Type.Typmod, Distinct: a.Distinct}
		if a.Arg != nil {
			f.ArgTypeOid = a.Arg.TypeOid
		}
		aggs[i] = f
	}
	names := make([]string, 0, len(group)+len(aggs))
	for _, g := range group {
		names = append(names, nameOf(g, in.n.names))
	}
	for _, a := range sel.Aggs {
		names = append(names, a.Func)
	}
	var sets []*meridianpb.GroupingSet
	for _, s := range sel.GroupingSets {
		gs := &meridianpb.GroupingSet{}
		for _, c := range s {
			gs.Columns = append(gs.Columns, int32(c))
		}
		sets = append(sets, gs)
	}
	n, _ := b.groupBy(in.n, group, aggs, sets, names)
	return &built{n: n, layout: identityLayout(n.width())}, nil
}

// groupBy groups n's rows by group (expressions over n's row) and
// computes aggs, in one phase where the rows of a group are together
// already, else in two: partial aggregates where the rows are, then the
// final ones after redistributing the partial states by the group values
// (or gathering them when there are no group values, or few groups).
func (b *builder) groupBy(n *pnode, group []*Expr, aggs []*meridianpb.AggFunc, sets []*meridianpb.GroupingSet, names []string) (*pnode, dist) {
	cn := b.cnOnly(group...)
	splittable := true
	for _, a := range aggs {
		cn = cn || b.cnOnly(a.Arg)
		splittable = splittable && !a.Distinct
	}
	if cn {
		n = b.gather(n, nil)
	}
	groups := groupRows(n, group)
	outTypes := exprTypes(group)
	for _, a := range aggs {
		outTypes = append(outTypes, a.TypeOid)
	}
	outCols := make([]colStat, len(outTypes))
	for i, g := range group {
		outCols[i] = colStat{ndv: keyNDV(g, n)}
	}
	outCols = capCols(outCols, groups)
	// With hash aggregation off, each phase sorts its input by the group
	// keys and aggregates one group at a time.
	sorted := b.o.Off.HashAgg && len(sets) == 0 && len(group) > 0
	sortIn := func(in *pnode, keys []*Expr) *pnode {
		if sorted {
			return b.sortBy(in, keys)
		}
		return in
	}
	full := func(in *pnode, d dist) *pnode {
		in = sortIn(in, group)
		op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_FULL, GroupBy: group, Aggs: aggs, Sets: sets, Sorted: sorted}}}
		a := b.newNode(op, outTypes, names, d, groups, in.cost+in.rows*cpuBuild, in)
		a.cols = outCols
		return a
	}
	// Where the groups' rows are together: one phase.
	switch {
	case n.dist.kind == distCN || n.dist.kind == distConst || n.dist.kind == distReplicated:
		return full(n, n.dist), n.dist
	case len(sets) == 0:
		if d, ok := groupedBy(n.dist, group); ok {
			if clusteredGroups(n, group) {
				// Each group's rows come together: aggregated one group
				// at a time, without a hash table or a sort.
				op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_FULL, GroupBy: group, Aggs: aggs, Sorted: true}}}
				a := b.newNode(op, outTypes, names, d, groups, n.cost+n.rows*cpuTuple, n)
				a.cols = outCols
				return a, d
			}
			return full(n, d), d
		}
	}
	groupCols := identityLayout(len(group))
	if !splittable {
		// DISTINCT aggregates see every row of a group.
		if len(group) > 0 && len(sets) == 0 {
			in, cols := b.keyColumns(n, group)
			in = b.redistribute(in, cols)
			d := dist{kind: distHashed, keys: [][]int{groupCols}}
			return full(in, d), d
		}
		in := b.gather(n, nil)
		return full(in, dist{kind: distCN}), dist{kind: distCN}
	}
	// Two phases.
	partialTypes := exprTypes(group)
	partialNames := append([]string(nil), names[:len(group)]...)
	finals := make([]*meridianpb.AggFunc, len(aggs))
	for i, a := range aggs {
		for _, t := range agg.PartialTypes(specOf(a)) {
			partialTypes = append(partialTypes, t)
			partialNames = append(partialNames, a.Func)
		}
		argType := a.ArgTypeOid
		finals[i] = &meridianpb.AggFunc{Func: a.Func, TypeOid: a.TypeOid, Typmod: a.Typmod, ArgTypeOid: argType}
	}
	perNode := min(groups, n.rows/float64(b.datanodes())+1)
	pop := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_PARTIAL, GroupBy: group, Aggs: aggs, Sorted: sorted}}}
	n = sortIn(n, group)
	partial := b.newNode(pop, partialTypes, partialNames, dist{kind: distAny}, perNode*float64(b.datanodes()), n.cost+n.rows*cpuBuild, n)
	partial.cols = outCols[:len(group)]
	finalGroup := make([]*Expr, len(group))
	for i, g := range group {
		finalGroup[i] = columnExpr(i, g.TypeOid, g.Typmod)
	}
	var moved *pnode
	var d dist
	if len(sets) > 0 {
		// Grouping sets: the partial states of every combination of the
		// group keys go to the coordinator, whose final phase merges
		// them into each set's groups (its groups span the datanodes).
		moved, d = b.gather(partial, nil), dist{kind: distCN}
	} else if len(group) == 0 || (groups <= gatherGroups && b.toClient) {
		// Few groups for the client: the coordinator merges them. Where
		// the groups feed more operators (a derived table, a WITH query),
		// they stay on the datanodes, which the coordinator cannot send
		// rows back to.
		moved, d = b.gather(partial, nil), dist{kind: distCN}
	} else {
		moved, d = b.redistribute(partial, groupCols), dist{kind: distHashed, keys: [][]int{groupCols}}
	}
	moved = sortIn(moved, finalGroup)
	fop := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_FINAL, GroupBy: finalGroup, Aggs: finals, Sets: sets, Sorted: sorted}}}
	final := b.newNode(fop, outTypes, names, d, groups, moved.cost+moved.rows*cpuBuild, moved)
	final.cols = outCols
	return final, d
}

// gatherGroups: with at most this many groups (estimated), partial
// aggregates go to the coordinator for the final phase.
const gatherGroups = 1000

func specOf(a *meridianpb.AggFunc) agg.Spec {
	s := agg.Spec{Func: a.Func, Type: typeOf(a.TypeOid, a.Typmod), Distinct: a.Distinct, ArgType: a.ArgTypeOid}
	if a.Arg != nil {
		s.ArgType = a.Arg.TypeOid
	}
	return s
}

// groupedBy reports whether a distribution keeps each group's rows on one
// datanode: it is hashed by columns that are all plain group keys. The
// result's distribution is then hashed by those keys' output positions.
func groupedBy(d dist, group []*Expr) (dist, bool) {
	if d.kind != distHashed {
		return dist{}, false
	}
	for _, alt := range d.keys {
		out := make([]int, len(alt))
		ok := true
		for i, c := range alt {
			out[i] = -1
			for gi, g := range group {
				if g.Kind == kColumn && int(g.Index) == c {
					out[i] = gi
					break
				}
			}
			if out[i] < 0 {
				ok = false
				break
			}
		}
		if ok {
			return dist{kind: distHashed, keys: [][]int{out}}, true
		}
	}
	return dist{}, false
}

// windows plans a block's window functions: on the datanodes after
// redistributing by their common PARTITION BY (unless the rows are
// partitioned so already), else on the coordinator.
func (b *builder) windows(sel *planner.Select, in *built) (*built, error) {
	fns := make([]*meridianpb.WindowFunc, len(sel.Windows))
	var part []*Expr
	samePart := true
	for i, w := range sel.Windows {
		f := &meridianpb.WindowFunc{Func: w.Func, Args: b.impAll(sel, w.Args, in.layout), PartitionBy: b.impAll(sel, w.PartitionBy, in.layout),
			TypeOid: w.Type.OID, Typmod: w.Type.Typmod}
		for _, o := range w.OrderBy {
			f.OrderBy = append(f.OrderBy, &meridianpb.SortKey{Expr: b.imp(sel, o.Expr, in.layout), Desc: o.Desc, NullsFirst: o.NullsFirst})
		}
		fr := w.Frame
		f.Frame = &meridianpb.WindowFrame{Rows: fr.Rows, Start: meridianpb.FrameBoundKind(fr.Start), End: meridianpb.FrameBoundKind(fr.End),
			StartOffset: b.imp(sel, fr.StartOffset, nil), EndOffset: b.imp(sel, fr.EndOffs, nil)}
		if w.Agg != nil {
			f.Agg = &meridianpb.AggFunc{Func: w.Agg.Func, TypeOid: w.Agg.Type.OID, Typmod: w.Agg.Type.Typmod, Distinct: w.Agg.Distinct}
			if w.Agg.Arg != nil {
				f.Agg.ArgTypeOid = w.Agg.Arg.TypeOid
			}
		}
		fns[i] = f
		if i == 0 {
			part = f.PartitionBy
		} else if !sameExprs(part, f.PartitionBy) {
			samePart = false
		}
	}
	n := in.n
	cn := false
	for _, f := range fns {
		cn = cn || b.cnOnly(f.Args...) || b.cnOnly(f.PartitionBy...)
		for _, o := range f.OrderBy {
			cn = cn || b.cnOnly(o.Expr)
		}
	}
	var inputOrder []*meridianpb.SortKey
	grouped := false
	switch {
	case !cn && (!samePart || len(part) == 0) && n.dist.onDatanodes() && n.dist.kind != distReplicated:
		// The windows run on the coordinator: the datanodes sort their
		// rows for the first one, and the coordinator merges them.
		n, inputOrder = b.windowSort(n, fns)
		n = b.gather(n, inputOrder)
	case cn || !samePart || len(part) == 0:
		n = b.gather(n, nil)
	case n.dist.kind == distCN || n.dist.kind == distConst:
	case n.dist.kind == distReplicated:
		n = b.gather(n, nil)
	default:
		if _, ok := groupedBy(n.dist, part); !ok {
			var cols []int
			n, cols = b.keyColumns(n, part)
			n = b.redistribute(n, cols)
		} else if keys := clusteredWindow(n, fns); keys != nil {
			inputOrder, grouped = keys, true
		}
	}
	types := append([]uint32(nil), n.types...)
	names := append([]string(nil), n.names...)
	for _, f := range fns {
		types = append(types, f.TypeOid)
		names = append(names, f.Func)
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Window{Window: &meridianpb.WindowNode{Funcs: fns, InputOrder: inputOrder, InputGrouped: grouped}}}
	wn := b.newNode(op, types, names, n.dist, n.rows, n.cost+sortCost(n.rows)*float64(len(fns)), n)
	wn.cols = padCols(n)
	// Window values follow the input row; a projection that added key
	// columns pushed them right.
	layout := make([]int, len(in.layout)+len(fns))
	copy(layout, in.layout)
	for k := range fns {
		layout[len(in.layout)+k] = n.width() + k
	}
	return &built{n: wn, layout: layout}, nil
}

// windowSort sorts n by the window the executor orders rows by first
// (the first of those with the most keys: partition keys, then ORDER BY
// keys; see sql/exec's buildWindow), computing its keys that are not
// columns into columns, which the functions then refer to. It returns
// the sorted node and its order (nil, and n, for a window without keys).
func (b *builder) windowSort(n *pnode, fns []*meridianpb.WindowFunc) (*pnode, []*meridianpb.SortKey) {
	var first *meridianpb.WindowFunc
	for _, f := range fns {
		if first == nil || len(f.PartitionBy)+len(f.OrderBy) > len(first.PartitionBy)+len(first.OrderBy) {
			first = f
		}
	}
	var keys []*meridianpb.SortKey
	for _, p := range first.PartitionBy {
		keys = append(keys, &meridianpb.SortKey{Expr: p})
	}
	for _, o := range first.OrderBy {
		keys = append(keys, &meridianpb.SortKey{Expr: o.Expr, Desc: o.Desc, NullsFirst: o.NullsFirst})
	}
	if len(keys) == 0 {
		return n, nil
	}
	exprs := make([]*Expr, len(keys))
	for i, k := range keys {
		exprs[i] = k.Expr
	}
	n, cols := b.keyColumns(n, exprs)
	for i, k := range keys {
		if exprs[i].Kind == kColumn {
			continue
		}
		col := columnExpr(cols[i], n.types[cols[i]], -1)
		for _, f := range fns {
			for j, p := range f.PartitionBy {
				if exprEqual(p, exprs[i]) {
					f.PartitionBy[j] = col
				}
			}
			for _, o := range f.OrderBy {
				if exprEqual(o.Expr, exprs[i]) {
					o.Expr = col
				}
			}
		}
		k.Expr = col
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Sort{Sort: &meridianpb.SortNode{Keys: keys}}}
	return b.newNode(op, n.types, n.names, n.dist, n.rows, n.cost+sortCost(n.rows), n), keys
}

// clusteredWindow returns the keys of the window the executor computes
// first (see windowSort) when n, its input, is a scan of a table clustered
// by its primary key that returns each of that window's partitions
// contiguous and in its order: the partition keys are the primary key's
// leading columns (in its order) and hold every distribution column —
// so a partition's rows are adjacent in one bucket — and the ORDER BY keys
// are the next ones, ascending. Else nil.
func clusteredWindow(n *pnode, fns []*meridianpb.WindowFunc) []*meridianpb.SortKey {
	sn, ix, column := clusterScan(n)
	if sn == nil {
		return nil
	}
	var first *meridianpb.WindowFunc
	for _, f := range fns {
		if first == nil || len(f.PartitionBy)+len(f.OrderBy) > len(first.PartitionBy)+len(first.OrderBy) {
			first = f
		}
	}
	np := len(first.PartitionBy)
	if np+len(first.OrderBy) > len(ix.Columns) || codec.ClusterLookup(sn.Table, ix, np) == nil {
		return nil
	}
	var keys []*meridianpb.SortKey
	for i, p := range first.PartitionBy {
		if column(p) != ix.Columns[i] {
			return nil
		}
		keys = append(keys, &meridianpb.SortKey{Expr: p})
	}
	for i, o := range first.OrderBy {
		if o.Desc || column(o.Expr) != ix.Columns[np+i] {
			return nil
		}
		keys = append(keys, o)
	}
	return keys
}

// clusteredGroups reports whether n is a scan of a table clustered by an
// index whose leading columns are group's keys (plain columns, in any
// order) and hold every distribution column: the rows of a group are then
// adjacent in one bucket, which the scan reads in key order, and a sort
// aggregation needs no sort.
func clusteredGroups(n *pnode, group []*Expr) bool {
	sn, ix, column := clusterScan(n)
	if sn == nil || len(group) == 0 || len(group) > len(ix.Columns) || codec.ClusterLookup(sn.Table, ix, len(group)) == nil {
		return false
	}
	seen := make([]bool, len(group))
	for _, g := range group {
		i := slices.Index(ix.Columns[:len(group)], column(g))
		if i < 0 || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// clusterScan returns, when n is a full scan of a table clustered by an
// index (which it reads in that index's order within each bucket), the
// scan, the index and a function giving the table column an expression
// over n's row reads (-2 for one that is not a column); else nil.
func clusterScan(n *pnode) (*meridianpb.ScanNode, *meridianpb.IndexDesc, func(*Expr) int32) {
	sn := n.op.GetScan()
	if sn == nil || sn.IndexId != 0 || sn.Limit > 0 || sn.Table.GetClusterIndex() == 0 {
		return nil, nil, nil
	}
	var ix *meridianpb.IndexDesc
	for _, x := range sn.Table.Indexes {
		if x.Id == sn.Table.ClusterIndex {
			ix = x
		}
	}
	if ix == nil {
		return nil, nil, nil
	}
	return sn, ix, func(e *Expr) int32 {
		if e.GetKind() != kColumn || int(e.Index) >= len(sn.Columns) {
			return -2
		}
		return sn.Columns[e.Index]
	}
}

func sameExprs(a, c []*Expr) bool {
	if len(a) != len(c) {
		return false
	}
	for i := range a {
		if !exprEqual(a[i], c[i]) {
			return false
		}
	}
	return true
}
