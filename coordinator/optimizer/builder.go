package optimizer

import (
	"math"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Optimizer turns planned query blocks into distributed plans.
type Optimizer struct {
	// Stats returns what ANALYZE found for a table (nil: nothing).
	Stats func(tableID uint32) *meridianpb.TableStatistics
	// Datanodes is the number of datanode groups (for costs).
	Datanodes int
	// Off turns join algorithms off, as PostgreSQL's enable_hashjoin,
	// enable_mergejoin and enable_nestloop settings do (a join without
	// equality keys is a nested loop all the same).
	Off Off
}

// Off lists what the optimizer must not use (PostgreSQL's enable_*
// settings turned off).
type Off struct{ HashJoin, MergeJoin, NestLoop, HashAgg bool }

// rowsRef is rows the coordinator computes while a statement runs.
type rowsRef struct {
	CTE *planner.CTE
	// Work: the recursive query's previous round (its work table) rather
	// than the WITH query's rows.
	Work bool
}

// Plan is a distributed plan whose parameters, outer references and
// uncorrelated subqueries are bound each time it runs (Instantiate).
type Plan struct {
	root *pnode
	// Subs are the subqueries the plan's expressions evaluate: an
	// EXPR_SUBQUERY's index is a position here.
	Subs []*planner.SubPlan
	// SubRows says, for a correlated subquery, where the columns of the
	// row it is evaluated for (the row its outer references index) are in
	// the row of the operator that evaluates it: logical column c is
	// column SubRows[i][c] (-1: absent).
	SubRows [][]int
	// Refs are the coordinator-computed row sets: a RowsRefNode's ref is
	// a position here.
	Refs []rowsRef
	// Visible is the number of output columns.
	Visible int
	nextID  int32
}

type builder struct {
	o *Optimizer
	// toClient: the operators being built feed the statement's result
	// (the top block after its FROM clause), so finishing an aggregation
	// on the coordinator costs no extra move.
	toClient bool
	p        *Plan
	subIdx   map[*planner.SubPlan]int32
	refIdx   map[rowsRef]int32
	cteUses  map[*planner.CTE]int
}

// maxBothWays is the most stacked semi and anti joins (EXISTS, IN on one
// block) planned both pushed onto their leaf and above the inner joins.
const maxBothWays = 4

// stackedSemiJoins counts the semi and anti joins stacked from r down its
// left side.
func stackedSemiJoins(r planner.Rel) int {
	n := 0
	for {
		j, ok := r.(*planner.JoinRel)
		if !ok || (j.Kind != planner.JoinSemi && j.Kind != planner.JoinAnti) {
			return n
		}
		n++
		r = j.Left
	}
}

// PlanSelect plans a query.
func (o *Optimizer) PlanSelect(sel *planner.Select) (*Plan, error) {
	b := &builder{o: o, p: &Plan{}, subIdx: map[*planner.SubPlan]int32{}, refIdx: map[rowsRef]int32{}, cteUses: map[*planner.CTE]int{}}
	b.countCTEs(sel, map[*planner.Select]bool{})
	bt, err := b.block(sel, nil, true)
	if err != nil {
		return nil, err
	}
	n := bt.n
	if n.dist.kind != distCN {
		n = b.gather(n, nil)
	}
	// The visible columns, in order.
	identity := n.width() == sel.Visible
	for i := 0; i < sel.Visible && identity; i++ {
		identity = bt.layout[i] == i
	}
	if !identity {
		exprs := make([]*Expr, sel.Visible)
		for i := range exprs {
			c := bt.layout[i]
			exprs[i] = columnExpr(c, n.types[c], -1)
		}
		n = b.project(n, exprs, pick(n.names, bt.layout[:sel.Visible]))
	}
	b.p.root = n
	b.p.Visible = sel.Visible
	return b.p, nil
}

func pick(names []string, cols []int) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if c >= 0 && c < len(names) {
			out[i] = names[c]
		}
	}
	return out
}

