package exec

import (
	"testing"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

func TestProject(t *testing.T) {
	double := func(r []types.Datum) (types.Datum, error) {
		if r[0] == nil {
			return nil, nil
		}
		return 2 * r[0].(int64), nil
	}
	var input, want []Row
	for i := range 3000 {
		var v types.Datum = int64(i)
		if i%10 == 0 {
			v = nil
		}
		input = append(input, Row{v, "x"})
		d, _ := double(input[i])
		want = append(want, Row{d, "x", v})
	}
	in := &testOp{rows: input, batch: 999}
	got := mustCollect(t, NewProject(in, []expr.Eval{double, col(1), col(0)}))
	sameRows(t, got, want)
	closedOnce(t, in)
	// Output rows are the projection's own: changing one leaves the input
	// and the other rows alone.
	got[0][1] = "changed"
	if input[0][1] != "x" || got[1][1] != "x" {
		t.Fatalf("output rows share memory with the input or each other")
	}
}

func TestProjectNoColumns(t *testing.T) {
	got := mustCollect(t, NewProject(NewRows([]Row{{int64(1)}, {int64(2)}}), nil))
	sameRows(t, got, []Row{{}, {}})
}

func TestProjectErrors(t *testing.T) {
	in := &testOp{rows: []Row{{int64(1)}}, failAt: 1}
	if _, err := collect(ctxBg(), NewProject(in, colEvals(0))); err != errTest {
		t.Fatalf("got %v, want the input's error", err)
	}
	closedOnce(t, in)
	in = &testOp{rows: []Row{{int64(1)}}}
	failing := func([]types.Datum) (types.Datum, error) { return nil, errTest }
	if _, err := collect(ctxBg(), NewProject(in, []expr.Eval{col(0), failing})); err != errTest {
		t.Fatalf("got %v, want the expression's error", err)
	}
	closedOnce(t, in)
}
