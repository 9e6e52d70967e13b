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
// its rows, which it returns in the order it reads them. Of a row's ORDER
// BY values it keeps only whether they start a peer group.
//
// Past its budget (with the input's types known) the partition's (or
// peer group's) rows go to a spill file; what the functions need of each
// row stays in memory — the functions' arguments (evaluated as the rows
// come, for a partition) and a ROWS aggregate's running values — and the
// rows are read back, with their values, once the partition ends.
type Window struct {
	input   Operator
	fns     []WindowFn
	env     *Env
	st      *Stats
	mem     *memory
	ord     []order  // over a row's ORDER BY values
	inTypes []uint32 // the input's column types (nil: the rows cannot spill)

	part      []Row  // the current partition's rows in memory (streamed: its current peer group's)
	n         int    // the current partition's (streamed: peer group's) rows, in part or spill
	peerStart []bool // per row of the partition: its ORDER BY values differ from the row before's
	lastOrd   Row    // the ORDER BY values of the last row added
	partKey   Row    // the current partition's key
	// spill holds the rows past the budget (all of the partition's once
	// it spilled); args then holds each function's arguments by row:
	// args[f][k][i].
	spill *spillFile
	args  [][][]types.Datum

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
	drain   *winDrain       // a spilled partition's rows with their values, returned before more input is read
	in      []Row           // the input batch being read
	inPos   int
	seen    int
	inDone  bool
}

var _ Operator = (*Window)(nil)

// NewWindow returns input with the values of fns appended; fns must all
// have the window of fns[0], and input's rows must come sorted by it.
// inTypes, when known, lets a partition past the budget spill its rows.
func NewWindow(env *Env, st *Stats, input Operator, inTypes []uint32, fns []WindowFn) *Window {
	w := &Window{input: input, fns: fns, env: env, st: st, stream: streamable(fns), inTypes: inTypes}
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
	for {
		if len(w.out) > 0 {
			n := min(len(w.out), BatchSize)
			out := &Batch{Rows: w.out[:n:n]}
			if w.out = w.out[n:]; len(w.out) == 0 {
				w.out = nil // let the partition's rows go with the batch
			}
			return out, nil
		}
		if w.drain != nil {
			b, err := w.drain.next(ctx)
			if err != nil || b != nil {
				return b, err
			}
			w.drain.f.close()
			w.drain = nil
			continue
		}
		if w.inPos < len(w.in) {
			// Up to a spilled partition's end: its rows go out before
			// those of the partitions after it.
			for w.inPos < len(w.in) && w.drain == nil {
				r := w.in[w.inPos]
				w.inPos++
				if err := w.add(ctx, r); err != nil {
					return nil, err
				}
			}
			continue
		}
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
		w.in, w.inPos = b.Rows, 0
	}
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
	ord := make(Row, len(fn0.OrderBy))
	for k, o := range fn0.OrderBy {
		v, err := o.Eval(r)
		if err != nil {
			return err
		}
		ord[k] = v
	}
	if w.stream {
		return w.addStreamed(r, key, ord)
	}
	if w.n > 0 && !samePartition(key, w.partKey) {
		if err := w.finish(ctx); err != nil {
			return err
		}
	}
	if w.n == 0 {
		w.partKey = key
	}
	w.peerStart = append(w.peerStart, w.n == 0 || compareRows(w.ord, ord, w.lastOrd) != 0)
	w.lastOrd = ord
	return w.hold(r, 1, "a window function's partition")
}

// hold adds r to the partition's (or peer group's) rows, which spill past
// the budget; extra is what the window keeps for it besides the row.
func (w *Window) hold(r Row, extra int64, what string) error {
	w.n++
	if w.spill != nil {
		return w.spillRow(r, extra)
	}
	w.part = append(w.part, r)
	if !w.mem.grow(rowSize(r) + extra) {
		if w.inTypes != nil {
			return w.spillPart()
		}
		if w.mem.short {
			return w.mem.outOfMemory(what)
		}
	}
	return nil
}

// spillPart moves the rows held to a spill file, keeping their
// arguments (a partition) or the values computed so far (a peer group).
func (w *Window) spillPart() error {
	f, err := newSpillFile(w.env, w.inTypes, w.st)
	if err != nil {
		return err
	}
	w.spill = f
	if !w.stream {
		w.args = make([][][]types.Datum, len(w.fns))
		for i := range w.fns {
			w.args[i] = make([][]types.Datum, len(w.fns[i].Args))
		}
	}
	// What stays: a byte per row, the ROWS aggregates' values so far.
	kept := int64(len(w.peerStart))
	for _, vs := range w.rowVals {
		for _, v := range vs {
			kept += datumSize(v)
		}
	}
	rows := w.part
	w.part = w.part[:0]
	w.mem.release()
	w.mem.grow(kept)
	for _, r := range rows {
		if err := w.spillRow(r, 0); err != nil {
			return err
		}
	}
	clear(rows)
	return nil
}

// spillRow writes a row of a spilled partition (or peer group), keeping
// its arguments; extra is what the window keeps for it besides them.
func (w *Window) spillRow(r Row, extra int64) error {
	n := extra
	if !w.stream {
		for f := range w.fns {
			for k, a := range w.fns[f].Args {
				v, err := a(r)
				if err != nil {
					return err
				}
				w.args[f][k] = append(w.args[f][k], v)
				n += datumSize(v)
			}
		}
	}
	if err := w.spill.write(r); err != nil {
		return err
	}
	if !w.mem.grow(n) && w.mem.short {
		return w.mem.outOfMemory("a window function's arguments of a spilled partition")
	}
	return nil
}