// countCTEs counts the references to each WITH query, to inline those
// read once.
func (b *builder) countCTEs(sel *planner.Select, seen map[*planner.Select]bool) {
	if sel == nil || seen[sel] {
		return
	}
	seen[sel] = true
	var rel func(r planner.Rel)
	rel = func(r planner.Rel) {
		switch r := r.(type) {
		case *planner.FilterRel:
			rel(r.Input)
		case *planner.ProjectRel:
			rel(r.Input)
		case *planner.JoinRel:
			rel(r.Left)
			rel(r.Right)
		case *planner.QueryRel:
			b.countCTEs(r.Query, seen)
		case *planner.SetOpRel:
			b.countCTEs(r.Left, seen)
			b.countCTEs(r.Right, seen)
		case *planner.CTERel:
			b.cteUses[r.CTE]++
			if b.cteUses[r.CTE] == 1 {
				b.countCTEs(r.CTE.Query, seen)
				b.countCTEs(r.CTE.Step, seen)
			}
		}
	}
	rel(sel.From)
	for _, sp := range sel.Subqueries {
		b.countCTEs(sp.Query, seen)
	}
}

func (b *builder) id() int32 {
	b.p.nextID++
	return b.p.nextID
}

// imp imports an expression of query block sel into the plan: input
// columns through layout, subqueries renumbered into the plan's list.
func (b *builder) imp(sel *planner.Select, e *Expr, layout []int) *Expr {
	if e == nil {
		return nil
	}
	var col func(int32) int32
	if layout != nil {
		col = func(c int32) int32 {
			if c < 0 || int(c) >= len(layout) || layout[c] < 0 {
				return -1 // never read: a bug would show as an out-of-range error
			}
			return int32(layout[c])
		}
	}
	return rewrite(e, col, func(i int32) int32 { return b.sub(sel, i, layout) })
}

func (b *builder) impAll(sel *planner.Select, es []*Expr, layout []int) []*Expr {
	out := make([]*Expr, len(es))
	for i, e := range es {
		out[i] = b.imp(sel, e, layout)
	}
	return out
}

// sub returns the plan's index of subquery i of block sel, evaluated over
// rows of the given layout. A correlated subquery gets an entry for each
// place it is evaluated, with that place's layout.
func (b *builder) sub(sel *planner.Select, i int32, layout []int) int32 {
	if sel == nil || int(i) >= len(sel.Subqueries) {
		return i
	}
	sp := sel.Subqueries[i]
	if !sp.Correlated {
		if g, ok := b.subIdx[sp]; ok {
			return g
		}
	}
	g := int32(len(b.p.Subs))
	b.p.Subs = append(b.p.Subs, sp)
	var rows []int
	if sp.Correlated {
		rows = append([]int(nil), layout...)
	} else {
		b.subIdx[sp] = g
	}
	b.p.SubRows = append(b.p.SubRows, rows)
	return g
}

// mark is mark for expressions of block sel: an expression with a
// correlated subquery needs every column (its outer references are not
// visible from here).
func (b *builder) mark(sel *planner.Select, need []bool, es ...*Expr) {
	for _, e := range es {
		corr := false
		walk(e, func(x *Expr) {
			if x.Kind == kSubq && int(x.Index) < len(sel.Subqueries) && sel.Subqueries[x.Index].Correlated {
				corr = true
			}
		})
		if corr {
			for i := range need {
				need[i] = true
			}
			return
		}
		mark(need, e)
	}
}

// cnOnly reports whether an imported expression can only run on the
// coordinator.
func (b *builder) cnOnly(es ...*Expr) bool {
	for _, e := range es {
		if correlated(e, b.p.Subs) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Operators.

func (b *builder) newNode(op *meridianpb.PlanNode, types []uint32, names []string, d dist, rows, cost float64, kids ...*pnode) *pnode {
	op.Id = b.id()
	n := &pnode{op: op, kids: kids, types: types, names: names, dist: d, rows: rows, cost: cost}
	if len(kids) == 1 && len(types) == kids[0].width() {
		n.cols = capCols(kids[0].cols, rows)
	}
	return n
}

func exprTypes(es []*Expr) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.TypeOid
	}
	return out
}

