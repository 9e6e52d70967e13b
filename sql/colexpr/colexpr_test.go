package colexpr

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

type E = meridianpb.Expr

// The test batches' columns.
const (
	cI8 = iota
	cI8b
	cI4
	cI2
	cNum
	cNumB
	cF8
	cF8b
	cText
	cTextB
	cChar
	cCharB
	cDate
	cDateB
	cBool
	cBoolB
	cTS
	nCols
)

var colTypes = []types.Type{
	types.T(types.Int8), types.T(types.Int8), types.T(types.Int4), types.T(types.Int2),
	types.T(types.Numeric), types.T(types.Numeric), types.T(types.Float8), types.T(types.Float8),
	types.T(types.Text), types.T(types.Text), {OID: types.Bpchar, Typmod: 4 + 4}, {OID: types.Bpchar, Typmod: 4 + 4},
	types.T(types.Date), types.T(types.Date), types.T(types.Bool), types.T(types.Bool), types.T(types.Timestamp),
}

func oids() []uint32 {
	out := make([]uint32, len(colTypes))
	for i, t := range colTypes {
		out[i] = t.OID
	}
	return out
}

func colRef(i int) *E { return expr.Column(i, colTypes[i]) }

func call(name string, r types.Type, args ...*E) *E {
	return &E{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: name, TypeOid: r.OID, Typmod: r.Typmod, Args: args}
}

func node(kind meridianpb.ExprKind, r types.Type, args ...*E) *E {
	return &E{Kind: kind, TypeOid: r.OID, Typmod: r.Typmod, Args: args}
}

var tBool = types.T(types.Bool)

func dec(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}

// randValue is a value of column c: small ranges, so that comparisons
// meet equal values, and the edges (overflowing integers, numerics beyond
// an int64, NaN, -0, padded text).
func randValue(rng *rand.Rand, c int, nulls bool) types.Datum {
	if nulls && rng.IntN(7) == 0 {
		return nil
	}
	switch c {
	case cI8, cI8b:
		switch rng.IntN(12) {
		case 0:
			return int64(math.MaxInt64 - rng.Int64N(3))
		case 1:
			return int64(math.MinInt64 + rng.Int64N(3))
		}
		return rng.Int64N(21) - 10
	case cI4:
		if rng.IntN(10) == 0 {
			return int64(math.MaxInt32 - rng.Int64N(2))
		}
		return rng.Int64N(21) - 10
	case cI2:
		if rng.IntN(10) == 0 {
			return int64(math.MaxInt16)
		}
		return rng.Int64N(21) - 10
	case cNum, cNumB:
		switch rng.IntN(14) {
		case 0:
			return dec("NaN")
		case 1:
			return dec("123456789012345678901234567890.5")
		case 2:
			return dec("-92233720368547758.07")
		case 3:
			return dec("9223372036854775807")
		}
		d := apd.New(rng.Int64N(41)-20, -int32(rng.IntN(3)))
		return d
	case cF8, cF8b:
		switch rng.IntN(12) {
		case 0:
			return math.NaN()
		case 1:
			return math.Copysign(0, -1)
		case 2:
			return math.Inf(1)
		}
		return float64(rng.IntN(9)-4) / 2
	case cText, cTextB:
		return []string{"", "a", "ab", "b", "a ", "B"}[rng.IntN(6)]
	case cChar, cCharB:
		return []string{"a   ", "ab  ", "b   ", "    "}[rng.IntN(4)]
	case cDate, cDateB:
		return types.DateVal(rng.Int64N(7) + 9000)
	case cBool, cBoolB:
		return rng.IntN(2) == 0
	case cTS:
		return time.UnixMicro(rng.Int64N(5) * 1e9).UTC()
	}
	panic(c)
}

// randRows returns n rows, with NULLs or (half the time) without.
func randRows(rng *rand.Rand, n int) [][]types.Datum {
	nulls := rng.IntN(2) == 0
	rows := make([][]types.Datum, n)
	for i := range rows {
		rows[i] = make([]types.Datum, nCols)
		for c := range rows[i] {
			rows[i][c] = randValue(rng, c, nulls)
		}
	}
	return rows
}

// batchOf stores rows in a batch and selects a random subset of them.
func batchOf(rng *rand.Rand, rows [][]types.Datum) *coldata.Batch {
	b := coldata.NewBatch(oids())
	b.Reset()
	for i, r := range rows {
		for c, d := range r {
			b.Vecs[c].Set(i, d)
		}
	}
	b.SelectAll(len(rows))
	if rng.IntN(2) == 0 {
		sel := b.Sel[:0]
		for _, i := range b.Sel {
			if rng.IntN(3) > 0 {
				sel = append(sel, i)
			}
		}
		b.Sel = sel
	}
	return b
}