// datumSize estimates the bytes a value held alone takes (rowSize's
// share of one column).
func datumSize(v types.Datum) int64 { return rowSize(Row{v}) - 24 }

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
func (w *Window) addStreamed(r Row, key, ord Row) error {
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
	} else if w.n > 0 && (!w.peers || compareRows(w.ord, ord, w.lastOrd) != 0) {
		if err := w.flushPeers(); err != nil {
			return err
		}
	}
	if w.n == 0 {
		w.lastOrd = ord // the group's ORDER BY values
	}
	n := int64(0)
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
			n += datumSize(v)
		}
	}
	return w.hold(r, n, "a window function's peer group")
}

// flushPeers moves the rows of a streamed window's current peer group,
// with their values, to the output.
func (w *Window) flushPeers() error {
	if w.n == 0 {
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
	before, rowVals := w.before, w.rowVals
	value := func(f, i int) types.Datum {
		fn := &w.fns[f]
		switch {
		case fn.Func == "row_number":
			return before + int64(i) + 1
		case fn.Agg != nil && fn.Frame.Rows:
			return rowVals[f][i]
		}
		return vals[f]
	}
	if err := w.emit(value); err != nil {
		return err
	}
	w.before += int64(w.n)
	w.groups++
	w.n = 0
	if w.spill != nil {
		w.rowVals = make([][]types.Datum, len(w.fns)) // the drain reads the group's
	}
	for f := range w.rowVals {
		w.rowVals[f] = w.rowVals[f][:0]
	}
	w.spill = nil
	w.mem.release()
	return nil
}

// emit moves the rows of the partition (or peer group) ended, with their
// values, to the output: those in memory at once, a spilled one's through
// a drain that reads them back.
func (w *Window) emit(value func(f, i int) types.Datum) error {
	if w.spill != nil {
		r, err := w.spill.reader()
		if err != nil {
			w.spill.close()
			return err
		}
		w.drain = &winDrain{f: w.spill, r: r, n: w.n, nfns: len(w.fns), value: value}
		return nil
	}
	for i, r := range w.part {
		x := make(Row, len(r)+len(w.fns))
		copy(x, r)
		for f := range w.fns {
			x[len(r)+f] = value(f, i)
		}
		w.out = append(w.out, x)
	}
	clear(w.part)
	w.part = w.part[:0]
	return nil
}

// winDrain returns a spilled partition's rows with their values.
type winDrain struct {
	f     *spillFile
	r     *spillReader
	i, n  int
	nfns  int
	value func(f, i int) types.Datum
}

func (d *winDrain) next(ctx context.Context) (*Batch, error) {
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	var out rowBuffer
	for !out.full() && d.i < d.n {
		r, err := d.r.next()
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, pgerr.New(pgerr.InternalError, "a window's spill file ended after %d of its %d rows", d.i, d.n)
		}
		x := make(Row, len(r)+d.nfns)
		copy(x, r)
		for f := 0; f < d.nfns; f++ {
			x[len(r)+f] = d.value(f, d.i)
		}
		out.add(x)
		d.i++
	}
	return out.take(), nil
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
	if w.n == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return canceled(ctx)
	}
	vals := make([][]types.Datum, len(w.fns))
	for f := range w.fns {
		vals[f] = make([]types.Datum, w.n)
		fn := &w.fns[f]
		arg := func(k, i int) (types.Datum, error) { return fn.Args[k](w.part[i]) }
		if w.spill != nil {
			args := w.args[f]
			arg = func(k, i int) (types.Datum, error) { return args[k][i], nil }
		}
		if err := windowPartition(fn, arg, w.peerStart, vals[f]); err != nil {
			if w.spill != nil {
				w.spill.close()
			}
			return err
		}
	}
	if err := w.emit(func(f, i int) types.Datum { return vals[f][i] }); err != nil {
		return err
	}
	w.n, w.spill, w.args, w.partKey = 0, nil, nil, nil
	clear(w.peerStart)
	w.peerStart = w.peerStart[:0]
	w.mem.release()
	return nil
}

func (w *Window) Close() {
	w.mem.release()
	if w.input != nil {
		w.input.Close()
		w.input = nil
	}
	if w.spill != nil {
		w.spill.close()
		w.spill = nil
	}
	if w.drain != nil {
		w.drain.f.close()
		w.drain = nil
	}
	w.part, w.out, w.args, w.in = nil, nil, nil, nil
}

// windowPartition computes a window function over one partition's rows
// (in window order) into vals: arg(k, i) is row i's argument k, and
// peerStart[i] reports row i's ORDER BY values differ from row i-1's.
func windowPartition(fn *WindowFn, arg func(k, i int) (types.Datum, error), peerStart []bool, vals []types.Datum) error {
	n := len(peerStart)
	// Peer groups: rows with equal ORDER BY keys.
	first, last := make([]int, n), make([]int, n)
	grp := make([]int, n)
	for i := 0; i < n; i++ {
		if i > 0 && !peerStart[i] {
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
	p := vals // rows are indexed 0..n-1 in window order
	set := func(i int, v types.Datum) { vals[i] = v }
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
