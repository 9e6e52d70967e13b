package exec

import (
	"context"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// ColHashJoin is the vectorized form of HashJoin for the joins whose
// output follows the probe side — inner, left, semi and anti — on one
// integer key: the build (right) side's rows are stored by column, the
// probe (left) side is read in column batches, its keys looked up a batch
// at a time, and the output assembled as column batches by copying the
// probe's and the build's values (no row of datums per output row). The
// residual is evaluated on the joined batches (sql/colexpr).
//
// Past its memory budget while building, it hands the join to a row
// HashJoin, which partitions to disk: the rows read so far first, then
// the rest of the build input.
type ColHashJoin struct {
	env      *Env
	st       *Stats
	typ      JoinType
	probe    ColSource
	build    Operator
	probeKey colexpr.Expr
	buildKey expr.Eval
	keyCol   int // the probe key's column when it is a plain one, else -1
	residual colexpr.Filter
	spec     JoinSpec // for the row join it may hand over to
	types    []uint32 // output columns

	mem *memory
	// The build side: rows by column in chunks of BatchSize, and the hash
	// table — each key's last row stored, and each row's previous one of
	// its key (-1: none). Row i is row i%BatchSize of chunks[i/BatchSize].
	chunks []*coldata.Batch
	rows   int
	heads  map[int64]int32
	next   []int32

	// Probing state: the probe batch being joined, where its pairs of
	// (probe row, build row) are up to, and which probe rows matched.
	in      *coldata.Batch
	keys    *coldata.Vec
	sel     int   // position in in.Sel of the probe row whose candidates come next
	cand    int32 // its next candidate (-1: look its key up)
	matched []bool
	pairsOf []int // the probe row of each pair in out
	out     *coldata.Batch
	tail    bool // the pairs are done; the probe-only output is next
	done    bool

	rowJoin *columnarizer // the row join handed over to, when the build was too big
	closed  bool
}

var _ ColSource = (*ColHashJoin)(nil)

// colJoinable reports a join ColHashJoin runs: a keyed hash join (not
// built on its left input) of a type whose output follows the probe rows,
// on one key of an integer type on both sides.
func colJoinable(j *meridianpb.JoinNode) bool {
	switch JoinType(j.Type) {
	case JoinInner, JoinLeft, JoinSemi, JoinAnti:
	default:
		return false
	}
	return j.Algo != meridianpb.JoinAlgo_JOIN_MERGE && !j.BuildLeft && len(j.LeftKeys) == 1 && len(j.RightKeys) == 1 &&
		coldata.KindOf(j.LeftKeys[0].TypeOid) == coldata.Int && coldata.KindOf(j.RightKeys[0].TypeOid) == coldata.Int
}

// buildColJoin returns the vectorized join of a join node, or nil when it
// does not apply: vectorization is off, the join is not one it runs
// (colJoinable), or its probe input is not read in column batches (rows
// stored by column would only be read back as rows). rowLeft is then the
// left input already built (nil: not built).
func (env *Env) buildColJoin(n *meridianpb.PlanNode, j *meridianpb.JoinNode, st *Stats) (cj *ColHashJoin, rowLeft Operator, err error) {
	if env.ColScan == nil || !colJoinable(j) || len(n.Inputs) != 2 {
		return nil, nil, nil
	}
	probe, rowOnly, err := env.buildCols(n.Inputs[0])
	if err != nil {
		return nil, nil, err
	}
	if rowOnly {
		return nil, probe.(*columnarizer).in, nil
	}
	fail := func(err error) (*ColHashJoin, Operator, error) {
		probe.Close()
		return nil, nil, err
	}
	c := &colexpr.Compiler{In: probe.Types(), Row: env.Compile}
	cj = &ColHashJoin{env: env, st: st, typ: JoinType(j.Type), probe: probe, keyCol: -1}
	if cj.probeKey, err = c.Compile(j.LeftKeys[0]); err != nil {
		return fail(err)
	}
	if j.LeftKeys[0].Kind == meridianpb.ExprKind_EXPR_COLUMN {
		cj.keyCol = int(j.LeftKeys[0].Index)
	}
	if cj.buildKey, err = env.compile(j.RightKeys[0]); err != nil {
		return fail(err)
	}
	lt, rt := n.Inputs[0].Types, n.Inputs[1].Types
	cj.types = append(append([]uint32(nil), lt...), rt...)
	if j.Residual != nil {
		rc := &colexpr.Compiler{In: cj.types, Row: env.Compile}
		if cj.residual, err = rc.CompileFilter(j.Residual); err != nil {
			return fail(err)
		}
	}
	// The row join's, should the build side outgrow the budget.
	lk, err := env.compileAll(j.LeftKeys)
	if err != nil {
		return fail(err)
	}
	res, err := env.compile(j.Residual)
	if err != nil {
		return fail(err)
	}
	cj.spec = JoinSpec{Type: cj.typ, LeftKeys: lk, RightKeys: []expr.Eval{cj.buildKey}, Residual: res,
		LeftKeyCols: columnsOf(j.LeftKeys), RightKeyCols: columnsOf(j.RightKeys), LeftTypes: lt, RightTypes: rt}
	if cj.build, err = env.Build(n.Inputs[1]); err != nil {
		return fail(err)
	}
	if st != nil {
		st.Vectorized = true
	}
	return cj, nil, nil
}

// Types are the output's columns: the probe's and the build's, or the
// probe's alone for a semi or anti join.
func (j *ColHashJoin) Types() []uint32 {
	if j.typ == JoinSemi || j.typ == JoinAnti {
		return j.types[:len(j.spec.LeftTypes)]
	}
	return j.types
}

func (j *ColHashJoin) Open(ctx context.Context) error {
	j.mem = newMemory(j.env, j.st)
	j.heads = map[int64]int32{}
	if err := j.build.Open(ctx); err != nil {
		return err
	}
	rt := j.spec.RightTypes
	for {
		b, err := j.build.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for bi, r := range b.Rows {
			k, err := j.buildKey(r)
			if err != nil {
				return err
			}
			if k == nil {
				continue // a NULL key matches nothing, and no build row is emitted alone
			}
			v, ok := k.(int64)
			if !ok {
				return pgerr.New(pgerr.InternalError, "hash join build key of type %T", k)
			}
			at := j.rows % coldata.BatchSize
			if at == 0 {
				j.chunks = append(j.chunks, coldata.NewBatch(rt))
			}
			ch := j.chunks[len(j.chunks)-1]
			for c, d := range r {
				if !ch.Vecs[c].Put(at, d) {
					return pgerr.New(pgerr.InternalError, "a %T in a build column of type %d", d, rt[c])
				}
			}
			ch.N = at + 1
			head, found := j.heads[v]
			if !found {
				head = -1
			}
			j.next = append(j.next, head)
			j.heads[v] = int32(j.rows)
			j.rows++
			if !j.mem.grow(rowSize(r) + 24) {
				return j.handOver(ctx, b.Rows[bi+1:])
			}
		}
	}
	j.build.Close()
	j.build = nil
	j.filterProbe()
	j.cand = -1
	j.out = coldata.NewBatch(j.types)
	return j.probe.Open(ctx)
}

var _ KeyFilterer = (*ColHashJoin)(nil)

// FilterKeys passes a runtime filter on one of the join's probe columns
// down to its probe input (before Open), as HashJoin.FilterKeys: an output
// row takes such a column from its probe row, or is a left join's row
// the filter rejects anyway.
func (j *ColHashJoin) FilterKeys(col int, keep func(int64) bool) bool {
	if j.mem != nil || col < 0 || col >= len(j.spec.LeftTypes) {
		return false
	}
	f, ok := j.probe.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}

// filterProbe hands the build keys to the probe input when the join drops
// the probe rows without a match (inner, semi) and its key is a plain
// column of the probe (HashJoin.filterProbe's runtime filter).
func (j *ColHashJoin) filterProbe() {
	if (j.typ != JoinInner && j.typ != JoinSemi) || j.keyCol < 0 {
		return
	}
	f, ok := j.probe.(KeyFilterer)
	if !ok {
		return
	}
	heads := j.heads // read-only from now on: the scan reads it from its goroutine
	f.FilterKeys(j.keyCol, func(v int64) bool {
		_, ok := heads[v]
		return ok
	})
}

// handOver gives the join to a row HashJoin (which partitions past its
// budget): its build input is the rows stored so far, then rest (the
// current batch's rows not stored), then the build input's other rows.
//
// The rows stored stay in memory until the row join has read them back;
// its own budget starts from nothing, so the node briefly holds about
// twice its budget.
func (j *ColHashJoin) handOver(ctx context.Context, rest []Row) error {
	if j.st != nil {
		j.st.Vectorized = false // EXPLAIN ANALYZE: the row join ran
	}
	replay := &replayOp{chunks: j.chunks, rest: rest, in: j.build}
	j.chunks, j.heads, j.next, j.build = nil, nil, nil, nil
	j.mem.release()
	hj := NewHashJoin(j.env, j.st, &colToRows{src: j.probe}, replay, j.spec)
	j.probe = nil
	j.rowJoin = &columnarizer{in: hj, types: j.Types()}
	return j.rowJoin.Open(ctx)
}

func (j *ColHashJoin) Next(ctx context.Context) (*coldata.Batch, error) {
	if j.rowJoin != nil {
		return j.rowJoin.Next(ctx)
	}
	for !j.done {
		if j.in == nil {
			b, err := j.probe.Next(ctx)
			if err != nil {
				return nil, err
			}
			if b == nil {
				j.done = true
				break
			}
			if len(b.Sel) == 0 {
				continue
			}
			if j.keys, err = j.probeKey.Eval(b); err != nil {
				return nil, err
			}
			j.in, j.sel, j.cand, j.tail = b, 0, -1, false
			j.matched = append(j.matched[:0], make([]bool, b.N)...)
		}
		if !j.tail {
			out, err := j.pairs()
			if err != nil || out != nil {
				return out, err
			}
			j.tail = true
		}
		out := j.probeOnly()
		j.in = nil
		if out != nil {
			return out, nil
		}
	}
	return nil, nil
}

// pairs returns the next batch of joined rows of the probe batch that
// pass the residual (nil when its candidates are done), and marks the
// probe rows that have one. A semi or anti join without a residual needs
// no joined row: the key's presence decides.
func (j *ColHashJoin) pairs() (*coldata.Batch, error) {
	in, keys := j.in, j.keys
	probeOnly := j.typ == JoinSemi || j.typ == JoinAnti
	if probeOnly && j.residual == nil {
		for _, r := range in.Sel {
			if k, ok := intAt(keys, r); ok {
				_, j.matched[r] = j.heads[k]
			}
		}
		j.sel = len(in.Sel)
		return nil, nil
	}
	lw := len(j.spec.LeftTypes)
	for j.sel < len(in.Sel) {
		out := j.out
		out.Reset()
		j.pairsOf = j.pairsOf[:0]
		n := 0
		for n < coldata.BatchSize && j.sel < len(in.Sel) {
			r := in.Sel[j.sel]
			if j.cand < 0 {
				k, ok := intAt(keys, r)
				head, found := j.heads[k]
				if !ok || !found {
					j.sel++
					continue
				}
				j.cand = head
			}
			bi := int(j.cand)
			ch, at := j.chunks[bi/coldata.BatchSize], bi%coldata.BatchSize
			for c := 0; c < lw; c++ {
				out.Vecs[c].CopyFrom(n, in.Vecs[c], r)
			}
			for c, v := range ch.Vecs {
				out.Vecs[lw+c].CopyFrom(n, v, at)
			}
			j.pairsOf = append(j.pairsOf, r)
			n++
			if j.cand = j.next[bi]; j.cand < 0 {
				j.sel++
			}
		}
		if n == 0 {
			break
		}
		out.SelectAll(n)
		if j.residual != nil {
			if err := j.residual(out); err != nil {
				return nil, err
			}
		}
		for _, p := range out.Sel {
			j.matched[j.pairsOf[p]] = true
		}
		if !probeOnly && len(out.Sel) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// intAt is row r of an integer key's vector — unboxed, or a datum when
// the key is computed row by row — and false for NULL.
func intAt(v *coldata.Vec, r int) (int64, bool) {
	if v.IsNull(r) {
		return 0, false
	}
	if v.Kind == coldata.Int {
		return v.I[r], true
	}
	k, ok := v.Datum(r).(int64)
	return k, ok
}

// probeOnly returns what the probe batch gives once its pairs are done:
// a semi join's matched probe rows, an anti join's unmatched ones, a left
// join's unmatched ones with NULL build columns; nil for none.
func (j *ColHashJoin) probeOnly() *coldata.Batch {
	in := j.in
	switch j.typ {
	case JoinSemi, JoinAnti:
		want := j.typ == JoinSemi
		sel := in.Sel[:0]
		for _, r := range in.Sel {
			if j.matched[r] == want {
				sel = append(sel, r)
			}
		}
		in.Sel = sel // the probe's batch, which is ours until the next
		if len(sel) == 0 {
			return nil
		}
		return in
	case JoinLeft:
		out := j.out
		out.Reset()
		lw := len(j.spec.LeftTypes)
		n := 0
		for _, r := range in.Sel {
			if j.matched[r] {
				continue
			}
			for c := 0; c < lw; c++ {
				out.Vecs[c].CopyFrom(n, in.Vecs[c], r)
			}
			for _, v := range out.Vecs[lw:] {
				v.SetNull(n)
			}
			n++
		}
		if n == 0 {
			return nil
		}
		out.SelectAll(n)
		return out
	}
	return nil
}

func (j *ColHashJoin) Close() {
	if j.closed {
		return
	}
	j.closed = true
	if j.mem != nil {
		j.mem.release()
	}
	if j.rowJoin != nil {
		j.rowJoin.Close()
	}
	if j.build != nil {
		j.build.Close()
	}
	if j.probe != nil {
		j.probe.Close()
	}
	j.chunks, j.heads, j.next, j.in = nil, nil, nil, nil
}

// replayOp is a build input handed over: the rows a ColHashJoin stored by
// column, then rows of the batch it was reading, then the rest of its
// input (already open).
type replayOp struct {
	chunks []*coldata.Batch
	rest   []Row
	in     Operator
}

func (r *replayOp) Open(context.Context) error { return nil }

func (r *replayOp) Next(ctx context.Context) (*Batch, error) {
	for len(r.chunks) > 0 {
		ch := r.chunks[0]
		r.chunks[0] = nil // its memory goes as the row join reads it
		r.chunks = r.chunks[1:]
		if ch.N == 0 {
			continue
		}
		ch.SelectAll(ch.N)
		return &Batch{Rows: codec.AppendRows(make([]Row, 0, ch.N), ch)}, nil
	}
	if len(r.rest) > 0 {
		b := &Batch{Rows: r.rest}
		r.rest = nil
		return b, nil
	}
	return r.in.Next(ctx)
}

func (r *replayOp) Close() { r.in.Close() }

// ColRows reads a source of column batches as an operator of rows, in
// batches of BatchSize rows (the rows a selective filter leaves of
// several column batches), each row's values taken from slabs allocated
// per batch (codec.AppendRows). It passes a join's runtime filter to the
// source when the source takes one.
func ColRows(src ColSource) Operator { return &colToRows{src: src} }

// colToRows is ColRows.
type colToRows struct {
	src     ColSource
	pending []Row
}

var _ KeyFilterer = (*colToRows)(nil)

func (c *colToRows) Open(ctx context.Context) error { return c.src.Open(ctx) }

func (c *colToRows) Next(ctx context.Context) (*Batch, error) {
	for len(c.pending) < BatchSize {
		b, err := c.src.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b == nil {
			break
		}
		if c.pending == nil {
			c.pending = make([]Row, 0, 2*BatchSize)
		}
		c.pending = codec.AppendRows(c.pending, b)
	}
	if len(c.pending) == 0 {
		return nil, nil
	}
	n := min(len(c.pending), BatchSize)
	out := c.pending[:n:n]
	if c.pending = c.pending[n:]; len(c.pending) == 0 {
		c.pending = nil // the next rows start a slice of their own
	}
	return &Batch{Rows: out}, nil
}

func (c *colToRows) Close() { c.src.Close() }

// Vectorized reports the rows made of column batches (EXPLAIN ANALYZE).
func (c *colToRows) Vectorized() bool { return true }

// FilterKeys passes a runtime filter to the source when it takes one.
func (c *colToRows) FilterKeys(col int, keep func(int64) bool) bool {
	f, ok := c.src.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}
