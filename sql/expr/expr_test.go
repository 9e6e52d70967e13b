package expr

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

type E = meridianpb.Expr

var (
	tInt2      = types.T(types.Int2)
	tInt4      = types.T(types.Int4)
	tInt8      = types.T(types.Int8)
	tNum       = types.T(types.Numeric)
	tF4        = types.T(types.Float4)
	tF8        = types.T(types.Float8)
	tBool      = types.T(types.Bool)
	tText      = types.T(types.Text)
	tBytea     = types.T(types.Bytea)
	tDate      = types.T(types.Date)
	tTS        = types.T(types.Timestamp)
	tTSTZ      = types.T(types.TimestampTZ)
	tInterval  = types.T(types.Interval)
	tChar3     = types.Type{OID: types.Bpchar, Typmod: 3 + 4}
	tVarchar10 = types.Type{OID: types.Varchar, Typmod: 10 + 4}
)

// lit is a constant of type t given in PostgreSQL's text form ("NULL"
// for NULL).
func lit(t types.Type, s string) *E {
	if s == "NULL" {
		return Const(t, nil)
	}
	d, err := types.ParseText(t, s)
	if err != nil {
		panic(err)
	}
	return Const(t, d)
}

func i2(v int64) *E        { return Const(tInt2, v) }
func i4(v int64) *E        { return Const(tInt4, v) }
func i8(v int64) *E        { return Const(tInt8, v) }
func num(s string) *E      { return lit(tNum, s) }
func f8(v float64) *E      { return Const(tF8, v) }
func f4(v float64) *E      { return Const(tF4, float64(float32(v))) }
func txt(s string) *E      { return Const(tText, s) }
func bl(v bool) *E         { return Const(tBool, v) }
func null(t types.Type) *E { return Const(t, nil) }

func call(name string, r types.Type, args ...*E) *E {
	return &E{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: name, TypeOid: r.OID, Typmod: r.Typmod, Args: args}
}

func node(kind meridianpb.ExprKind, r types.Type, args ...*E) *E {
	return &E{Kind: kind, TypeOid: r.OID, Typmod: r.Typmod, Args: args}
}

func and(args ...*E) *E           { return node(meridianpb.ExprKind_EXPR_AND, tBool, args...) }
func or(args ...*E) *E            { return node(meridianpb.ExprKind_EXPR_OR, tBool, args...) }
func not(a *E) *E                 { return node(meridianpb.ExprKind_EXPR_NOT, tBool, a) }
func cast(a *E, to types.Type) *E { return node(meridianpb.ExprKind_EXPR_CAST, to, a) }

// exprCase is an expression and what PostgreSQL 15 returns for it: the
// text of the value, "NULL", or "ERR <SQLSTATE>".
type exprCase struct {
	name string
	e    *E
	want string
}

func run(t *testing.T, cases []exprCase) {
	t.Helper()
	for _, c := range cases {
		got := evalText(c.e, nil)
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.name, got, c.want)
		}
	}
}

func evalText(e *E, row []types.Datum) string {
	ev, err := Compile(e)
	if err != nil {
		return "ERR " + pgerr.Code(err) + " (compile: " + err.Error() + ")"
	}
	d, err := ev(row)
	if err != nil {
		return "ERR " + pgerr.Code(err)
	}
	if d == nil {
		return "NULL"
	}
	return types.FormatText(TypeOf(e), d)
}

func TestIntegerArithmetic(t *testing.T) {
	run(t, []exprCase{
		{"int4 2147483647 + 1", call("+", tInt4, i4(math.MaxInt32), i4(1)), "ERR 22003"},
		{"int4 -2147483647 - 2", call("-", tInt4, i4(-math.MaxInt32), i4(2)), "ERR 22003"},
		{"int4 65536 * 65536", call("*", tInt4, i4(65536), i4(65536)), "ERR 22003"},
		{"int4 2147483646 + 1", call("+", tInt4, i4(math.MaxInt32-1), i4(1)), "2147483647"},
		{"int8 max + 1", call("+", tInt8, i8(math.MaxInt64), i8(1)), "ERR 22003"},
		{"int8 min - 1", call("-", tInt8, i8(math.MinInt64), i8(1)), "ERR 22003"},
		{"int8 -9223372036854775807 - 2", call("-", tInt8, i8(-math.MaxInt64), i8(2)), "ERR 22003"},
		{"int8 1 - min", call("-", tInt8, i8(1), i8(math.MinInt64)), "ERR 22003"},
		{"int8 0 - min", call("-", tInt8, i8(0), i8(math.MinInt64)), "ERR 22003"},
		{"int8 -1 - min", call("-", tInt8, i8(-1), i8(math.MinInt64)), "9223372036854775807"},
		{"int8 2^62 * 2", call("*", tInt8, i8(1<<62), i8(2)), "ERR 22003"},
		{"int8 -2^62 * 2", call("*", tInt8, i8(-1<<62), i8(2)), "-9223372036854775808"},
		{"int8 min * -1", call("*", tInt8, i8(math.MinInt64), i8(-1)), "ERR 22003"},
		{"int8 -1 * min", call("*", tInt8, i8(-1), i8(math.MinInt64)), "ERR 22003"},
		{"int8 3037000500 * 3037000500", call("*", tInt8, i8(3037000500), i8(3037000500)), "ERR 22003"},
		{"int8 min / -1", call("/", tInt8, i8(math.MinInt64), i8(-1)), "ERR 22003"},
		{"int8 min % -1", call("%", tInt8, i8(math.MinInt64), i8(-1)), "0"},
		{"int4 min / -1", call("/", tInt4, i4(math.MinInt32), i4(-1)), "ERR 22003"},
		{"int4 min % -1", call("%", tInt4, i4(math.MinInt32), i4(-1)), "0"},
		{"int2 32767 + 1", call("+", tInt2, i2(32767), i2(1)), "ERR 22003"},
		{"int2 -32768 * -1", call("*", tInt2, i2(-32768), i2(-1)), "ERR 22003"},
		{"int2 + int4 is int4", call("+", tInt4, i2(32767), i4(1)), "32768"},
		{"5 / 2", call("/", tInt4, i4(5), i4(2)), "2"},
		{"-5 / 2", call("/", tInt4, i4(-5), i4(2)), "-2"},
		{"-5 % 3", call("%", tInt4, i4(-5), i4(3)), "-2"},
		{"5 % -3", call("%", tInt4, i4(5), i4(-3)), "2"},
		{"mod(7, 3)", call("mod", tInt4, i4(7), i4(3)), "1"},
		{"1 / 0", call("/", tInt4, i4(1), i4(0)), "ERR 22012"},
		{"1 % 0", call("%", tInt4, i4(1), i4(0)), "ERR 22012"},
		{"int8 0 / 0", call("/", tInt8, i8(0), i8(0)), "ERR 22012"},
		{"int2 1 / 0", call("/", tInt2, i2(1), i2(0)), "ERR 22012"},
		{"-(-32768::int2)", call("u-", tInt2, i2(-32768)), "ERR 22003"},
		{"-(int4 min)", call("u-", tInt4, i4(math.MinInt32)), "ERR 22003"},
		{"-(int8 min)", call("u-", tInt8, i8(math.MinInt64)), "ERR 22003"},
		{"-(5)", call("u-", tInt4, i4(5)), "-5"},
		{"abs(-32768::int2)", call("abs", tInt2, i2(-32768)), "ERR 22003"},
		{"abs(int4 min)", call("abs", tInt4, i4(math.MinInt32)), "ERR 22003"},
		{"abs(int8 min)", call("abs", tInt8, i8(math.MinInt64)), "ERR 22003"},
		{"abs(-5)", call("abs", tInt4, i4(-5)), "5"},
		{"NULL + 1", call("+", tInt4, null(tInt4), i4(1)), "NULL"},
		{"1 + NULL", call("+", tInt4, i4(1), null(tInt4)), "NULL"},
	})
}

