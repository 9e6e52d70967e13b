package planner

import (
	"math/rand"
	"testing"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// randExpr builds a random int4 or boolean expression over three int4
// columns, with NULLs and operations that can fail (division by zero,
// overflow).
func randExpr(rng *rand.Rand, depth int, boolean bool) *Expr {
	i4 := types.T(types.Int4)
	if boolean {
		switch k := rng.Intn(8); {
		case depth == 0 || k == 0:
			switch rng.Intn(3) {
			case 0:
				return expr.Const(types.T(types.Bool), rng.Intn(2) == 0)
			case 1:
				return &Expr{Kind: kConst, TypeOid: types.Bool, Typmod: -1, IsNull: true}
			}
			return &Expr{Kind: kFunc, Name: []string{"=", "<", ">="}[rng.Intn(3)], TypeOid: types.Bool, Typmod: -1,
				Args: []*Expr{randExpr(rng, 0, false), randExpr(rng, 0, false)}}
		case k <= 2:
			return boolExpr(kAnd, randExpr(rng, depth-1, true), randExpr(rng, depth-1, true), randExpr(rng, depth-1, true))
		case k <= 4:
			return boolExpr(kOr, randExpr(rng, depth-1, true), randExpr(rng, depth-1, true))
		case k == 5:
			return boolExpr(kNot, randExpr(rng, depth-1, true))
		case k == 6:
			return boolExpr(kIsNul, randExpr(rng, depth-1, false))
		}
		return &Expr{Kind: kFunc, Name: []string{"=", "<>", "<", ">"}[rng.Intn(4)], TypeOid: types.Bool, Typmod: -1,
			Args: []*Expr{randExpr(rng, depth-1, false), randExpr(rng, depth-1, false)}}
	}
	switch k := rng.Intn(7); {
	case depth == 0 || k == 0:
		switch rng.Intn(4) {
		case 0:
			return expr.Column(rng.Intn(3), i4)
		case 1:
			return expr.Const(i4, nil)
		}
		return expr.Const(i4, int64(rng.Intn(5)-1))
	case k <= 2:
		return &Expr{Kind: kFunc, Name: []string{"+", "-", "*", "/"}[rng.Intn(4)], TypeOid: types.Int4, Typmod: -1,
			Args: []*Expr{randExpr(rng, depth-1, false), randExpr(rng, depth-1, false)}}
	case k == 3:
		return &Expr{Kind: kCase, TypeOid: types.Int4, Typmod: -1,
			Args: []*Expr{randExpr(rng, depth-1, true), randExpr(rng, depth-1, false), randExpr(rng, depth-1, false)}}
	case k == 4:
		return &Expr{Kind: kCoal, TypeOid: types.Int4, Typmod: -1,
			Args: []*Expr{randExpr(rng, depth-1, false), randExpr(rng, depth-1, false)}}
	}
	return expr.Const(i4, int64(2147483647))
}

// TestFoldKeepsResults checks Fold against evaluation: on every row, a
// folded expression gives the value the original gives, and raises an
// error only where the original does (folding may drop an error, as
// PostgreSQL's false AND 1/0 does, never add one).
func TestFoldKeepsResults(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	vals := []types.Datum{nil, int64(0), int64(1), int64(-1), int64(3)}
	for n := 0; n < 3000; n++ {
		e := randExpr(rng, 4, rng.Intn(2) == 0)
		f := Fold(e)
		ev, err := expr.Compile(e)
		if err != nil {
			t.Fatalf("compile %s: %v", fmtExpr(e, nil), err)
		}
		fv, err := expr.Compile(f)
		if err != nil {
			t.Fatalf("compile folded %s: %v", fmtExpr(f, nil), err)
		}
		for r := 0; r < 8; r++ {
			row := []types.Datum{vals[rng.Intn(len(vals))], vals[rng.Intn(len(vals))], vals[rng.Intn(len(vals))]}
			want, werr := ev(row)
			got, gerr := fv(row)
			switch {
			case gerr != nil && werr == nil:
				t.Fatalf("%s folded to %s fails on %v: %v", fmtExpr(e, nil), fmtExpr(f, nil), row, gerr)
			case werr == nil && ((want == nil) != (got == nil) || (want != nil && types.Compare(want, got) != 0)):
				t.Fatalf("%s on %v = %v, folded %s = %v", fmtExpr(e, nil), row, want, fmtExpr(f, nil), got)
			}
		}
	}
}

// TestNormalizeKeepsResults checks normalize (folding, OR factorization,
// IN lists, the closure) on conjunct lists: the rows a WHERE keeps do not
// change (four int4 columns, so that two equality classes can form).
func TestNormalizeKeepsResults(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	i4 := types.T(types.Int4)
	atom := func() *Expr {
		c := func() *Expr { return expr.Column(rng.Intn(4), i4) }
		v := func() *Expr { return expr.Const(i4, int64(rng.Intn(3))) }
		eq := func(a, b *Expr) *Expr {
			return &Expr{Kind: kFunc, Name: "=", TypeOid: types.Bool, Typmod: -1, Args: []*Expr{a, b}}
		}
		switch rng.Intn(4) {
		case 0:
			return eq(c(), c())
		case 1:
			return boolExpr(kIn, c(), v(), v())
		}
		return eq(c(), v())
	}
	var cond func(d int) *Expr
	cond = func(d int) *Expr {
		if d == 0 || rng.Intn(3) == 0 {
			return atom()
		}
		if rng.Intn(2) == 0 {
			x := cond(d - 1)
			return boolExpr(kOr, boolExpr(kAnd, x, cond(d-1)), boolExpr(kAnd, cond(d-1), x))
		}
		return boolExpr(kOr, cond(d-1), cond(d-1))
	}
	compile := func(conds []*Expr) []expr.Eval {
		var out []expr.Eval
		for _, c := range conds {
			ev, err := expr.Compile(c)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		return out
	}
	pass := func(evs []expr.Eval, row []types.Datum) bool {
		for _, ev := range evs {
			v, err := ev(row)
			if err != nil || !expr.IsTrue(v) {
				return false
			}
		}
		return true
	}
	vals := []types.Datum{nil, int64(0), int64(1), int64(2)}
	for n := 0; n < 2000; n++ {
		var conds []*Expr
		for k := rng.Intn(3) + 1; k > 0; k-- {
			conds = append(conds, cond(3))
		}
		norm := normalize(conds)
		ce, ne := compile(conds), compile(norm)
		for _, a := range vals {
			for _, b := range vals {
				for _, c := range vals {
					for _, d := range vals {
						row := []types.Datum{a, b, c, d}
						if pass(ce, row) != pass(ne, row) {
							t.Fatalf("row %v: %s keeps it %v, normalized %s %v", row, fmtExpr(andAll(conds), nil),
								pass(ce, row), fmtExpr(andAll(norm), nil), pass(ne, row))
						}
					}
				}
			}
		}
	}
}