// project computes exprs over n's rows; the distribution follows the
// columns that are passed through.
func (b *builder) project(n *pnode, exprs []*Expr, names []string) *pnode {
	d := n.dist
	if d.kind == distHashed {
		d = mapDist(d, func(c int) int {
			for i, e := range exprs {
				if e.Kind == kColumn && int(e.Index) == c {
					return i
				}
			}
			return -1
		})
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Project{Project: &meridianpb.ProjectNode{Exprs: exprs}}}
	p := b.newNode(op, exprTypes(exprs), names, d, n.rows, n.cost+n.rows*cpuOperator*float64(len(exprs)), n)
	p.cols = make([]colStat, len(exprs))
	for i, e := range exprs {
		if c, ok := baseColumn(e); ok && c < len(n.cols) {
			p.cols[i] = n.cols[c]
		}
	}
	return p
}

// mapDist renumbers a hashed distribution's key columns; alternatives
// with a column that does not survive (f returns -1) are dropped.
func mapDist(d dist, f func(int) int) dist {
	if d.kind != distHashed {
		return d
	}
	var keys [][]int
	for _, alt := range d.keys {
		k := make([]int, len(alt))
		ok := true
		for i, c := range alt {
			if k[i] = f(c); k[i] < 0 {
				ok = false
				break
			}
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return dist{kind: distAny}
	}
	return dist{kind: distHashed, keys: keys}
}

func (b *builder) filter(n *pnode, cond *Expr) *pnode {
	if cond == nil {
		return n
	}
	if b.cnOnly(cond) && n.dist.kind != distCN && n.dist.kind != distConst {
		n = b.gather(n, nil)
	}
	sel := selectivity(cond, n.cols)
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Filter{Filter: &meridianpb.FilterNode{Cond: cond}}}
	f := b.newNode(op, n.types, n.names, n.dist, max(n.rows*sel, 1), n.cost+n.rows*cpuOperator, n)
	f.cols = capCols(n.cols, f.rows)
	return f
}

// exchangeTo moves n's rows through a stream.
func (b *builder) exchangeTo(n *pnode, kind meridianpb.StreamKind, hashCols []int, d dist) *pnode {
	e := &pnode{exch: &exchange{kind: kind, hashCols: hashCols}, kids: []*pnode{n}, types: n.types, names: n.names, dist: d, rows: n.rows, cols: n.cols}
	moved := n.rows
	if kind == meridianpb.StreamKind_STREAM_BROADCAST {
		moved *= float64(b.datanodes())
	}
	e.cost = n.cost + moved*rowBytes(n.types)*netByte
	return e
}

// gather brings n's rows to the coordinator, merging sorted streams
// when merge is set.
func (b *builder) gather(n *pnode, merge []*meridianpb.SortKey) *pnode {
	if n.dist.kind == distCN || n.dist.kind == distConst {
		return n
	}
	g := b.exchangeTo(n, meridianpb.StreamKind_STREAM_GATHER, nil, dist{kind: distCN})
	g.exch.merge = merge
	return g
}

// redistribute spreads n's rows by the bucket of the given columns.
func (b *builder) redistribute(n *pnode, cols []int) *pnode {
	return b.exchangeTo(n, meridianpb.StreamKind_STREAM_REDISTRIBUTE, cols, dist{kind: distHashed, keys: [][]int{cols}})
}

func (b *builder) broadcast(n *pnode) *pnode {
	return b.exchangeTo(n, meridianpb.StreamKind_STREAM_BROADCAST, nil, dist{kind: distReplicated})
}

func (b *builder) datanodes() int { return max(b.o.Datanodes, 1) }

// keyColumns returns columns of n holding the values of exprs, adding a
// projection that computes those that are not plain columns.
func (b *builder) keyColumns(n *pnode, exprs []*Expr) (*pnode, []int) {
	cols := make([]int, len(exprs))
	var extra []*Expr
	for i, e := range exprs {
		if e.Kind == kColumn {
			cols[i] = int(e.Index)
			continue
		}
		cols[i] = n.width() + len(extra)
		extra = append(extra, e)
	}
	if len(extra) == 0 {
		return n, cols
	}
	all := make([]*Expr, 0, n.width()+len(extra))
	for i, t := range n.types {
		all = append(all, columnExpr(i, t, -1))
	}
	all = append(all, extra...)
	return b.project(n, all, append(append([]string(nil), n.names...), make([]string, len(extra))...)), cols
}

