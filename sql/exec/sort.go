package exec

import (
	"container/heap"
	"context"
	"slices"

	"github.com/meridian-db/meridian/sql/expr"
)

// SortKey is a compiled ORDER BY key.
type SortKey struct {
	Eval       expr.Eval
	Type       uint32 // the key's type OID (for spill files)
	Desc       bool
	NullsFirst bool
}

// Sort orders its input by keys. With a limit it keeps only the first
// limit rows (top-N, in a bounded heap). Without one it sorts in memory
// up to its budget, then writes sorted runs to spill files and merges
// them (external sort).
type Sort struct {
	input Operator
	keys  []SortKey
	limit int64
	env   *Env
	st    *Stats
	oids  []uint32 // input columns, then key values

	width  int     // input row width
	ord    []order // over the extended rows
	mem    *memory
	rows   []Row // extended rows: input ++ key values
	runs   []*spillFile
	out    Operator
	closed bool
}

var _ Operator = (*Sort)(nil)

// NewSort returns input ordered by keys; limit > 0 keeps the first limit
// rows. inputTypes are the input's column types.
func NewSort(env *Env, st *Stats, input Operator, inputTypes []uint32, keys []SortKey, limit int64) *Sort {
	s := &Sort{input: input, keys: keys, limit: limit, env: env, st: st, width: len(inputTypes)}
	s.oids = append(append([]uint32(nil), inputTypes...), make([]uint32, len(keys))...)
	for i, k := range keys {
		s.oids[len(inputTypes)+i] = k.Type
		s.ord = append(s.ord, order{col: len(inputTypes) + i, desc: k.Desc, nullsFirst: k.NullsFirst})
	}
	s.mem = newMemory(env, st)
	return s
}

func (s *Sort) Open(ctx context.Context) error {
	if err := s.input.Open(ctx); err != nil {
		return err
	}
	var err error
	if s.limit > 0 && s.limit <= topNMax {
		err = s.topN(ctx)
	} else {
		err = s.sortAll(ctx)
	}
	s.input.Close()
	s.input = nil
	return err
}

// topNMax is the largest limit kept in a heap; larger ones sort fully.
const topNMax = 1 << 16

func (s *Sort) extend(r Row) (Row, error) {
	x := make(Row, s.width+len(s.keys))
	copy(x, r)
	for i, k := range s.keys {
		v, err := k.Eval(r)
		if err != nil {
			return nil, err
		}
		x[s.width+i] = v
	}
	return x, nil
}

// rowHeap is a max-heap (by the sort order) of the best rows so far.
type rowHeap struct {
	rows []Row
	ord  []order
}

func (h *rowHeap) Len() int           { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool { return compareRows(h.ord, h.rows[i], h.rows[j]) > 0 }
func (h *rowHeap) Swap(i, j int)      { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *rowHeap) Push(x any)         { h.rows = append(h.rows, x.(Row)) }
func (h *rowHeap) Pop() any {
	r := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return r
}

func (s *Sort) topN(ctx context.Context) error {
	h := &rowHeap{ord: s.ord}
	for {
		b, err := s.input.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, r := range b.Rows {
			x, err := s.extend(r)
			if err != nil {
				return err
			}
			if int64(h.Len()) < s.limit {
				heap.Push(h, x)
				s.mem.grow(rowSize(x))
				continue
			}
			if compareRows(s.ord, x, h.rows[0]) < 0 {
				h.rows[0] = x
				heap.Fix(h, 0)
			}
		}
	}
	rows := h.rows
	sortRows(rows, s.ord)
	s.out = &stripOp{in: NewRows(rows), width: s.width}
	return nil
}

func (s *Sort) sortAll(ctx context.Context) error {
	for {
		b, err := s.input.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, r := range b.Rows {
			x, err := s.extend(r)
			if err != nil {
				return err
			}
			s.rows = append(s.rows, x)
			if !s.mem.grow(rowSize(x)) {
				if err := s.spillRun(); err != nil {
					return err
				}
			}
		}
	}
	sortRows(s.rows, s.ord)
	var out Operator = NewRows(s.rows)
	if len(s.runs) > 0 {
		// The runs in input order, then the rows held: a stable merge
		// keeps ties in input order.
		var ins []Operator
		for _, f := range s.runs {
			ins = append(ins, &spillOp{f: f})
		}
		s.runs = nil
		out = NewMerge(append(ins, out), s.ord)
	}
	if s.limit > 0 {
		out = NewLimit(out, s.limit, 0)
	}
	s.out = &stripOp{in: out, width: s.width}
	return s.out.Open(ctx)
}

// spillRun sorts the rows in memory and writes them to a new run.
func (s *Sort) spillRun() error {
	sortRows(s.rows, s.ord)
	f, err := newSpillFile(s.env, s.oids, s.st)
	if err != nil {
		return err
	}
	s.runs = append(s.runs, f)
	for _, r := range s.rows {
		if err := f.write(r); err != nil {
			return err
		}
	}
	clear(s.rows)
	s.rows = s.rows[:0]
	s.mem.release()
	return nil
}

func (s *Sort) Next(ctx context.Context) (*Batch, error) {
	if s.out == nil {
		return nil, nil
	}
	return s.out.Next(ctx)
}

func (s *Sort) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.mem.release()
	if s.input != nil {
		s.input.Close()
	}
	if s.out != nil {
		s.out.Close()
	}
	for _, f := range s.runs {
		f.close()
	}
	s.rows = nil
}

// stripOp cuts rows to their first width columns.
type stripOp struct {
	in    Operator
	width int
}

func (s *stripOp) Open(ctx context.Context) error { return s.in.Open(ctx) }

func (s *stripOp) Next(ctx context.Context) (*Batch, error) {
	b, err := s.in.Next(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	out := make([]Row, len(b.Rows))
	for i, r := range b.Rows {
		out[i] = r[:s.width:s.width]
	}
	return &Batch{Rows: out}, nil
}

func (s *stripOp) Close() { s.in.Close() }

// sortRows sorts rows by ord, rows that compare equal in the order they
// came (a stable sort). It sorts with pdqsort, the position breaking
// ties: the stable sort of package slices merges in place, in
// O(n log² n) comparisons, 3-4 times as many for a million rows.
func sortRows(rows []Row, ord []order) {
	type item struct {
		r Row
		i int
	}
	items := make([]item, len(rows))
	for i, r := range rows {
		items[i] = item{r, i}
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := compareRows(ord, a.r, b.r); c != 0 {
			return c
		}
		return a.i - b.i
	})
	for i := range items {
		rows[i] = items[i].r
	}
}

// keyTypes lists sort keys' type OIDs.
func keyTypes(keys []SortKey) []uint32 {
	out := make([]uint32, len(keys))
	for i, k := range keys {
		out[i] = k.Type
	}
	return out
}