func TestFloatArithmetic(t *testing.T) {
	run(t, []exprCase{
		{"0.1 + 0.2", call("+", tF8, f8(0.1), f8(0.2)), "0.30000000000000004"},
		{"1.5e300 * 1e10", call("*", tF8, f8(1.5e300), f8(1e10)), "ERR 22003"},
		{"1e300 + 1e300 - 1e300", call("-", tF8, call("+", tF8, f8(1e300), f8(1e300)), f8(1e300)), "1e+300"},
		{"1e308 + 1e308", call("+", tF8, f8(1e308), f8(1e308)), "ERR 22003"},
		{"1e-300 * 1e-300", call("*", tF8, f8(1e-300), f8(1e-300)), "ERR 22003"},
		{"1e-300 / 1e300", call("/", tF8, f8(1e-300), f8(1e300)), "ERR 22003"},
		{"1e-300 + 1e-300", call("+", tF8, f8(1e-300), f8(1e-300)), "2e-300"},
		{"0 * 1e-300", call("*", tF8, f8(0), f8(1e-300)), "0"},
		{"1 / 0", call("/", tF8, f8(1), f8(0)), "ERR 22012"},
		{"inf / 0", call("/", tF8, f8(math.Inf(1)), f8(0)), "ERR 22012"},
		{"NaN / 0", call("/", tF8, f8(math.NaN()), f8(0)), "NaN"},
		{"0 / inf", call("/", tF8, f8(0), f8(math.Inf(1))), "0"},
		{"1 / inf", call("/", tF8, f8(1), f8(math.Inf(1))), "0"},
		{"inf + 1", call("+", tF8, f8(math.Inf(1)), f8(1)), "Infinity"},
		{"inf - inf", call("-", tF8, f8(math.Inf(1)), f8(math.Inf(1))), "NaN"},
		{"inf * 0", call("*", tF8, f8(math.Inf(1)), f8(0)), "NaN"},
		{"-(0::float8)", call("u-", tF8, f8(0)), "-0"},
		{"abs(-0::float8)", call("abs", tF8, f8(math.Copysign(0, -1))), "0"},
		{"real 1e-45 * 0.1", call("*", tF4, f4(1e-45), f4(0.1)), "ERR 22003"},
		{"real 3e38 * 10", call("*", tF4, f4(3e38), f4(10)), "ERR 22003"},
		{"real 0.1 + 0.2", call("+", tF4, f4(0.1), f4(0.2)), "0.3"},
		{"real 1 / 3", call("/", tF4, f4(1), f4(3)), "0.33333334"},
		{"int4 + float8", call("+", tF8, i4(1), f8(0.5)), "1.5"},
		{"numeric + float8", call("+", tF8, num("0.1"), f8(0.2)), "0.30000000000000004"},
		{"round(2.5::float8)", call("round", tF8, f8(2.5)), "2"},
		{"round(3.5::float8)", call("round", tF8, f8(3.5)), "4"},
		{"round(-2.5::float8)", call("round", tF8, f8(-2.5)), "-2"},
		{"floor(-1.5::float8)", call("floor", tF8, f8(-1.5)), "-2"},
		{"ceil(-0.2::float8)", call("ceil", tF8, f8(-0.2)), "-0"},
		{"sqrt(2)", call("sqrt", tF8, f8(2)), "1.4142135623730951"},
		{"sqrt(-1)", call("sqrt", tF8, f8(-1)), "ERR 2201F"},
	})
}