// ---------------------------------------------------------------------------
// Query blocks.

// fromWidth is the width of a block's FROM row.
func fromWidth(sel *planner.Select) int {
	switch {
	case sel.From != nil:
		return sel.From.Width()
	case sel.Access.Table != nil:
		return len(sel.ScanCols)
	}
	return 0
}

// block plans a query block. need says which visible output columns the
// caller reads (nil: all); the result's layout covers the visible ones.
func (b *builder) block(sel *planner.Select, need []bool, top bool) (*built, error) {
	if sel.Distinct || need == nil {
		need = make([]bool, sel.Visible)
		for i := range need {
			need[i] = true
		}
	}
	// Output columns to compute: the needed visible ones and the hidden
	// ORDER BY ones.
	outNeed := make([]bool, len(sel.Output))
	copy(outNeed, need)
	for i := sel.Visible; i < len(sel.Output); i++ {
		outNeed[i] = true
	}
	for _, k := range sel.Sort {
		outNeed[k.Col] = true
	}
	// What the FROM row must provide.
	fromNeed := make([]bool, fromWidth(sel))
	if sel.HasAgg {
		b.mark(sel, fromNeed, sel.GroupBy...)
		for _, a := range sel.Aggs {
			b.mark(sel, fromNeed, a.Arg)
		}
	} else {
		for i, o := range sel.Output {
			if outNeed[i] {
				b.mark(sel, fromNeed, o)
			}
		}
		for _, w := range sel.Windows {
			b.markWindow(sel, fromNeed, w)
		}
	}
	var cur *built
	var err error
	switch {
	case sel.From != nil:
		cur, err = b.rel(sel, sel.From, fromNeed)
	case sel.Access.Table != nil:
		cur = b.scan(sel, sel.Access, sel.ScanCols, fromNeed)
	default:
		op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Values{Values: &meridianpb.ValuesNode{Rows: []*meridianpb.ExprRow{{}}}}}
		cur = &built{n: b.newNode(op, nil, nil, dist{kind: distConst}, 1, 0)}
	}
	if err != nil {
		return nil, err
	}
	b.toClient = top
	if sel.HasAgg {
		if cur, err = b.aggregate(sel, cur); err != nil {
			return nil, err
		}
		if sel.Having != nil {
			cur.n = b.filter(cur.n, b.imp(sel, sel.Having, cur.layout))
		}
	}
	if len(sel.Windows) > 0 {
		if cur, err = b.windows(sel, cur); err != nil {
			return nil, err
		}
	}
	// The select list.
	var exprs []*Expr
	var names []string
	layout := make([]int, len(sel.Output))
	for i, o := range sel.Output {
		layout[i] = -1
		if !outNeed[i] {
			continue
		}
		layout[i] = len(exprs)
		e := b.imp(sel, o, cur.layout)
		exprs = append(exprs, e)
		names = append(names, nameOf(e, cur.n.names))
	}
	n := cur.n
	if b.cnOnly(exprs...) {
		n = b.gather(n, nil)
	}
	if !isIdentity(exprs, n.width()) {
		n = b.project(n, exprs, names)
	} else {
		n.names = names
	}
	if sel.Distinct {
		n = b.distinct(n, len(exprs))
	}
	n, err = b.order(sel, n, layout, top)
	if err != nil {
		return nil, err
	}
	return &built{n: n, layout: layout[:sel.Visible]}, nil
}

func nameOf(e *Expr, names []string) string {
	if e.Kind == kColumn && int(e.Index) < len(names) {
		return names[e.Index]
	}
	return ""
}

func isIdentity(exprs []*Expr, width int) bool {
	if len(exprs) != width {
		return false
	}
	for i, e := range exprs {
		if e.Kind != kColumn || int(e.Index) != i {
			return false
		}
	}
	return true
}

func (b *builder) markWindow(sel *planner.Select, need []bool, w *planner.WindowFunc) {
	b.mark(sel, need, w.Args...)
	b.mark(sel, need, w.PartitionBy...)
	for _, o := range w.OrderBy {
		b.mark(sel, need, o.Expr)
	}
}

