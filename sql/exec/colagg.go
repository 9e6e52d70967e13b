package exec

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// ColSource produces column batches: a datanode's vectorized table scan
// (its filter applied). A batch stays valid until the next call to Next.
type ColSource interface {
	Open(ctx context.Context) error
	Next(ctx context.Context) (*coldata.Batch, error)
	Close()
	// Types are the column types of the batches.
	Types() []uint32
}

// ColHashAgg is a hash aggregation over column batches (the vectorized
// form of HashAgg, for its three phases): group keys and aggregate
// arguments are computed a batch at a time by sql/colexpr, and the
// groups' states are those of sql/agg, so its rows equal HashAgg's. The
// final phase merges the partial states of its input's rows: a count's
// is added to an array entry, a sum's numeric taken by coefficient and
// exponent, the others merged as datums.
//
// The partial phase need not hold every group: past its memory budget it
// emits the groups it holds and starts again (the final phase merges the
// partial rows of a group, however many). The full and final phases spill
// as HashAgg does: past the budget they keep aggregating the groups they
// hold and write the rows of new groups to partition files, which a row
// HashAgg then aggregates one at a time.
//
// Sorted (the plan's sort aggregation), the input's rows come grouped —
// each group's rows together — and a group ends where the key changes:
// no table, the groups of about a batch held at a time, nothing spilled.
type ColHashAgg struct {
	src     ColSource
	env     *Env
	st      *Stats
	phase   AggPhase
	groupBy []colexpr.Expr
	calls   []AggCall // with arguments compiled row by row, for spilled rows
	// stateCol (AggFinal) is the first input column of each aggregate's
	// partial state; state holds one row's state for Merge.
	stateCol []int
	state    []types.Datum
	rowKeys  []expr.Eval
	args     []colexpr.Expr // per call; nil for count(*)
	modes    []int          // per call: how update hands it a value

	mem   *memory
	table map[string]*group
	// ints is the table instead when the aggregation has one group key of
	// an integer kind (integers, dates): no key encoding, a faster map;
	// the NULL key's group is nullGroup.
	intKey    bool
	ints      map[int64]*group
	nullGroup *group
	// The last integer key looked up and its group (nil: absent, which it
	// stays once spilling): rows of one key often come together (a table
	// stored in key order, as TPC-H's lineitem by l_orderkey), and then
	// skip the map.
	lastValid bool
	lastKey   int64
	lastGroup *group
	order     []*group
	// sorted: the input comes grouped; cur is the group of the last row
	// (the last of order), its key curKey (encoded), or curInt and
	// curNull for an integer key.
	sorted  bool
	cur     *group
	curKey  []byte
	curInt  int64
	curNull bool
	// counts[i], for a count call (modes[i] == addCount), holds the
	// groups' counts by their place in order: counting a row increments an
	// array entry rather than calling the group's state, and flush puts
	// the count in the group's row (column countCol[i]).
	counts   [][]int64
	countCol []int
	// sums[i], for a sum or avg of numerics (full and partial phases),
	// holds the groups' running sums by their place in order.
	sums   []*decSums
	slab   groupSlab
	kbuf   []byte
	keys   []*coldata.Vec
	vals   []*coldata.Vec
	done   bool
	out    *Rows
	spill  *HashAgg // the full phase's spilled rows, aggregated after the groups held
	closed bool
}

var _ Operator = (*ColHashAgg)(nil)