// testExprs are expressions of every vector kernel and of the row by row
// fallback.
func testExprs() []*E {
	var out []*E
	i8, num := types.T(types.Int8), types.T(types.Numeric)
	pairs := [][2]int{{cI8, cI8b}, {cI4, cI8}, {cI2, cI4}, {cNum, cNumB}, {cF8, cF8b}, {cText, cTextB}, {cChar, cCharB}, {cDate, cDateB}}
	consts := map[int]*E{
		cI8: expr.Const(types.T(types.Int8), int64(3)), cNum: expr.Const(types.T(types.Numeric), dec("1.5")),
		cF8: expr.Const(types.T(types.Float8), 0.5), cText: expr.Const(types.T(types.Text), "ab"),
		cChar: expr.Const(colTypes[cChar], "a   "), cDate: expr.Const(types.T(types.Date), types.DateVal(9003)),
	}
	for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
		for _, p := range pairs {
			out = append(out, call(op, tBool, colRef(p[0]), colRef(p[1])))
			if k, ok := consts[p[0]]; ok {
				out = append(out, call(op, tBool, colRef(p[0]), k), call(op, tBool, k, colRef(p[0])))
			}
		}
	}
	i4, i2 := types.T(types.Int4), types.T(types.Int2)
	for _, op := range []string{"+", "-", "*"} {
		out = append(out,
			call(op, i8, colRef(cI8), colRef(cI8b)),
			call(op, i4, colRef(cI4), expr.Const(i4, int64(7))),
			call(op, i2, colRef(cI2), colRef(cI2)),
			call(op, num, colRef(cNum), colRef(cNumB)),
			call(op, num, expr.Const(num, dec("1")), colRef(cNum)),
			call(op, num, call(op, num, colRef(cNum), expr.Const(num, dec("0.01"))), colRef(cNumB)),
		)
	}
	for _, p := range []string{"a%", "%b", "%a%", "a", "", "%", "a%b", "a_", "\\%"} {
		for _, op := range []string{"like", "not like", "ilike"} {
			out = append(out, call(op, tBool, colRef(cText), expr.Const(types.T(types.Text), p)),
				call(op, tBool, colRef(cChar), expr.Const(types.T(types.Text), p)))
		}
	}
	out = append(out, call("like", tBool, colRef(cText), colRef(cTextB)))
	// A string as text: the same string (TPC-H Q13's o_comment::text), but
	// char(n) loses its trailing spaces.
	asText := func(a *E) *E { return node(meridianpb.ExprKind_EXPR_CAST, types.T(types.Text), a) }
	out = append(out,
		call("not like", tBool, asText(colRef(cText)), expr.Const(types.T(types.Text), "%a%b%")),
		call("=", tBool, asText(colRef(cChar)), asText(colRef(cCharB))),
		call("like", tBool, asText(colRef(cChar)), expr.Const(types.T(types.Text), "%a")))
	in := func(args ...*E) *E { return node(meridianpb.ExprKind_EXPR_IN, tBool, args...) }
	txt := func(s string) *E { return expr.Const(types.T(types.Text), s) }
	chr := func(s string) *E { return expr.Const(colTypes[cChar], s) }
	out = append(out,
		in(colRef(cI8), expr.Const(i8, int64(3)), expr.Const(i8, int64(-4)), expr.Const(i8, int64(math.MaxInt64))),
		in(colRef(cText), txt("a"), txt("ab"), txt("")),
		in(colRef(cChar), chr("a   "), chr("b")),
		in(colRef(cDate), expr.Const(types.T(types.Date), types.DateVal(9001)), expr.Const(types.T(types.Date), types.DateVal(9004))),
		in(colRef(cNum), expr.Const(num, dec("1.50")), expr.Const(num, dec("-3")), expr.Const(num, dec("NaN"))),
		in(colRef(cI8), expr.Const(i8, int64(3)), expr.Const(i8, nil)),
		in(colRef(cNum), colRef(cNumB), expr.Const(num, dec("2"))),
		node(meridianpb.ExprKind_EXPR_AND, tBool, in(colRef(cText), txt("a"), txt("b")),
			node(meridianpb.ExprKind_EXPR_CAST, tBool, node(meridianpb.ExprKind_EXPR_CAST, types.T(types.Text), colRef(cBool))),
			node(meridianpb.ExprKind_EXPR_AND, tBool, call("<", tBool, colRef(cI8), colRef(cI8b)), colRef(cBoolB))),
	)
	cmp1 := call("<", tBool, colRef(cI8), colRef(cI8b))
	cmp2 := call("=", tBool, colRef(cText), colRef(cTextB))
	out = append(out,
		node(meridianpb.ExprKind_EXPR_AND, tBool, cmp1, cmp2, colRef(cBool)),
		node(meridianpb.ExprKind_EXPR_OR, tBool, cmp1, colRef(cBoolB), cmp2),
		node(meridianpb.ExprKind_EXPR_NOT, tBool, node(meridianpb.ExprKind_EXPR_OR, tBool, colRef(cBool), cmp2)),
		node(meridianpb.ExprKind_EXPR_IS_NULL, tBool, colRef(cNum)),
		node(meridianpb.ExprKind_EXPR_IS_NOT_NULL, tBool, call("+", num, colRef(cNum), colRef(cNumB))),
		// AND and OR evaluate an argument only on the rows the ones before
		// left open: the division by zero is not reached where b = 0.
		node(meridianpb.ExprKind_EXPR_AND, tBool,
			call("<>", tBool, colRef(cI8b), expr.Const(i8, int64(0))),
			call(">", tBool, call("/", i8, colRef(cI8), colRef(cI8b)), expr.Const(i8, int64(0)))),
		node(meridianpb.ExprKind_EXPR_OR, tBool,
			call("=", tBool, colRef(cI8b), expr.Const(i8, int64(0))),
			call(">", tBool, call("/", i8, colRef(cI8), colRef(cI8b)), expr.Const(i8, int64(0)))),
		// The row by row fallback: a cast, CASE, a timestamp, a mixed
		// comparison, and kernels over a fallback's result.
		node(meridianpb.ExprKind_EXPR_CAST, types.T(types.Text), colRef(cNum)),
		node(meridianpb.ExprKind_EXPR_CASE, num, colRef(cBool), colRef(cNum), colRef(cNumB)),
		call("<", tBool, colRef(cTS), colRef(cTS)),
		call("<", tBool, colRef(cI8), colRef(cNum)),
		call("+", num, node(meridianpb.ExprKind_EXPR_CAST, num, colRef(cI4)), colRef(cNum)),
		node(meridianpb.ExprKind_EXPR_AND, tBool, call("<", tBool, colRef(cTS), colRef(cTS)), cmp1),
		expr.Const(num, nil),
		expr.Const(types.T(types.Interval), types.IntervalVal{Days: 1}),
	)
	return out
}

