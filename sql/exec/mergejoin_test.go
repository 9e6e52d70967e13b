package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// sortedByKey sorts rows by column 0, ascending, NULLs last.
func sortedByKey(rows []Row) []Row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b Row) int { return compareRows([]order{{col: 0}}, a, b) })
	return out
}

// A merge join over sorted inputs gives what a hash join gives, for every
// join type, with duplicates and NULL keys on both sides and a residual.
func TestMergeJoinMatchesHashJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	gen := func(n, keys int) []Row {
		var rows []Row
		for i := 0; i < n; i++ {
			var k types.Datum = int64(r.IntN(keys))
			if r.IntN(15) == 0 {
				k = nil
			}
			rows = append(rows, Row{k, int64(i)})
		}
		return sortedByKey(rows)
	}
	residual := func(row []types.Datum) (types.Datum, error) { return (row[1].(int64)+row[3].(int64))%4 != 0, nil }
	tt := []uint32{types.Int8, types.Int8}
	for _, sizes := range [][2]int{{0, 10}, {10, 0}, {300, 200}, {2000, 50}} {
		left, right := gen(sizes[0], 40), gen(sizes[1], 30)
		for _, typ := range []JoinType{JoinInner, JoinLeft, JoinRight, JoinFull, JoinSemi, JoinAnti} {
			for _, res := range []expr.Eval{nil, residual} {
				t.Run(fmt.Sprintf("%dx%d/type%d/residual=%v", sizes[0], sizes[1], typ, res != nil), func(t *testing.T) {
					spec := JoinSpec{Type: typ, LeftKeys: colEvals(0), RightKeys: colEvals(0), Residual: res, LeftTypes: tt, RightTypes: tt}
					got, err := Run(t.Context(), NewMergeJoin(NewRows(left), NewRows(right), spec))
					if err != nil {
						t.Fatal(err)
					}
					want := mustCollect(t, NewHashJoin(&Env{}, nil, NewRows(left), NewRows(right), spec))
					sameMultiset(t, got, want)
				})
			}
		}
	}
}
