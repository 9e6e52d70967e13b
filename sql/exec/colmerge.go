package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/coldata"
)

// ColMerge is the vectorized form of Merge: it merges sources of column
// batches, each sorted by the same keys, into one sorted stream of
// batches (the coordinator's merging receive under an ORDER BY). Each
// row is copied from its source's batch into the output batch by column;
// ties go to the earlier source, as in Merge.
type ColMerge struct {
	ins   []ColSource
	ord   []order
	types []uint32
	h     cursorHeap[*colCursor]
	out   *coldata.Batch
	open  int // sources opened, for Close
}

var _ ColSource = (*ColMerge)(nil)

// NewColMerge returns the merge of sources sorted by the given columns.
func NewColMerge(ins []ColSource, cols []int, desc, nullsFirst []bool) *ColMerge {
	ord := make([]order, len(cols))
	for i, c := range cols {
		ord[i] = order{col: c, desc: desc[i], nullsFirst: nullsFirst[i]}
	}
	m := &ColMerge{ins: ins, ord: ord}
	if len(ins) > 0 {
		m.types = ins[0].Types()
	}
	return m
}

func (m *ColMerge) Types() []uint32 { return m.types }

// Vectorized reports the merge ran on column batches (EXPLAIN ANALYZE).
func (m *ColMerge) Vectorized() bool { return true }

type colCursor struct {
	in  ColSource
	idx int // the source's place: ties go to the earlier source
	b   *coldata.Batch
	pos int // into b.Sel
}

// row is the batch row the cursor is at.
func (c *colCursor) row() int { return c.b.Sel[c.pos] }

// fill reads the source's next batch with rows; false at its end.
func (c *colCursor) fill(ctx context.Context) (bool, error) {
	for {
		b, err := c.in.Next(ctx)
		if err != nil || b == nil {
			return false, err
		}
		if len(b.Sel) > 0 {
			c.b, c.pos = b, 0
			return true, nil
		}
	}
}

// compareVecRows orders row i of a and row j of b by keys, as
// compareRows orders rows.
func compareVecRows(keys []order, a []*coldata.Vec, i int, b []*coldata.Vec, j int) int {
	for _, k := range keys {
		x, y := a[k.col], b[k.col]
		xn, yn := x.IsNull(i), y.IsNull(j)
		var c int
		switch {
		case xn && yn:
			continue
		case xn:
			c = 1
			if k.nullsFirst {
				c = -1
			}
			return c
		case yn:
			c = -1
			if k.nullsFirst {
				c = 1
			}
			return c
		}
		c = compareVecValues(x, i, y, j)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func (m *ColMerge) Open(ctx context.Context) error {
	m.h = cursorHeap[*colCursor]{
		less: func(a, b *colCursor) bool {
			if c := compareVecRows(m.ord, a.b.Vecs, a.row(), b.b.Vecs, b.row()); c != 0 {
				return c < 0
			}
			return a.idx < b.idx
		},
		fill: (*colCursor).fill,
	}
	for _, in := range m.ins {
		if err := in.Open(ctx); err != nil {
			return err
		}
		m.open++
	}
	cs := make([]*colCursor, len(m.ins))
	for i, in := range m.ins {
		cs[i] = &colCursor{in: in, idx: i}
	}
	m.out = coldata.NewBatch(m.types)
	return m.h.start(ctx, cs)
}

func (m *ColMerge) Next(ctx context.Context) (*coldata.Batch, error) {
	out := m.out
	out.Reset()
	for m.h.Len() > 0 && out.N < coldata.BatchSize {
		c := m.h.cs[0]
		if err := copyRow(out, 0, out.N, c.b, c.row()); err != nil {
			return nil, err
		}
		out.N++
		c.pos++
		// The row is copied: the source may reuse its batch.
		if err := m.h.advance(ctx, c.pos == len(c.b.Sel)); err != nil {
			return nil, err
		}
	}
	if out.N == 0 {
		return nil, nil
	}
	out.SelectAll(out.N)
	return out, nil
}

func (m *ColMerge) Close() {
	for _, in := range m.ins[:m.open] {
		in.Close()
	}
	m.open = 0
	m.h.cs = nil
}
