package expr

import (
	"math/rand/v2"
	"testing"

	"github.com/meridian-db/meridian/sql/types"
)

// TestMatchRunsMatchesLike: a pattern of literal runs and %s matched by
// its runs gives Like's result, for random texts and patterns over a
// small alphabet (multibyte characters included), and LIKE through the
// compiled function uses it and agrees too.
func TestMatchRunsMatchesLike(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alpha := []string{"a", "b", "é", "%"}
	word := func(n int, withPct bool) string {
		var b []byte
		for i := r.IntN(n + 1); i > 0; i-- {
			c := alpha[r.IntN(len(alpha))]
			if c == "%" && !withPct {
				c = "a"
			}
			b = append(b, c...)
		}
		return string(b)
	}
	for i := 0; i < 200_000; i++ {
		s, p := word(8, false), word(6, true)
		lp := newLikePattern(p)
		if !lp.simple {
			t.Fatalf("%q not simple", p)
		}
		want, err := Like(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchRuns(s, lp.runs); got != want {
			t.Fatalf("%q LIKE %q: %v, Like says %v", s, p, got, want)
		}
	}
	for _, p := range []string{"a_b", `a\%`, "%_%"} {
		if newLikePattern(p).simple {
			t.Errorf("%q taken as simple", p)
		}
	}
	f, err := Compile(call("like", tBool, Column(0, tText), Column(1, tText)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s, p string
		want bool
	}{{"special requests", "%special%requests%", true}, {"requests special", "%special%requests%", false},
		{"abc", "a_c", true}, {"abc", "a%", true}, {"abc", "a%", true}, {"xabc", "a%", false}} {
		v, err := f([]types.Datum{c.s, c.p})
		if err != nil || v != c.want {
			t.Errorf("%q LIKE %q: %v, %v", c.s, c.p, v, err)
		}
	}
}