func TestNumericArithmetic(t *testing.T) {
	div := func(a, b string) *E { return call("/", tNum, num(a), num(b)) }
	run(t, []exprCase{
		{"1/3", div("1", "3"), "0.33333333333333333333"},
		{"10/4", div("10", "4"), "2.5000000000000000"},
		{"1.0/3", div("1.0", "3"), "0.33333333333333333333"},
		{"2/3", div("2", "3"), "0.66666666666666666667"},
		{"100/7", div("100", "7"), "14.2857142857142857"},
		{"1/3000", div("1", "3000"), "0.00033333333333333333"},
		{"123456789/3", div("123456789", "3"), "41152263.000000000000"},
		{"1/0.0003", div("1", "0.0003"), "3333.3333333333333333"},
		{"0.1/3", div("0.1", "3"), "0.03333333333333333333"},
		{"1e-20/3", div("1e-20", "3"), "0.0000000000000000000033333333333333333333"},
		{"1.23456789/1.1", div("1.23456789", "1.1"), "1.12233444545454545455"},
		{"-7/2", div("-7", "2"), "-3.5000000000000000"},
		{"7/-2", div("7", "-2"), "-3.5000000000000000"},
		{"-2/3", div("-2", "3"), "-0.66666666666666666667"},
		{"1e20/7", div("1e20", "7"), "14285714285714285714"},
		{"0/3", div("0", "3"), "0.00000000000000000000"},
		{"0.000/3", div("0.000", "3"), "0.00000000000000000000"},
		{"-0.0000001/1e10", div("-0.0000001", "1e10"), "-0.000000000000000010000000000000000000"},
		{"1/0", div("1", "0"), "ERR 22012"},
		{"1/0.000", div("1", "0.000"), "ERR 22012"},
		{"NaN/0", div("NaN", "0"), "NaN"},
		{"1/NaN", div("1", "NaN"), "NaN"},
		{"int4 1 / numeric 3", call("/", tNum, i4(1), num("3")), "0.33333333333333333333"},
		{"10 % 3", call("%", tNum, num("10"), num("3")), "1"},
		{"-10.5 % 3", call("%", tNum, num("-10.5"), num("3")), "-1.5"},
		{"5 % 0.3", call("%", tNum, num("5"), num("0.3")), "0.2"},
		{"-7 % 2", call("%", tNum, num("-7"), num("2")), "-1"},
		{"-3 % 3", call("%", tNum, num("-3"), num("3")), "0"},
		{"1e20 % 7", call("%", tNum, num("1e20"), num("7")), "2"},
		{"10 % 0", call("%", tNum, num("10"), num("0")), "ERR 22012"},
		{"NaN % 0", call("%", tNum, num("NaN"), num("0")), "NaN"},
		{"1.5 + 1.25", call("+", tNum, num("1.5"), num("1.25")), "2.75"},
		{"1.50 * 2.0", call("*", tNum, num("1.50"), num("2.0")), "3.000"},
		{"-5.5 * 0", call("*", tNum, num("-5.5"), num("0")), "0.0"},
		{"-1.5 + 1.5", call("+", tNum, num("-1.5"), num("1.5")), "0.0"},
		{"1.5 - 1.5", call("-", tNum, num("1.5"), num("1.5")), "0.0"},
		{"-(0)", call("u-", tNum, num("0")), "0"},
		{"-(1.50)", call("u-", tNum, num("1.50")), "-1.50"},
		{"1e100000 + 1e-16383 is exact", call("-", tNum, call("+", tNum, num("1e100000"), num("1e-16383")), num("1e100000")),
			"0." + strings.Repeat("0", 16382) + "1"},
		{"9e100000 * 10", call("*", tNum, num("9e100000"), num("10")), "ERR 22003"},
		{"1e-10000 * 1e-10000 rounds to scale 16383", call("*", tNum, num("1e-10000"), num("1e-10000")), "0." + strings.Repeat("0", 16383)},
		{"NaN + 1", call("+", tNum, num("NaN"), num("1")), "NaN"},
		{"int8 + numeric", call("+", tNum, i8(math.MaxInt64), num("1")), "9223372036854775808"},
		{"round(2.5)", call("round", tNum, num("2.5")), "3"},
		{"round(-2.5)", call("round", tNum, num("-2.5")), "-3"},
		{"round(-0.4)", call("round", tNum, num("-0.4")), "0"},
		{"round(2.567, 1)", call("round", tNum, num("2.567"), i4(1)), "2.6"},
		{"round(1.2345, 2)", call("round", tNum, num("1.2345"), i4(2)), "1.23"},
		{"round(1234.567, -2)", call("round", tNum, num("1234.567"), i4(-2)), "1200"},
		{"round(1.5, 3)", call("round", tNum, num("1.5"), i4(3)), "1.500"},
		{"round(NaN)", call("round", tNum, num("NaN")), "NaN"},
		{"floor(-1.5)", call("floor", tNum, num("-1.5")), "-2"},
		{"ceil(1.2)", call("ceil", tNum, num("1.2")), "2"},
		{"ceil(-0.5)", call("ceil", tNum, num("-0.5")), "0"},
		{"ceiling(-0.5)", call("ceiling", tNum, num("-0.5")), "0"},
		{"abs(-1.50)", call("abs", tNum, num("-1.50")), "1.50"},
	})
	// PostgreSQL caps a quotient's scale at 1000.
	if got := evalText(div("1e-10000", "3"), nil); got != "0."+strings.Repeat("0", 1000) {
		t.Errorf("1e-10000/3 = %.40s... (%d chars)", got, len(got))
	}
}

// NumericDivScale is select_div_scale: base-10000 weights and first
// digits, at least 16 significant digits.
func TestNumericDivScale(t *testing.T) {
	for _, c := range []struct {
		x, y string
		want int32
	}{
		{"1", "3", 20}, {"10", "4", 16}, {"9999", "1", 16}, {"10000", "1", 16},
		{"1", "9999", 20}, {"1", "10000", 24}, {"0.0001", "1", 24}, {"0.001", "1", 20},
		{"1", "0.0001", 16}, {"12345678", "1", 12}, {"1.123456789012345678901", "1", 21},
		{"1", "1.1234567890123456789012345", 25}, {"0", "5", 20}, {"1e-10000", "3", 1000},
	} {
		x, _, _ := apd.NewFromString(c.x)
		y, _, _ := apd.NewFromString(c.y)
		if got := NumericDivScale(x, y); got != c.want {
			t.Errorf("NumericDivScale(%s, %s) = %d, want %d", c.x, c.y, got, c.want)
		}
	}
}

// A quotient's last digit is rounded half away from zero from the exact
// quotient (no double rounding).
func TestNumericDivExact(t *testing.T) {
	x, _, _ := apd.NewFromString("1")
	y, _, _ := apd.NewFromString("8")
	q, err := NumericDiv(x, y)
	if err != nil || q.String() != "0.12500000000000000000" {
		t.Errorf("1/8 = %s, %v", q, err)
	}
	// 0.12345678901234567499999... rounds at its 20th digit, as
	// PostgreSQL prints it
	x, _, _ = apd.NewFromString("1234567890123456749999999999999999999999")
	y, _, _ = apd.NewFromString("10000000000000000000000000000000000000000")
	q, _ = NumericDiv(x, y)
	if got := q.Text('f'); got != "0.12345678901234567500" {
		t.Errorf("quotient = %s, want 0.12345678901234567500", got)
	}
	// ... and 2/3's last digit rounds up, -2/3's away from zero
	for s, want := range map[string]string{"2": "0.66666666666666666667", "-2": "-0.66666666666666666667"} {
		x, _, _ = apd.NewFromString(s)
		y, _, _ = apd.NewFromString("3")
		if q, _ = NumericDiv(x, y); q.Text('f') != want {
			t.Errorf("%s/3 = %s", s, q.Text('f'))
		}
	}
}

func TestBoolLogic(t *testing.T) {
	n := null(tBool)
	T, F := bl(true), bl(false)
	run(t, []exprCase{
		{"T AND T", and(T, T), "t"}, {"T AND F", and(T, F), "f"}, {"T AND NULL", and(T, n), "NULL"},
		{"F AND T", and(F, T), "f"}, {"F AND F", and(F, F), "f"}, {"F AND NULL", and(F, n), "f"},
		{"NULL AND T", and(n, T), "NULL"}, {"NULL AND F", and(n, F), "f"}, {"NULL AND NULL", and(n, n), "NULL"},
		{"T OR T", or(T, T), "t"}, {"T OR F", or(T, F), "t"}, {"T OR NULL", or(T, n), "t"},
		{"F OR T", or(F, T), "t"}, {"F OR F", or(F, F), "f"}, {"F OR NULL", or(F, n), "NULL"},
		{"NULL OR T", or(n, T), "t"}, {"NULL OR F", or(n, F), "NULL"}, {"NULL OR NULL", or(n, n), "NULL"},
		{"NOT T", not(T), "f"}, {"NOT F", not(F), "t"}, {"NOT NULL", not(n), "NULL"},
		{"T AND T AND NULL AND F", and(T, T, n, F), "f"},
		{"F OR NULL OR F", or(F, n, F), "NULL"},
		{"NULL IS NULL", node(meridianpb.ExprKind_EXPR_IS_NULL, tBool, null(tInt4)), "t"},
		{"1 IS NULL", node(meridianpb.ExprKind_EXPR_IS_NULL, tBool, i4(1)), "f"},
		{"NULL IS NOT NULL", node(meridianpb.ExprKind_EXPR_IS_NOT_NULL, tBool, null(tInt4)), "f"},
		{"'' IS NOT NULL", node(meridianpb.ExprKind_EXPR_IS_NOT_NULL, tBool, txt("")), "t"},
		{"(1/0) IS NULL", node(meridianpb.ExprKind_EXPR_IS_NULL, tBool, call("/", tInt4, i4(1), i4(0))), "ERR 22012"},
		{"NOT (1/0 = 1)", not(call("=", tBool, call("/", tInt4, i4(1), i4(0)), i4(1))), "ERR 22012"},
		{"NULL AND (1/0 = 1)", and(n, call("=", tBool, call("/", tInt4, i4(1), i4(0)), i4(1))), "ERR 22012"},
	})
	if !IsTrue(true) || IsTrue(false) || IsTrue(nil) || IsTrue(int64(1)) {
		t.Error("IsTrue")
	}
}

