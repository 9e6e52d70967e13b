package expr

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// TestSmallArithMatchesApd: numeric +, - and * through the int64 fast path
// give exactly apd's result — coefficient, exponent and sign — for random
// operands of every size around the int64 limits, and the fast path
// declines (leaving apd to answer) whenever int64 arithmetic would
// overflow or the product's scale is beyond the maximum.
func TestSmallArithMatchesApd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	coeff := func() int64 {
		switch r.IntN(5) {
		case 0:
			return r.Int64N(10)
		case 1:
			return r.Int64N(1_000_000)
		case 2:
			return math.MaxInt64 - r.Int64N(1000)
		case 3:
			return r.Int64N(1 << 32)
		}
		return r.Int64()
	}
	dec := func() *apd.Decimal {
		d := &apd.Decimal{Exponent: -int32(r.IntN(25)), Negative: r.IntN(2) == 0}
		if r.IntN(20) == 0 {
			d.Exponent = -int32(types.NumericMaxScale) + int32(r.IntN(5))
		}
		d.Coeff.SetInt64(coeff())
		if d.Coeff.Sign() == 0 {
			d.Negative = false
		}
		return d
	}
	fast := 0
	const n = 30_000
	for i := 0; i < n; i++ {
		x, y := dec(), dec()
		for _, op := range []string{"+", "-", "*"} {
			want, werr := apdArith(op, x, y)
			got, gerr := NumericArith(op, x, y)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s %s %s: error %v, apd %v", x, op, y, gerr, werr)
			}
			if werr != nil {
				continue
			}
			w, g := want.(*apd.Decimal), got.(*apd.Decimal)
			if g.Form != w.Form || g.Negative != w.Negative || g.Exponent != w.Exponent || g.Coeff.Cmp(&w.Coeff) != 0 {
				t.Fatalf("%s %s %s = %s (exp %d neg %v), apd %s (exp %d neg %v)", x, op, y, g, g.Exponent, g.Negative, w, w.Exponent, w.Negative)
			}
			if _, ok := smallArith(op, x, y); ok {
				fast++
			}
		}
	}
	// Most operands take the fast path; the rest test the fallback.
	if fast < n || fast > 3*n-n/10 {
		t.Errorf("fast path taken %d times of %d: the operands do not exercise both paths", fast, 3*n)
	}
}
