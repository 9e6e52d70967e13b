package exec

import (
	"container/heap"
	"context"
)

// Merge merges inputs that are each sorted by ord into one sorted stream.
type Merge struct {
	inputs []Operator
	ord    []order
	h      cursorHeap[*mergeCursor]
	opened bool
}

var _ Operator = (*Merge)(nil)

// NewMerge returns the merge of sorted inputs.
func NewMerge(inputs []Operator, ord []order) *Merge {
	return &Merge{inputs: inputs, ord: ord}
}

// MergeKeys returns the merge of inputs sorted by the given columns.
func MergeKeys(inputs []Operator, cols []int, desc, nullsFirst []bool) *Merge {
	ord := make([]order, len(cols))
	for i, c := range cols {
		ord[i] = order{col: c, desc: desc[i], nullsFirst: nullsFirst[i]}
	}
	return NewMerge(inputs, ord)
}

type mergeCursor struct {
	in   Operator
	idx  int // the input's place: ties go to the earlier input (a stable merge)
	rows []Row
	pos  int
}

// cursorHeap orders the cursors of a k-way merge by their current rows
// (less), the least first; the merges share it.
type cursorHeap[C any] struct {
	cs   []C
	less func(a, b C) bool
	fill func(C, context.Context) (bool, error) // the cursor's next input batch; false at its end
}

func (h *cursorHeap[C]) Len() int           { return len(h.cs) }
func (h *cursorHeap[C]) Less(i, j int) bool { return h.less(h.cs[i], h.cs[j]) }
func (h *cursorHeap[C]) Swap(i, j int)      { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursorHeap[C]) Push(x any)         { h.cs = append(h.cs, x.(C)) }
func (h *cursorHeap[C]) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// start fills each cursor and heaps those with rows.
func (h *cursorHeap[C]) start(ctx context.Context, cs []C) error {
	for _, c := range cs {
		ok, err := h.fill(c, ctx)
		if err != nil {
			return err
		}
		if ok {
			h.cs = append(h.cs, c)
		}
	}
	heap.Init(h)
	return nil
}

// advance puts the least cursor, moved past its row, back in place;
// drained (its batch used up) refills it first, and drops it at the end
// of its input.
func (h *cursorHeap[C]) advance(ctx context.Context, drained bool) error {
	if drained {
		ok, err := h.fill(h.cs[0], ctx)
		if err != nil {
			return err
		}
		if !ok {
			heap.Pop(h)
			return nil
		}
	}
	if len(h.cs) > 1 {
		heap.Fix(h, 0)
	}
	return nil
}

// fill loads the cursor's next batch; false at its end.
func (c *mergeCursor) fill(ctx context.Context) (bool, error) {
	for {
		b, err := c.in.Next(ctx)
		if err != nil {
			return false, err
		}
		if b == nil {
			return false, nil
		}
		if len(b.Rows) > 0 {
			c.rows, c.pos = b.Rows, 0
			return true, nil
		}
	}
}

func (m *Merge) Open(ctx context.Context) error {
	m.h = cursorHeap[*mergeCursor]{
		less: func(a, b *mergeCursor) bool {
			if c := compareRows(m.ord, a.rows[a.pos], b.rows[b.pos]); c != 0 {
				return c < 0
			}
			return a.idx < b.idx
		},
		fill: (*mergeCursor).fill,
	}
	for _, in := range m.inputs {
		if err := in.Open(ctx); err != nil {
			return err
		}
	}
	m.opened = true
	cs := make([]*mergeCursor, len(m.inputs))
	for i, in := range m.inputs {
		cs[i] = &mergeCursor{in: in, idx: i}
	}
	return m.h.start(ctx, cs)
}

func (m *Merge) Next(ctx context.Context) (*Batch, error) {
	var out rowBuffer
	for m.h.Len() > 0 && !out.full() {
		c := m.h.cs[0]
		out.add(c.rows[c.pos])
		c.pos++
		if err := m.h.advance(ctx, c.pos == len(c.rows)); err != nil {
			return nil, err
		}
	}
	return out.take(), nil
}

func (m *Merge) Close() {
	for _, in := range m.inputs {
		in.Close()
	}
}