func TestInCaseCoalesceNullif(t *testing.T) {
	in := func(args ...*E) *E { return node(meridianpb.ExprKind_EXPR_IN, tBool, args...) }
	cs := func(r types.Type, args ...*E) *E { return node(meridianpb.ExprKind_EXPR_CASE, r, args...) }
	co := func(r types.Type, args ...*E) *E { return node(meridianpb.ExprKind_EXPR_COALESCE, r, args...) }
	nullif := func(r types.Type, a, b *E) *E { return node(meridianpb.ExprKind_EXPR_NULLIF, r, a, b) }
	boom := call("/", tInt4, i4(1), i4(0))
	run(t, []exprCase{
		{"NULL IN (1, 2)", in(null(tInt4), i4(1), i4(2)), "NULL"},
		{"1 IN (1, NULL)", in(i4(1), i4(1), null(tInt4)), "t"},
		{"2 IN (1, NULL)", in(i4(2), i4(1), null(tInt4)), "NULL"},
		{"2 IN (1, 3)", in(i4(2), i4(1), i4(3)), "f"},
		{"2 IN (NULL, 2)", in(i4(2), null(tInt4), i4(2)), "t"},
		{"1 IN (1.0)", in(i4(1), num("1.0")), "t"},
		{"1.5 IN (1, 2)", in(num("1.5"), i4(1), i4(2)), "f"},
		{"'a' IN ('b', 'a')", in(txt("a"), txt("b"), txt("a")), "t"},
		{"1 IN (1, 1/0) stops at the match", in(i4(1), i4(1), boom), "t"},
		{"2 IN (1, 1/0)", in(i4(2), i4(1), boom), "ERR 22012"},
		{"NULL IN (1, 1/0)", in(null(tInt4), i4(1), boom), "ERR 22012"},
		{"NULL IN (NULL)", in(null(tInt4), null(tInt4)), "NULL"},

		{"CASE WHEN NULL THEN 1 WHEN false THEN 2 WHEN true THEN 3 ELSE 4 END",
			cs(tInt4, null(tBool), i4(1), bl(false), i4(2), bl(true), i4(3), i4(4)), "3"},
		{"CASE WHEN false THEN 1 END", cs(tInt4, bl(false), i4(1), null(tInt4)), "NULL"},
		{"CASE WHEN NULL THEN 1 ELSE 2 END", cs(tInt4, null(tBool), i4(1), i4(2)), "2"},
		{"CASE WHEN true THEN 1 ELSE 1/0 END", cs(tInt4, bl(true), i4(1), boom), "1"},
		{"CASE WHEN false THEN 1/0 ELSE 0 END", cs(tInt4, bl(false), boom, i4(0)), "0"},
		{"CASE ELSE 7 END", cs(tInt4, i4(7)), "7"},
		{"CASE WHEN 1/0 = 1 THEN 1 END", cs(tInt4, call("=", tBool, boom, i4(1)), i4(1), null(tInt4)), "ERR 22012"},

		{"COALESCE(NULL, NULL, 3, 1/0)", co(tInt4, null(tInt4), null(tInt4), i4(3), boom), "3"},
		{"COALESCE(NULL)", co(tInt4, null(tInt4)), "NULL"},
		{"COALESCE(1/0, 1)", co(tInt4, boom, i4(1)), "ERR 22012"},
		{"COALESCE('', 'x')", co(tText, txt(""), txt("x")), ""},

		{"NULLIF(1, 1)", nullif(tInt4, i4(1), i4(1)), "NULL"},
		{"NULLIF(1, 2)", nullif(tInt4, i4(1), i4(2)), "1"},
		{"NULLIF(NULL, 1)", nullif(tInt4, null(tInt4), i4(1)), "NULL"},
		{"NULLIF(1, NULL)", nullif(tInt4, i4(1), null(tInt4)), "1"},
		{"NULLIF(1.0, 1.00)", nullif(tNum, num("1.0"), num("1.00")), "NULL"},
		{"NULLIF(1, 1.0)", nullif(tInt4, i4(1), num("1.0")), "NULL"},
		{"NULLIF('a', 'b')", nullif(tText, txt("a"), txt("b")), "a"},
		{"NULLIF(NULL, 1/0)", nullif(tInt4, null(tInt4), boom), "ERR 22012"},

		// char(n) against char(n) ignores trailing spaces (bpchareq).
		{"'ab '::char(3) IN ('ab'::bpchar)", in(lit(tChar3, "ab"), Const(types.T(types.Bpchar), "ab")), "t"},
		{"'ab '::char(3) IN ('ab  '::bpchar)", in(lit(tChar3, "ab"), Const(types.T(types.Bpchar), "ab  ")), "t"},
		{"'ab '::char(3) IN ('a'::bpchar)", in(lit(tChar3, "ab"), Const(types.T(types.Bpchar), "a")), "f"},
		{"text 'ab ' IN ('ab')", in(txt("ab "), txt("ab")), "f"},
		{"NULLIF('ab '::char(3), 'ab'::bpchar)", nullif(tChar3, lit(tChar3, "ab"), Const(types.T(types.Bpchar), "ab")), "NULL"},
	})
	for _, bad := range []*E{
		cs(tInt4, bl(true), i4(1)), // no ELSE slot
		node(meridianpb.ExprKind_EXPR_NULLIF, tInt4, i4(1)),
		node(meridianpb.ExprKind_EXPR_IN, tBool),
		node(meridianpb.ExprKind_EXPR_NOT, tBool),
		node(meridianpb.ExprKind_EXPR_PARAM, tInt4),
		node(meridianpb.ExprKind_EXPR_INVALID, tInt4),
		call("no_such_function", tInt4),
		call("-", tInt4, txt("a"), bl(true)),
		{Kind: meridianpb.ExprKind_EXPR_CONST, TypeOid: types.Int4, Value: []byte{1}},
	} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("Compile(%v) succeeded", bad)
		}
	}
}