// rowResults evaluates e on the selected rows one at a time.
func rowResults(e *E, rows [][]types.Datum, sel []int) ([]types.Datum, error) {
	ev, err := expr.Compile(e)
	if err != nil {
		return nil, err
	}
	out := make([]types.Datum, len(rows))
	for _, i := range sel {
		if out[i], err = ev(rows[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func code(err error) string {
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return err.Error()
}

func same(a, b types.Datum) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) {
		return false
	}
	if x, ok := a.(*apd.Decimal); ok {
		// the same value and the same scale (the text PostgreSQL prints)
		return x.String() == b.(*apd.Decimal).String()
	}
	if x, ok := a.(float64); ok {
		y := b.(float64)
		return x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y)
	}
	return types.Compare(a, b) == 0
}

// TestAgainstRowEvaluation checks every expression's vector result, and
// its filter, against sql/expr's row at a time evaluation on random
// batches: the same values (type and scale included), the same rows
// kept, the same errors.
func TestAgainstRowEvaluation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	exprs := testExprs()
	for round := 0; round < 60; round++ {
		rows := randRows(rng, 1+rng.IntN(coldata.BatchSize))
		for _, e := range exprs {
			b := batchOf(rng, rows)
			sel := append([]int(nil), b.Sel...)
			want, wantErr := rowResults(e, rows, sel)
			c := &Compiler{In: oids()}
			x, err := c.Compile(e)
			if err != nil {
				t.Fatalf("%v: compile: %v", e, err)
			}
			v, err := x.Eval(b)
			if (err != nil) != (wantErr != nil) || err != nil && code(err) != code(wantErr) {
				t.Fatalf("%v: error %v, row evaluation's %v", e, err, wantErr)
			}
			if fmt.Sprint(b.Sel) != fmt.Sprint(sel) {
				t.Fatalf("%v: Eval changed the selection", e)
			}
			if err != nil {
				continue
			}
			for _, i := range sel {
				if got := v.Datum(i); !same(got, want[i]) {
					t.Fatalf("%v row %v: got %v (%T), want %v (%T)", e, rows[i], got, got, want[i], want[i])
				}
			}
			if e.TypeOid != types.Bool {
				continue
			}
			f, err := c.CompileFilter(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := f(b); err != nil {
				t.Fatalf("%v: filter: %v", e, err)
			}
			var kept []int
			for _, i := range sel {
				if want[i] == true {
					kept = append(kept, i)
				}
			}
			if fmt.Sprint(b.Sel) != fmt.Sprint(kept) && !(len(b.Sel) == 0 && len(kept) == 0) {
				t.Fatalf("%v: filter kept %v, want %v", e, b.Sel, kept)
			}
		}
	}
}

// TestKernelsChosen guards the speed of the common shapes: they must not
// fall back to row by row evaluation.
func TestKernelsChosen(t *testing.T) {
	num := types.T(types.Numeric)
	c := &Compiler{In: oids()}
	for _, e := range []*E{
		call("<=", tBool, colRef(cDate), expr.Const(types.T(types.Date), types.DateVal(9000))),
		call("*", num, colRef(cNum), call("-", num, expr.Const(num, dec("1")), colRef(cNumB))),
		node(meridianpb.ExprKind_EXPR_AND, tBool, call("<", tBool, colRef(cI8), colRef(cI8b)), colRef(cBool)),
		call("not like", tBool, colRef(cText), expr.Const(types.T(types.Text), "%special%requests%")),
		call("not like", tBool, node(meridianpb.ExprKind_EXPR_CAST, types.T(types.Text), colRef(cText)), expr.Const(types.T(types.Text), "%special%requests%")),
	} {
		x, err := c.vec(e)
		if err != nil || x == nil {
			t.Errorf("%v: no vector kernel (%v)", e, err)
		}
	}
}

func BenchmarkFilterQ6(b *testing.B) {
	num, date := types.T(types.Numeric), types.T(types.Date)
	f := node(meridianpb.ExprKind_EXPR_AND, tBool,
		call(">=", tBool, colRef(cDate), expr.Const(date, types.DateVal(9001))),
		call("<", tBool, colRef(cDate), expr.Const(date, types.DateVal(9005))),
		call(">=", tBool, colRef(cNum), expr.Const(num, dec("-5"))),
		call("<=", tBool, colRef(cNum), expr.Const(num, dec("5"))),
		call("<", tBool, colRef(cNumB), expr.Const(num, dec("10"))),
	)
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]types.Datum, coldata.BatchSize)
	for i := range rows {
		rows[i] = make([]types.Datum, nCols)
		for c := range rows[i] {
			rows[i][c] = randValue(rng, c, false)
		}
	}
	bt := coldata.NewBatch(oids())
	for i, r := range rows {
		for c, d := range r {
			bt.Vecs[c].Set(i, d)
		}
	}
	c := &Compiler{In: oids()}
	filter, err := c.CompileFilter(f)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.SelectAll(coldata.BatchSize)
		if err := filter(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*coldata.BatchSize), "ns/row")
}