// buildColAgg returns the vectorized aggregation of a plan's aggregation
// node, or nil when it does not apply: a hash aggregation without
// grouping sets or DISTINCT, when env.Vectorize is set (the final phase
// over an input holding the partial states' types).
func (env *Env) buildColAgg(n *meridianpb.PlanNode, a *meridianpb.AggNode, st *Stats) (Operator, error) {
	phase := AggPhase(a.Phase)
	if !env.Vectorize || phase < AggFull || phase > AggFinal || len(a.Sets) > 0 || len(n.Inputs) != 1 || a.Sorted && len(a.GroupBy) == 0 {
		return nil, nil
	}
	state := len(a.GroupBy)
	for _, f := range a.Aggs {
		if !knownAgg(f.Func) || f.Distinct {
			return nil, nil
		}
		if phase == AggFinal {
			// Its input must hold each aggregate's partial state (else the
			// row aggregation reports the plan's error).
			for _, oid := range agg.PartialTypes(AggSpecOf(f)) {
				if state >= len(n.Inputs[0].Types) || n.Inputs[0].Types[state] != oid {
					return nil, nil
				}
				state++
			}
		}
	}
	src, rowOnly, err := env.buildCols(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	h := &ColHashAgg{src: src, env: env, st: st, phase: phase, sorted: a.Sorted}
	c := &colexpr.Compiler{In: src.Types(), Row: env.Compile}
	fail := func(err error) (Operator, error) {
		src.Close()
		return nil, err
	}
	for _, g := range a.GroupBy {
		x, err := c.Compile(g)
		if err != nil {
			return fail(err)
		}
		h.groupBy = append(h.groupBy, x)
	}
	if h.rowKeys, err = env.compileAll(a.GroupBy); err != nil {
		return fail(err)
	}
	if len(a.GroupBy) == 1 {
		k := coldata.KindOf(a.GroupBy[0].TypeOid)
		h.intKey = k == coldata.Int || k == coldata.Date
		// Sorted, the current group's key is kept as the kind of its
		// first row: a key computed row by row, whose vector may hold
		// datums in some batch, is compared by its encoding.
		h.intKey = h.intKey && (!a.Sorted || a.GroupBy[0].Kind == meridianpb.ExprKind_EXPR_COLUMN)
	}
	h.calls = make([]AggCall, len(a.Aggs))
	h.args = make([]colexpr.Expr, len(a.Aggs))
	h.modes = make([]int, len(a.Aggs))
	h.counts = make([][]int64, len(a.Aggs))
	h.sums = make([]*decSums, len(a.Aggs))
	h.countCol = make([]int, len(a.Aggs))
	col, state := len(a.GroupBy), len(a.GroupBy)
	if len(src.Types()) != len(n.Inputs[0].Types) {
		return fail(pgerr.New(pgerr.InternalError, "plan node %d: an input of %d columns where %d were planned", n.Id, len(src.Types()), len(n.Inputs[0].Types)))
	}
	for i, f := range a.Aggs {
		h.calls[i].Spec = AggSpecOf(f)
		h.modes[i] = updateMode(f.Func)
		h.countCol[i] = col
		if phase == AggPartial {
			col += len(agg.PartialTypes(h.calls[i].Spec))
		} else {
			col++
		}
		if h.modes[i] == addCount {
			h.counts[i] = []int64{}
		}
		if h.modes[i] == addSum && phase != AggFinal && f.Arg != nil && f.Arg.TypeOid == types.Numeric {
			h.sums[i] = &decSums{}
		}
		if phase == AggFinal {
			// The input holds each aggregate's partial state.
			h.stateCol = append(h.stateCol, state)
			state += len(agg.PartialTypes(h.calls[i].Spec))
			continue
		}
		if f.Arg != nil {
			if h.args[i], err = c.Compile(f.Arg); err != nil {
				return fail(err)
			}
			if h.calls[i].Arg, err = env.compile(f.Arg); err != nil {
				return fail(err)
			}
		}
	}
	if rowOnly && !computes(a) {
		// Rows in, nothing to compute a batch at a time: the row
		// aggregation, over the input already built.
		in := src.(*columnarizer).in
		if a.Sorted {
			return NewSortAgg(in, phase, h.rowKeys, h.calls), nil
		}
		return NewHashAgg(env, st, src.(*columnarizer).in, n.Inputs[0].Types, phase, h.rowKeys, h.calls, nil), nil
	}
	if st != nil {
		st.Vectorized = true
	}
	h.keys = make([]*coldata.Vec, len(h.groupBy))
	h.vals = make([]*coldata.Vec, len(h.args))
	return h, nil
}

// computes reports an aggregation with a group key or an argument that
// is more than a column.
func computes(a *meridianpb.AggNode) bool {
	for _, g := range a.GroupBy {
		if g.Kind != meridianpb.ExprKind_EXPR_COLUMN {
			return true
		}
	}
	for _, f := range a.Aggs {
		if f.Arg != nil && f.Arg.Kind != meridianpb.ExprKind_EXPR_COLUMN {
			return true
		}
	}
	return false
}

func (h *ColHashAgg) Open(ctx context.Context) error {
	h.mem = newMemory(h.env, h.st)
	h.table = map[string]*group{}
	if h.intKey && !h.sorted {
		h.ints = map[int64]*group{}
	}
	if h.phase != AggPartial && len(h.groupBy) == 0 {
		// An aggregate over no group keys yields one row even without
		// input (not its partial phase: the final phase makes that row).
		h.table[""] = h.newGroup(nil)
		h.hold(h.table[""])
	}
	return h.src.Open(ctx)
}

func (h *ColHashAgg) Next(ctx context.Context) (*Batch, error) {
	for {
		if h.out != nil {
			b, err := h.out.Next(ctx)
			if err != nil || b != nil {
				return b, err
			}
			h.out = nil
			h.mem.release()
		}
		if h.done {
			if h.spill != nil {
				return h.spill.Next(ctx)
			}
			return nil, nil
		}
		full := false
		for !full {
			b, err := h.src.Next(ctx)
			if err != nil {
				return nil, err
			}
			if b == nil {
				h.done = true
				break
			}
			if full, err = h.add(b); err != nil {
				return nil, err
			}
		}
		if err := h.flush(); err != nil {
			return nil, err
		}
	}
}

// add aggregates the live rows of b; full reports the partial phase's
// memory budget reached.
func (h *ColHashAgg) add(b *coldata.Batch) (full bool, err error) {
	if len(b.Sel) == 0 {
		return false, nil
	}
	for i, g := range h.groupBy {
		if h.keys[i], err = g.Eval(b); err != nil {
			return false, err
		}
	}
	for i, a := range h.args {
		switch {
		case h.phase == AggFinal:
			h.vals[i] = b.Vecs[h.stateCol[i]] // a state's first column
		case a != nil:
			if h.vals[i], err = a.Eval(b); err != nil {
				return false, err
			}
		}
	}
	if h.intKey && h.keys[0].Kind != coldata.Int && h.keys[0].Kind != coldata.Date {
		// The key is computed row by row (its vector holds datums): the
		// general table, from its first batch on.
		h.ints, h.intKey = nil, false
	}
	var keys []types.Datum
	for _, r := range b.Sel {
		g, ok := h.find(r)
		if !ok {
			if h.spill != nil {
				if h.ints != nil {
					h.kbuf = h.appendKey(h.kbuf[:0], r)
				}
				if err := h.spill.spillRow(0, 1, h.kbuf, b.Row(r)); err != nil {
					return false, err
				}
				continue
			}
			if keys == nil {
				keys = make([]types.Datum, len(h.keys))
			}
			for i, v := range h.keys {
				keys[i] = v.Datum(r)
			}
			g = h.newGroup(keys)
			h.insert(r, g)
			h.hold(g)
			if h.sorted {
				// The groups before g are complete: flushed after
				// this batch once there are a batch of them.
				full = full || len(h.order) > BatchSize
			} else if !h.mem.grow(rowSize(keys) + int64(64*len(h.calls)) + 64) {
				switch {
				case h.phase == AggPartial:
					full = true
				case len(h.groupBy) > 0:
					// The rows of groups not held go to partitions.
					h.spill = NewHashAgg(h.env, h.st, nil, h.src.Types(), h.phase, h.rowKeys, h.calls, nil)
					h.spill.seed = maphash.MakeSeed()
				case h.mem.short:
					return false, h.mem.outOfMemory("an aggregation's groups")
				}
			}
		}
		if h.phase == AggFinal {
			if err := h.merge(b, g, r); err != nil {
				return false, err
			}
			continue
		}
		for i, v := range h.vals {
			if h.counts[i] != nil {
				if v == nil || !v.IsNull(r) {
					h.counts[i][g.ord]++
				}
				continue
			}
			acc := h.accOf(g, i)
			if ds := h.sums[i]; ds != nil && v.Kind == coldata.Dec && !v.IsNull(r) && !v.IsBig(r) {
				if err := ds.add(acc, g.ord, v.I[r], v.E[r]); err != nil {
					return false, err
				}
				continue
			}
			if err := h.update(acc, h.modes[i], v, r); err != nil {
				return false, err
			}
		}
	}
	return full, nil
}

// accOf returns g's state of aggregate i (full or partial phase).
func (h *ColHashAgg) accOf(g *group, i int) adder {
	if h.phase == AggFull {
		return g.accs[i]
	}
	return g.parts[i]
}

// decSums holds, for a sum or avg of numerics, each group's running sum
// of the numerics that fit an int64 — coefficient, exponent, how many —
// by the group's place among those held: in arrays, so that adding a
// value touches a few words rather than the group's state behind its
// pointer, which a table of many groups fetches from memory for each row.
// A value of another exponent, or an overflow, first adds the sum to the
// state; flush adds what is left.
type decSums struct {
	c []int64
	e []int32
	n []int64
}

func (ds *decSums) add(p adder, o int32, c int64, e int32) error {
	if n := ds.n[o]; n > 0 {
		if ds.e[o] == e {
			if sum := ds.c[o] + c; (c >= 0) == (sum >= ds.c[o]) {
				ds.c[o], ds.n[o] = sum, n+1
				return nil
			}
		}
		if err := p.(agg.DecAdder).AddDec(ds.c[o], ds.e[o], n); err != nil {
			return err
		}
	}
	ds.c[o], ds.e[o], ds.n[o] = c, e, 1
	return nil
}

// settle adds group o's sum to its state p.
func (ds *decSums) settle(p adder, o int32) error {
	n := ds.n[o]
	if n == 0 {
		return nil
	}
	ds.n[o] = 0
	return p.(agg.DecAdder).AddDec(ds.c[o], ds.e[o], n)
}

// merge merges the partial states of row r of b into g's (AggFinal): a
// count's is added to its entry of counts, a sum's numeric by its
// coefficient and exponent, the others' as datums.
func (h *ColHashAgg) merge(b *coldata.Batch, g *group, r int) error {
	for i, v := range h.vals {
		switch {
		case h.counts[i] != nil && v.Kind == coldata.Int:
			h.counts[i][g.ord] += v.I[r] // a count's state is never NULL
			continue
		case h.calls[i].Spec.Func == "sum" && v.Kind == coldata.Dec && !v.IsNull(r) && !v.IsBig(r):
			if err := g.finals[i].(agg.DecAdder).AddDec(v.I[r], v.E[r], 1); err != nil {
				return err
			}
			continue
		}
		w := len(agg.PartialTypes(h.calls[i].Spec))
		h.state = h.state[:0]
		for c := h.stateCol[i]; c < h.stateCol[i]+w; c++ {
			h.state = append(h.state, b.Vecs[c].Datum(r))
		}
		if h.counts[i] != nil {
			h.counts[i][g.ord] += h.state[0].(int64)
			continue
		}
		if err := g.finals[i].Merge(h.state); err != nil {
			return err
		}
	}
	return nil
}

// find looks row r's group up: in the integer table by the key's value,
// else by its encoding (left in kbuf for insert and spilling); sorted,
// it is the current group if r's key is its key.
func (h *ColHashAgg) find(r int) (*group, bool) {
	if h.sorted {
		if h.intKey {
			k := h.keys[0]
			null := k.IsNull(r)
			if h.cur != nil && null == h.curNull && (null || k.I[r] == h.curInt) {
				return h.cur, true
			}
			return nil, false
		}
		h.kbuf = h.appendKey(h.kbuf[:0], r)
		if h.cur != nil && string(h.kbuf) == string(h.curKey) {
			return h.cur, true
		}
		return nil, false
	}
	if h.ints != nil {
		k := h.keys[0]
		if k.IsNull(r) {
			return h.nullGroup, h.nullGroup != nil
		}
		v := k.I[r]
		if h.lastValid && v == h.lastKey {
			return h.lastGroup, h.lastGroup != nil
		}
		g, ok := h.ints[v]
		h.lastValid, h.lastKey, h.lastGroup = true, v, g
		return g, ok
	}
	h.kbuf = h.appendKey(h.kbuf[:0], r)
	g, ok := h.table[string(h.kbuf)]
	return g, ok
}

// insert adds g, the new group of row r, to the table find missed it in.
func (h *ColHashAgg) insert(r int, g *group) {
	switch {
	case h.sorted:
		h.cur = g
		if h.intKey {
			h.curNull = h.keys[0].IsNull(r)
			if !h.curNull {
				h.curInt = h.keys[0].I[r]
			}
		} else {
			h.curKey = append(h.curKey[:0], h.kbuf...)
		}
	case h.ints == nil:
		h.table[h.slab.keys.key(h.kbuf)] = g
	case h.keys[0].IsNull(r):
		h.nullGroup = g
	default:
		h.ints[h.keys[0].I[r]] = g
		h.lastValid, h.lastKey, h.lastGroup = true, h.keys[0].I[r], g
	}
}

// adder is an aggregate's state: agg.Acc or agg.Partial.
type adder interface{ Add(types.Datum) error }

// How update hands a value to an aggregate's state (by its function,
// decided once per call, not per row).
const (
	addDatum = iota // a datum of its own (min and max keep it)
	addCount        // only whether it is NULL
	addSum          // a numeric as its coefficient and exponent (sum, avg)
)

func updateMode(fn string) int {
	switch fn {
	case "count":
		return addCount
	case "sum", "avg":
		return addSum
	}
	return addDatum
}

// update adds row r of v (nil for count(*)) to the aggregate state p
// without boxing what it need not: count sees whether the value is NULL,
// sum and avg take a numeric's coefficient and exponent; min and max
// keep a value of their own.
func (h *ColHashAgg) update(p adder, mode int, v *coldata.Vec, r int) error {
	switch {
	case v == nil:
		return p.Add(true) // count(*)
	case v.IsNull(r):
		return nil // every aggregate skips NULL
	case mode == addCount:
		return p.Add(true)
	case mode == addSum && v.Kind == coldata.Dec:
		if v.IsBig(r) {
			return p.Add(&v.D[r]) // not kept
		}
		return p.(agg.DecAdder).AddDec(v.I[r], v.E[r], 1)
	}
	return p.Add(v.Datum(r))
}

// appendKey appends the group key of row r: equal for the rows SQL
// groups together (a numeric's is its normalized key encoding).
func (h *ColHashAgg) appendKey(buf []byte, r int) []byte {
	var dec apd.Decimal
	for _, v := range h.keys {
		if v.IsNull(r) {
			buf = append(buf, 0)
			continue
		}
		switch v.Kind {
		case coldata.Int, coldata.Date:
			buf = binary.BigEndian.AppendUint64(append(buf, 1), uint64(v.I[r]))
		case coldata.Str:
			buf = binary.AppendUvarint(append(buf, 1), uint64(len(v.S[r])))
			buf = append(buf, v.S[r]...)
		case coldata.Bool:
			b := byte(2)
			if v.B[r] {
				b = 3
			}
			buf = append(buf, b)
		case coldata.Dec:
			buf = codec.AppendKey(append(buf, 1), v.DecAt(r, &dec))
		case coldata.Float:
			f := v.F[r]
			if f == 0 {
				f = 0 // -0 groups with 0
			}
			if math.IsNaN(f) {
				f = math.NaN()
			}
			buf = binary.BigEndian.AppendUint64(append(buf, 1), math.Float64bits(f))
		default:
			buf = codec.AppendKey(append(buf, 1), v.A[r])
		}
	}
	return buf
}

func (h *ColHashAgg) newGroup(keys []types.Datum) *group {
	return h.slab.newGroup(keys, h.phase, h.calls)
}

// hold adds g to the groups held, with a count of 0 for each count call.
func (h *ColHashAgg) hold(g *group) {
	g.ord = int32(len(h.order))
	h.order = append(h.order, g)
	for i, c := range h.counts {
		if c != nil {
			h.counts[i] = append(c, 0)
		}
	}
	for _, ds := range h.sums {
		if ds != nil {
			ds.c, ds.e, ds.n = append(ds.c, 0), append(ds.e, 0), append(ds.n, 0)
		}
	}
}

// flush turns the groups held into output rows and empties the table.
// Sorted, before the end of the input, the current group stays held (its
// next rows may come in the next batch).
func (h *ColHashAgg) flush() error {
	groups := h.order
	carry := h.sorted && !h.done && h.cur != nil
	if carry {
		groups = groups[:len(groups)-1] // h.cur
	}
	out := make([]Row, 0, len(groups))
	for _, g := range groups {
		for i, ds := range h.sums {
			if ds != nil {
				if err := ds.settle(h.accOf(g, i), g.ord); err != nil {
					return err
				}
			}
		}
		r, err := g.result(h.phase, len(h.calls))
		if err != nil {
			return err
		}
		for i, c := range h.counts {
			if c != nil {
				r[h.countCol[i]] = c[g.ord]
			}
		}
		out = append(out, r)
	}
	var carried []int64
	if carry {
		// Its sums go to its states; its counts are held over.
		for i, ds := range h.sums {
			if ds != nil {
				if err := ds.settle(h.accOf(h.cur, i), h.cur.ord); err != nil {
					return err
				}
			}
		}
		for _, c := range h.counts {
			if c != nil {
				carried = append(carried, c[h.cur.ord])
			}
		}
	}
	for i, c := range h.counts {
		if c != nil {
			h.counts[i] = c[:0]
		}
	}
	for _, ds := range h.sums {
		if ds != nil {
			ds.c, ds.e, ds.n = ds.c[:0], ds.e[:0], ds.n[:0]
		}
	}
	clear(h.table)
	clear(h.ints)
	h.nullGroup, h.lastValid, h.lastGroup = nil, false, nil
	h.order = nil
	if carry {
		h.hold(h.cur) // its slab stays alive through it
		for _, c := range h.counts {
			if c != nil {
				c[0], carried = carried[0], carried[1:]
			}
		}
	} else {
		h.cur = nil
	}
	h.slab = groupSlab{}
	if len(out) > 0 {
		h.out = NewRows(out)
	} else {
		h.mem.release()
	}
	return nil
}

func (h *ColHashAgg) Close() {
	if h.closed {
		return
	}
	h.closed = true
	h.mem.release()
	h.src.Close()
	if h.spill != nil {
		h.spill.Close()
	}
	h.out = nil
}
