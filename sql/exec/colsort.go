package exec

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"slices"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// ColSort is Sort over column batches, with or without a limit (top-N).
// Each input row's ORDER BY values are encoded into one byte string whose
// bytewise order is the sort order (appendSortKey); the rows are kept by
// column in chunks of BatchSize, and their numbers are sorted by those
// strings, then gathered into output batches. With a limit it holds at
// most about twice limit rows, cutting back to the first limit rows
// whenever it holds more or reaches its memory budget; from the first
// cut on, a row whose key does not come before the last one kept is
// dropped before its values are copied. Past its budget, a sort without
// a limit sorts the rows it holds and writes them, each with its key, to
// a run on disk, and at the end merges the runs and the rows it holds by
// their keys (external sort); a top-N whose limit's rows alone pass the
// budget hands the rows it holds and the rest of its input to the row
// Sort.
type ColSort struct {
	env   *Env
	st    *Stats
	in    ColSource
	types []uint32
	exprs []colexpr.Expr // the ORDER BY expressions over the input
	keys  []SortKey      // their order, and the row Sort's keys for a handover
	limit int64
	mem   *memory

	oids   []uint32         // the input vectors' types (0: datums), as the first batch has them
	chunks []*coldata.Batch // row r is row r%BatchSize of chunks[r/BatchSize]
	n      int              // rows stored
	kbuf   []byte           // the rows' sort keys, one after another
	kend   []int            // row r's key is kbuf[kend[r-1]:kend[r]]
	sorted []int32          // the rows in order, once the input is read
	worst  []byte           // a top-N's last key kept at its last cut: rows not before it are not kept
	pos    int              // the next of sorted to emit
	out    *coldata.Batch
	rowOut ColSource    // after a handover or a spill: the rows of the row Sort or of the merge, by column
	runs   []*spillFile // sorted runs spilled
	seq    int64        // the input rows before those stored (in runs)
	vecs   []*coldata.Vec
}

var _ ColSource = (*ColSort)(nil)

// NewColSort returns in ordered by exprs (evaluated on its batches) in the
// order keys give; limit > 0 keeps the first limit rows. keys' Eval are
// the same expressions compiled for rows, used if the sort hands over to
// the row Sort.
func NewColSort(env *Env, st *Stats, in ColSource, exprs []colexpr.Expr, keys []SortKey, limit int64) *ColSort {
	if st != nil {
		st.Vectorized = true
	}
	return &ColSort{env: env, st: st, in: in, types: in.Types(), exprs: exprs, keys: keys, limit: limit, mem: newMemory(env, st)}
}

func (s *ColSort) Types() []uint32 { return s.types }

// appendSortKey appends the sort key of row i of v under k: a byte that
// puts a NULL before (0x00) or after (0x02) every value (0x01), then the
// value's order-preserving, prefix-free key encoding (codec.AppendVecKey),
// its bytes inverted for DESC — which reverses the order of prefix-free
// strings, so the keys of several columns may follow one another.
func appendSortKey(buf []byte, v *coldata.Vec, i int, k SortKey) []byte {
	if v.IsNull(i) {
		if k.NullsFirst {
			return append(buf, 0x00)
		}
		return append(buf, 0x02)
	}
	buf = append(buf, 0x01)
	n := len(buf)
	buf = codec.AppendVecKey(buf, v, i)
	if k.Desc {
		for j := n; j < len(buf); j++ {
			buf[j] = ^buf[j]
		}
	}
	return buf
}

func (s *ColSort) Open(ctx context.Context) error {
	if err := s.in.Open(ctx); err != nil {
		return err
	}
	for {
		b, err := s.in.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		if len(b.Sel) == 0 {
			continue
		}
		if s.oids == nil {
			// The vectors' kinds, which are not always their SQL types'
			// (an expression evaluated row by row gives datums).
			for _, v := range b.Vecs {
				s.oids = append(s.oids, v.Oid)
			}
		}
		s.vecs = s.vecs[:0]
		for _, e := range s.exprs {
			v, err := e.Eval(b)
			if err != nil {
				return err
			}
			s.vecs = append(s.vecs, v)
		}
		for si, i := range b.Sel {
			from := len(s.kbuf)
			for k, v := range s.vecs {
				s.kbuf = appendSortKey(s.kbuf, v, i, s.keys[k])
			}
			if s.worst != nil && bytes.Compare(s.kbuf[from:], s.worst) >= 0 {
				// A top-N's row after its limit's rows so far (a tie
				// too: those came first).
				s.kbuf = s.kbuf[:from]
				continue
			}
			s.kend = append(s.kend, len(s.kbuf))
			size, err := s.store(b.Vecs, i)
			if err != nil {
				return err
			}
			within := s.mem.grow(size + int64(len(s.kbuf)-from))
			if s.limit > 0 && (int64(s.n) >= 2*s.limit+coldata.BatchSize || !within && int64(s.n) > s.limit) {
				within = s.cut()
			}
			if !within {
				if s.limit > 0 {
					return s.handOver(ctx, b, b.Sel[si+1:])
				}
				if err := s.spillRun(); err != nil {
					return err
				}
			}
		}
	}
	s.in.Close()
	s.in = nil
	s.sort()
	if len(s.runs) > 0 {
		return s.mergeRuns(ctx)
	}
	if s.limit > 0 && int64(len(s.sorted)) > s.limit {
		s.sorted = s.sorted[:s.limit]
	}
	s.out = coldata.NewBatch(s.oids)
	return nil
}