// An expression evaluated row by row gives a vector of its type (a kernel
// over it reads that kind), or, for a batch where the evaluator returns a
// value of another Go type, its results as datums, none lost.
func TestRowwiseVector(t *testing.T) {
	bt := coldata.NewBatch(oids())
	for i := 0; i < 10; i++ {
		bt.Vecs[cI8].Set(i, int64(i))
	}
	bt.SelectAll(10)
	odd := false
	c := &Compiler{In: oids(), Row: func(*E) (expr.Eval, error) {
		return func(r []types.Datum) (types.Datum, error) {
			n := r[cI8].(int64)
			if odd && n == 7 {
				return n, nil // not a string
			}
			return fmt.Sprint("v", n), nil
		}, nil
	}}
	x, err := c.Compile(call("some_text_function", types.T(types.Text), colRef(cI8)))
	if err != nil {
		t.Fatal(err)
	}
	for _, odd = range []bool{false, true} {
		v, err := x.Eval(bt)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]coldata.Kind{false: coldata.Str, true: coldata.Any}[odd]; v.Kind != want {
			t.Fatalf("odd=%v: a vector of kind %v, want %v", odd, v.Kind, want)
		}
		for i := 0; i < 10; i++ {
			want := types.Datum(fmt.Sprint("v", i))
			if odd && i == 7 {
				want = int64(7)
			}
			if got := v.Datum(i); got != want {
				t.Errorf("odd=%v: row %d = %v, want %v", odd, i, got, want)
			}
		}
	}
}
