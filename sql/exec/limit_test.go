package exec

import (
	"fmt"
	"testing"
)

func intRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{int64(i)}
	}
	return rows
}

func TestLimit(t *testing.T) {
	input := intRows(2500)
	for _, tc := range []struct{ limit, offset int64 }{
		{-1, 0}, {-1, 1}, {-1, 2499}, {-1, 2500}, {-1, 1 << 40},
		{0, 0}, {0, 10}, {1, 0}, {10, 5}, {BatchSize, BatchSize - 1}, {2000, 100}, {2500, 0}, {3000, 0}, {10, 2495}, {10, 5000},
	} {
		for _, batch := range []int{1, 7, 0} {
			t.Run(fmt.Sprintf("limit=%d/offset=%d/batch=%d", tc.limit, tc.offset, batch), func(t *testing.T) {
				in := &testOp{rows: input, batch: batch}
				got := mustCollect(t, NewLimit(in, tc.limit, tc.offset))
				want := input[min(tc.offset, int64(len(input))):]
				if tc.limit >= 0 && int64(len(want)) > tc.limit {
					want = want[:tc.limit]
				}
				sameRows(t, got, want)
				closedOnce(t, in)
			})
		}
	}
}

// A limit stops reading its input once it has its rows; LIMIT 0 never
// opens it.
func TestLimitStopsReading(t *testing.T) {
	in := &testOp{rows: intRows(100), batch: 10, failAt: 3}
	sameRows(t, mustCollect(t, NewLimit(in, 20, 0)), intRows(20))
	closedOnce(t, in)

	in = &testOp{rows: intRows(100), openErr: errTest, failAt: 1}
	sameRows(t, mustCollect(t, NewLimit(in, 0, 0)), nil)
	if in.opens != 0 || in.nexts != 0 {
		t.Errorf("LIMIT 0 opened its input %d times, read it %d times", in.opens, in.nexts)
	}
}

func TestLimitErrors(t *testing.T) {
	in := &testOp{rows: intRows(100), batch: 10, failAt: 3}
	if _, err := collect(ctxBg(), NewLimit(in, 50, 0)); err != errTest {
		t.Fatalf("got %v, want the input's error", err)
	}
	closedOnce(t, in)
	in = &testOp{openErr: errTest}
	if _, err := collect(ctxBg(), NewLimit(in, 5, 0)); err != errTest {
		t.Fatalf("got %v, want the input's error", err)
	}
	closedOnce(t, in)
}
