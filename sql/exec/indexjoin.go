package exec

import (
	"context"
	"errors"
	"slices"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// IndexLookup finds, for each i, the inner rows whose index key equals
// keys[i] (no key is NULL) and calls emit(i, row) for each — the rows of
// all the keys in any order (a datanode reads them in the order of their
// row keys, so that one pass reads each block once). emit may not keep the
// row's slice beyond the call unless it copies it. When emit returns
// ErrLookupDone the lookup reads no more rows of key i; another error
// stops it and is returned as is.
type IndexLookup func(ctx context.Context, keys [][]types.Datum, emit func(i int, row Row) error) error

// ErrLookupDone is what a semi or anti join's emit returns once a row of
// a key matched: the outer row's fate is decided, its other rows are not
// read.
var ErrLookupDone = errors.New("index lookup: the join needs no more rows of this key")

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

	batchKeys
	found   []bool // per outer row of the batch
	out     rowBuffer
	release func() // frees the lookup's resources (nil: none)
	// pending: output rows of the current outer row beyond a full batch.
	pending []Row
	scratch Row // a semi or anti join's joined row, for the residual
}

var _ Operator = (*IndexJoin)(nil)

// NewIndexJoin returns an index join of outer (ow columns) with the rows
// lookup finds (iw columns each) for keys evaluated over the outer row.
func NewIndexJoin(outer Operator, typ JoinType, keys []expr.Eval, lookup IndexLookup, residual expr.Eval, ow, iw int) *IndexJoin {
	return &IndexJoin{outer: outer, typ: typ, keys: keys, lookup: lookup, residual: residual, ow: ow, iw: iw}
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
		if err := j.probeBatch(ctx, b.Rows); err != nil {
			return nil, err
		}
	}
}

// probeBatch joins a batch of outer rows, looking their keys up in key
// order: the index is then read forward, each lookup near the last one
// (the storage keeps the file and blocks it read loaded). The output's
// order is not the outer's; no plan relies on it.
func (j *IndexJoin) probeBatch(ctx context.Context, rows []Row) error {
	j.keyBuf = j.keyBuf[:0]
	for _, o := range rows {
		for _, k := range j.keys {
			v, err := k(o)
			if err != nil {
				return err
			}
			j.keyBuf = append(j.keyBuf, v)
		}
	}
	j.sortKeys(len(j.keys), len(rows))
	j.found = append(j.found[:0], make([]bool, len(rows))...)
	semi := j.typ == JoinSemi || j.typ == JoinAnti
	err := j.lookup(ctx, j.lkeys, func(k int, in Row) error {
		i := j.lrow[k]
		if semi && j.found[i] {
			return ErrLookupDone
		}
		o := rows[i]
		var row Row
		if semi {
			// Only the residual reads the joined row: one scratch row.
			if j.scratch == nil {
				j.scratch = make(Row, j.ow+j.iw)
			}
			row = j.scratch
		} else {
			row = make(Row, j.ow+j.iw)
		}
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
		j.found[i] = true
		if semi {
			return ErrLookupDone
		}
		j.pending = append(j.pending, row)
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range j.order {
		o, found := rows[i], j.found[i]
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

// batchKeys are the lookup keys of a batch of outer rows.
type batchKeys struct {
	keyBuf []types.Datum // the batch's key values, one key after another
	order  []int         // the batch's rows in key order
	lkeys  [][]types.Datum
	lrow   []int // lkeys[k] is the key of the batch's row lrow[k]
}

// sortKeys orders the batch's rows (rows keys of n values in keyBuf) by
// key, and lists the keys without a NULL in that order: one lookup of
// them reads the index forward, each key near the last one (the storage
// keeps the file and blocks it read loaded).
func (b *batchKeys) sortKeys(n, rows int) {
	keysOf := func(i int) []types.Datum { return b.keyBuf[i*n : (i+1)*n] }
	b.order = b.order[:0]
	for i := range rows {
		b.order = append(b.order, i)
	}
	slices.SortStableFunc(b.order, func(x, y int) int {
		kx, ky := keysOf(x), keysOf(y)
		for c := range kx {
			if r := types.CompareNullsLast(kx[c], ky[c]); r != 0 {
				return r
			}
		}
		return 0
	})
	b.lkeys, b.lrow = b.lkeys[:0], b.lrow[:0]
	for _, i := range b.order {
		if vals := keysOf(i); !slices.Contains(vals, nil) {
			b.lkeys = append(b.lkeys, vals)
			b.lrow = append(b.lrow, i)
		}
	}
}
