package exec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// refSetOp is INTERSECT/EXCEPT [ALL] as PostgreSQL defines it: a row
// that is m times in left and n times in right comes min(m, n) times
// (INTERSECT ALL) or max(m-n, 0) times (EXCEPT ALL); without ALL, once
// when it is in both (INTERSECT) or in left only (EXCEPT). NULLs are
// equal.
func refSetOp(left, right []Row, intersect, all bool) []Row {
	m, n := map[string]int{}, map[string]int{}
	var order []string
	first := map[string]Row{}
	for _, r := range left {
		k := fmtRow(r)
		if m[k] == 0 {
			order = append(order, k)
			first[k] = r
		}
		m[k]++
	}
	for _, r := range right {
		n[fmtRow(r)]++
	}
	var out []Row
	for _, k := range order {
		var c int
		switch {
		case intersect && all:
			c = min(m[k], n[k])
		case intersect:
			c = min(m[k], n[k], 1)
		case all:
			c = max(m[k]-n[k], 0)
		case n[k] == 0:
			c = 1
		}
		for range c {
			out = append(out, first[k])
		}
	}
	return out
}

var setOpNames = map[[2]bool]string{{true, false}: "intersect", {true, true}: "intersect all", {false, false}: "except", {false, true}: "except all"}

func TestSetOpHandCases(t *testing.T) {
	left := []Row{{int64(1), nil}, {int64(1), nil}, {int64(1), nil}, {int64(2), "a"}, {nil, nil}, {nil, nil}, {int64(3), "b"}}
	right := []Row{{int64(1), nil}, {nil, nil}, {nil, nil}, {nil, nil}, {int64(2), "b"}, {int64(4), "a"}}
	want := map[string][]Row{
		"intersect":     {{int64(1), nil}, {nil, nil}},
		"intersect all": {{int64(1), nil}, {nil, nil}, {nil, nil}},
		"except":        {{int64(2), "a"}, {int64(3), "b"}},
		"except all":    {{int64(1), nil}, {int64(1), nil}, {int64(2), "a"}, {int64(3), "b"}},
	}
	for mode, name := range setOpNames {
		t.Run(name, func(t *testing.T) {
			l, r := &testOp{rows: left}, &testOp{rows: right}
			env, st := testEnv(t, 0)
			got := mustCollect(t, NewSetOp(env, st, l, r, mode[0], mode[1]))
			sameMultiset(t, got, want[name])
			closedOnce(t, l, r)
		})
	}
}

func TestSetOpRandom(t *testing.T) {
	side := func(seed uint64, n int) []Row {
		return genRows(seed, n, func(rng *rand.Rand, _ int) Row {
			return Row{randInt(rng, 6, 0.2), randText(rng, 3, 0.2), randNumeric(rng, 2, 0.2)}
		})
	}
	for mode, name := range setOpNames {
		for _, sz := range []struct{ l, r int }{{0, 0}, {0, 50}, {50, 0}, {400, 300}, {3000, 3000}} {
			t.Run(fmt.Sprintf("%s/%dx%d", name, sz.l, sz.r), func(t *testing.T) {
				left, right := side(uint64(sz.l), sz.l), side(uint64(sz.r+7), sz.r)
				env, st := testEnv(t, 1)
				got := mustCollect(t, NewSetOp(env, st, &testOp{rows: left, batch: 13}, &testOp{rows: right}, mode[0], mode[1]))
				sameMultiset(t, got, refSetOp(left, right, mode[0], mode[1]))
			})
		}
	}
}

func TestSetOpErrors(t *testing.T) {
	for _, what := range inputFailures {
		t.Run(what, func(t *testing.T) {
			l, r := &testOp{rows: intRows(10), batch: 1}, &testOp{rows: intRows(10), batch: 1}
			fail(what, l, r)
			env, st := testEnv(t, 0)
			if _, err := collect(ctxBg(), NewSetOp(env, st, l, r, false, true)); err != errTest {
				t.Fatalf("got %v, want the input's error", err)
			}
			closedOnce(t, l, r)
		})
	}
}
