package exec

import (
	"fmt"
	"slices"
	"testing"
)

// SortAgg over input sorted by the group keys gives what HashAgg gives,
// in every phase (the final phase over partial states sorted too).
func TestSortAggMatchesHashAgg(t *testing.T) {
	for _, tc := range []aggCase{
		{"empty/global", nil, nil},
		{"empty/grouped", nil, []int{0, 1}},
		{"global", aggInput(31, 3000, 5), nil},
		{"g1", aggInput(32, 3000, 40), []int{0}},
		{"g1g2", aggInput(33, 3000, 40), []int{0, 1}},
		{"many groups", aggInput(34, 3000, 2000), []int{0, 1}},
	} {
		ord := make([]order, len(tc.groupCols))
		for i, c := range tc.groupCols {
			ord[i] = order{col: c}
		}
		sorted := slices.Clone(tc.rows)
		slices.SortStableFunc(sorted, func(a, b Row) int { return compareRows(ord, a, b) })
		for _, phase := range []AggPhase{AggFull, AggPartial} {
			t.Run(fmt.Sprintf("%s/phase%d", tc.name, phase), func(t *testing.T) {
				defs := fullAggs
				if phase != AggFull {
					defs = splitAggs
				}
				want, _ := aggRun(t, 0, tc.rows, aggInTypes, phase, colEvals(tc.groupCols...), calls(defs, phase), nil)
				got := mustCollect(t, NewSortAgg(NewRows(sorted), phase, colEvals(tc.groupCols...), calls(defs, phase)))
				sameMultiset(t, got, want)
				if phase != AggPartial {
					return
				}
				// The final phase over the partial states, sorted by key.
				keys := upTo(len(tc.groupCols))
				kord := make([]order, len(keys))
				for i, c := range keys {
					kord[i] = order{col: c}
				}
				states := slices.Clone(got)
				slices.SortStableFunc(states, func(a, b Row) int { return compareRows(kord, a, b) })
				final := mustCollect(t, NewSortAgg(NewRows(states), AggFinal, colEvals(keys...), calls(splitAggs, AggFinal)))
				full, _ := aggRun(t, 0, tc.rows, aggInTypes, AggFull, colEvals(tc.groupCols...), calls(splitAggs, AggFull), nil)
				sameMultiset(t, final, full)
			})
		}
	}
}