// copyValue stores row j of src at row i of dst, vectors of one SQL type
// whose kinds may differ (one holding datums).
func copyValue(dst *coldata.Vec, i int, src *coldata.Vec, j int) error {
	if dst.Kind == src.Kind {
		dst.CopyFrom(i, src, j)
		return nil
	}
	if d := src.Datum(j); !dst.Put(i, d) {
		return pgerr.New(pgerr.InternalError, "sort: a %T in a vector of type %d", d, dst.Oid)
	}
	return nil
}

// vecValueSize estimates the bytes row i of v holds, as rowSize counts a
// datum: a fixed 16, plus a string's bytes.
func vecValueSize(v *coldata.Vec, i int) int64 {
	if v.Kind == coldata.Str && !v.IsNull(i) {
		return 16 + int64(len(v.S[i]))
	}
	return 16
}

// key returns row r's sort key.
func (s *ColSort) key(r int32) []byte {
	from := 0
	if r > 0 {
		from = s.kend[r-1]
	}
	return s.kbuf[from:s.kend[r]]
}

// sort orders the rows stored into s.sorted, ties in input order. A row
// is sorted with its key's first two bytes (the first key's NULL marker
// and type tag) and the next eight (the start of its value) as integers,
// which decide most comparisons, then the whole key, then the row's
// number (so an unstable sort gives the stable order).
func (s *ColSort) sort() {
	type ent struct {
		pre      uint64
		head     uint16
		r        int32
		from, to int32
	}
	ents := make([]ent, s.n)
	from := 0
	for i := range ents {
		k := s.kbuf[from:s.kend[i]]
		var b [10]byte
		copy(b[:], k)
		ents[i] = ent{pre: binary.BigEndian.Uint64(b[2:]), head: binary.BigEndian.Uint16(b[:2]), r: int32(i), from: int32(from), to: int32(s.kend[i])}
		from = s.kend[i]
	}
	slices.SortFunc(ents, func(a, b ent) int {
		if a.head != b.head {
			return cmp.Compare(a.head, b.head)
		}
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		if c := bytes.Compare(s.kbuf[a.from:a.to], s.kbuf[b.from:b.to]); c != 0 {
			return c
		}
		return cmp.Compare(a.r, b.r)
	})
	s.sorted = slices.Grow(s.sorted[:0], s.n)[:s.n]
	for i, e := range ents {
		s.sorted[i] = e.r
	}
}

// cut keeps only the first limit rows stored (a top-N's), in order, and
// frees what the others held. It reports whether those rows are within
// the budget.
func (s *ColSort) cut() bool {
	s.sort()
	keep := s.sorted[:s.limit]
	chunks, kbuf, kend := s.chunks, s.kbuf, s.kend
	s.chunks, s.kbuf, s.kend, s.n = nil, nil, nil, 0
	s.mem.release()
	var size int64
	for _, r := range keep {
		from := 0
		if r > 0 {
			from = kend[r-1]
		}
		s.kbuf = append(s.kbuf, kbuf[from:kend[r]]...)
		s.kend = append(s.kend, len(s.kbuf))
		n, _ := s.store(chunks[r/coldata.BatchSize].Vecs, int(r%coldata.BatchSize)) // vectors of the kinds stored: no error
		size += n + int64(kend[r]-from)
	}
	if s.n > 0 {
		s.worst = append(s.worst[:0], s.key(int32(s.n-1))...)
	}
	return s.mem.grow(size)
}

// store appends row i of vecs to the chunks (its key is the caller's to
// append) and returns the bytes it counts for the row's values, number
// and key offset.
func (s *ColSort) store(vecs []*coldata.Vec, i int) (int64, error) {
	at := s.n % coldata.BatchSize
	if at == 0 {
		s.chunks = append(s.chunks, coldata.NewBatch(s.oids))
	}
	ch := s.chunks[len(s.chunks)-1]
	size := int64(24)
	for c, v := range vecs {
		if err := copyValue(ch.Vecs[c], at, v, i); err != nil {
			return 0, err
		}
		size += vecValueSize(v, i)
	}
	ch.N = at + 1
	s.n++
	return size, nil
}

