package exec

import (
	"context"
	"slices"

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

// Window computes window functions over all of its input and appends
// one column per function to each row, in input order. It holds its
// input in memory.
type Window struct {
	input Operator
	fns   []WindowFn
	env   *Env
	st    *Stats
	out   *Rows
	mem   *memory
}

var _ Operator = (*Window)(nil)

// NewWindow returns input with the values of fns appended.
func NewWindow(env *Env, st *Stats, input Operator, fns []WindowFn) *Window {
	return &Window{input: input, fns: fns, env: env, st: st}
}

func (w *Window) Open(ctx context.Context) error {
	if err := w.input.Open(ctx); err != nil {
		return err
	}
	w.mem = newMemory(w.env, w.st)
	mem := w.mem
	var rows []Row
	for {
		b, err := w.input.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, r := range b.Rows {
			if !mem.grow(rowSize(r)) && mem.short {
				return mem.outOfMemory("a window function's rows")
			}
			rows = append(rows, r)
		}
	}
	w.input.Close()
	w.input = nil
	out := make([]Row, len(rows))
	for i, r := range rows {
		x := make(Row, len(r), len(r)+len(w.fns))
		copy(x, r)
		out[i] = x
	}
	for _, fn := range w.fns {
		vals, err := windowValues(ctx, &fn, rows)
		if err != nil {
			return err
		}
		for i, v := range vals {
			out[i] = append(out[i], v)
		}
	}
	w.out = NewRows(out)
	return nil
}

func (w *Window) Next(ctx context.Context) (*Batch, error) { return w.out.Next(ctx) }

func (w *Window) Close() {
	w.mem.release()
	if w.input != nil {
		w.input.Close()
	}
	w.out = nil
}

type winRow struct {
	idx  int
	part []byte
	ord  Row
}

// windowValues computes one window function's value for every row.
func windowValues(ctx context.Context, fn *WindowFn, rows []Row) ([]types.Datum, error) {
	ord := make([]order, len(fn.OrderBy))
	for i, o := range fn.OrderBy {
		ord[i] = order{col: i, desc: o.Desc, nullsFirst: o.NullsFirst}
	}
	items := make([]winRow, len(rows))
	pv := make([]types.Datum, len(fn.PartitionBy))
	for i, r := range rows {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		it := winRow{idx: i}
		for k, p := range fn.PartitionBy {
			v, err := p(r)
			if err != nil {
				return nil, err
			}
			pv[k] = v
		}
		it.part, _ = appendRowKey(nil, pv)
		it.ord = make(Row, len(fn.OrderBy))
		for k, o := range fn.OrderBy {
			v, err := o.Eval(r)
			if err != nil {
				return nil, err
			}
			it.ord[k] = v
		}
		items[i] = it
	}
	slices.SortStableFunc(items, func(a, b winRow) int {
		if c := compareBytes(a.part, b.part); c != 0 {
			return c
		}
		return compareRows(ord, a.ord, b.ord)
	})
	vals := make([]types.Datum, len(rows))
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && compareBytes(items[hi].part, items[lo].part) == 0 {
			hi++
		}
		if err := windowPartition(fn, ord, rows, items[lo:hi], vals); err != nil {
			return nil, err
		}
		lo = hi
	}
	return vals, nil
}

func compareBytes(a, b []byte) int {
	return slices.Compare(a, b)
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
	// accumulator serves them; others are aggregated row by row.
	running := f.Start == UnboundedPreceding
	acc, added := agg.New(*fn.Agg), 0
	for i := range p {
		s, e := frame(i)
		if !running {
			acc, added = agg.New(*fn.Agg), s
		}
		for ; added <= e; added++ {
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
