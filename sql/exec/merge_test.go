package exec

import (
	"fmt"
	"sort"
	"testing"
)

// sortedParts cuts rows into n parts at random and sorts each by the
// columns of keys (a reference sort).
func sortedParts(seed uint64, rows []Row, n int, keys []SortKey) [][]Row {
	rng := newRand(seed)
	parts := make([][]Row, n)
	for _, r := range rows {
		p := rng.IntN(n)
		parts[p] = append(parts[p], r)
	}
	for _, p := range parts {
		sort.SliceStable(p, func(i, j int) bool { return refOrder(keys, p[i], p[j]) < 0 })
	}
	return parts
}

// mergeOrders are the orders the merge tests merge by, over sortInput's
// rows.
var mergeOrders = map[string]mergeOrder{
	"a":                    {[]int{0}, []bool{false}, []bool{false}},
	"a desc nulls first":   {[]int{0}, []bool{true}, []bool{true}},
	"b nulls first, c, id": {[]int{1, 2, 3}, []bool{false, false, false}, []bool{true, false, false}},
	"c desc, b desc":       {[]int{2, 1}, []bool{true, true}, []bool{false, true}},
}

type mergeOrder struct {
	cols             []int
	desc, nullsFirst []bool
}

// keys is the order as sort keys (for the reference sort).
func (o mergeOrder) keys() []SortKey {
	keys := make([]SortKey, len(o.cols))
	for i, c := range o.cols {
		keys[i] = SortKey{Eval: col(c), Type: sortTypes[c], Desc: o.desc[i], NullsFirst: o.nullsFirst[i]}
	}
	return keys
}

func TestMerge(t *testing.T) {
	input := sortInput(7, 4000)
	for name, o := range mergeOrders {
		keys := o.keys()
		for _, n := range []int{1, 2, 7, 40} {
			for _, rows := range []int{0, 1, 4000} {
				t.Run(fmt.Sprintf("%s/inputs=%d/rows=%d", name, n, rows), func(t *testing.T) {
					parts := sortedParts(uint64(n), input[:rows], n, keys)
					var ins []Operator
					var ops []*testOp
					for i, p := range parts {
						op := &testOp{rows: p, batch: 1 + i*37%300}
						ins = append(ins, op)
						ops = append(ops, op)
					}
					got := mustCollect(t, MergeKeys(ins, o.cols, o.desc, o.nullsFirst))
					checkSorted(t, got, input[:rows], keys, 0)
					if len(got) != rows {
						t.Fatalf("got %d rows, want %d", len(got), rows)
					}
					closedOnce(t, ops...)
				})
			}
		}
	}
}

func TestMergeNoInputs(t *testing.T) {
	if got := mustCollect(t, NewMerge(nil, nil)); len(got) != 0 {
		t.Fatalf("got %d rows", len(got))
	}
}

func TestMergeErrors(t *testing.T) {
	for _, what := range inputFailures {
		t.Run(what, func(t *testing.T) {
			a := &testOp{rows: sortInput(8, 3000)}
			b := &testOp{rows: sortInput(9, 3000)}
			fail(what, a, b)
			_, err := collect(ctxBg(), MergeKeys([]Operator{a, b}, []int{3}, []bool{false}, []bool{false}))
			if err != errTest {
				t.Fatalf("got %v, want the injected error", err)
			}
			closedOnce(t, a, b)
		})
	}
}

func TestMergeCancel(t *testing.T) {
	ins := []Operator{NewRows(sortInput(10, 3000)), NewRows(sortInput(11, 3000))}
	m := MergeKeys(ins, []int{3}, []bool{false}, []bool{false})
	if err := m.Open(ctxBg()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wantCode(t, untilError(canceledCtx(), m, 1000), "57014")
}
