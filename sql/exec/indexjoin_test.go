package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

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
	lookup := func(_ context.Context, keys []types.Datum, emit func(Row) error) error {
		lookups++
		for _, row := range byKey[keys[0].(int64)] {
			scratch := append(Row(nil), row...) // the callee may reuse its slice
			emits++
			if err := emit(scratch); err != nil {
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
	for _, typ := range []JoinType{JoinInner, JoinLeft, JoinSemi, JoinAnti} {
		for _, res := range []expr.Eval{nil, residual} {
			t.Run(fmt.Sprintf("type%d/residual=%v", typ, res != nil), func(t *testing.T) {
				ij := NewIndexJoin(NewRows(outer), typ, colEvals(1), lookup, res, 2, 3)
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
			})
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
		func(context.Context, []types.Datum, func(Row) error) error { return boom }, nil, 1, 1)
	if _, err := collect(context.Background(), ij); err != boom {
		t.Fatalf("got %v, want the lookup's error", err)
	}
}
