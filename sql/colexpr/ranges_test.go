package colexpr

import (
	"math"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// The ranges a filter's conjuncts bound integer and date columns to:
// either side of the comparison, BETWEEN's two, intersected per column;
// nothing from an OR, a NULL constant, a column of another kind or a
// comparison of two columns; an empty range where no value compares.
func TestIntRanges(t *testing.T) {
	in := []uint32{types.Int4, types.Date, types.Numeric, types.Int8}
	i4, i8, date, num := types.T(types.Int4), types.T(types.Int8), types.T(types.Date), types.T(types.Numeric)
	col := func(i int) *meridianpb.Expr { return expr.Column(i, types.T(in[i])) }
	f := func(op string, a, b *meridianpb.Expr) *meridianpb.Expr {
		return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: op, TypeOid: types.Bool, Args: []*meridianpb.Expr{a, b}}
	}
	and := func(args ...*meridianpb.Expr) *meridianpb.Expr {
		return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_AND, TypeOid: types.Bool, Args: args}
	}
	or := func(args ...*meridianpb.Expr) *meridianpb.Expr {
		return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_OR, TypeOid: types.Bool, Args: args}
	}
	d := func(v int) *meridianpb.Expr { return expr.Const(date, types.DateVal(v)) }
	k := func(v int64) *meridianpb.Expr { return expr.Const(i8, v) }
	const lo, hi = math.MinInt64, math.MaxInt64
	for _, tc := range []struct {
		name string
		e    *meridianpb.Expr
		want []IntRange
	}{
		{"none", nil, nil},
		{"date between", and(f(">=", col(1), d(8766)), f("<", col(1), d(9131)), f("<", col(2), expr.Const(num, nil))),
			[]IntRange{{1, 8766, 9130}}},
		{"constant first", f("<", k(10), col(0)), []IntRange{{0, 11, hi}}},
		{"constant first, <=", f(">=", k(10), col(3)), []IntRange{{3, lo, 10}}},
		{"equal", f("=", col(0), expr.Const(i4, int64(7))), []IntRange{{0, 7, 7}}},
		{"nested and, two columns", and(f(">", col(0), k(1)), and(f("<=", col(0), k(9)), f("=", col(3), k(5)))),
			[]IntRange{{0, 2, 9}, {3, 5, 5}}},
		{"disjoint", and(f(">", col(0), k(5)), f("<", col(0), k(3))), []IntRange{{0, 6, 2}}},
		{"nothing less", f("<", col(3), k(math.MinInt64)), []IntRange{{3, 1, 0}}},
		{"nothing greater", f(">", col(3), k(math.MaxInt64)), []IntRange{{3, 1, 0}}},
		{"or", or(f(">", col(0), k(1)), f("<", col(0), k(-1))), nil},
		{"not equal", f("<>", col(0), k(1)), nil},
		{"null constant", f("<", col(0), expr.Const(i8, nil)), nil},
		{"two columns", f("<", col(0), col(3)), nil},
		{"numeric column", f("<", col(2), expr.Const(num, nil)), nil},
		{"date against an integer", f("<", col(1), k(3)), nil},
	} {
		got := IntRanges(tc.e, in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	r := IntRange{Col: 0, Lo: 2, Hi: 9}
	if !r.Has(2) || !r.Has(9) || r.Has(1) || r.Has(10) || (IntRange{Lo: 1, Hi: 0}).Has(0) {
		t.Error("Has")
	}
}