// order applies a block's ORDER BY, LIMIT and OFFSET. Sorting and LIMIT
// run on the datanodes first (a top-N when there is a limit), then the
// coordinator merges the sorted streams and applies the limit again.
func (b *builder) order(sel *planner.Select, n *pnode, layout []int, top bool) (*pnode, error) {
	var keys []*meridianpb.SortKey
	for _, k := range sel.Sort {
		c := layout[k.Col]
		keys = append(keys, &meridianpb.SortKey{Expr: columnExpr(c, n.types[c], -1), Desc: k.Desc, NullsFirst: k.NullsFirst})
	}
	hasLimit := sel.Limit != nil || sel.Offset != nil
	if len(keys) == 0 && !hasLimit {
		return n, nil
	}
	limit, offset := b.imp(sel, sel.Limit, nil), b.imp(sel, sel.Offset, nil)
	// LIMIT + OFFSET rows are enough from each datanode.
	var dnLimit *Expr
	if limit != nil {
		dnLimit = limit
		if offset != nil {
			dnLimit = plusExpr(limit, offset)
		}
	}
	if n.dist.onDatanodes() && n.dist.kind != distReplicated {
		if len(keys) > 0 {
			op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Sort{Sort: &meridianpb.SortNode{Keys: keys, Limit: dnLimit}}}
			rows := n.rows
			n = b.newNode(op, n.types, n.names, n.dist, rows, n.cost+sortCost(rows), n)
		} else if dnLimit != nil {
			op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Limit{Limit: &meridianpb.LimitNode{Limit: dnLimit}}}
			n = b.newNode(op, n.types, n.names, n.dist, n.rows, n.cost, n)
		}
		n = b.gather(n, keys)
	} else {
		if n.dist.kind == distReplicated {
			n = b.gather(n, nil)
		}
		if len(keys) > 0 {
			op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Sort{Sort: &meridianpb.SortNode{Keys: keys, Limit: dnLimit}}}
			n = b.newNode(op, n.types, n.names, n.dist, n.rows, n.cost+sortCost(n.rows), n)
		}
	}
	if !hasLimit {
		return n, nil
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Limit{Limit: &meridianpb.LimitNode{Limit: limit, Offset: offset}}}
	return b.newNode(op, n.types, n.names, n.dist, n.rows, n.cost, n), nil
}

func plusExpr(a, c *Expr) *Expr {
	return &Expr{Kind: kFunc, Name: "+", TypeOid: types.Int8, Typmod: -1, Args: []*Expr{a, c}}
}

// distinct removes duplicate rows (all width columns).
func (b *builder) distinct(n *pnode, width int) *pnode {
	group := make([]*Expr, width)
	for i := range group {
		group[i] = columnExpr(i, n.types[i], -1)
	}
	out, _ := b.groupBy(n, group, nil, nil, n.names)
	return out
}

// ---------------------------------------------------------------------------
// Scans.

