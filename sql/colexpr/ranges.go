package colexpr

import (
	"math"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// IntRange is the closed range [Lo, Hi] a filter bounds an integer or
// date column to (Lo > Hi: no value).
type IntRange struct {
	Col    int
	Lo, Hi int64
}

// Has reports v within the range.
func (r IntRange) Has(v int64) bool { return v >= r.Lo && v <= r.Hi }

// IntRanges returns the ranges the conjuncts of filter e (over columns of
// types in) bound integer and date columns to: comparisons of such a
// column with a constant of its kind (=, <, <=, >, >=, BETWEEN as two of
// them), those of one column intersected. A row outside a column's
// range, or NULL in it, fails the filter, so a scan may drop it as soon
// as it has decoded that column (codec.ColDecoder.SetGate). Other
// conjuncts bound nothing.
func IntRanges(e *meridianpb.Expr, in []uint32) []IntRange {
	var out []IntRange
	var walk func(e *meridianpb.Expr)
	walk = func(e *meridianpb.Expr) {
		if e == nil {
			return
		}
		if e.Kind == meridianpb.ExprKind_EXPR_AND {
			for _, a := range e.Args {
				walk(a)
			}
			return
		}
		col, lo, hi, ok := intBound(e, in)
		if !ok {
			return
		}
		for i := range out {
			if out[i].Col == col {
				out[i].Lo, out[i].Hi = max(out[i].Lo, lo), min(out[i].Hi, hi)
				return
			}
		}
		out = append(out, IntRange{Col: col, Lo: lo, Hi: hi})
	}
	walk(e)
	return out
}

// intBound returns the range comparison e bounds its column to, false
// when e is not such a comparison.
func intBound(e *meridianpb.Expr, in []uint32) (col int, lo, hi int64, ok bool) {
	if e.Kind != meridianpb.ExprKind_EXPR_FUNC || len(e.Args) != 2 {
		return 0, 0, 0, false
	}
	op := e.Name
	c, k := e.Args[0], e.Args[1]
	if c.Kind != meridianpb.ExprKind_EXPR_COLUMN {
		c, k = k, c
		switch op { // const op col is col op' const
		case "<":
			op = ">"
		case "<=":
			op = ">="
		case ">":
			op = "<"
		case ">=":
			op = "<="
		}
	}
	if c.Kind != meridianpb.ExprKind_EXPR_COLUMN || k.Kind != meridianpb.ExprKind_EXPR_CONST || k.IsNull ||
		c.Index < 0 || int(c.Index) >= len(in) {
		return 0, 0, 0, false
	}
	kind := coldata.KindOf(in[c.Index])
	if (kind != coldata.Int && kind != coldata.Date) || coldata.KindOf(k.TypeOid) != kind || coldata.KindOf(c.TypeOid) != kind {
		return 0, 0, 0, false
	}
	d, err := expr.ConstValue(k)
	if err != nil {
		return 0, 0, 0, false
	}
	var v int64
	switch x := d.(type) {
	case int64:
		v = x
	case types.DateVal:
		v = int64(x)
	default:
		return 0, 0, 0, false
	}
	lo, hi = math.MinInt64, math.MaxInt64
	switch op {
	case "=":
		lo, hi = v, v
	case "<":
		if v == math.MinInt64 {
			return int(c.Index), 1, 0, true // nothing is less
		}
		hi = v - 1
	case "<=":
		hi = v
	case ">":
		if v == math.MaxInt64 {
			return int(c.Index), 1, 0, true
		}
		lo = v + 1
	case ">=":
		lo = v
	default:
		return 0, 0, 0, false
	}
	return int(c.Index), lo, hi, true
}
