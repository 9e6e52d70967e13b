package exec

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// An index join gives the rows a nested loop over the same inner rows
// gives, for every join type it supports, with a residual or not, NULL
// keys, keys with many matches (outputs past one batch) and none.
func TestIndexJoinMatchesNestedLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	var outer, inner []Row
	for i := 0; i < 3000; i++ {
		var k types.Datum = int64(r.IntN(50))
		if i%97 == 0 {
			k = nil
		}
		outer = append(outer, Row{int64(i), k})
	}
	byKey := map[int64][]Row{}
	for i := 0; i < 400; i++ {
		k := int64(r.IntN(60))
		row := Row{k, int64(i), fmt.Sprint("v", i)}
		inner = append(inner, row)
		byKey[k] = append(byKey[k], row)
	}
	lookups, emits := 0, 0
	// The lookup emits the rows of all keys interleaved, as a datanode's
	// does (in row key order), and skips the rest of a key's rows when the
	// join says it is done with it.
	lookup := func(_ context.Context, keys [][]types.Datum, emit func(int, Row) error) error {
		lookups++
		type hit struct {
			k   int
			row Row
		}
		var hits []hit
		for k, key := range keys {
			for _, row := range byKey[key[0].(int64)] {
				hits = append(hits, hit{k, row})
			}
		}
		r.Shuffle(len(hits), func(a, b int) { hits[a], hits[b] = hits[b], hits[a] })
		done := make([]bool, len(keys))
		for _, h := range hits {
			if done[h.k] {
				continue
			}
			scratch := append(Row(nil), h.row...) // the callee may reuse its slice
			emits++
			if err := emit(h.k, scratch); err != nil {
				if errors.Is(err, ErrLookupDone) {
					done[h.k] = true
					continue
				}
				return err
			}
		}
		return nil
	}
	matched := 0 // outer rows with at least one inner row
	for _, o := range outer {
		if k, ok := o[1].(int64); ok && len(byKey[k]) > 0 {
			matched++
		}
	}
	residual := func(row []types.Datum) (types.Datum, error) { return row[3].(int64)%3 != 0, nil }
	testIndexJoin := func(t *testing.T, ij Operator, typ JoinType, res expr.Eval) {
		emits = 0
		got := mustCollect(t, ij)
		if (typ == JoinSemi || typ == JoinAnti) && res == nil && emits != matched {
			// A semi or anti join stops a lookup at its first match.
			t.Errorf("%d inner rows read for %d matching outer rows", emits, matched)
		}
		// The reference: a keyed nested loop over the same rows.
		ref := NewHashJoin(&Env{}, nil, NewRows(outer), NewRows(inner), JoinSpec{Type: typ,
			LeftKeys: colEvals(1), RightKeys: colEvals(0), Residual: res,
			LeftTypes: []uint32{types.Int8, types.Int8}, RightTypes: []uint32{types.Int8, types.Int8, types.Text}})
		want := mustCollect(t, ref)
		sameMultiset(t, got, want)
	}
	outerTypes, innerTypes := []uint32{types.Int8, types.Int8}, []uint32{types.Int8, types.Int8, types.Text}
	key, err := (&colexpr.Compiler{In: outerTypes}).Compile(expr.Column(1, types.T(types.Int8)))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []JoinType{JoinInner, JoinLeft, JoinSemi, JoinAnti} {
		for _, res := range []expr.Eval{nil, residual} {
			for _, vectorized := range []bool{false, true} {
				t.Run(fmt.Sprintf("type%d/residual=%v/vectorized=%v", typ, res != nil, vectorized), func(t *testing.T) {
					var ij Operator = NewIndexJoin(NewRows(outer), typ, colEvals(1), lookup, res, 2, 3)
					if vectorized {
						out := outerTypes
						if typ == JoinInner || typ == JoinLeft {
							out = append(slices.Clone(outerTypes), innerTypes...)
						}
						src := &rowsColSource{types: outerTypes, rows: outer, all: true, rng: rand.New(rand.NewPCG(1, 2))}
						ij = ColRows(NewColIndexJoin(src, typ, []colexpr.Expr{key}, lookup, res, 3, out))
					}
					testIndexJoin(t, ij, typ, res)
				})
			}
		}
	}
	if lookups == 0 {
		t.Fatal("no lookups")
	}
}

// A failing lookup fails the join.
func TestIndexJoinLookupError(t *testing.T) {
	boom := fmt.Errorf("boom")
	ij := NewIndexJoin(NewRows([]Row{{int64(1)}}), JoinInner, colEvals(0),
		func(context.Context, [][]types.Datum, func(int, Row) error) error { return boom }, nil, 1, 1)
	if _, err := collect(context.Background(), ij); err != boom {
		t.Fatalf("got %v, want the lookup's error", err)
	}
}
