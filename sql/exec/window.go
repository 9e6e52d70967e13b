package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// FrameBound is one end of a window frame.
type FrameBound int

const (
	UnboundedPreceding FrameBound = iota
	OffsetPreceding
	CurrentRow
	OffsetFollowing
	UnboundedFollowing
)

// Frame is a window frame; Rows = false is RANGE mode, where CURRENT ROW
// includes the row's peers (equal ORDER BY keys).
type Frame struct {
	Rows                   bool
	Start, End             FrameBound
	StartOffset, EndOffset int64
}

// WindowFn is one compiled window function call.
type WindowFn struct {
	Func        string
	Args        []expr.Eval
	PartitionBy []expr.Eval
	OrderBy     []SortKey
	Frame       Frame
	// Agg is set for an aggregate used as a window function.
	Agg *agg.Spec
}

// Window computes window functions that share one window — their
// PARTITION BY and ORDER BY, those of fns[0] — over an input sorted by
// it: by the partition keys (ascending), then by the ORDER BY keys
// (buildWindow puts a sort under it). It holds one partition at a time
// (when every function's value is known at the end of a row's peer
// group, only that group) and appends one column per function to each of
// its rows, which it returns in the order it reads them.
type Window struct {
	input Operator
	fns   []WindowFn
	env   *Env
	st    *Stats
	mem   *memory
	ord   []order // over a row's ORDER BY values

	part    []Row    // the current partition's rows (streamed: its current peer group's)
	items   []winRow // their ORDER BY values
	partKey Row      // the current partition's key

	// stream: every function's value for a row is known at the end of
	// its peer group (streamable), so only the group is held.
	stream  bool
	peers   bool            // streamed: a function's value is its peer group's (rank, dense_rank, a RANGE aggregate)
	inPart  bool            // streamed: a partition has begun
	accs    []agg.Acc       // streamed: each aggregate's running state
	rowVals [][]types.Datum // streamed: a ROWS aggregate's value for each row of the group
	before  int64           // streamed: the partition's rows before the group
	groups  int64           // streamed: the partition's peer groups before the group
	out     []Row           // rows computed, not returned yet
	seen    int
	inDone  bool
}

var _ Operator = (*Window)(nil)

// NewWindow returns input with the values of fns appended; fns must all
// have the window of fns[0], and input's rows must come sorted by it.
func NewWindow(env *Env, st *Stats, input Operator, fns []WindowFn) *Window {
	w := &Window{input: input, fns: fns, env: env, st: st, stream: streamable(fns)}
	for _, fn := range fns {
		w.peers = w.peers || fn.Func == "rank" || fn.Func == "dense_rank" || fn.Agg != nil && !fn.Frame.Rows
	}
	if len(fns) > 0 {
		for i, o := range fns[0].OrderBy {
			w.ord = append(w.ord, order{col: i, desc: o.Desc, nullsFirst: o.NullsFirst})
		}
	}
	return w
}

func (w *Window) Open(ctx context.Context) error {
	w.mem = newMemory(w.env, w.st)
	return w.input.Open(ctx)
}

