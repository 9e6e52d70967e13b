package exec

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/meridian-db/meridian/sql/coldata"
)

// TestColMerge merges sorted column sources (batches of random sizes,
// some with a partial selection) and compares the result, row for row,
// with the row Merge of the rows the sources selected: the same order,
// ties to the earlier source included.
func TestColMerge(t *testing.T) {
	input := sortInput(11, 5000)
	for name, o := range mergeOrders {
		keys := o.keys()
		for _, n := range []int{1, 3, 16} {
			for _, rows := range []int{0, 1, 5000} {
				t.Run(fmt.Sprintf("%s/inputs=%d/rows=%d", name, n, rows), func(t *testing.T) {
					parts := sortedParts(uint64(n), input[:rows], n, keys)
					var srcs []*rowsColSource
					var ins []ColSource
					for i, p := range parts {
						s := &rowsColSource{types: sortTypes, rows: p, rng: rand.New(rand.NewPCG(uint64(i), uint64(rows)))}
						srcs = append(srcs, s)
						ins = append(ins, s)
					}
					got := mustCollect(t, ColRows(NewColMerge(ins, o.cols, o.desc, o.nullsFirst)))
					var sel []Row
					var ops []Operator
					for _, s := range srcs {
						if s.opens != 1 || s.closes != 1 {
							t.Fatalf("a source opened %d and closed %d times", s.opens, s.closes)
						}
						sel = append(sel, s.selected...)
						ops = append(ops, &testOp{rows: s.selected, batch: 100})
					}
					checkSorted(t, got, sel, keys, 0)
					sameRows(t, got, mustCollect(t, MergeKeys(ops, o.cols, o.desc, o.nullsFirst)))
				})
			}
		}
	}
}

// failingColSource fails its Next after a few batches.
type failingColSource struct {
	rowsColSource
	after int
}

var errColTest = errors.New("column source failed")

func (s *failingColSource) Next(ctx context.Context) (*coldata.Batch, error) {
	if s.after == 0 {
		return nil, errColTest
	}
	s.after--
	return s.rowsColSource.Next(ctx)
}

func TestColMergeError(t *testing.T) {
	rows := sortInput(12, 3000)
	keys := []SortKey{{Eval: col(3), Type: sortTypes[3]}}
	parts := sortedParts(2, rows, 2, keys)
	a := &rowsColSource{types: sortTypes, rows: parts[0], rng: rand.New(rand.NewPCG(1, 2)), all: true}
	b := &failingColSource{rowsColSource: rowsColSource{types: sortTypes, rows: parts[1], rng: rand.New(rand.NewPCG(3, 4)), all: true}, after: 1}
	_, err := collect(ctxBg(), ColRows(NewColMerge([]ColSource{a, b}, []int{3}, []bool{false}, []bool{false})))
	if !errors.Is(err, errColTest) {
		t.Fatalf("got %v, want the source's error", err)
	}
	if a.closes != 1 || b.closes != 1 {
		t.Fatalf("sources closed %d and %d times", a.closes, b.closes)
	}
}