func TestComparisons(t *testing.T) {
	cmp := func(op string, a, b *E) *E { return call(op, tBool, a, b) }
	run(t, []exprCase{
		{"1 = 1.0::float8", cmp("=", i4(1), f8(1.0)), "t"},
		{"1 = 1.0", cmp("=", i4(1), num("1.0")), "t"},
		{"1.0 = 1.00", cmp("=", num("1.0"), num("1.00")), "t"},
		{"0.1 = 0.1::float8", cmp("=", num("0.1"), f8(0.1)), "t"},
		{"2 > 1.5", cmp(">", i4(2), num("1.5")), "t"},
		{"2 < 2.5::float8", cmp("<", i8(2), f8(2.5)), "t"},
		{"3 <= 3.0", cmp("<=", i2(3), num("3.0")), "t"},
		{"3 >= 3.01", cmp(">=", i4(3), num("3.01")), "f"},
		{"1 <> 2", cmp("<>", i4(1), i4(2)), "t"},
		{"NaN = NaN (float)", cmp("=", f8(math.NaN()), f8(math.NaN())), "t"},
		{"NaN > Infinity", cmp(">", f8(math.NaN()), f8(math.Inf(1))), "t"},
		{"NaN = NaN (numeric)", cmp("=", num("NaN"), num("NaN")), "t"},
		{"NaN > 1e100 (numeric)", cmp(">", num("NaN"), num("1e100")), "t"},
		{"1e100 < NaN (numeric)", cmp("<", num("1e100"), num("NaN")), "t"},
		{"-0 = 0", cmp("=", f8(math.Copysign(0, -1)), f8(0)), "t"},
		{"'ab '::char(3) = 'ab'::char(3)", cmp("=", Const(tChar3, "ab "), Const(types.T(types.Bpchar), "ab")), "t"},
		{"'ab '::text = 'ab'", cmp("=", txt("ab "), txt("ab")), "f"},
		{"'a' < 'b'", cmp("<", txt("a"), txt("b")), "t"},
		{"'B' < 'a' (C collation)", cmp("<", txt("B"), txt("a")), "t"},
		{"true > false", cmp(">", bl(true), bl(false)), "t"},
		{"'1 mon' = '30 days'", cmp("=", lit(tInterval, "1 mon"), lit(tInterval, "30 days")), "t"},
		{"'1 day' = '24 hours'", cmp("=", lit(tInterval, "1 day"), lit(tInterval, "24 hours")), "t"},
		{"date = timestamp", cmp("=", lit(tDate, "2024-01-15"), lit(tTS, "2024-01-15 00:00:00")), "t"},
		{"date < timestamp", cmp("<", lit(tDate, "2024-01-15"), lit(tTS, "2024-01-15 00:00:01")), "t"},
		{"NULL = NULL", cmp("=", null(tInt4), null(tInt4)), "NULL"},
		{"1 < NULL", cmp("<", i4(1), null(tInt4)), "NULL"},
	})
}

// Comparisons of integers and of dates (their own fast path) agree with
// types.Compare for every operator, and values of another type than the
// arguments' (which the fast path does not expect) still compare.
func TestOrderedComparisons(t *testing.T) {
	ops := map[string]func(c int) bool{
		"=": func(c int) bool { return c == 0 }, "<>": func(c int) bool { return c != 0 },
		"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
		">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
	}
	vals := []int64{math.MinInt64, -5, -1, 0, 1, 5, math.MaxInt64}
	for op, want := range ops {
		ints, err := Compile(call(op, tBool, Column(0, tInt8), Column(1, tInt4)))
		if err != nil {
			t.Fatal(err)
		}
		dates, err := Compile(call(op, tBool, Column(0, tDate), Column(1, tDate)))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range vals {
			for _, y := range vals {
				if got, err := ints([]types.Datum{x, y}); err != nil || got != want(types.Compare(x, y)) {
					t.Errorf("%d %s %d = %v, %v", x, op, y, got, err)
				}
				dx, dy := types.DateVal(x), types.DateVal(y)
				if got, err := dates([]types.Datum{dx, dy}); err != nil || got != want(types.Compare(dx, dy)) {
					t.Errorf("date %d %s date %d = %v, %v", x, op, y, got, err)
				}
			}
		}
		one, _, _ := apd.NewFromString("1.5")
		if got, err := ints([]types.Datum{int64(1), one}); err != nil || got != want(-1) {
			t.Errorf("1 %s 1.5 (a numeric under an integer type) = %v, %v", op, got, err)
		}
		nums, err := Compile(call(op, tBool, Column(0, tNum), Column(1, tNum)))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []string{"-1e100", "-1.5", "0", "0.00", "1.5", "1e100", "NaN"} {
			for _, y := range []string{"-1.5", "0", "1.50", "NaN"} {
				dx, _, _ := apd.NewFromString(x)
				dy, _, _ := apd.NewFromString(y)
				if got, err := nums([]types.Datum{dx, dy}); err != nil || got != want(types.CompareNumeric(dx, dy)) {
					t.Errorf("%s %s %s = %v, %v", x, op, y, got, err)
				}
			}
		}
	}
}

