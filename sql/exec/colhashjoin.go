package exec

import (
	"context"
	"slices"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// ColHashJoin is the vectorized form of HashJoin, for inner, left, right,
// full, semi and anti joins on any keys, built on their right input or
// (left, semi and anti) on their left one: the build side's rows are stored by
// column, the probe side is read in column batches, its keys looked up a
// batch at a time — one integer key in a table of int64s, other keys by
// their key encoding (codec.AppendVecKey: equal values encode equally, as
// in HashJoin's table) — and the output assembled as column batches by copying
// the probe's and the build's values (no row of datums per output row).
// The residual is evaluated on the joined batches (sql/colexpr). A join
// that keeps build rows emits, once the probe side is done, the build
// rows no probe row matched with NULL probe columns (a right or full
// join; a left join built on its left input), or those of a semi or anti
// join built on its left input that it keeps.
//
// Past its memory budget while building, it hands the join to a row
// HashJoin, which partitions to disk: the rows read so far first, then
// the rest of the build input.
type ColHashJoin struct {
	env       *Env
	st        *Stats
	typ       JoinType
	probe     ColSource
	build     Operator
	probeKeys []colexpr.Expr
	buildKeys []expr.Eval
	// generic: the keys are not one integer; the table is then sheads, by
	// the keys' encoding. keyCol is the probe column of an integer key
	// that is a plain column (-1: none) and filterKey that key's index:
	// the runtime filter's (ints holds its build values when generic).
	generic   bool
	keyCol    int
	filterKey int
	ints      map[int64]struct{}
	kbuf      []byte
	residual  colexpr.Filter
	spec      JoinSpec // for the row join it may hand over to
	types     []uint32 // left ++ right
	// buildLeft: the build side is the left input (typ is then JoinRight,
	// joinRightSemi or joinRightAnti). Output columns: the probe's from
	// probeOff, the build's from buildOff.
	buildLeft          bool
	probeW, buildW     int
	probeOff, buildOff int

	mem *memory
	// The build side: rows by column in chunks of BatchSize, and the hash
	// table — each key's last row stored, and each row's previous one of
	// its key (-1: none). Row i is row i%BatchSize of chunks[i/BatchSize].
	chunks []*coldata.Batch
	rows   int
	heads  map[int64]int32
	sheads map[string]int32
	next   []int32
	// buildMatched: the build rows some probe row matched (emitsBuild).
	buildMatched []bool
	pairsBuild   []int32 // the build row of each pair in out
	tailPos      int     // the next build row the tail looks at
	view         coldata.Batch

	// Probing state: the probe batch being joined, where its pairs of
	// (probe row, build row) are up to, and which probe rows matched.
	in      *coldata.Batch
	keys    []*coldata.Vec
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

// colJoinable reports a join ColHashJoin runs (ColMergeJoin runs the
// merge joins): a hash join of any type built on its right input, on keys
// of any types or none (a nested loop), or a keyed left, semi or anti join
// built on its left one (NewJoinBuildLeft's).
func colJoinable(j *meridianpb.JoinNode) bool {
	switch JoinType(j.Type) {
	case JoinInner, JoinRight, JoinFull:
		if j.BuildLeft {
			return false
		}
	case JoinLeft, JoinSemi, JoinAnti:
	default:
		return false
	}
	if j.BuildLeft && len(j.LeftKeys) == 0 {
		return false
	}
	// Without keys (a nested loop) every build row is a candidate for
	// every probe row: one chain, of the empty key.
	return j.Algo != meridianpb.JoinAlgo_JOIN_MERGE && len(j.LeftKeys) == len(j.RightKeys)
}

// buildColJoin returns the vectorized join of a join node, or nil when it
// does not apply: vectorization is off, the join is not one it runs
// (colJoinable), or its probe input is not read in column batches (rows
// stored by column would only be read back as rows). pre then holds the
// inputs already built (left, right; nil: not built).
func (env *Env) buildColJoin(n *meridianpb.PlanNode, j *meridianpb.JoinNode, st *Stats) (src ColSource, pre [2]Operator, err error) {
	if env.Vectorize && j.Algo == meridianpb.JoinAlgo_JOIN_MERGE && len(n.Inputs) == 2 {
		mj, err := env.buildColMergeJoin(n, j, st)
		if mj == nil || err != nil {
			return nil, pre, err
		}
		if st != nil {
			st.Vectorized = true
		}
		return mj, pre, nil
	}
	if !env.Vectorize || !colJoinable(j) || len(n.Inputs) != 2 {
		return nil, pre, nil
	}
	// The probe side: the left input, or the right one when the join
	// hashes its left.
	p, b := 0, 1
	probeKeys, buildKeys := j.LeftKeys, j.RightKeys
	typ := JoinType(j.Type)
	if j.BuildLeft {
		p, b = 1, 0
		probeKeys, buildKeys = j.RightKeys, j.LeftKeys
		switch typ { // the swapped join NewJoinBuildLeft runs
		case JoinLeft:
			typ = JoinRight
		case JoinSemi:
			typ = joinRightSemi
		case JoinAnti:
			typ = joinRightAnti
		}
	}
	probe, rowOnly, err := env.buildCols(n.Inputs[p])
	if err != nil {
		return nil, pre, err
	}
	if rowOnly {
		pre[p] = probe.(*columnarizer).in
		return nil, pre, nil
	}
	fail := func(err error) (ColSource, [2]Operator, error) {
		probe.Close()
		return nil, [2]Operator{}, err
	}
	lt, rt := n.Inputs[0].Types, n.Inputs[1].Types
	cj := &ColHashJoin{env: env, st: st, typ: typ, probe: probe, keyCol: -1,
		probeW: len(n.Inputs[p].Types), buildW: len(n.Inputs[b].Types)}
	if j.BuildLeft {
		cj.buildOff, cj.probeOff = 0, len(lt) // the output is left (build) ++ right (probe)
	} else {
		cj.probeOff, cj.buildOff = 0, len(lt)
	}
	c := &colexpr.Compiler{In: probe.Types(), Row: env.Compile}
	cj.probeKeys = make([]colexpr.Expr, len(probeKeys))
	for i, k := range probeKeys {
		if cj.probeKeys[i], err = c.Compile(k); err != nil {
			return fail(err)
		}
	}
	if cj.buildKeys, err = env.compileAll(buildKeys); err != nil {
		return fail(err)
	}
	isInt := func(e *meridianpb.Expr) bool { return coldata.KindOf(e.TypeOid) == coldata.Int }
	cj.generic = len(probeKeys) != 1 || !isInt(probeKeys[0]) || !isInt(buildKeys[0])
	for i, k := range probeKeys {
		if k.Kind == meridianpb.ExprKind_EXPR_COLUMN && isInt(k) && isInt(buildKeys[i]) {
			cj.keyCol, cj.filterKey = int(k.Index), i
			break
		}
	}
	cj.types = append(append([]uint32(nil), lt...), rt...)
	if j.Residual != nil {
		// Over left ++ right, the order the joined batches are assembled in.
		rc := &colexpr.Compiler{In: cj.types, Row: env.Compile}
		if cj.residual, err = rc.CompileFilter(j.Residual); err != nil {
			return fail(err)
		}
	}
	// The row join's, should the build side outgrow the budget.
	if cj.spec, err = env.joinSpec(n, j); err != nil {
		return fail(err)
	}
	cj.buildLeft = j.BuildLeft
	if cj.build, err = env.Build(n.Inputs[b]); err != nil {
		return fail(err)
	}
	if st != nil {
		st.Vectorized = true
	}
	return cj, pre, nil
}

// Types are the output's columns: left ++ right, or the left input's
// alone for a semi or anti join.
func (j *ColHashJoin) Types() []uint32 {
	switch j.typ {
	case JoinSemi, JoinAnti, joinRightSemi, joinRightAnti:
		return j.types[:len(j.spec.LeftTypes)]
	}
	return j.types
}

// emitsBuild reports a join that emits build rows without a probe row (a
// right or full join's unmatched build rows, a build-left join's
// unmatched or matched rows).
func (j *ColHashJoin) emitsBuild() bool {
	return j.typ == JoinRight || j.typ == JoinFull || j.typ == joinRightSemi || j.typ == joinRightAnti
}

func (j *ColHashJoin) Open(ctx context.Context) error {
	j.mem = newMemory(j.env, j.st)
	if j.generic {
		j.sheads = map[string]int32{}
		if j.keyCol >= 0 {
			j.ints = map[int64]struct{}{}
		}
	} else {
		j.heads = map[int64]int32{}
	}
	if err := j.build.Open(ctx); err != nil {
		return err
	}
	bt := j.spec.RightTypes
	if j.buildLeft {
		bt = j.spec.LeftTypes
	}
	for {
		b, err := j.build.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for bi, r := range b.Rows {
			v, key, ok, err := j.buildKey(r)
			if err != nil {
				return err
			}
			if !ok && !j.emitsBuild() {
				continue // a NULL key matches nothing, and this join emits no build row alone
			}
			at := j.rows % coldata.BatchSize
			if at == 0 {
				j.chunks = append(j.chunks, coldata.NewBatch(bt))
			}
			ch := j.chunks[len(j.chunks)-1]
			if err := StoreRow(ch, at, r); err != nil {
				return err
			}
			ch.N = at + 1
			head := int32(-1)
			switch {
			case !ok:
				// A row with a NULL key is stored (to be emitted
				// unmatched) but in no chain.
			case j.generic:
				if h, found := j.sheads[string(key)]; found {
					head = h
				}
				j.sheads[string(key)] = int32(j.rows)
				if j.ints != nil {
					j.ints[v] = struct{}{}
				}
			default:
				if h, found := j.heads[v]; found {
					head = h
				}
				j.heads[v] = int32(j.rows)
			}
			j.next = append(j.next, head)
			j.rows++
			// The row, its chain link and table entry; an encoded key's
			// entry as HashJoin counts its own (a string key and its header).
			size := rowSize(r) + 24
			if j.generic {
				size = rowSize(r) + 48 + int64(len(key))
			}
			if !j.mem.grow(size) {
				return j.handOver(ctx, b.Rows[bi+1:])
			}
		}
	}
	j.build.Close()
	j.build = nil
	if j.emitsBuild() {
		j.buildMatched = make([]bool, j.rows)
	}
	j.filterProbe()
	j.cand = -1
	j.out = coldata.NewBatch(j.types)
	return j.probe.Open(ctx)
}

var _ KeyFilterer = (*ColHashJoin)(nil)

// FilterKeys passes a runtime filter on one of the join's probe columns
// down to its probe input (before Open), as HashJoin.FilterKeys: an output
// row takes such a column from its probe row, or NULL (a build row no
// probe row matched), which the filter rejects anyway.
func (j *ColHashJoin) FilterKeys(col int, keep func(int64) bool) bool {
	if j.mem != nil || j.buildLeft || col < 0 || col >= len(j.spec.LeftTypes) {
		return false // a build-left join's rows are the build side's
	}
	f, ok := j.probe.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}

// filterProbe hands the build keys to the probe input when the join drops
// the probe rows without a match (inner, right, semi, and every
// build-left join) and its key is a plain column of the probe
// (HashJoin.filterProbe's runtime filter).
func (j *ColHashJoin) filterProbe() {
	if j.typ == JoinLeft || j.typ == JoinFull || j.typ == JoinAnti || j.keyCol < 0 {
		return
	}
	f, ok := j.probe.(KeyFilterer)
	if !ok {
		return
	}
	// The table is read-only from now on: the scan reads it from its goroutine.
	if j.generic {
		f.FilterKeys(j.keyCol, keySetFn(j.ints))
	} else {
		f.FilterKeys(j.keyCol, keySetFn(j.heads))
	}
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
	j.chunks, j.heads, j.sheads, j.ints, j.next, j.build = nil, nil, nil, nil, nil, nil
	j.mem.release()
	var rj Operator
	if j.buildLeft {
		rj = NewJoinBuildLeft(j.env, j.st, replay, &colToRows{src: j.probe}, j.spec)
	} else {
		rj = NewHashJoin(j.env, j.st, &colToRows{src: j.probe}, replay, j.spec)
	}
	j.probe = nil
	j.rowJoin = &columnarizer{in: rj, types: j.Types()}
	return j.rowJoin.Open(ctx)
}

func (j *ColHashJoin) Next(ctx context.Context) (*coldata.Batch, error) {
	if j.rowJoin != nil {
		return j.rowJoin.Next(ctx)
	}
	for {
		if j.done {
			return j.buildTail(), nil
		}
		if j.in == nil {
			b, err := j.probe.Next(ctx)
			if err != nil {
				return nil, err
			}
			if b == nil {
				j.done = true
				continue
			}
			if len(b.Sel) == 0 {
				continue
			}
			j.keys = j.keys[:0]
			for _, k := range j.probeKeys {
				v, err := k.Eval(b)
				if err != nil {
					return nil, err
				}
				j.keys = append(j.keys, v)
			}
			j.in, j.sel, j.cand, j.tail = b, 0, -1, false
			j.matched = slices.Grow(j.matched[:0], b.N)[:b.N]
			clear(j.matched)
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
}

// buildTail returns the next batch of build rows a build-left join emits
// once the probe side is done (nil when there are no more): a left join's
// unmatched ones with NULL right columns, a semi join's matched ones, an
// anti join's unmatched ones.
func (j *ColHashJoin) buildTail() *coldata.Batch {
	if !j.emitsBuild() {
		return nil
	}
	want := j.typ == joinRightSemi
	out := j.out
	out.Reset()
	n := 0
	for n < coldata.BatchSize && j.tailPos < j.rows {
		bi := j.tailPos
		j.tailPos++
		if j.buildMatched[bi] != want {
			continue
		}
		ch, at := j.chunks[bi/coldata.BatchSize], bi%coldata.BatchSize
		for c, v := range ch.Vecs {
			out.Vecs[j.buildOff+c].CopyFrom(n, v, at)
		}
		if j.typ == JoinRight || j.typ == JoinFull {
			for c := 0; c < j.probeW; c++ {
				out.Vecs[j.probeOff+c].SetNull(n)
			}
		}
		n++
	}
	if n == 0 {
		return nil
	}
	out.SelectAll(n)
	// A semi or anti join's rows are the left (build) input's alone.
	j.view.N, j.view.Sel, j.view.Vecs = out.N, out.Sel, out.Vecs[:len(j.Types())]
	return &j.view
}

// pairs returns the next batch of joined rows of the probe batch that
// pass the residual (nil when its candidates are done), and marks the
// probe rows that have one. A semi or anti join without a residual needs
// no joined row: the key's presence decides.
func (j *ColHashJoin) pairs() (*coldata.Batch, error) {
	in := j.in
	// Joins that emit no joined row: they only mark what matched.
	marksOnly := j.typ == JoinSemi || j.typ == JoinAnti || j.typ == joinRightSemi || j.typ == joinRightAnti
	if marksOnly && j.residual == nil {
		for _, r := range in.Sel {
			head, found := j.headOf(r)
			if !j.emitsBuild() {
				j.matched[r] = found
				continue
			}
			for bi := head; found && bi >= 0; bi = j.next[bi] {
				j.buildMatched[bi] = true
			}
		}
		j.sel = len(in.Sel)
		return nil, nil
	}
	for j.sel < len(in.Sel) {
		out := j.out
		out.Reset()
		j.pairsOf, j.pairsBuild = j.pairsOf[:0], j.pairsBuild[:0]
		n := 0
		for n < coldata.BatchSize && j.sel < len(in.Sel) {
			r := in.Sel[j.sel]
			if j.cand < 0 {
				head, found := j.headOf(r)
				if !found {
					j.sel++
					continue
				}
				j.cand = head
			}
			bi := int(j.cand)
			ch, at := j.chunks[bi/coldata.BatchSize], bi%coldata.BatchSize
			for c := 0; c < j.probeW; c++ {
				out.Vecs[j.probeOff+c].CopyFrom(n, in.Vecs[c], r)
			}
			for c, v := range ch.Vecs {
				out.Vecs[j.buildOff+c].CopyFrom(n, v, at)
			}
			j.pairsOf = append(j.pairsOf, r)
			j.pairsBuild = append(j.pairsBuild, int32(bi))
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
			if j.buildMatched != nil {
				j.buildMatched[j.pairsBuild[p]] = true
			}
		}
		if !marksOnly && len(out.Sel) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// buildKey evaluates a build row's keys: the integer key (v; with
// generic keys, the runtime filter's key when there is one), the
// encoding of generic keys (in j.kbuf), and false when one is NULL.
func (j *ColHashJoin) buildKey(r Row) (v int64, key []byte, ok bool, err error) {
	// Each key is evaluated once: into the encoding when generic, and the
	// integer key's value kept.
	key = j.kbuf[:0]
	for i, e := range j.buildKeys {
		if !j.generic && i != j.filterKey {
			continue
		}
		d, err := e(r)
		if err != nil || d == nil {
			return 0, nil, false, err
		}
		if i == j.filterKey && (!j.generic || j.ints != nil) {
			if v, ok = d.(int64); !ok {
				return 0, nil, false, pgerr.New(pgerr.InternalError, "hash join build key of type %T", d)
			}
		}
		if j.generic {
			key = appendKeyDatum(key, d)
		}
	}
	j.kbuf = key
	if !j.generic {
		key = nil
	}
	return v, key, true, nil
}

// headOf returns the last build row of probe row r's key, false when
// none has it or a key is NULL.
func (j *ColHashJoin) headOf(r int) (int32, bool) {
	if !j.generic {
		k, ok := intAt(j.keys[0], r)
		if !ok {
			return 0, false
		}
		h, found := j.heads[k]
		return h, found
	}
	buf := j.kbuf[:0]
	for _, v := range j.keys {
		if v.IsNull(r) {
			return 0, false
		}
		buf = codec.AppendVecKey(buf, v, r)
	}
	j.kbuf = buf
	h, found := j.sheads[string(buf)]
	return h, found
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
// or full join's unmatched ones with NULL build columns; nil for none.
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
	case JoinLeft, JoinFull:
		out := j.out
		out.Reset()
		n := 0
		for _, r := range in.Sel {
			if j.matched[r] {
				continue
			}
			for c := 0; c < j.probeW; c++ {
				out.Vecs[j.probeOff+c].CopyFrom(n, in.Vecs[c], r)
			}
			for c := 0; c < j.buildW; c++ {
				out.Vecs[j.buildOff+c].SetNull(n)
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
	j.chunks, j.heads, j.sheads, j.ints, j.next, j.in = nil, nil, nil, nil, nil, nil
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