// scan reads a table: logical column i is table column cols[i] (all
// columns when cols is nil; codec.RowKeyColumn is the row key).
func (b *builder) scan(sel *planner.Select, a planner.Access, cols []int, need []bool) *built {
	t := a.Table
	if cols == nil {
		cols = make([]int, len(t.Columns))
		for i := range cols {
			cols[i] = i
		}
	}
	sn := &meridianpb.ScanNode{Table: t, IndexId: a.IndexID, IndexEq: b.impAll(sel, a.IndexEq, nil), Filter: b.imp(sel, a.Filter, nil)}
	layout := make([]int, len(cols))
	var typs []uint32
	var names []string
	for i, c := range cols {
		layout[i] = -1
		if i < len(need) && need[i] {
			layout[i] = len(sn.Columns)
			sn.Columns = append(sn.Columns, int32(c))
			if c == codec.RowKeyColumn {
				typs = append(typs, types.Bytea)
				names = append(names, t.Name+".rowkey")
				continue
			}
			typs = append(typs, t.Columns[c].TypeOid)
			names = append(names, t.Name+"."+t.Columns[c].Name)
		}
	}
	d := dist{kind: distReplicated}
	if t.Dist != meridianpb.DistKind_DIST_REPLICATION {
		d = dist{kind: distAny}
		var key []int
		for _, dc := range t.DistColumns {
			pos := -1
			for i, c := range cols {
				if int32(c) == dc && layout[i] >= 0 {
					pos = layout[i]
				}
			}
			if pos < 0 {
				key = nil
				break
			}
			key = append(key, pos)
		}
		if key != nil {
			d = dist{kind: distHashed, keys: [][]int{key}}
		}
	}
	rows, sel1, tcols := b.scanEstimate(t, sn.Filter, false)
	// Sequential scan or index scan, by cost: a scan reads every row of
	// the buckets it touches (a WHERE on the distribution key prunes
	// them), an index scan seeks and reads each matching row at random.
	scanned := rows
	if nb := prunedBuckets(a); nb > 0 {
		scanned = max(1, rows*float64(nb)/16384)
	}
	cost := scanned * (cpuTuple + ioTuple*rowBytes(tableTypes(t)))
	if sn.IndexId != 0 {
		ix := planner.IndexOf(t, sn.IndexId)
		point := ix != nil && ix.Unique && len(sn.IndexEq) == len(ix.Columns) // at most one row
		if ic := (1 + rows*sel1) * lookupCost; point || ic < cost {
			cost = ic
		} else {
			sn.IndexId, sn.IndexEq = 0, nil
			a.IndexID, a.IndexEq = 0, nil
		}
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: sn}}
	n := b.newNode(op, typs, names, d, max(rows*sel1, 1), cost)
	for _, c := range sn.Columns {
		if c == codec.RowKeyColumn {
			n.cols = append(n.cols, colStat{ndv: n.rows}) // unique
			continue
		}
		n.cols = append(n.cols, tcols[c])
	}
	n.scan = &scanInfo{access: a}
	n.scan.access.Filter = sn.Filter
	n.scan.access.IndexID = sn.IndexId
	n.scan.access.IndexEq = sn.IndexEq
	n.scan.access.Route.DistValues = make([][]*Expr, len(a.Route.DistValues))
	for i, vs := range a.Route.DistValues {
		n.scan.access.Route.DistValues[i] = b.impAll(sel, vs, nil)
	}
	if a.Route.DistValues == nil {
		n.scan.access.Route.DistValues = nil
	}
	return &built{n: n, layout: layout}
}

// ---------------------------------------------------------------------------
// FROM trees.