func TestLike(t *testing.T) {
	like := func(op, s, p string) *E { return call(op, tBool, txt(s), txt(p)) }
	run(t, []exprCase{
		{"'abc' LIKE 'a%'", like("like", "abc", "a%"), "t"},
		{`'abc' LIKE 'a\%'`, like("like", "abc", `a\%`), "f"},
		{`'a%c' LIKE 'a\%c'`, like("like", "a%c", `a\%c`), "t"},
		{`'a_c' LIKE 'a\_c'`, like("like", "a_c", `a\_c`), "t"},
		{`'abc' LIKE 'a\_c'`, like("like", "abc", `a\_c`), "f"},
		{`'a\b' LIKE 'a\\b'`, like("like", `a\b`, `a\\b`), "t"},
		{`'ab' LIKE 'a\b'`, like("like", "ab", `a\b`), "t"},
		{`'abc' LIKE 'abc\'`, like("like", "abc", `abc\`), "f"},
		{`'abcd' LIKE 'abc\'`, like("like", "abcd", `abc\`), "ERR 22025"},
		{`'' LIKE '\'`, like("like", "", `\`), "f"},
		{`'abc' LIKE '%\'`, like("like", "abc", `%\`), "ERR 22025"},
		{`'a' LIKE 'a%\'`, like("like", "a", `a%\`), "f"},
		{`'ab' LIKE 'a%\'`, like("like", "ab", `a%\`), "ERR 22025"},
		{"'ABC' ILIKE 'a_c'", like("ilike", "ABC", "a_c"), "t"},
		{"'ABC' LIKE 'a_c'", like("like", "ABC", "a_c"), "f"},
		{"'ÄBC' ILIKE 'äbc'", like("ilike", "ÄBC", "äbc"), "t"},
		{"'ÄBC' NOT ILIKE 'äb%'", like("not ilike", "ÄBC", "äb%"), "f"},
		{"'日本語' LIKE '日_語'", like("like", "日本語", "日_語"), "t"},
		{"'日本語' LIKE '%語'", like("like", "日本語", "%語"), "t"},
		{"'日本語' LIKE '__'", like("like", "日本語", "__"), "f"},
		{"'日本語' LIKE '___'", like("like", "日本語", "___"), "t"},
		{"'日本語' LIKE '%_本%'", like("like", "日本語", "%_本%"), "t"},
		{"'é' LIKE '_'", like("like", "é", "_"), "t"},
		{"'' LIKE '%'", like("like", "", "%"), "t"},
		{"'' LIKE '_'", like("like", "", "_"), "f"},
		{"'' LIKE ''", like("like", "", ""), "t"},
		{"'abc' LIKE ''", like("like", "abc", ""), "f"},
		{"'abc' LIKE 'a%%%c'", like("like", "abc", "a%%%c"), "t"},
		{"'abc' LIKE '%b%'", like("like", "abc", "%b%"), "t"},
		{"'abc' LIKE '%_%_%_%'", like("like", "abc", "%_%_%_%"), "t"},
		{"'abc' LIKE '%_%_%_%_%'", like("like", "abc", "%_%_%_%_%"), "f"},
		{"'abc' NOT LIKE 'a%'", like("not like", "abc", "a%"), "f"},
		{"'abc' NOT LIKE 'b%'", like("not like", "abc", "b%"), "t"},
		{"'a%' LIKE '%\\%'", like("like", "a%", `%\%`), "t"},
		{"'aXbXc' LIKE '%X_'", like("like", "aXbXc", "%X_"), "t"},
		{"'mississippi' LIKE '%iss%ppi'", like("like", "mississippi", "%iss%ppi"), "t"},
		{"NULL LIKE 'a'", call("like", tBool, null(tText), txt("a")), "NULL"},
		{"'ab'::char(3) LIKE 'ab'", call("like", tBool, Const(tChar3, "ab "), txt("ab")), "f"},
		{"'ab'::char(3) LIKE 'ab '", call("like", tBool, Const(tChar3, "ab "), txt("ab ")), "t"},
	})
	// the ABORT short-cut keeps pathological patterns linear-ish
	s := strings.Repeat("a", 5000)
	start := time.Now()
	if ok, err := Like(s, strings.Repeat("%a", 30)+"%b"); ok || err != nil {
		t.Errorf("pathological LIKE = %v, %v", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("pathological LIKE took %v", d)
	}
}

func TestStringFunctions(t *testing.T) {
	run(t, []exprCase{
		{"'abc' || 'def'", call("||", tText, txt("abc"), txt("def")), "abcdef"},
		{"'abc' || NULL", call("||", tText, txt("abc"), null(tText)), "NULL"},
		{"1 || 'x'", call("||", tText, i4(1), txt("x")), "1x"},
		{"1.5::real || 'x'", call("||", tText, f4(1.5), txt("x")), "1.5x"},
		{"0.1::real || 'x'", call("||", tText, f4(0.1), txt("x")), "0.1x"},
		{"1.50 || 'x'", call("||", tText, num("1.50"), txt("x")), "1.50x"},
		{"true || 'x'", call("||", tText, bl(true), txt("x")), "truex"},
		{"'1 day'::interval || 'x'", call("||", tText, lit(tInterval, "1 day"), txt("x")), "1 dayx"},
		{"'2024-01-01 10:00'::timestamp || 'x'", call("||", tText, lit(tTS, "2024-01-01 10:00"), txt("x")), "2024-01-01 10:00:00x"},
		{"'2024-01-01'::date || 'x'", call("||", tText, lit(tDate, "2024-01-01"), txt("x")), "2024-01-01x"},
		{"'ab'::char(3) || '|'", call("||", tText, Const(tChar3, "ab "), txt("|")), "ab|"},
		{`'\x01'::bytea || '\x02'::bytea`, call("||", tBytea, Const(tBytea, []byte{1}), Const(tBytea, []byte{2})), `\x0102`},
		{"length('日本語')", call("length", tInt4, txt("日本語")), "3"},
		{"octet_length('日本語')", call("octet_length", tInt4, txt("日本語")), "9"},
		{"length('ab'::char(3))", call("length", tInt4, Const(tChar3, "ab ")), "2"},
		{"char_length('ab'::char(3))", call("char_length", tInt4, Const(tChar3, "ab ")), "2"},
		{"octet_length('ab'::char(3))", call("octet_length", tInt4, Const(tChar3, "ab ")), "3"},
		{"length('ab '::text)", call("length", tInt4, txt("ab ")), "3"},
		{`length('\x0102'::bytea)`, call("length", tInt4, Const(tBytea, []byte{1, 2})), "2"},
		{"lower('ÀBC')", call("lower", tText, txt("ÀBC")), "àbc"},
		{"upper('abc')", call("upper", tText, txt("abc")), "ABC"},
		{"btrim('  a  ')", call("btrim", tText, txt("  a  ")), "a"},
		{"ltrim('  a  ')", call("ltrim", tText, txt("  a  ")), "a  "},
		{"rtrim('  a  ')", call("rtrim", tText, txt("  a  ")), "  a"},
		{"substr('hello', 2, 3)", call("substr", tText, txt("hello"), i4(2), i4(3)), "ell"},
		{"substr('hello', -1, 3)", call("substr", tText, txt("hello"), i4(-1), i4(3)), "h"},
		{"substr('hello', 0)", call("substr", tText, txt("hello"), i4(0)), "hello"},
		{"substr('hello', 9)", call("substr", tText, txt("hello"), i4(9)), ""},
		{"substr('hello', 2, 0)", call("substr", tText, txt("hello"), i4(2), i4(0)), ""},
		{"substring('日本語', 2, 1)", call("substring", tText, txt("日本語"), i4(2), i4(1)), "本"},
		{"substr('hello', 2, -1)", call("substr", tText, txt("hello"), i4(2), i4(-1)), "ERR 22011"},
		{"substr('hello', 2, int8 max)", call("substr", tText, txt("hello"), i8(2), i8(math.MaxInt64)), "ello"},
	})
	if !Known("like") || !Known("||") || Known("no_such_function") {
		t.Error("Known")
	}
}

func TestDateTimeArithmetic(t *testing.T) {
	d := func(s string) *E { return lit(tDate, s) }
	ts := func(s string) *E { return lit(tTS, s) }
	iv := func(s string) *E { return lit(tInterval, s) }
	run(t, []exprCase{
		{"'2024-01-31'::date + 30", call("+", tDate, d("2024-01-31"), i4(30)), "2024-03-01"},
		{"30 + '2024-01-31'::date", call("+", tDate, i4(30), d("2024-01-31")), "2024-03-01"},
		{"'2024-03-01'::date - 1", call("-", tDate, d("2024-03-01"), i4(1)), "2024-02-29"},
		{"'2024-03-01'::date - '2024-02-01'::date", call("-", tInt4, d("2024-03-01"), d("2024-02-01")), "29"},
		{"'5874897-12-31'::date + 1", call("+", tDate, d("5874897-12-31"), i4(1)), "ERR 22008"},
		{"'2024-01-01'::date - 2147483647", call("-", tDate, d("2024-01-01"), i4(math.MaxInt32)), "ERR 22008"},
		{"'2024-01-01'::date - int8 min", call("-", tDate, d("2024-01-01"), i8(math.MinInt64)), "ERR 22008"},
		{"'2024-01-31'::date + '1 mon'", call("+", tTS, d("2024-01-31"), iv("1 mon")), "2024-02-29 00:00:00"},
		{"'2024-03-31'::timestamp - '1 mon'", call("-", tTS, ts("2024-03-31"), iv("1 mon")), "2024-02-29 00:00:00"},
		{"'2024-02-29'::timestamp + '1 year'", call("+", tTS, ts("2024-02-29"), iv("1 year")), "2025-02-28 00:00:00"},
		{"'2024-01-31' + '1 mon 1 day'", call("+", tTS, ts("2024-01-31"), iv("1 mon 1 day")), "2024-03-01 00:00:00"},
		{"'2024-01-31' + '-13 mons'", call("+", tTS, ts("2024-01-31"), iv("-13 mons")), "2022-12-31 00:00:00"},
		{"'2024-01-01' + '1000 years'", call("+", tTS, ts("2024-01-01"), iv("1000 years")), "3024-01-01 00:00:00"},
		{"'2024-01-01' + '3000000 hours'", call("+", tTS, ts("2024-01-01"), iv("3000000 hours")), "2366-03-29 00:00:00"},
		{"'2024-01-01' + '-3000000 hours'", call("+", tTS, ts("2024-01-01"), iv("-3000000 hours")), "1681-10-05 00:00:00"},
		{"'1 day' + '2024-01-01'::timestamp", call("+", tTS, iv("1 day"), ts("2024-01-01")), "2024-01-02 00:00:00"},
		{"timestamptz + interval", call("+", tTSTZ, lit(tTSTZ, "2024-01-01 10:00+02"), iv("1 hour")), "2024-01-01 09:00:00+00"},
		{"'294246-12-31'::timestamp + '1 day'", call("+", tTS, ts("294246-12-31"), iv("1 day")), "ERR 22008"},
		{"'2024-01-01' + '178956970 years'", call("+", tTS, ts("2024-01-01"), iv("178956970 years")), "ERR 22008"},
		{"'2024-01-01' + '2147483647 days'", call("+", tTS, ts("2024-01-01"), iv("2147483647 days")), "ERR 22008"},
		{"'2024-01-01' + max micros", call("+", tTS, ts("2024-01-01"), iv("9223372036854775807 us")), "ERR 22008"},
		{"'2024-01-01' - interval with min micros", call("-", tTS, ts("2024-01-01"), iv("-9223372036854775807 us")), "ERR 22008"},
		{"ts - ts", call("-", tInterval, ts("2024-01-01 00:00:00"), ts("2023-12-25 12:30:00")), "6 days 11:30:00"},
		{"ts - ts negative", call("-", tInterval, ts("2023-12-25 12:30:00"), ts("2024-01-01 00:00:00")), "-6 days -11:30:00"},
		{"'1900-01-01' - '2500-01-01'", call("-", tInterval, ts("1900-01-01"), ts("2500-01-01")), "-219146 days"},
		{"tstz - tstz", call("-", tInterval, lit(tTSTZ, "2024-01-02 00:00:00+00"), lit(tTSTZ, "2024-01-01 23:00:00-02")), "-01:00:00"},
		{"'1 day' + '2 hours'", call("+", tInterval, iv("1 day"), iv("2 hours")), "1 day 02:00:00"},
		{"'1 day' - '2 hours'", call("-", tInterval, iv("1 day"), iv("2 hours")), "1 day -02:00:00"},
		{"'1 year' - '1 mon'", call("-", tInterval, iv("1 year"), iv("1 mon")), "11 mons"},
		{"'178956970 years' + '1 year'", call("+", tInterval, iv("178956970 years"), iv("1 year")), "ERR 22008"},
		{"'-2147483648 days' - '1 day'", call("-", tInterval, iv("-2147483648 days"), iv("1 day")), "ERR 22008"},
		{"micros overflow", call("+", tInterval, iv("9223372036854775807 us"), iv("1 us")), "ERR 22008"},
		{"-'1 day 02:00'", call("u-", tInterval, iv("1 day 02:00")), "-1 days -02:00:00"},
		{"-'-2147483648 days'", call("u-", tInterval, iv("-2147483648 days")), "ERR 22008"},
		{"date + date", call("+", tDate, d("2024-01-01"), d("2024-01-01")), "ERR 42883 (compile: operator does not exist: date + date)"},
	})
}

func TestAddInterval(t *testing.T) {
	base := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		iv   types.IntervalVal
		want time.Time
	}{
		{types.IntervalVal{Months: 1}, time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Months: 13}, time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Months: -1}, time.Date(2023, 12, 31, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Months: -2}, time.Date(2023, 11, 30, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Months: -25}, time.Date(2021, 12, 31, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Months: 1, Days: 1}, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Micros: 400 * 365 * 86400e6}, time.Date(2423, 10, 26, 10, 0, 0, 0, time.UTC)},
		{types.IntervalVal{Micros: -1}, time.Date(2024, 1, 31, 9, 59, 59, 999999000, time.UTC)},
	} {
		if got := AddInterval(base, c.iv); !got.Equal(c.want) {
			t.Errorf("AddInterval(%v, %+v) = %v, want %v", base, c.iv, got, c.want)
		}
	}
}

func TestCasts(t *testing.T) {
	run(t, []exprCase{
		{"'42'::int4", cast(txt("42"), tInt4), "42"},
		{"'abc'::int4", cast(txt("abc"), tInt4), "ERR 22P02"},
		{"'4.5'::int4", cast(txt("4.5"), tInt4), "ERR 22P02"},
		{"'99999'::int2", cast(txt("99999"), tInt2), "ERR 22003"},
		{"'x'::date", cast(txt("x"), tDate), "ERR 22007"},
		{"2.5::float8::int4", cast(f8(2.5), tInt4), "2"},
		{"3.5::float8::int4", cast(f8(3.5), tInt4), "4"},
		{"-2.5::float8::int4", cast(f8(-2.5), tInt4), "-2"},
		{"1e10::float8::int4", cast(f8(1e10), tInt4), "ERR 22003"},
		{"2.5::numeric::int4", cast(num("2.5"), tInt4), "3"},
		{"-2.5::numeric::int4", cast(num("-2.5"), tInt4), "-3"},
		{"2.49::numeric::int8", cast(num("2.49"), tInt8), "2"},
		{"'NaN'::numeric::int4", cast(num("NaN"), tInt4), "ERR 0A000"},
		{"true::int4", cast(bl(true), tInt4), "1"},
		{"false::int4", cast(bl(false), tInt4), "0"},
		{"5::bool", cast(i4(5), tBool), "t"},
		{"0::bool", cast(i4(0), tBool), "f"},
		{"true::text", cast(bl(true), tText), "true"},
		{"1.005::numeric(5,2)", cast(num("1.005"), types.Type{OID: types.Numeric, Typmod: types.NumericTypmod(5, 2)}), "1.01"},
		{"1000.0::numeric(5,2)", cast(num("1000.0"), types.Type{OID: types.Numeric, Typmod: types.NumericTypmod(5, 2)}), "ERR 22003"},
		{"(0.1+0.2)::numeric", cast(call("+", tF8, f8(0.1), f8(0.2)), tNum), "0.3"},
		{"0.1::numeric::float8", cast(num("0.1"), tF8), "0.1"},
		{"1::int4::numeric(3,1)", cast(i4(1), types.Type{OID: types.Numeric, Typmod: types.NumericTypmod(3, 1)}), "1.0"},
		{"'2024-01-15 10:00'::timestamp::date", cast(ts0(), tDate), "2024-01-15"},
		{"'2024-01-15'::date::timestamp", cast(lit(tDate, "2024-01-15"), tTS), "2024-01-15 00:00:00"},
		{"'abc'::varchar(10)", cast(txt("abc"), tVarchar10), "abc"},
		{"'ab'::char(3) padded", cast(txt("ab"), tChar3), "ab "},
		{"'ab'::char(3)::text", cast(Const(tChar3, "ab "), tText), "ab"},
		{"NULL::int4", cast(null(tText), tInt4), "NULL"},
		{"1/0 cast", cast(call("/", tInt4, i4(1), i4(0)), tText), "ERR 22012"},
	})
}

func ts0() *E { return lit(tTS, "2024-01-15 10:00") }

func TestColumnsAndConst(t *testing.T) {
	e := call("+", tInt8, Column(0, tInt8), Column(2, tInt8))
	ev, err := Compile(e)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ev([]types.Datum{int64(1), "x", int64(41)}); err != nil || d != int64(42) {
		t.Errorf("columns: %v, %v", d, err)
	}
	if _, err := ev([]types.Datum{int64(1)}); pgerr.Code(err) != pgerr.InternalError {
		t.Errorf("short row: %v", err)
	}
	neg, err := Compile(Column(-1, tInt4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := neg([]types.Datum{int64(1)}); err == nil {
		t.Error("negative column index did not fail")
	}
	// constants round-trip through the value codec, NULL too
	for _, c := range []struct {
		t types.Type
		d types.Datum
	}{{tInt4, int64(7)}, {tText, "x"}, {tNum, mustDec("1.50")}, {tInt4, nil}, {tBytea, []byte{0}}} {
		got, err := ConstValue(Const(c.t, c.d))
		if err != nil || (got == nil) != (c.d == nil) || got != nil && types.Compare(got, c.d) != 0 {
			t.Errorf("ConstValue(Const(%v)) = %v, %v", c.d, got, err)
		}
	}
	if TypeOf(Column(0, tChar3)) != tChar3 {
		t.Error("TypeOf")
	}
}

func mustDec(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestExtract(t *testing.T) {
	ex := func(field string, x *E) *E { return call("extract", tNum, txt(field), x) }
	dp := func(field string, x *E) *E { return call("date_part", tF8, txt(field), x) }
	ts := lit(tTS, "2024-02-29 13:45:06.789")
	run(t, []exprCase{
		{"year", ex("year", ts), "2024"},
		{"YEAR", ex("YEAR", ts), "2024"},
		{"second", ex("second", ts), "6.789000"},
		{"milliseconds", ex("milliseconds", ts), "6789.000"},
		{"microseconds", ex("microseconds", ts), "6789000"},
		{"epoch", ex("epoch", ts), "1709214306.789000"},
		{"doy", ex("doy", ts), "60"},
		{"quarter", ex("quarter", ts), "1"},
		{"julian", ex("julian", lit(tTS, "2020-01-01 12:00:00.5")), "2458850.50000578703703703704"},
		{"year of 44 BC", ex("year", lit(tTS, "0044-03-15 00:00:00 BC")), "-44"},
		{"century of 44 BC", ex("century", lit(tTS, "0044-03-15 00:00:00 BC")), "-1"},
		{"week of 2021-01-03", ex("week", lit(tDate, "2021-01-03")), "53"},
		{"isoyear of 2021-01-03", ex("isoyear", lit(tDate, "2021-01-03")), "2020"},
		{"isodow of a Sunday", ex("isodow", lit(tDate, "2021-01-03")), "7"},
		{"dow of a Sunday", ex("dow", lit(tDate, "2021-01-03")), "0"},
		{"epoch of a date", ex("epoch", lit(tDate, "2024-01-02")), "1704153600"},
		{"julian of a date", ex("julian", lit(tDate, "2024-01-02")), "2460312"},
		{"hour of a date", ex("hour", lit(tDate, "2024-01-02")), "ERR 0A000"},
		{"unknown unit", ex("fortnight", ts), "ERR 22023"},
		{"timezone of timestamp", ex("timezone", ts), "ERR 0A000"},
		{"timezone of timestamptz", ex("timezone", lit(tTSTZ, "2024-01-01 10:00:00+02")), "0"},
		{"hour of timestamptz (UTC)", ex("hour", lit(tTSTZ, "2024-01-01 10:00:00+02")), "8"},
		{"interval epoch", ex("epoch", lit(tInterval, "1 year 1 month 1 day 1.5 sec")), "34236001.500000"},
		{"interval hour", ex("hour", lit(tInterval, "-26:30:00")), "-26"},
		{"interval minute", ex("minute", lit(tInterval, "-26:30:00")), "-30"},
		{"interval quarter (PostgreSQL 15)", ex("quarter", lit(tInterval, "-5 months")), "0"},
		{"interval year", ex("year", lit(tInterval, "27 months")), "2"},
		{"interval week", ex("week", lit(tInterval, "20 days")), "ERR 0A000"},
		{"NULL", ex("year", null(tTS)), "NULL"},
		{"date_part second", dp("second", ts), "6.789"},
		{"date_part epoch", dp("epoch", lit(tInterval, "1 day")), "86400"},
		{"date_part julian", dp("julian", lit(tTS, "2020-01-01 12:00:00")), "2458850.5"},
	})
}
