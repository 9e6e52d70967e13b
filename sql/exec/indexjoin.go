package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// IndexLookup finds the inner rows whose index key equals keys (no key
// is NULL) and calls emit for each; emit may not keep the row's slice
// beyond the call unless it copies it.
type IndexLookup func(ctx context.Context, keys []types.Datum, emit func(Row) error) error

// IndexJoin is a nested loop whose inner side is an index: for each
// outer row it looks up the matching inner rows (Lookup), so only the
// rows that join are read. Types inner, left, semi and anti.
type IndexJoin struct {
	outer    Operator
	typ      JoinType
	keys     []expr.Eval
	lookup   IndexLookup
	residual expr.Eval
	ow, iw   int

	vals    []types.Datum
	out     rowBuffer
	release func() // frees the lookup's resources (nil: none)
	// pending: output rows of the current outer row beyond a full batch.
	pending []Row
}

var _ Operator = (*IndexJoin)(nil)

// NewIndexJoin returns an index join of outer (ow columns) with the rows
// lookup finds (iw columns each) for keys evaluated over the outer row.
func NewIndexJoin(outer Operator, typ JoinType, keys []expr.Eval, lookup IndexLookup, residual expr.Eval, ow, iw int) *IndexJoin {
	return &IndexJoin{outer: outer, typ: typ, keys: keys, lookup: lookup, residual: residual, ow: ow, iw: iw,
		vals: make([]types.Datum, len(keys))}
}

func (j *IndexJoin) Open(ctx context.Context) error { return j.outer.Open(ctx) }

func (j *IndexJoin) Next(ctx context.Context) (*Batch, error) {
	for {
		for len(j.pending) > 0 && !j.out.full() {
			j.out.add(j.pending[0])
			j.pending = j.pending[1:]
		}
		if j.out.full() {
			return j.out.take(), nil
		}
		b, err := j.outer.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b == nil {
			return j.out.take(), nil
		}
		for _, o := range b.Rows {
			if err := j.probe(ctx, o); err != nil {
				return nil, err
			}
		}
	}
}

// probe joins one outer row.
func (j *IndexJoin) probe(ctx context.Context, o Row) error {
	null := false
	for i, k := range j.keys {
		v, err := k(o)
		if err != nil {
			return err
		}
		j.vals[i] = v
		null = null || v == nil
	}
	found := false
	if !null {
		err := j.lookup(ctx, j.vals, func(in Row) error {
			if found && (j.typ == JoinSemi || j.typ == JoinAnti) {
				return nil
			}
			row := make(Row, j.ow+j.iw)
			copy(row, o)
			copy(row[j.ow:], in)
			if j.residual != nil {
				v, err := j.residual(row)
				if err != nil {
					return err
				}
				if !expr.IsTrue(v) {
					return nil
				}
			}
			found = true
			if j.typ == JoinInner || j.typ == JoinLeft {
				j.pending = append(j.pending, row)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	switch {
	case j.typ == JoinSemi && found:
		j.pending = append(j.pending, o)
	case j.typ == JoinAnti && !found:
		j.pending = append(j.pending, o)
	case j.typ == JoinLeft && !found:
		row := make(Row, j.ow+j.iw)
		copy(row, o)
		j.pending = append(j.pending, row)
	}
	return nil
}

func (j *IndexJoin) Close() {
	j.outer.Close()
	if j.release != nil {
		j.release()
		j.release = nil
	}
}
