package exec

import "testing"

func TestAppend(t *testing.T) {
	a, b, c := &testOp{rows: intRows(1500), batch: 700}, &testOp{}, &testOp{rows: intRows(3)}
	got := mustCollect(t, NewAppend(a, b, c))
	sameRows(t, got, append(intRows(1500), intRows(3)...))
	closedOnce(t, a, b, c)
	sameRows(t, mustCollect(t, NewAppend()), nil)
}

// Inputs are opened one at a time, each once the one before it ended;
// every input is closed once, also those never reached.
func TestAppendOpensInTurn(t *testing.T) {
	a, b := &testOp{rows: intRows(10)}, &testOp{rows: intRows(10)}
	app := NewAppend(a, b)
	if err := app.Open(ctxBg()); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Next(ctxBg()); err != nil {
		t.Fatal(err)
	}
	if a.opens != 1 || b.opens != 0 {
		t.Fatalf("after the first batch: inputs opened %d and %d times, want 1 and 0", a.opens, b.opens)
	}
	app.Close()
	closedOnce(t, a, b)
}

func TestAppendErrors(t *testing.T) {
	for _, what := range []string{"open", "next"} {
		a, b, c := &testOp{rows: intRows(10)}, &testOp{rows: intRows(10)}, &testOp{rows: intRows(10)}
		if what == "open" {
			b.openErr = errTest
		} else {
			b.failAt = 1
		}
		if _, err := collect(ctxBg(), NewAppend(a, b, c)); err != errTest {
			t.Fatalf("%s: got %v, want the input's error", what, err)
		}
		closedOnce(t, a, b, c)
	}
}
