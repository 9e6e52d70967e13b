package exec

import (
	"container/heap"
	"context"
)

// Merge merges inputs that are each sorted by ord into one sorted stream.
type Merge struct {
	inputs []Operator
	ord    []order
	h      mergeHeap
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

type mergeHeap struct {
	cs  []*mergeCursor
	ord []order
}

func (h *mergeHeap) Len() int { return len(h.cs) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.cs[i], h.cs[j]
	if c := compareRows(h.ord, a.rows[a.pos], b.rows[b.pos]); c != 0 {
		return c < 0
	}
	return a.idx < b.idx
}
func (h *mergeHeap) Swap(i, j int) { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *mergeHeap) Push(x any)    { h.cs = append(h.cs, x.(*mergeCursor)) }
func (h *mergeHeap) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
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
	m.h.ord = m.ord
	for _, in := range m.inputs {
		if err := in.Open(ctx); err != nil {
			return err
		}
	}
	m.opened = true
	for i, in := range m.inputs {
		c := &mergeCursor{in: in, idx: i}
		ok, err := c.fill(ctx)
		if err != nil {
			return err
		}
		if ok {
			m.h.cs = append(m.h.cs, c)
		}
	}
	heap.Init(&m.h)
	return nil
}

func (m *Merge) Next(ctx context.Context) (*Batch, error) {
	var out rowBuffer
	for m.h.Len() > 0 && !out.full() {
		c := m.h.cs[0]
		out.add(c.rows[c.pos])
		c.pos++
		if c.pos == len(c.rows) {
			ok, err := c.fill(ctx)
			if err != nil {
				return nil, err
			}
			if !ok {
				heap.Pop(&m.h)
				continue
			}
		}
		heap.Fix(&m.h, 0)
	}
	return out.take(), nil
}

func (m *Merge) Close() {
	for _, in := range m.inputs {
		in.Close()
	}
}