// runRow returns the k-th row stored in order, as a run holds it: its
// values, then its key followed by its row number in the input (the ties'
// order, and no two keys equal).
func (s *ColSort) runRow(k int) Row {
	r := s.sorted[k]
	src, j := s.chunks[r/coldata.BatchSize], int(r%coldata.BatchSize)
	row := make(Row, len(src.Vecs)+1)
	for c, v := range src.Vecs {
		row[c] = v.Datum(j)
	}
	key := append(make([]byte, 0, len(s.key(r))+8), s.key(r)...)
	row[len(src.Vecs)] = binary.BigEndian.AppendUint64(key, uint64(s.seq+int64(r)))
	return row
}

// runTypes are a run's columns: the input's, then the key.
func (s *ColSort) runTypes() []uint32 { return append(slices.Clone(s.types), types.Bytea) }

// spillRun sorts the rows stored, writes them to a new run and frees
// them (an external sort's run, for a sort without a limit).
func (s *ColSort) spillRun() error {
	s.sort()
	f, err := newSpillFile(s.env, s.runTypes(), s.st)
	if err != nil {
		return err
	}
	s.runs = append(s.runs, f)
	for k := range s.sorted {
		if err := f.write(s.runRow(k)); err != nil {
			return err
		}
	}
	s.seq += int64(s.n)
	s.chunks, s.kbuf, s.kend, s.sorted, s.n = nil, nil, nil, nil, 0
	s.mem.release()
	return nil
}

// mergeRuns merges the runs and the rows stored (sorted) by their keys.
func (s *ColSort) mergeRuns(ctx context.Context) error {
	ins := []Operator{&memRun{s: s}}
	for _, f := range s.runs {
		ins = append(ins, &spillOp{f: f})
	}
	s.runs = nil
	merged := &stripOp{in: NewMerge(ins, []order{{col: len(s.types)}}), width: len(s.types)}
	s.rowOut = &columnarizer{in: merged, types: s.types}
	return s.rowOut.Open(ctx)
}

// memRun reads the rows a ColSort holds as a run, in order.
type memRun struct {
	s *ColSort
	k int
}

func (m *memRun) Open(context.Context) error { return nil }

func (m *memRun) Next(ctx context.Context) (*Batch, error) {
	n := min(len(m.s.sorted)-m.k, BatchSize)
	if n <= 0 {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = m.s.runRow(m.k + i)
	}
	m.k += n
	return &Batch{Rows: rows}, nil
}

func (m *memRun) Close() {}

// handOver gives the sort to the row Sort: its input is the rows stored so
// far, then the current batch's rows not stored (rest, among b's live
// rows), then the input's other batches.
func (s *ColSort) handOver(ctx context.Context, b *coldata.Batch, rest []int) error {
	if s.st != nil {
		s.st.Vectorized = false // EXPLAIN ANALYZE: the row sort ran
	}
	b.Sel = rest
	tail := codec.AppendRows(nil, b)
	replay := &replayOp{chunks: s.chunks, rest: tail, in: &colToRows{src: s.in}}
	s.chunks, s.kbuf, s.kend, s.in = nil, nil, nil, nil
	s.mem.release()
	s.rowOut = &columnarizer{in: NewSort(s.env, s.st, replay, s.types, s.keys, s.limit), types: s.types}
	return s.rowOut.Open(ctx)
}

func (s *ColSort) Next(ctx context.Context) (*coldata.Batch, error) {
	if s.rowOut != nil {
		return s.rowOut.Next(ctx)
	}
	if s.out == nil || s.pos >= len(s.sorted) {
		return nil, nil
	}
	s.out.Reset()
	n := min(len(s.sorted)-s.pos, coldata.BatchSize)
	for at, r := range s.sorted[s.pos : s.pos+n] {
		src, j := s.chunks[r/coldata.BatchSize], int(r%coldata.BatchSize)
		for c, v := range src.Vecs {
			s.out.Vecs[c].CopyFrom(at, v, j)
		}
	}
	s.pos += n
	s.out.SelectAll(n)
	return s.out, nil
}

func (s *ColSort) Close() {
	s.mem.release()
	if s.in != nil {
		s.in.Close()
		s.in = nil
	}
	if s.rowOut != nil {
		s.rowOut.Close()
		s.rowOut = nil
	}
	for _, f := range s.runs {
		f.close()
	}
	s.chunks, s.kbuf, s.kend, s.sorted, s.runs = nil, nil, nil, nil, nil
}
