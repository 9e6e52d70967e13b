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
	part  []colexpr.Expr
	ord   []colexpr.Expr
	types []uint32 // the input's, then one per function

	// The last row's partition and ORDER BY values (one row each).
	prevPart, prevOrd []*coldata.Vec
	started           bool
	rowNum, rank      int64
	dense             int64

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
	return f.Agg != nil && !f.Agg.Distinct && knownAgg(f.Agg.Func) && len(f.Args) <= 1 && fr != nil && fr.Rows &&
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
	for _, p := range fns[0].PartitionBy {
		x, err := c.Compile(p)
		if err != nil {
			return fail(err)
		}
		w.part = append(w.part, x)
	}
	for _, o := range fns[0].OrderBy {
		x, err := c.Compile(o.Expr)
		if err != nil {
			return fail(err)
		}
		w.ord = append(w.ord, x)
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
	pk, err := evalAll(w.part, b)
	if err != nil {
		return nil, err
	}
	ok, err := evalAll(w.ord, b)
	if err != nil {
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
		newPart, newPeer := !w.started, !w.started
		if w.started {
			if prev < 0 {
				newPart = !sameVecKeys(pk, r, w.prevPart, 0)
				newPeer = newPart || !sameVecKeys(ok, r, w.prevOrd, 0)
			} else {
				newPart = !sameVecKeys(pk, r, pk, prev)
				newPeer = newPart || !sameVecKeys(ok, r, ok, prev)
			}
		}
		w.started = true
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
		w.prevPart = keepRow(w.prevPart, pk, prev)
		w.prevOrd = keepRow(w.prevOrd, ok, prev)
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
