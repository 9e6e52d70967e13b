package exec

import (
	"context"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// ColWindow computes, over column batches sorted (or grouped) by one
// window, window functions whose value for a row is known at that row:
// row_number, rank, dense_rank and aggregates over ROWS BETWEEN UNBOUNDED
// PRECEDING AND CURRENT ROW. It passes each input batch on with one
// vector per function appended: partition and peer boundaries are found
// by comparing each row's keys with the previous row's (NULLs equal, as
// the sort ordered them), the counters and running aggregates carried
// across batches. It holds nothing but the last row's keys.
type ColWindow struct {
	in    ColSource
	fns   []colWinFn
	keys  winBounds
	types []uint32 // the input's, then one per function

	rowNum, rank int64
	dense        int64

	out coldata.Batch
	own []*coldata.Vec
}

type colWinFn struct {
	fn  string       // row_number, rank, dense_rank, or "" for an aggregate
	arg colexpr.Expr // the aggregate's argument (nil: count(*))
	agg *agg.Spec    // the aggregate
	acc agg.Acc      // its running state in the partition
	val *coldata.Vec // its argument's values in the batch
}

var _ ColSource = (*ColWindow)(nil)

// rowValued reports a window function ColWindow computes.
func rowValued(f *meridianpb.WindowFunc) bool {
	switch f.Func {
	case "row_number", "rank", "dense_rank":
		return true
	}
	fr := f.Frame
	return f.Agg != nil && !f.Agg.Distinct && knownAgg(f.Agg.Func) && len(f.Args) <= 1 && !anyRowwise(f.Args...) && fr != nil && fr.Rows &&
		fr.Start == meridianpb.FrameBoundKind(UnboundedPreceding) && fr.End == meridianpb.FrameBoundKind(CurrentRow)
}

// buildColWindow returns the vectorized window of fns (which share one
// window) over in, sorted or grouped by it, or nil when one of fns is not
// one it computes (rowValued). On an error it closes in.
func (env *Env) buildColWindow(in ColSource, fns []*meridianpb.WindowFunc, st *Stats) (*ColWindow, error) {
	for _, f := range fns {
		if !rowValued(f) {
			return nil, nil
		}
	}
	w := &ColWindow{in: in, types: append([]uint32(nil), in.Types()...)}
	c := &colexpr.Compiler{In: in.Types(), Row: env.Compile}
	fail := func(err error) (*ColWindow, error) {
		in.Close()
		return nil, err
	}
	var err error
	if w.keys, err = windowKeys(c, fns[0]); err != nil {
		return fail(err)
	}
	for _, f := range fns {
		if _, err := env.windowFn(f); err != nil { // checks its arguments
			return fail(err)
		}
		wf := colWinFn{fn: f.Func}
		if f.Agg != nil {
			s := AggSpecOf(f.Agg)
			wf.fn, wf.agg = "", &s
			if len(f.Args) == 1 {
				x, err := c.Compile(f.Args[0])
				if err != nil {
					return fail(err)
				}
				wf.arg = x
			}
		}
		w.fns = append(w.fns, wf)
		w.types = append(w.types, f.TypeOid)
		w.own = append(w.own, coldata.NewVec(f.TypeOid, coldata.BatchSize))
	}
	if st != nil {
		st.Vectorized = true
	}
	return w, nil
}

func (w *ColWindow) Types() []uint32 { return w.types }

func (w *ColWindow) Open(ctx context.Context) error { return w.in.Open(ctx) }

func (w *ColWindow) Close() { w.in.Close() }

func (w *ColWindow) Next(ctx context.Context) (*coldata.Batch, error) {
	b, err := w.in.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	if err := w.keys.eval(b); err != nil {
		return nil, err
	}
	for i := range w.fns {
		f := &w.fns[i]
		w.own[i].Reset()
		if f.arg != nil {
			if f.val, err = f.arg.Eval(b); err != nil {
				return nil, err
			}
		}
	}
	prev := -1 // the previous row in b (-1: the last one of the batches before)
	for _, r := range b.Sel {
		newPart, newPeer := w.keys.at(r, prev)
		if newPart {
			w.rowNum, w.rank, w.dense = 0, 0, 0
			for i := range w.fns {
				if w.fns[i].agg != nil {
					w.fns[i].acc = agg.New(*w.fns[i].agg)
				}
			}
		}
		w.rowNum++
		if newPeer {
			w.rank, w.dense = w.rowNum, w.dense+1
		}
		for i := range w.fns {
			f, v := &w.fns[i], w.own[i]
			switch f.fn {
			case "row_number":
				v.I[r] = w.rowNum
			case "rank":
				v.I[r] = w.rank
			case "dense_rank":
				v.I[r] = w.dense
			default:
				var x types.Datum = true // count(*)
				if f.arg != nil {
					x = f.val.Datum(r)
				}
				if err := f.acc.Add(x); err != nil {
					return nil, err
				}
				res, err := f.acc.Result()
				if err != nil {
					return nil, err
				}
				if !v.Put(r, res) {
					return nil, pgerr.New(pgerr.InternalError, "a window aggregate's %T in a column of type %d", res, v.Oid)
				}
			}
		}
		prev = r
	}
	if prev >= 0 {
		w.keys.keep(prev)
	}
	w.out.N, w.out.Sel = b.N, b.Sel
	w.out.Vecs = append(append(w.out.Vecs[:0], b.Vecs...), w.own...)
	return &w.out, nil
}

// evalAll evaluates exprs over b.
func evalAll(exprs []colexpr.Expr, b *coldata.Batch) ([]*coldata.Vec, error) {
	out := make([]*coldata.Vec, len(exprs))
	for i, e := range exprs {
		v, err := e.Eval(b)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// keepRow copies row r of vecs into one-row vectors (reusing into's when
// of the same kinds).
func keepRow(into, vecs []*coldata.Vec, r int) []*coldata.Vec {
	if len(into) != len(vecs) {
		into = make([]*coldata.Vec, len(vecs))
	}
	for i, v := range vecs {
		if into[i] == nil || into[i].Kind != v.Kind {
			into[i] = coldata.NewVecOf(v.Kind, v.Oid, 1)
		}
		into[i].Reset()
		into[i].CopyFrom(0, v, r)
	}
	return into
}

// sameVecKeys reports row i of a and row j of b equal in every key, NULLs
// equal (the comparison a sort orders by).
func sameVecKeys(a []*coldata.Vec, i int, b []*coldata.Vec, j int) bool {
	for k, x := range a {
		y := b[k]
		xn, yn := x.IsNull(i), y.IsNull(j)
		if xn || yn {
			if xn != yn {
				return false
			}
			continue
		}
		if compareVecKeys(a[k:k+1], i, b[k:k+1], j) != 0 {
			return false
		}
	}
	return true
}

// ColPartWindow computes, over column batches sorted (or grouped) by one
// window, window functions that need their whole partition (lag, lead,
// ntile, first_value and the like, aggregates over other frames): it holds
// the current partition's rows by column, with its functions' arguments
// and a bit per row telling whether its ORDER BY values start a peer
// group, computes the functions when the partition ends (windowPartition)
// and emits the rows in batches of BatchSize (small partitions share one)
// with a vector per function appended.
// Past its budget it hands the partition it holds and the rest of its
// input to the row Window, which spills. Its functions' arguments are
// columns and constants (evaluated for every row, none can fail).
type ColPartWindow struct {
	env     *Env
	st      *Stats
	mem     *memory
	in      ColSource
	fns     []WindowFn // compiled row by row, for windowPartition and the row Window
	args    [][]colexpr.Expr
	keys    winBounds
	inTypes []uint32
	types   []uint32 // inTypes, then one per function

	// The rows held, in chunks of BatchSize (row i at chunks[i/BatchSize],
	// i%BatchSize): those of partitions computed but not returned yet (a
	// chunk goes once full), from start on the current partition's. vals
	// holds each function's values of the rows before start; argv each
	// function's arguments and peerStart a bit per row of the current
	// partition (whether its ORDER BY values start a peer group).
	chunks    []*coldata.Batch
	n, start  int
	vals      [][]types.Datum
	argv      [][][]types.Datum
	peerStart []bool

	b      *coldata.Batch // the input batch being read, from b.Sel[pos]
	pos    int
	av     [][]*coldata.Vec
	ready  []*coldata.Batch // partitions computed, to return
	rowWin ColSource        // the row Window handed over to
	done   bool
}

var _ ColSource = (*ColPartWindow)(nil)

// partWindowable reports functions ColPartWindow computes: the known
// ones (their arguments, any expressions but those evaluated a row at a
// time (anyRowwise), are evaluated over each input batch and kept with
// the partition's rows).
func partWindowable(f *meridianpb.WindowFunc) bool {
	return (f.Agg == nil || !f.Agg.Distinct && knownAgg(f.Agg.Func)) && !anyRowwise(f.Args...)
}

// buildColPartWindow returns the vectorized window of fns (which share
// one window) over in, sorted or grouped by it, or nil when one of fns is
// not one it computes. On an error it closes in.
func (env *Env) buildColPartWindow(in ColSource, fns []*meridianpb.WindowFunc, st *Stats) (*ColPartWindow, error) {
	for _, f := range fns {
		if !partWindowable(f) {
			return nil, nil
		}
	}
	w := &ColPartWindow{env: env, st: st, in: in, inTypes: in.Types(), types: append([]uint32(nil), in.Types()...)}
	c := &colexpr.Compiler{In: in.Types(), Row: env.Compile}
	fail := func(err error) (*ColPartWindow, error) {
		in.Close()
		return nil, err
	}
	var err error
	if w.keys, err = windowKeys(c, fns[0]); err != nil {
		return fail(err)
	}
	for _, f := range fns {
		fn, err := env.windowFn(f)
		if err != nil {
			return fail(err)
		}
		args, err := compileAll(c, f.Args)
		if err != nil {
			return fail(err)
		}
		w.fns = append(w.fns, fn)
		w.args = append(w.args, args)
		w.types = append(w.types, f.TypeOid)
	}
	w.argv = make([][][]types.Datum, len(w.fns))
	w.vals = make([][]types.Datum, len(w.fns))
	w.av = make([][]*coldata.Vec, len(w.fns))
	for f := range w.fns {
		w.argv[f] = make([][]types.Datum, len(w.args[f]))
		w.av[f] = make([]*coldata.Vec, len(w.args[f]))
	}
	if st != nil {
		st.Vectorized = true
	}
	return w, nil
}

// winBounds finds, over batches sorted (or grouped) by a window, where
// partitions and peer groups start: it compares a row's partition and
// ORDER BY values with the previous row's — in its batch, or kept from the
// batch before — NULLs equal, as the sort ordered them.
type winBounds struct {
	part, ord         []colexpr.Expr
	pk, ok            []*coldata.Vec // the batch's values
	prevPart, prevOrd []*coldata.Vec // the last row's of the batches before (one row each)
	started           bool
}

// windowKeys compiles f's partition keys and ORDER BY expressions for
// batches.
func windowKeys(c *colexpr.Compiler, f *meridianpb.WindowFunc) (winBounds, error) {
	part, err := compileAll(c, f.PartitionBy)
	if err != nil {
		return winBounds{}, err
	}
	ord := make([]colexpr.Expr, len(f.OrderBy))
	for i, o := range f.OrderBy {
		if ord[i], err = c.Compile(o.Expr); err != nil {
			return winBounds{}, err
		}
	}
	return winBounds{part: part, ord: ord}, nil
}

// eval evaluates batch b's keys (after keep kept the batch before's last
// row).
func (wb *winBounds) eval(b *coldata.Batch) (err error) {
	if wb.pk, err = evalAll(wb.part, b); err != nil {
		return err
	}
	wb.ok, err = evalAll(wb.ord, b)
	return err
}

// at reports whether row r of the batch starts a partition, and a peer
// group; prev is the batch's row before it (-1: the row kept).
func (wb *winBounds) at(r, prev int) (newPart, newPeer bool) {
	if !wb.started {
		wb.started = true
		return true, true
	}
	pv, ov, pi := wb.pk, wb.ok, prev
	if prev < 0 {
		pv, ov, pi = wb.prevPart, wb.prevOrd, 0
	}
	newPart = !sameVecKeys(wb.pk, r, pv, pi)
	return newPart, newPart || !sameVecKeys(wb.ok, r, ov, pi)
}

// keep keeps row r's keys for the next batch.
func (wb *winBounds) keep(r int) {
	wb.prevPart, wb.prevOrd = keepRow(wb.prevPart, wb.pk, r), keepRow(wb.prevOrd, wb.ok, r)
}

// compileAll compiles exprs for batches.
func compileAll(c *colexpr.Compiler, exprs []*meridianpb.Expr) ([]colexpr.Expr, error) {
	out := make([]colexpr.Expr, len(exprs))
	for i, e := range exprs {
		x, err := c.Compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

func (w *ColPartWindow) Types() []uint32 { return w.types }

func (w *ColPartWindow) Open(ctx context.Context) error {
	w.mem = newMemory(w.env, w.st)
	return w.in.Open(ctx)
}

func (w *ColPartWindow) Close() {
	w.mem.release()
	if w.rowWin != nil {
		w.rowWin.Close()
		w.rowWin = nil
		return
	}
	w.in.Close()
}

func (w *ColPartWindow) Next(ctx context.Context) (*coldata.Batch, error) {
	for {
		if len(w.ready) > 0 {
			b := w.ready[0]
			w.ready[0] = nil
			w.ready = w.ready[1:]
			return b, nil
		}
		if w.rowWin != nil {
			return w.rowWin.Next(ctx)
		}
		if w.done {
			return nil, nil
		}
		if w.b == nil || w.pos >= len(w.b.Sel) {
			if err := w.read(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.add(ctx); err != nil {
			return nil, err
		}
	}
}

// read reads the next input batch and evaluates its keys and arguments;
// at the end of the input it computes the last partition.
func (w *ColPartWindow) read(ctx context.Context) error {
	if w.b != nil && len(w.b.Sel) > 0 {
		last := w.b.Sel[len(w.b.Sel)-1]
		w.keys.keep(last)
	}
	b, err := w.in.Next(ctx)
	if err != nil {
		return err
	}
	if b == nil {
		w.done, w.b = true, nil
		if err := w.finish(); err != nil {
			return err
		}
		w.emit(w.n)
		return nil
	}
	w.b, w.pos = b, 0
	if err := w.keys.eval(b); err != nil {
		return err
	}
	for f := range w.args {
		for k, a := range w.args[f] {
			if w.av[f][k], err = a.Eval(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// add takes the rows of the batch being read up to the end of the
// current partition (which it then computes) or of the batch.
func (w *ColPartWindow) add(ctx context.Context) error {
	if ctx.Err() != nil {
		return canceled(ctx)
	}
	b := w.b
	for w.pos < len(b.Sel) {
		r := b.Sel[w.pos]
		prev := -1
		if w.pos > 0 {
			prev = b.Sel[w.pos-1]
		}
		newPart, newPeer := w.keys.at(r, prev)
		if newPart && w.n > w.start {
			// The row is taken at the next call.
			if err := w.finish(); err != nil {
				return err
			}
			w.emit(w.start / coldata.BatchSize * coldata.BatchSize)
			return nil
		}
		if w.n%coldata.BatchSize == 0 {
			ch := coldata.NewBatch(w.inTypes)
			ch.Reset()
			w.chunks = append(w.chunks, ch)
		}
		ch := w.chunks[w.n/coldata.BatchSize]
		if err := copyRow(ch, 0, w.n%coldata.BatchSize, b, r); err != nil {
			return err
		}
		ch.N = w.n%coldata.BatchSize + 1
		size := int64(16*len(w.inTypes)) + 1
		for f := range w.av {
			for k, v := range w.av[f] {
				d := v.Datum(r)
				w.argv[f][k] = append(w.argv[f][k], d)
				size += datumSize(d)
			}
		}
		w.peerStart = append(w.peerStart, newPeer)
		w.n++
		w.pos++
		if !w.mem.grow(size) {
			return w.handOver(ctx)
		}
	}
	return nil
}

// finish computes the functions over the current partition's rows.
func (w *ColPartWindow) finish() error {
	if w.n == w.start {
		return nil
	}
	for f := range w.fns {
		vals := make([]types.Datum, w.n-w.start)
		argv := w.argv[f]
		arg := func(k, i int) (types.Datum, error) { return argv[k][i], nil }
		if err := windowPartition(&w.fns[f], arg, w.peerStart, vals); err != nil {
			return err
		}
		w.vals[f] = append(w.vals[f], vals...)
		for k := range argv {
			argv[k] = argv[k][:0]
		}
	}
	w.start = w.n
	w.peerStart = w.peerStart[:0]
	w.mem.release()
	return nil
}

// emit moves the first upTo rows held (all computed: upTo <= start) to
// the output, with their values: whole chunks, and the rows of a last
// one that is not.
func (w *ColPartWindow) emit(upTo int) {
	for upTo > 0 {
		ch := w.chunks[0]
		m := min(upTo, coldata.BatchSize)
		out := &coldata.Batch{Vecs: append([]*coldata.Vec(nil), ch.Vecs...)}
		out.SelectAll(m)
		for f := range w.fns {
			out.Vecs = append(out.Vecs, valueVec(w.types[len(w.inTypes)+f], w.vals[f][:m]))
			w.vals[f] = w.vals[f][m:]
		}
		w.ready = append(w.ready, out)
		if m < coldata.BatchSize && w.n > m {
			// Rows after the first m stay: they move to a new chunk.
			rest := coldata.NewBatch(w.inTypes)
			rest.Reset()
			for i := m; i < ch.N; i++ {
				_ = copyRow(rest, 0, i-m, ch, i) // same types
			}
			rest.N = ch.N - m
			w.chunks[0] = rest
		} else {
			w.chunks[0] = nil
			w.chunks = w.chunks[1:]
		}
		w.n, w.start, upTo = w.n-m, w.start-m, upTo-m
	}
}

// valueVec stores a function's values in a vector of its type (or of
// datums, for values of another Go type).
func valueVec(oid uint32, vals []types.Datum) *coldata.Vec {
	v := coldata.NewVec(oid, len(vals))
	for i, d := range vals {
		if !v.Put(i, d) {
			v = coldata.NewVecOf(coldata.Any, oid, len(vals))
			for j, d := range vals {
				v.Set(j, d)
			}
			break
		}
	}
	return v
}

// handOver returns the rows of the partitions computed and gives the
// current partition's, the rest of the batch being read and the rest of
// the input to the row Window, whose partitions spill.
func (w *ColPartWindow) handOver(ctx context.Context) error {
	if w.st != nil {
		w.st.Vectorized = false // EXPLAIN ANALYZE: the row window ran
	}
	w.emit(w.start)
	var rest []Row
	for i := 0; i < w.n; i++ {
		rest = append(rest, w.chunks[i/coldata.BatchSize].Row(i%coldata.BatchSize))
	}
	for _, r := range w.b.Sel[w.pos:] {
		rest = append(rest, w.b.Row(r))
	}
	replay := &replayOp{rest: rest, in: ColRows(w.in)}
	w.chunks, w.argv, w.vals, w.b = nil, nil, nil, nil
	w.mem.release()
	win := NewWindow(w.env, w.st, replay, w.inTypes, w.fns)
	w.rowWin = &columnarizer{in: win, types: w.types}
	return w.rowWin.Open(ctx)
}
