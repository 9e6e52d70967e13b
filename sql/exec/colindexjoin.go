package exec

import (
	"context"
	"slices"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// ColIndexJoin is IndexJoin over column batches: the lookup keys are
// computed a batch at a time (sql/colexpr) and looked up together, in key
// order; a semi or anti join returns the outer batch with its selection
// cut to the rows it keeps, an inner or left join copies the outer rows'
// values and their inner rows into output batches. Only a residual
// condition sees rows of values.
type ColIndexJoin struct {
	outer    ColSource
	typ      JoinType
	keys     []colexpr.Expr
	lookup   IndexLookup
	residual expr.Eval
	ow, iw   int
	types    []uint32
	release  func()

	b         *coldata.Batch // the outer batch being joined
	kvecs     []*coldata.Vec
	batchKeys        // of b's live rows, by their places in b.Sel
	found     []bool // per live row of b
	orows     []Row  // the outer rows' values, for the residual (made when needed)
	scratch   Row

	matches []colMatch // inner and left joins: the output rows of b still to return
	out     *coldata.Batch
}

// colMatch is an output row of an inner or left index join: the outer
// row b.Sel[at]'s values, then in (nil: NULLs, a left join's unmatched row).
type colMatch struct {
	at int
	in Row
}

var _ ColSource = (*ColIndexJoin)(nil)

// NewColIndexJoin returns an index join of outer's batches with the rows
// lookup finds (iw columns each) for keys; its rows are of types (outer's
// columns, then for an inner or left join the inner rows').
func NewColIndexJoin(outer ColSource, typ JoinType, keys []colexpr.Expr, lookup IndexLookup, residual expr.Eval, iw int, types []uint32) *ColIndexJoin {
	return &ColIndexJoin{outer: outer, typ: typ, keys: keys, lookup: lookup, residual: residual,
		ow: len(outer.Types()), iw: iw, types: types}
}

func (j *ColIndexJoin) Types() []uint32                { return j.types }
func (j *ColIndexJoin) Open(ctx context.Context) error { return j.outer.Open(ctx) }

func (j *ColIndexJoin) Next(ctx context.Context) (*coldata.Batch, error) {
	for {
		if len(j.matches) > 0 {
			return j.emit()
		}
		b, err := j.outer.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		if err := j.probe(ctx, b); err != nil {
			return nil, err
		}
		if j.typ == JoinSemi || j.typ == JoinAnti {
			sel := b.Sel[:0]
			for at, i := range b.Sel {
				if j.found[at] == (j.typ == JoinSemi) {
					sel = append(sel, i)
				}
			}
			if b.Sel = sel; len(sel) > 0 {
				return b, nil
			}
			continue
		}
		if j.typ == JoinLeft {
			for at := range b.Sel {
				if !j.found[at] {
					j.matches = append(j.matches, colMatch{at: at})
				}
			}
		}
	}
}

// probe looks the keys of b's live rows up, in key order (the index is
// then read forward), and records which rows found inner rows (and, for
// inner and left joins, the rows they found).
func (j *ColIndexJoin) probe(ctx context.Context, b *coldata.Batch) error {
	j.b = b
	j.kvecs = j.kvecs[:0]
	for _, k := range j.keys {
		v, err := k.Eval(b)
		if err != nil {
			return err
		}
		j.kvecs = append(j.kvecs, v)
	}
	j.keyBuf = j.keyBuf[:0]
	for _, i := range b.Sel {
		for _, v := range j.kvecs {
			j.keyBuf = append(j.keyBuf, v.Datum(i))
		}
	}
	j.sortKeys(len(j.keys), len(b.Sel))
	j.found = append(j.found[:0], make([]bool, len(b.Sel))...)
	j.orows = append(j.orows[:0], make([]Row, len(b.Sel))...)
	semi := j.typ == JoinSemi || j.typ == JoinAnti
	return j.lookup(ctx, j.lkeys, func(k int, in Row) error {
		at := j.lrow[k]
		if semi && j.found[at] {
			return ErrLookupDone
		}
		if j.residual != nil {
			if j.orows[at] == nil {
				j.orows[at] = b.Row(b.Sel[at])
			}
			if j.scratch == nil {
				j.scratch = make(Row, j.ow+j.iw)
			}
			copy(j.scratch, j.orows[at])
			copy(j.scratch[j.ow:], in)
			v, err := j.residual(j.scratch)
			if err != nil {
				return err
			}
			if !expr.IsTrue(v) {
				return nil
			}
		}
		j.found[at] = true
		if semi {
			return ErrLookupDone
		}
		j.matches = append(j.matches, colMatch{at: at, in: slices.Clone(in)})
		return nil
	})
}

// emit returns a batch of the output rows of the outer batch still to
// return.
func (j *ColIndexJoin) emit() (*coldata.Batch, error) {
	if j.out == nil {
		j.out = coldata.NewBatch(j.types)
	}
	out := j.out
	out.Reset()
	n := min(len(j.matches), coldata.BatchSize)
	for r, m := range j.matches[:n] {
		i := j.b.Sel[m.at]
		for c := 0; c < j.ow; c++ {
			if err := copyValue(out.Vecs[c], r, j.b.Vecs[c], i); err != nil {
				return nil, err
			}
		}
		for c := 0; c < j.iw; c++ {
			var d types.Datum
			if m.in != nil {
				d = m.in[c]
			}
			if !out.Vecs[j.ow+c].Put(r, d) {
				return nil, pgerr.New(pgerr.InternalError, "index join: a %T in a column of type %s", d, types.InfoOf(j.types[j.ow+c]).Name)
			}
		}
	}
	clear(j.matches[:n])
	if j.matches = j.matches[n:]; len(j.matches) == 0 {
		j.matches = j.matches[:0:0]
	}
	out.SelectAll(n)
	return out, nil
}

func (j *ColIndexJoin) Close() {
	j.outer.Close()
	if j.release != nil {
		j.release()
		j.release = nil
	}
}

// buildColIndexJoin returns an index join node over its input's column
// batches (an input batchesAtTop accepts).
func (env *Env) buildColIndexJoin(n *meridianpb.PlanNode, j *meridianpb.IndexJoinNode) (*ColIndexJoin, error) {
	res, err := env.indexJoinResidual(n, j)
	if err != nil {
		return nil, err
	}
	ow, iw := len(n.Inputs[0].Types), len(j.Columns)
	want := ow
	if j.Type == meridianpb.JoinType_JOIN_INNER || j.Type == meridianpb.JoinType_JOIN_LEFT {
		want += iw
	}
	if len(n.Types) != want {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: an index join of %d columns, want %d", n.Id, len(n.Types), want)
	}
	outer, _, err := env.buildCols(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	c := &colexpr.Compiler{In: outer.Types(), Row: env.Compile}
	keys := make([]colexpr.Expr, len(j.LookupKeys))
	for i, k := range j.LookupKeys {
		if keys[i], err = c.Compile(k); err != nil {
			outer.Close()
			return nil, err
		}
	}
	lookup, release, err := env.Lookup(n)
	if err != nil {
		outer.Close()
		return nil, err
	}
	cj := NewColIndexJoin(outer, JoinType(j.Type), keys, lookup, res, iw, n.Types)
	cj.release = release
	return cj, nil
}
