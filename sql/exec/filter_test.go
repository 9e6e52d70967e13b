package exec

import (
	"testing"

	"github.com/meridian-db/meridian/sql/types"
)

// A filter keeps the rows whose condition is true: false and NULL drop
// the row.
func TestFilter(t *testing.T) {
	var input, want []Row
	for i := range 5000 {
		var c types.Datum
		switch i % 3 {
		case 0:
			c = true
		case 1:
			c = false
		}
		input = append(input, Row{int64(i), c})
		if c == true {
			want = append(want, input[i])
		}
	}
	in := &testOp{rows: input, batch: 700}
	sameRows(t, mustCollect(t, NewFilter(in, col(1))), want)
	closedOnce(t, in)
}

// Batches where nothing passes are skipped, never returned empty.
func TestFilterNothingPasses(t *testing.T) {
	input := make([]Row, 3000)
	for i := range input {
		input[i] = Row{i == 2500}
	}
	got := mustCollect(t, NewFilter(&testOp{rows: input, batch: 10}, col(0)))
	sameRows(t, got, []Row{{true}})
}

func TestFilterErrors(t *testing.T) {
	in := &testOp{rows: []Row{{true}}, failAt: 1}
	if _, err := collect(ctxBg(), NewFilter(in, col(0))); err != errTest {
		t.Fatalf("got %v, want the input's error", err)
	}
	closedOnce(t, in)
	in = &testOp{rows: []Row{{true}}}
	failing := func([]types.Datum) (types.Datum, error) { return nil, errTest }
	if _, err := collect(ctxBg(), NewFilter(in, failing)); err != errTest {
		t.Fatalf("got %v, want the condition's error", err)
	}
	closedOnce(t, in)
}