// rel plans a FROM tree of block sel; need says which of its columns are
// read above it.
func (b *builder) rel(sel *planner.Select, r planner.Rel, need []bool) (*built, error) {
	switch r := r.(type) {
	case *planner.ScanRel:
		var cols []int
		if r.RowKey {
			cols = append(identityLayout(len(r.Access.Table.Columns)), codec.RowKeyColumn)
		}
		return b.scan(sel, r.Access, cols, need), nil
	case *planner.FilterRel:
		in := append([]bool(nil), need...)
		b.mark(sel, in, r.Cond)
		c, err := b.rel(sel, r.Input, in)
		if err != nil {
			return nil, err
		}
		c.n = b.filter(c.n, b.imp(sel, r.Cond, c.layout))
		return c, nil
	case *planner.ProjectRel:
		if is, ok := flattenIsland(r); ok {
			return b.joinIsland(sel, is, need)
		}
		in := make([]bool, r.Input.Width())
		for i, e := range r.Exprs {
			if need[i] {
				b.mark(sel, in, e)
			}
		}
		c, err := b.rel(sel, r.Input, in)
		if err != nil {
			return nil, err
		}
		layout := make([]int, len(r.Exprs))
		var exprs []*Expr
		var names []string
		plain := true
		for i, e := range r.Exprs {
			layout[i] = -1
			if !need[i] {
				continue
			}
			ie := b.imp(sel, e, c.layout)
			if ie.Kind == kColumn {
				layout[i] = int(ie.Index)
			} else {
				plain = false
			}
			exprs = append(exprs, ie)
			names = append(names, nameOf(ie, c.n.names))
		}
		if plain {
			// Columns only: no operator, just a new layout.
			return &built{n: c.n, layout: layout}, nil
		}
		j := 0
		for i := range r.Exprs {
			if need[i] {
				layout[i] = j
				j++
			}
		}
		n := c.n
		if b.cnOnly(exprs...) {
			n = b.gather(n, nil)
		}
		return &built{n: b.project(n, exprs, names), layout: layout}, nil
	case *planner.JoinRel:
		if r.Kind == planner.JoinSemi || r.Kind == planner.JoinAnti {
			if is, semis, ok := semiIsland(r); ok {
				return b.joinIslandSemis(sel, is, semis, need)
			}
			if pushed := pushSemiJoins(r); pushed != planner.Rel(r) {
				// Filtering a leaf early pays when the inner joins would
				// multiply its rows; it loses when they cut them (TPC-H
				// Q21: the EXISTS on lineitem l1 probes every late l1
				// row when pushed, only the Saudi suppliers' on top). Plan
				// both; keep the cheaper. Each semi join below is planned
				// both ways in turn, so beyond a few stacked ones (2^n
				// plans) only the pushed plan is made.
				planPushed := func() (*built, error) {
					j, ok := pushed.(*planner.JoinRel)
					if !ok || j.Kind == planner.JoinInner {
						return b.rel(sel, pushed, need)
					}
					if is, ok := flattenIsland(j); ok {
						return b.joinIsland(sel, is, need)
					}
					return b.join(sel, j, need)
				}
				if stackedSemiJoins(r) > maxBothWays {
					return planPushed()
				}
				early, err := planPushed()
				if err != nil {
					return nil, err
				}
				late, err := b.join(sel, r, need)
				if err != nil {
					return nil, err
				}
				if late.n.cost < early.n.cost {
					return late, nil
				}
				return early, nil
			}
		}
		if is, ok := flattenIsland(r); ok {
			return b.joinIsland(sel, is, need)
		}
		return b.join(sel, r, need)
	case *planner.QueryRel:
		return b.block(r.Query, need, false)
	case *planner.ValuesRel:
		rows := make([]*meridianpb.ExprRow, len(r.Rows))
		cn := false
		for i, row := range r.Rows {
			rows[i] = &meridianpb.ExprRow{Exprs: b.impAll(sel, row, nil)}
			cn = cn || b.cnOnly(rows[i].Exprs...)
		}
		d := dist{kind: distConst}
		if cn {
			d = dist{kind: distCN}
		}
		op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Values{Values: &meridianpb.ValuesNode{Rows: rows}}}
		return &built{n: b.newNode(op, r.Types, make([]string, r.Cols), d, float64(len(r.Rows)), 0), layout: identityLayout(r.Cols)}, nil
	case *planner.SeriesRel:
		args := b.impAll(sel, []*Expr{r.Start, r.Stop, r.Step}, nil)
		d := dist{kind: distConst}
		if b.cnOnly(args...) {
			d = dist{kind: distCN}
		}
		rows := seriesRows(args)
		op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Series{Series: &meridianpb.SeriesNode{Start: args[0], Stop: args[1], Step: args[2]}}}
		return &built{n: b.newNode(op, []uint32{r.Type}, []string{"generate_series"}, d, rows, rows*cpuTuple), layout: identityLayout(1)}, nil
	case *planner.SetOpRel:
		return b.setOp(r)
	case *planner.CTERel:
		if b.cteUses[r.CTE] == 1 && r.CTE.Refs <= 1 && r.CTE.Step == nil {
			return b.block(r.CTE.Query, need, false)
		}
		return b.rowsRef(rowsRef{CTE: r.CTE}, r.CTE.Query), nil
	case *planner.WorkTableRel:
		return b.rowsRef(rowsRef{CTE: r.CTE, Work: true}, r.CTE.Query), nil
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown FROM item %T", r)
}

// rowsRef reads rows the coordinator computes (a WITH query's).
func (b *builder) rowsRef(ref rowsRef, q *planner.Select) *built {
	i, ok := b.refIdx[ref]
	if !ok {
		i = int32(len(b.p.Refs))
		b.p.Refs = append(b.p.Refs, ref)
		b.refIdx[ref] = i
	}
	typs := make([]uint32, q.Visible)
	for k := range typs {
		typs[k] = q.Output[k].TypeOid
	}
	label := "CTE " + ref.CTE.Name
	if ref.Work {
		label = "WorkTable " + ref.CTE.Name
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_RowsRef{RowsRef: &meridianpb.RowsRefNode{Ref: i, Label: label}}}
	return &built{n: b.newNode(op, typs, make([]string, len(typs)), dist{kind: distConst}, 1000, 0), layout: identityLayout(len(typs))}
}

