package session

import (
	"sort"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// windows computes the block's window functions over all its rows and
// appends their values to each row (in the block's order of windows).
func (b *blockRun) windows(rows [][]types.Datum) ([][]types.Datum, error) {
	ws := b.sel.Windows
	out := make([][]types.Datum, len(rows))
	for i, r := range rows {
		out[i] = append(append(make([]types.Datum, 0, len(r)+len(ws)), r...), make([]types.Datum, len(ws))...)
	}
	if len(rows) == 0 {
		return out, nil
	}
	width := len(rows[0])
	for wi, w := range ws {
		vals, err := b.window(w, rows)
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			out[i][width+wi] = v
		}
	}
	return out, nil
}

type winRow struct {
	idx  int
	part string
	ord  []types.Datum
}

// window computes one window function's value for every row.
func (b *blockRun) window(w *planner.WindowFunc, rows [][]types.Datum) ([]types.Datum, error) {
	parts, err := b.compileAll(w.PartitionBy)
	if err != nil {
		return nil, err
	}
	ords := make([]expr.Eval, len(w.OrderBy))
	keys := make([]planner.SortKey, len(w.OrderBy))
	for i, o := range w.OrderBy {
		if ords[i], err = b.compile(o.Expr); err != nil {
			return nil, err
		}
		keys[i] = planner.SortKey{Col: i, Desc: o.Desc, NullsFirst: o.NullsFirst}
	}
	args, err := b.compileAll(w.Args)
	if err != nil {
		return nil, err
	}
	items := make([]winRow, len(rows))
	for i, r := range rows {
		it := winRow{idx: i}
		pv := make([]types.Datum, len(parts))
		for k, p := range parts {
			if pv[k], err = p(r); err != nil {
				return nil, err
			}
		}
		it.part = rowKey(pv)
		it.ord = make([]types.Datum, len(ords))
		for k, o := range ords {
			if it.ord[k], err = o(r); err != nil {
				return nil, err
			}
		}
		items[i] = it
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].part != items[j].part {
			return items[i].part < items[j].part
		}
		return less(keys, items[i].ord, items[j].ord)
	})
	vals := make([]types.Datum, len(rows))
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].part == items[lo].part {
			hi++
		}
		if err := b.partition(w, keys, args, rows, items[lo:hi], vals); err != nil {
			return nil, err
		}
		lo = hi
	}
	return vals, nil
}

// partition computes a window function over one partition's rows (in
// window order), writing vals by original row index.
func (b *blockRun) partition(w *planner.WindowFunc, keys []planner.SortKey, args []expr.Eval, rows [][]types.Datum, p []winRow, vals []types.Datum) error {
	n := len(p)
	// Peer groups: rows with equal ORDER BY keys.
	first, last := make([]int, n), make([]int, n)
	group := make([]int, n)
	for i := 0; i < n; i++ {
		if i > 0 && !less(keys, p[i-1].ord, p[i].ord) && !less(keys, p[i].ord, p[i-1].ord) {
			first[i], group[i] = first[i-1], group[i-1]
		} else {
			first[i] = i
			if i > 0 {
				group[i] = group[i-1] + 1
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
	arg := func(k, i int) (types.Datum, error) { return args[k](rows[p[i].idx]) }
	set := func(i int, v types.Datum) { vals[p[i].idx] = v }
	switch w.Func {
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
			set(i, int64(group[i]+1))
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
			if len(args) > 1 {
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
			if w.Func == "lag" {
				off = -off
			}
			t := int64(i) + off
			var v types.Datum
			var err error
			switch {
			case t >= 0 && t < int64(n):
				v, err = arg(0, int(t))
			case len(args) == 3:
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
	startOff, endOff, err := b.frameOffsets(w.Frame)
	if err != nil {
		return err
	}
	frame := func(i int) (int, int) {
		f := w.Frame
		var s, e int
		switch f.Start {
		case planner.UnboundedPreceding:
			s = 0
		case planner.OffsetPreceding:
			s = i - int(startOff)
		case planner.CurrentRow:
			s = i
			if !f.Rows {
				s = first[i]
			}
		case planner.OffsetFollowing:
			s = i + int(startOff)
		}
		switch f.End {
		case planner.UnboundedFollowing:
			e = n - 1
		case planner.OffsetFollowing:
			e = i + int(endOff)
		case planner.CurrentRow:
			e = i
			if !f.Rows {
				e = last[i]
			}
		case planner.OffsetPreceding:
			e = i - int(endOff)
		}
		return max(s, 0), min(e, n-1)
	}
	if w.Agg == nil {
		for i := range p {
			s, e := frame(i)
			var v types.Datum
			var err error
			switch w.Func {
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
			}
			if err != nil {
				return err
			}
			set(i, v)
		}
		return nil
	}
	spec := agg.Spec{Func: w.Agg.Func, Type: w.Agg.Type}
	if w.Agg.Arg != nil {
		spec.ArgType = w.Agg.Arg.TypeOid
	}
	add := func(acc agg.Acc, j int) error {
		var v types.Datum = true // count(*)
		if len(args) > 0 {
			var err error
			if v, err = arg(0, j); err != nil {
				return err
			}
		}
		return acc.Add(v)
	}
	// Frames that start at the partition's start only grow: one running
	// accumulator serves them; others are aggregated row by row.
	running := w.Frame.Start == planner.UnboundedPreceding
	acc, added := agg.New(spec), 0
	for i := range p {
		s, e := frame(i)
		if !running {
			acc, added = agg.New(spec), s
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

// frameOffsets evaluates a ROWS frame's offsets.
func (b *blockRun) frameOffsets(f planner.Frame) (start, end int64, err error) {
	eval := func(e *planner.Expr, which string) (int64, error) {
		if e == nil {
			return 0, nil
		}
		ev, err := b.compile(e)
		if err != nil {
			return 0, err
		}
		v, err := ev(nil)
		if err != nil {
			return 0, err
		}
		if v == nil {
			return 0, pgerr.New("22004", "frame %s offset must not be null", which)
		}
		if v.(int64) < 0 {
			return 0, pgerr.New("22013", "frame %s offset must not be negative", which)
		}
		return v.(int64), nil
	}
	if start, err = eval(f.StartOffset, "starting"); err != nil {
		return 0, 0, err
	}
	end, err = eval(f.EndOffs, "ending")
	return start, end, err
}