func (w *Window) Next(ctx context.Context) (*Batch, error) {
	for len(w.out) == 0 {
		if w.inDone {
			return nil, nil
		}
		b, err := w.input.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b == nil {
			w.inDone = true
			if w.stream {
				err = w.flushPeers()
			} else {
				err = w.finish(ctx)
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		for _, r := range b.Rows {
			if err := w.add(ctx, r); err != nil {
				return nil, err
			}
		}
	}
	n := min(len(w.out), BatchSize)
	out := &Batch{Rows: w.out[:n:n]}
	if w.out = w.out[n:]; len(w.out) == 0 {
		w.out = nil // let the partition's rows go with the batch
	}
	return out, nil
}

// add takes the next input row: it ends the current partition first
// when the row starts another.
func (w *Window) add(ctx context.Context, r Row) error {
	if w.seen++; w.seen%4096 == 0 && ctx.Err() != nil {
		return canceled(ctx)
	}
	if len(w.fns) == 0 {
		w.out = append(w.out, r)
		return nil
	}
	fn0 := &w.fns[0]
	key := make(Row, len(fn0.PartitionBy))
	for k, p := range fn0.PartitionBy {
		v, err := p(r)
		if err != nil {
			return err
		}
		key[k] = v
	}
	it := winRow{idx: len(w.part), ord: make(Row, len(fn0.OrderBy))}
	for k, o := range fn0.OrderBy {
		v, err := o.Eval(r)
		if err != nil {
			return err
		}
		it.ord[k] = v
	}
	if w.stream {
		return w.addStreamed(r, key, it)
	}
	if len(w.part) > 0 && !samePartition(key, w.partKey) {
		if err := w.finish(ctx); err != nil {
			return err
		}
		it.idx = 0
	}
	if len(w.part) == 0 {
		w.partKey = key
	}
	w.part = append(w.part, r)
	w.items = append(w.items, it)
	if !w.mem.grow(rowSize(r)+rowSize(it.ord)) && w.mem.short {
		return w.mem.outOfMemory("a window function's partition")
	}
	return nil
}

// streamable reports functions whose values for a row depend only on
// the rows up to the end of its peer group: row_number, rank, dense_rank
// and aggregates over the frame from the partition's start to the
// current row (ROWS) or its last peer (RANGE, the default).
func streamable(fns []WindowFn) bool {
	for _, fn := range fns {
		switch {
		case fn.Func == "row_number" || fn.Func == "rank" || fn.Func == "dense_rank":
		case fn.Agg != nil && fn.Frame.Start == UnboundedPreceding && fn.Frame.End == CurrentRow:
		default:
			return false
		}
	}
	return len(fns) > 0
}

// addStreamed takes the next input row of a streamed window: it ends the
// current peer group first when the row is not one of its peers, and the
// partition when the row starts another.
func (w *Window) addStreamed(r Row, key Row, it winRow) error {
	if w.inPart && !samePartition(key, w.partKey) {
		if err := w.flushPeers(); err != nil {
			return err
		}
		w.inPart = false
	}
	if !w.inPart {
		w.inPart, w.partKey, w.before, w.groups = true, key, 0, 0
		w.accs = make([]agg.Acc, len(w.fns))
		w.rowVals = make([][]types.Datum, len(w.fns))
		for f := range w.fns {
			if w.fns[f].Agg != nil {
				w.accs[f] = agg.New(*w.fns[f].Agg)
			}
		}
	} else if len(w.part) > 0 && (!w.peers || compareRows(w.ord, it.ord, w.items[0].ord) != 0) {
		if err := w.flushPeers(); err != nil {
			return err
		}
	}
	for f := range w.fns {
		fn := &w.fns[f]
		if fn.Agg == nil {
			continue
		}
		var v types.Datum = true // count(*)
		if len(fn.Args) > 0 {
			var err error
			if v, err = fn.Args[0](r); err != nil {
				return err
			}
		}
		if err := w.accs[f].Add(v); err != nil {
			return err
		}
		if fn.Frame.Rows {
			v, err := w.accs[f].Result()
			if err != nil {
				return err
			}
			w.rowVals[f] = append(w.rowVals[f], v)
		}
	}
	w.part = append(w.part, r)
	w.items = append(w.items, it)
	if !w.mem.grow(rowSize(r)+rowSize(it.ord)) && w.mem.short {
		return w.mem.outOfMemory("a window function's peer group")
	}
	return nil
}

// flushPeers moves the rows of a streamed window's current peer group,
// with their values, to the output.
func (w *Window) flushPeers() error {
	if len(w.part) == 0 {
		return nil
	}
	vals := make([]types.Datum, len(w.fns)) // the group's values, for the functions whose values all its rows share
	for f := range w.fns {
		fn := &w.fns[f]
		switch {
		case fn.Func == "rank":
			vals[f] = w.before + 1
		case fn.Func == "dense_rank":
			vals[f] = w.groups + 1
		case fn.Agg != nil && !fn.Frame.Rows:
			v, err := w.accs[f].Result()
			if err != nil {
				return err
			}
			vals[f] = v
		}
	}
	width := len(w.part[0])
	for i, r := range w.part {
		x := make(Row, width+len(w.fns))
		copy(x, r)
		for f := range w.fns {
			fn := &w.fns[f]
			switch {
			case fn.Func == "row_number":
				x[width+f] = w.before + int64(i) + 1
			case fn.Agg != nil && fn.Frame.Rows:
				x[width+f] = w.rowVals[f][i]
			default:
				x[width+f] = vals[f]
			}
		}
		w.out = append(w.out, x)
	}
	w.before += int64(len(w.part))
	w.groups++
	clear(w.part)
	w.part, w.items = w.part[:0], w.items[:0]
	for f := range w.rowVals {
		w.rowVals[f] = w.rowVals[f][:0]
	}
	w.mem.release()
	return nil
}

// samePartition reports whether two partition keys are equal (NULLs
// equal), by the comparison the sort under the window ordered them by.
func samePartition(a, b Row) bool {
	for i := range a {
		switch x, y := a[i], b[i]; {
		case x == nil || y == nil:
			if x != y {
				return false
			}
		case types.Compare(x, y) != 0:
			return false
		}
	}
	return true
}

// finish computes the functions over the current partition and moves
// its rows, with their values, to the output.
func (w *Window) finish(ctx context.Context) error {
	if len(w.part) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return canceled(ctx)
	}
	vals := make([][]types.Datum, len(w.fns))
	for f := range w.fns {
		vals[f] = make([]types.Datum, len(w.part))
		if err := windowPartition(&w.fns[f], w.ord, w.part, w.items, vals[f]); err != nil {
			return err
		}
	}
	width := len(w.part[0])
	for i, r := range w.part {
		x := make(Row, width+len(w.fns))
		copy(x, r)
		for f := range w.fns {
			x[width+f] = vals[f][i]
		}
		w.out = append(w.out, x)
	}
	clear(w.part)
	w.part, w.items, w.partKey = w.part[:0], w.items[:0], nil
	w.mem.release()
	return nil
}

func (w *Window) Close() {
	w.mem.release()
	if w.input != nil {
		w.input.Close()
		w.input = nil
	}
	w.part, w.items, w.out = nil, nil, nil
}

type winRow struct {
	idx int
	ord Row
}

// windowPartition computes a window function over one partition's rows
// (in window order), writing vals by original row index.
func windowPartition(fn *WindowFn, ord []order, rows []Row, p []winRow, vals []types.Datum) error {
	n := len(p)
	// Peer groups: rows with equal ORDER BY keys.
	first, last := make([]int, n), make([]int, n)
	grp := make([]int, n)
	for i := 0; i < n; i++ {
		if i > 0 && compareRows(ord, p[i-1].ord, p[i].ord) == 0 {
			first[i], grp[i] = first[i-1], grp[i-1]
		} else {
			first[i] = i
			if i > 0 {
				grp[i] = grp[i-1] + 1
			}
		}
	}
	for i := n - 1; i >= 0; i-- {
		if i < n-1 && first[i+1] == first[i] {
			last[i] = last[i+1]
		} else {
			last[i] = i
		}
	}
	arg := func(k, i int) (types.Datum, error) { return fn.Args[k](rows[p[i].idx]) }
	set := func(i int, v types.Datum) { vals[p[i].idx] = v }
	switch fn.Func {
	case "row_number":
		for i := range p {
			set(i, int64(i+1))
		}
		return nil
	case "rank":
		for i := range p {
			set(i, int64(first[i]+1))
		}
		return nil
	case "dense_rank":
		for i := range p {
			set(i, int64(grp[i]+1))
		}
		return nil
	case "percent_rank":
		for i := range p {
			v := 0.0
			if n > 1 {
				v = float64(first[i]) / float64(n-1)
			}
			set(i, v)
		}
		return nil
	case "cume_dist":
		for i := range p {
			set(i, float64(last[i]+1)/float64(n))
		}
		return nil
	case "ntile":
		k, err := arg(0, 0)
		if err != nil || k == nil {
			return err
		}
		buckets := k.(int64)
		if buckets <= 0 {
			return pgerr.New("22014", "argument of ntile must be greater than zero")
		}
		size, extra := int64(n)/buckets, int64(n)%buckets
		row := int64(0)
		for bucket := int64(1); row < int64(n); bucket++ {
			m := size
			if bucket <= extra {
				m++
			}
			for j := int64(0); j < m && row < int64(n); j++ {
				set(int(row), bucket)
				row++
			}
		}
		return nil
	case "lag", "lead":
		for i := range p {
			off := int64(1)
			if len(fn.Args) > 1 {
				o, err := arg(1, i)
				if err != nil {
					return err
				}
				if o == nil {
					set(i, nil)
					continue
				}
				off = o.(int64)
			}
			if fn.Func == "lag" {
				off = -off
			}
			t := int64(i) + off
			var v types.Datum
			var err error
			switch {
			case t >= 0 && t < int64(n):
				v, err = arg(0, int(t))
			case len(fn.Args) == 3:
				v, err = arg(2, i)
			}
			if err != nil {
				return err
			}
			set(i, v)
		}
		return nil
	}
	// Frame-based: first_value, last_value, nth_value and aggregates.
	f := fn.Frame
	frame := func(i int) (int, int) {
		var s, e int
		switch f.Start {
		case UnboundedPreceding:
			s = 0
		case OffsetPreceding:
			s = i - int(f.StartOffset)
		case CurrentRow:
			s = i
			if !f.Rows {
				s = first[i]
			}
		case OffsetFollowing:
			s = i + int(f.StartOffset)
		}
		switch f.End {
		case UnboundedFollowing:
			e = n - 1
		case OffsetFollowing:
			e = i + int(f.EndOffset)
		case CurrentRow:
			e = i
			if !f.Rows {
				e = last[i]
			}
		case OffsetPreceding:
			e = i - int(f.EndOffset)
		}
		return max(s, 0), min(e, n-1)
	}
	if fn.Agg == nil {
		for i := range p {
			s, e := frame(i)
			var v types.Datum
			var err error
			switch fn.Func {
			case "first_value":
				if s <= e {
					v, err = arg(0, s)
				}
			case "last_value":
				if s <= e {
					v, err = arg(0, e)
				}
			case "nth_value":
				var k types.Datum
				if k, err = arg(1, i); err == nil && k != nil {
					if k.(int64) <= 0 {
						return pgerr.New("22016", "argument of nth_value must be greater than zero")
					}
					if t := s + int(k.(int64)) - 1; t <= e {
						v, err = arg(0, t)
					}
				}
			default:
				return pgerr.New(pgerr.InternalError, "unknown window function %s", fn.Func)
			}
			if err != nil {
				return err
			}
			set(i, v)
		}
		return nil
	}
	add := func(acc agg.Acc, j int) error {
		var v types.Datum = true // count(*)
		if len(fn.Args) > 0 {
			var err error
			if v, err = arg(0, j); err != nil {
				return err
			}
		}
		return acc.Add(v)
	}
	// Frames that start at the partition's start only grow: one running
	// accumulator serves them. Frames that end at the partition's end
	// only grow from the last row back: one accumulator serves them too,
	// fed backwards, for the aggregates whose value does not depend on the
	// order of their input (exact sums, not float ones). Others are
	// aggregated row by row.
	back := f.Start != UnboundedPreceding && f.End == UnboundedFollowing && orderFree(fn.Agg)
	running := f.Start == UnboundedPreceding || back
	acc, added, step := agg.New(*fn.Agg), 0, 1
	if back {
		added, step = n-1, -1
	}
	for k := range p {
		i := k
		if back {
			i = n - 1 - k
		}
		s, e := frame(i)
		if !running {
			acc, added = agg.New(*fn.Agg), s
		}
		for ; (back && added >= s) || (!back && added <= e); added += step {
			if err := add(acc, added); err != nil {
				return err
			}
		}
		v, err := acc.Result()
		if err != nil {
			return err
		}
		set(i, v)
	}
	return nil
}

// orderFree reports an aggregate whose value does not depend on the
// order it is fed its rows: count, min, max, and sum and avg of exact
// types (a float sum rounds differently in another order).
func orderFree(a *agg.Spec) bool {
	if a.Distinct {
		return false
	}
	switch a.Func {
	case "count", "min", "max":
		return true
	case "sum", "avg":
		switch a.ArgType {
		case types.Int2, types.Int4, types.Int8, types.Numeric:
			return true
		}
	}
	return false
}