// setOp plans UNION / INTERSECT / EXCEPT [ALL].
func (b *builder) setOp(r *planner.SetOpRel) (*built, error) {
	l, err := b.block(r.Left, nil, false)
	if err != nil {
		return nil, err
	}
	rt, err := b.block(r.Right, nil, false)
	if err != nil {
		return nil, err
	}
	ln, rn := b.visibleOnly(l, r.Cols), b.visibleOnly(rt, r.Cols)
	if r.Op == "union" {
		d := dist{kind: distAny}
		switch {
		case ln.dist.kind == distConst && rn.dist.kind == distConst:
			d = dist{kind: distConst}
		case !ln.dist.onDatanodes() || !rn.dist.onDatanodes() || ln.dist.kind == distReplicated || rn.dist.kind == distReplicated:
			ln, rn = b.gather(ln, nil), b.gather(rn, nil)
			d = dist{kind: distCN}
		}
		op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Append{Append: &meridianpb.AppendNode{}}}
		n := b.newNode(op, ln.types, ln.names, d, ln.rows+rn.rows, ln.cost+rn.cost, ln, rn)
		if !r.All {
			n = b.distinct(n, r.Cols)
		}
		return &built{n: n, layout: identityLayout(r.Cols)}, nil
	}
	// INTERSECT / EXCEPT: equal rows meet on one node.
	var d dist
	switch {
	case ln.dist.onDatanodes() && rn.dist.onDatanodes() && ln.dist.kind != distReplicated && rn.dist.kind != distReplicated:
		all := identityLayout(r.Cols)
		ln, rn = b.redistribute(ln, all), b.redistribute(rn, all)
		d = dist{kind: distHashed, keys: [][]int{all}}
	case ln.dist.kind == distConst && rn.dist.kind == distConst:
		d = dist{kind: distConst}
	default:
		ln, rn = b.gather(ln, nil), b.gather(rn, nil)
		d = dist{kind: distCN}
	}
	op := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_SetOp{SetOp: &meridianpb.SetOpNode{Op: r.Op, All: r.All}}}
	n := b.newNode(op, ln.types, ln.names, d, ln.rows, ln.cost+rn.cost+(ln.rows+rn.rows)*cpuTuple, ln, rn)
	return &built{n: n, layout: identityLayout(r.Cols)}, nil
}

// visibleOnly projects a block's result to its first k visible columns.
func (b *builder) visibleOnly(bt *built, k int) *pnode {
	exprs := make([]*Expr, k)
	for i := 0; i < k; i++ {
		c := bt.layout[i]
		exprs[i] = columnExpr(c, bt.n.types[c], -1)
	}
	if isIdentity(exprs, bt.n.width()) {
		return bt.n
	}
	return b.project(bt.n, exprs, pick(bt.n.names, bt.layout[:k]))
}

var _ = expr.Column

// prunedBuckets is the number of buckets a WHERE clause pinning the
// distribution key lets a scan read (0: not pinned).
func prunedBuckets(a planner.Access) int {
	if a.Route.DistValues == nil {
		return 0
	}
	n := 1
	for _, vs := range a.Route.DistValues {
		n *= max(len(vs), 1)
	}
	return n
}

func tableTypes(t *meridianpb.TableDesc) []uint32 {
	out := make([]uint32, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.TypeOid
	}
	return out
}

// seriesRows estimates generate_series's rows: exact for integer constant
// arguments, else 1,000 (PostgreSQL's guess for a function in FROM).
func seriesRows(args []*Expr) float64 {
	var v [3]int64
	for i, a := range args {
		if a.Kind != kConst || a.IsNull || !types.IsInteger(a.TypeOid) {
			return 1000
		}
		d, err := expr.ConstValue(a)
		if err != nil {
			return 1000
		}
		v[i] = d.(int64)
	}
	if v[2] == 0 {
		return 1
	}
	n := (float64(v[1])-float64(v[0]))/float64(v[2]) + 1
	return max(1, math.Floor(n))
}
