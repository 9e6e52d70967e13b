package expr

import (
	"math"
	"math/big"
	"math/bits"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// fn is a strict function body: it is not called when an argument is NULL.
type fn func(args []types.Datum) (types.Datum, error)

// builder makes a function body for argument types and a result type; the
// coordinator chose both (see ResultType).
type builder func(args []types.Type, result types.Type) (fn, error)

var funcs = map[string]builder{}

// fn2 is a strict function body of two arguments.
type fn2 func(x, y types.Datum) (types.Datum, error)

// binaryFuncs make two-argument bodies of the hottest functions (arithmetic
// and comparisons) for compileFunc, which calls them without an argument
// slice; nil when the types need the general body.
var binaryFuncs = map[string]func(args []types.Type, result types.Type) fn2{}

// wrap2 is a two-argument body as a general one.
func wrap2(f fn2) fn { return func(v []types.Datum) (types.Datum, error) { return f(v[0], v[1]) } }

func init() {
	for _, op := range []string{"+", "-", "*", "/", "%"} {
		funcs[op] = arith(op)
		binaryFuncs[op] = arith2(op)
	}
	for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
		funcs[op] = compare(op)
		binaryFuncs[op] = compare2(op)
	}
	funcs["u-"] = func(a []types.Type, r types.Type) (fn, error) {
		return func(v []types.Datum) (types.Datum, error) {
			switch x := v[0].(type) {
			case int64:
				if x == math.MinInt64 {
					return nil, overflow(r.OID)
				}
				return checkInt(r.OID, -x)
			case float64:
				return -x, nil
			case *apd.Decimal:
				return types.NormalizeNumeric(new(apd.Decimal).Neg(x))
			case types.IntervalVal:
				return negInterval(x)
			}
			return nil, badArg("-")
		}, nil
	}
	funcs["||"] = concat
	funcs["like"] = likeBuilder(false, false)
	funcs["not like"] = likeBuilder(false, true)
	funcs["ilike"] = likeBuilder(true, false)
	funcs["not ilike"] = likeBuilder(true, true)
	funcs["lower"] = strFn(strings.ToLower)
	funcs["upper"] = strFn(strings.ToUpper)
	funcs["btrim"] = strFn(func(s string) string { return strings.Trim(s, " ") })
	funcs["ltrim"] = strFn(func(s string) string { return strings.TrimLeft(s, " ") })
	funcs["rtrim"] = strFn(func(s string) string { return strings.TrimRight(s, " ") })
	funcs["length"] = func(at []types.Type, r types.Type) (fn, error) {
		bpchar := len(at) == 1 && at[0].OID == types.Bpchar
		return func(v []types.Datum) (types.Datum, error) {
			if b, ok := v[0].([]byte); ok {
				return int64(len(b)), nil
			}
			s := v[0].(string)
			if bpchar { // trailing blanks of char(n) do not count
				s = strings.TrimRight(s, " ")
			}
			return int64(utf8.RuneCountInString(s)), nil
		}, nil
	}
	funcs["char_length"] = funcs["length"]
	// octet_length counts char(n)'s padding (PostgreSQL's bpcharoctetlen).
	funcs["octet_length"] = simple(func(v []types.Datum) (types.Datum, error) {
		if b, ok := v[0].([]byte); ok {
			return int64(len(b)), nil
		}
		return int64(len(v[0].(string))), nil
	})
	funcs["like_escape"] = simple(func(v []types.Datum) (types.Datum, error) {
		return LikeEscape(v[0].(string), v[1].(string))
	})
	funcs["^"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case float64:
			y := v[1].(float64)
			if x == 0 && y < 0 {
				return nil, pgerr.New("2201F", "zero raised to a negative power is undefined")
			}
			if x < 0 && y != math.Trunc(y) {
				return nil, pgerr.New("2201F", "a negative number raised to a non-integer power yields a complex result")
			}
			z := math.Pow(x, y)
			if math.IsInf(z, 0) {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: overflow")
			}
			return z, nil
		case *apd.Decimal:
			y := v[1].(*apd.Decimal)
			z := new(apd.Decimal)
			c := types.DecimalCtx.WithPrecision(50)
			if _, err := c.Pow(z, x, y); err != nil {
				return nil, pgerr.New("2201F", "invalid argument for power function")
			}
			return types.NormalizeNumeric(z)
		}
		return nil, badArg("^")
	})
	funcs["repeat"] = simple(repeatFn)
	funcs["lpad"] = simple(func(v []types.Datum) (types.Datum, error) { return pad(v, true) })
	funcs["rpad"] = simple(func(v []types.Datum) (types.Datum, error) { return pad(v, false) })
	funcs["substr"] = simple(substr)
	funcs["substring"] = simple(substr)
	funcs["abs"] = func(at []types.Type, r types.Type) (fn, error) {
		return func(v []types.Datum) (types.Datum, error) {
			switch x := v[0].(type) {
			case int64:
				if x < 0 {
					if x == math.MinInt64 {
						return nil, overflow(types.Int8)
					}
					return checkInt(r.OID, -x) // abs(-32768::int2) overflows
				}
				return x, nil
			case float64:
				return math.Abs(x), nil
			case *apd.Decimal:
				return new(apd.Decimal).Abs(x), nil
			}
			return nil, badArg("abs")
		}, nil
	}
	funcs["round"] = roundFn
	funcs["floor"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case float64:
			return math.Floor(x), nil
		case *apd.Decimal:
			d := new(apd.Decimal)
			if _, err := exactCtx.Floor(d, x); err != nil {
				return nil, numericErr(err)
			}
			return types.NormalizeNumeric(d)
		}
		return v[0], nil
	})
	funcs["ceil"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case float64:
			return math.Ceil(x), nil
		case *apd.Decimal:
			d := new(apd.Decimal)
			if _, err := exactCtx.Ceil(d, x); err != nil {
				return nil, numericErr(err)
			}
			return types.NormalizeNumeric(d) // ceil(-0.5) is 0, not -0
		}
		return v[0], nil
	})
	funcs["ceiling"] = funcs["ceil"]
	funcs["sqrt"] = simple(func(v []types.Datum) (types.Datum, error) {
		if d, ok := v[0].(*apd.Decimal); ok {
			return numericSqrt(d)
		}
		x := v[0].(float64)
		if x < 0 {
			return nil, pgerr.New("2201F", "cannot take square root of a negative number")
		}
		return math.Sqrt(x), nil
	})
	funcs["mod"] = funcs["%"]
}

// Known reports whether the evaluator knows a function or operator name
// (for the planner).
func Known(name string) bool { _, ok := funcs[name]; return ok }

func simple(f fn) builder {
	return func([]types.Type, types.Type) (fn, error) { return f, nil }
}

func strFn(f func(string) string) builder {
	return simple(func(v []types.Datum) (types.Datum, error) { return f(v[0].(string)), nil })
}

// concat is ||: two byteas concatenate as bytes; otherwise each operand is
// cast to text as PostgreSQL's anytextcat does (true || 'x' is 'truex',
// a char(n) loses its padding).
func concat(at []types.Type, r types.Type) (fn, error) {
	return func(v []types.Datum) (types.Datum, error) {
		if a, ok := v[0].([]byte); ok {
			if b, ok := v[1].([]byte); ok {
				return append(append(make([]byte, 0, len(a)+len(b)), a...), b...), nil
			}
		}
		var sb strings.Builder
		for i := 0; i < 2; i++ {
			from := types.Text
			if i < len(at) {
				from = at[i].OID
			}
			s, err := types.Cast(v[i], from, types.T(types.Text))
			if err != nil {
				return nil, err
			}
			sb.WriteString(s.(string))
		}
		return sb.String(), nil
	}, nil
}

func negInterval(x types.IntervalVal) (types.Datum, error) {
	if x.Months == math.MinInt32 || x.Days == math.MinInt32 || x.Micros == math.MinInt64 {
		return nil, intervalOutOfRange()
	}
	return types.IntervalVal{Months: -x.Months, Days: -x.Days, Micros: -x.Micros}, nil
}

func intervalOutOfRange() error {
	return pgerr.New(pgerr.DatetimeFieldOverflow, "interval out of range")
}

func badArg(name string) error {
	return pgerr.New(pgerr.UndefinedFunction, "function %s does not exist for these argument types", name)
}

func (c compiler) compileFunc(e *meridianpb.Expr) (Eval, error) {
	b, ok := funcs[e.Name]
	if !ok {
		return nil, pgerr.New(pgerr.UndefinedFunction, "function %s does not exist", e.Name)
	}
	argTypes := make([]types.Type, len(e.Args))
	for i, a := range e.Args {
		argTypes[i] = TypeOf(a)
	}
	body, err := b(argTypes, TypeOf(e))
	if err != nil {
		return nil, err
	}
	args, err := c.compileAll(e.Args)
	if err != nil {
		return nil, err
	}
	// The argument values go to the body in a slice, which escapes (the
	// body is a function value): a slice per call was a heap allocation
	// per row and function (half of a scan filter's time). The closure
	// owns one scratch slice instead, taken with a flag so that a
	// concurrent or reentrant call (none is expected: an operator's
	// expressions run on its goroutine) allocates rather than shares.
	// Bodies read their arguments and never keep the slice.
	n := len(args)
	if b2 := binaryFuncs[e.Name]; n == 2 && b2 != nil {
		if f2 := b2(argTypes, TypeOf(e)); f2 != nil {
			a0, a1 := args[0], args[1]
			return func(row []types.Datum) (types.Datum, error) {
				x, err := a0(row)
				if err != nil || x == nil {
					return nil, err
				}
				y, err := a1(row)
				if err != nil || y == nil {
					return nil, err
				}
				return f2(x, y)
			}, nil
		}
	}
	var busy atomic.Bool
	scratch := make([]types.Datum, n)
	return func(row []types.Datum) (types.Datum, error) {
		vals := scratch[:0]
		if !busy.CompareAndSwap(false, true) {
			vals = make([]types.Datum, 0, n)
		} else {
			defer busy.Store(false)
		}
		for _, a := range args {
			v, err := a(row)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, nil
			}
			vals = append(vals, v)
		}
		return body(vals)
	}, nil
}

func overflow(oid uint32) error {
	return pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", types.InfoOf(oid).Name)
}

func checkInt(oid uint32, v int64) (types.Datum, error) {
	lo, hi := types.IntRange(oid)
	if v < lo || v > hi {
		return nil, overflow(oid)
	}
	return v, nil
}

func divByZero() error { return pgerr.New(pgerr.DivisionByZero, "division by zero") }

func toDecimal(d types.Datum) *apd.Decimal {
	switch x := d.(type) {
	case *apd.Decimal:
		return x
	case int64:
		return apd.New(x, 0)
	}
	return nil
}

func toFloat(d types.Datum) float64 {
	switch x := d.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case *apd.Decimal:
		f, _ := x.Float64()
		return f
	}
	return math.NaN()
}

func arith(op string) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		if f := arith2(op)(at, r); f != nil {
			return wrap2(f), nil
		}
		return dateArith(op, at, r)
	}
}

// arith2 is arithmetic on numbers (nil for dates, times and intervals).
func arith2(op string) func(at []types.Type, r types.Type) fn2 {
	return func(at []types.Type, r types.Type) fn2 {
		switch {
		case types.IsInteger(r.OID) && types.IsInteger(at[0].OID) && types.IsInteger(at[1].OID):
			return intArith(op, r.OID)
		case types.IsFloat(r.OID):
			return func(a, b types.Datum) (types.Datum, error) {
				x, y := toFloat(a), toFloat(b)
				var z float64
				// PostgreSQL's check_float8_val: overflow is an error unless
				// an input was infinite; underflow (a zero result) of * and /
				// is an error unless it was exact
				zeroOK := true
				switch op {
				case "+":
					z = x + y
				case "-":
					z = x - y
				case "*":
					z = x * y
					zeroOK = x == 0 || y == 0
				case "/":
					if y == 0 && !math.IsNaN(x) {
						return nil, divByZero()
					}
					z = x / y
					zeroOK = x == 0 || math.IsInf(y, 0)
				case "%":
					if y == 0 {
						return nil, divByZero()
					}
					z = math.Mod(x, y)
				}
				if math.IsInf(z, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
					return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: overflow")
				}
				if z == 0 && !zeroOK {
					return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: underflow")
				}
				if r.OID == types.Float4 {
					return types.Coerce(r, z)
				}
				return z, nil
			}
		case r.OID == types.Numeric:
			// Results of the fast path come from chunks: one allocation
			// per decSlabLen values instead of one each (a compiled
			// expression is evaluated by one goroutine at a time).
			var slab []apd.Decimal
			return func(a, b types.Datum) (types.Datum, error) {
				x, y := toDecimal(a), toDecimal(b)
				if x.Form == apd.Finite && y.Form == apd.Finite {
					if c, exp, ok := smallArithParts(op, x, y); ok {
						if len(slab) == 0 {
							slab = make([]apd.Decimal, decSlabLen)
						}
						z := &slab[0]
						slab = slab[1:]
						z.Exponent, z.Negative = exp, c < 0
						z.Coeff.SetInt64(absInt64(c))
						return z, nil
					}
				}
				return NumericArith(op, x, y)
			}
		}
		return nil
	}
}

// decSlabLen is the number of decimals a chunk of numeric arithmetic
// results holds: a value kept alive keeps its chunk (at most that many
// times its size), so chunks stay small.
const decSlabLen = 32

func intArith(op string, r uint32) fn2 {
	return func(a, b types.Datum) (types.Datum, error) {
		x, y := a.(int64), b.(int64)
		var z int64
		switch op {
		case "+":
			z = x + y
			if (z > x) != (y > 0) {
				return nil, overflow(r)
			}
		case "-":
			z = x - y
			if (z < x) != (y > 0) {
				return nil, overflow(r)
			}
		case "*":
			if x != 0 && y != 0 {
				z = x * y
				if z/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
					return nil, overflow(r)
				}
			}
		case "/":
			if y == 0 {
				return nil, divByZero()
			}
			if x == math.MinInt64 && y == -1 {
				return nil, overflow(r)
			}
			z = x / y
		case "%":
			if y == 0 {
				return nil, divByZero()
			}
			if y == -1 {
				return int64(0), nil
			}
			z = x % y
		}
		return checkInt(r, z)
	}
}

// exactCtx does exact decimal arithmetic: with no precision apd never
// rounds (PostgreSQL's +, - and * are exact).
var exactCtx = apd.BaseContext

func numericErr(err error) error {
	if err == nil {
		return nil
	}
	if pgerr.Code(err) != pgerr.InternalError {
		return err
	}
	return pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
}

func isNaN(d *apd.Decimal) bool { return d.Form == apd.NaN || d.Form == apd.NaNSignaling }

// NumericArith is numeric +, -, *, / and % with PostgreSQL's result
// scales: exact sums, differences and products (a product's scale is the
// sum of the scales), quotients as NumericDiv, and remainders of the
// truncated quotient with the larger scale. NaN in, NaN out (even over
// zero); a zero divisor otherwise is 22012.
func NumericArith(op string, x, y *apd.Decimal) (types.Datum, error) {
	if isNaN(x) || isNaN(y) {
		return &apd.Decimal{Form: apd.NaN}, nil
	}
	if z, ok := smallArith(op, x, y); ok {
		return z, nil
	}
	return apdArith(op, x, y)
}

// apdArith is NumericArith computed with apd.
func apdArith(op string, x, y *apd.Decimal) (types.Datum, error) {
	z := new(apd.Decimal)
	var err error
	switch op {
	case "+":
		_, err = exactCtx.Add(z, x, y)
	case "-":
		_, err = exactCtx.Sub(z, x, y)
	case "*":
		_, err = exactCtx.Mul(z, x, y)
		if err == nil && -int64(z.Exponent) > types.NumericMaxScale {
			// PostgreSQL rounds a product's excess scale away
			r := new(apd.Decimal)
			_, err = apd.BaseContext.WithPrecision(uint32(max(int64(z.NumDigits())+int64(z.Exponent)+types.NumericMaxScale+1, 1))).Quantize(r, z, -types.NumericMaxScale)
			z = r
		}
	case "/":
		return NumericDiv(x, y)
	case "%":
		return numericMod(x, y)
	default:
		return nil, pgerr.New(pgerr.InternalError, "unknown numeric operator %s", op)
	}
	if err != nil {
		return nil, numericErr(err)
	}
	return types.NormalizeNumeric(z)
}

// pow10 holds 10^0 .. 10^18, the powers of ten an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// smallArith is NumericArith's +, - and * when both operands are finite
// with coefficients an int64 holds and so is the result: int64 arithmetic
// with the same result (coefficient, exponent, sign) apd's exact context
// gives, without its big-number work. ok is false when it does not apply
// (another operator, a big or non-finite operand, an overflow, a product
// beyond the maximum scale): the caller computes with apd.
func smallArith(op string, x, y *apd.Decimal) (z *apd.Decimal, ok bool) {
	c, exp, ok := smallArithParts(op, x, y)
	if !ok {
		return nil, false
	}
	z = &apd.Decimal{Exponent: exp, Negative: c < 0}
	z.Coeff.SetInt64(absInt64(c))
	return z, true
}

// smallArithParts is smallArith's result as a signed coefficient and an
// exponent.
func smallArithParts(op string, x, y *apd.Decimal) (c int64, exp int32, ok bool) {
	if x.Form != apd.Finite || y.Form != apd.Finite || !x.Coeff.IsInt64() || !y.Coeff.IsInt64() {
		return 0, 0, false
	}
	a, b := x.Coeff.Int64(), y.Coeff.Int64()
	if x.Negative {
		a = -a
	}
	if y.Negative {
		b = -b
	}
	return SmallDecArith(op, a, x.Exponent, b, y.Exponent)
}

// SmallDecArith is + - or * of the numerics a×10^ea and b×10^eb whose
// coefficients fit an int64, as a coefficient and exponent: what
// NumericArith returns for them, or ok false when the result does not fit
// (or the operator or an exponent above 0 needs the general path). The
// vectorized operators (sql/colexpr) compute numerics with it.
func SmallDecArith(op string, a int64, ea int32, b int64, eb int32) (c int64, exp int32, ok bool) {
	if ea > 0 || eb > 0 || a == math.MinInt64 || b == math.MinInt64 {
		return 0, 0, false
	}
	switch op {
	case "*":
		hi, lo := bits.Mul64(uint64(absInt64(a)), uint64(absInt64(b)))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, 0, false
		}
		exp = ea + eb
		if -int64(exp) > types.NumericMaxScale {
			return 0, 0, false
		}
		c = int64(lo)
		if (a < 0) != (b < 0) {
			c = -c
		}
	case "+", "-":
		if op == "-" {
			b = -b
		}
		exp = min(ea, eb)
		var okA, okB bool
		if a, okA = scaleInt64(a, ea-exp); !okA {
			return 0, 0, false
		}
		if b, okB = scaleInt64(b, eb-exp); !okB {
			return 0, 0, false
		}
		c = a + b
		if (b >= 0) != (c >= a) {
			return 0, 0, false // overflow
		}
	default:
		return 0, 0, false
	}
	if c == math.MinInt64 {
		return 0, 0, false
	}
	return c, exp, true
}

// absInt64 is |v| for v > MinInt64.
func absInt64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// ScaleInt64 returns v * 10^k (0 <= k), false on overflow.
func ScaleInt64(v int64, k int32) (int64, bool) { return scaleInt64(v, k) }

func scaleInt64(v int64, k int32) (int64, bool) {
	if k == 0 {
		return v, true
	}
	if k >= int32(len(pow10)) || v == math.MinInt64 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(absInt64(v)), uint64(pow10[k]))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if v < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}

// numericMod is x - trunc(x/y)*y, exactly: the sign of x and the larger
// scale of the two.
func numericMod(x, y *apd.Decimal) (types.Datum, error) {
	if y.IsZero() {
		return nil, divByZero()
	}
	e := min(x.Exponent, y.Exponent)
	a := scaledCoeff(x, x.Exponent-e)
	b := scaledCoeff(y, y.Exponent-e)
	a.Rem(a, b) // truncated: takes a's sign
	z := new(apd.Decimal)
	z.Coeff.SetMathBigInt(a.Abs(a))
	z.Exponent = e
	z.Negative = x.Negative
	return types.NormalizeNumeric(z)
}

// scaledCoeff returns d's signed coefficient times 10^k (k >= 0).
func scaledCoeff(d *apd.Decimal, k int32) *big.Int {
	c := new(big.Int).Set(d.Coeff.MathBigInt())
	if k > 0 {
		c.Mul(c, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil))
	}
	if d.Negative {
		c.Neg(c)
	}
	return c
}

// baseWeight returns the weight and first digit of |d| in PostgreSQL's
// base-10000 representation (groups aligned at the decimal point); 0, 0
// for zero.
func baseWeight(d *apd.Decimal) (weight, first int) {
	if d.IsZero() {
		return 0, 0
	}
	digits := d.Coeff.String()
	p := len(digits) - 1 + int(d.Exponent) // power of ten of the leading digit
	weight = p / 4
	if p < 0 && p%4 != 0 {
		weight-- // floor
	}
	k := p - 4*weight + 1 // digits in the leading group, 1..4
	for i := 0; i < k; i++ {
		first *= 10
		if i < len(digits) {
			first += int(digits[i] - '0')
		}
	}
	return weight, first
}

// NumericDivScale is PostgreSQL's select_div_scale: enough fractional
// digits for at least 16 significant digits of the quotient (estimated in
// base-10000 digits), no fewer than either input's scale, at most 1000.
func NumericDivScale(x, y *apd.Decimal) int32 {
	w1, f1 := baseWeight(x)
	w2, f2 := baseWeight(y)
	qweight := w1 - w2
	if f1 <= f2 {
		qweight--
	}
	rscale := int32(16 - qweight*4)
	rscale = max(rscale, -x.Exponent, -y.Exponent, 0)
	return min(rscale, 1000)
}

// NumericDiv divides with PostgreSQL's result scale (NumericDivScale),
// the quotient rounded half away from zero, exactly.
func NumericDiv(x, y *apd.Decimal) (*apd.Decimal, error) {
	if isNaN(x) || isNaN(y) {
		return &apd.Decimal{Form: apd.NaN}, nil
	}
	if y.IsZero() {
		return nil, divByZero()
	}
	rscale := NumericDivScale(x, y)
	// x/y × 10^rscale = cx × 10^(ex-ey+rscale) / cy
	k := int64(x.Exponent) - int64(y.Exponent) + int64(rscale)
	num := new(big.Int).Set(x.Coeff.MathBigInt())
	den := new(big.Int).Set(y.Coeff.MathBigInt())
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(max(k, -k)), nil)
	if k >= 0 {
		num.Mul(num, pow)
	} else {
		den.Mul(den, pow)
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	z := new(apd.Decimal)
	z.Coeff.SetMathBigInt(q)
	z.Exponent = -rscale
	z.Negative = x.Negative != y.Negative
	return types.NormalizeNumeric(z)
}

func dateArith(op string, at []types.Type, r types.Type) (fn, error) {
	a, b := at[0].OID, at[1].OID
	isTS := func(o uint32) bool { return o == types.Timestamp || o == types.TimestampTZ }
	switch {
	case a == types.Date && types.IsInteger(b) && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			n := v[1].(int64)
			if op == "-" {
				n = -n
			}
			return addDays(v[0].(types.DateVal), n)
		}, nil
	case types.IsInteger(a) && b == types.Date && op == "+":
		return func(v []types.Datum) (types.Datum, error) {
			return addDays(v[1].(types.DateVal), v[0].(int64))
		}, nil
	case a == types.Date && b == types.Date && op == "-":
		return func(v []types.Datum) (types.Datum, error) {
			return int64(v[0].(types.DateVal) - v[1].(types.DateVal)), nil
		}, nil
	case (isTS(a) || a == types.Date) && b == types.Interval && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			iv := v[1].(types.IntervalVal)
			if op == "-" {
				n, err := negInterval(iv)
				if err != nil {
					return nil, err
				}
				iv = n.(types.IntervalVal)
			}
			return AddIntervalChecked(asTime(v[0]), iv)
		}, nil
	case a == types.Interval && (isTS(b) || b == types.Date) && op == "+":
		return func(v []types.Datum) (types.Datum, error) {
			return AddIntervalChecked(asTime(v[1]), v[0].(types.IntervalVal))
		}, nil
	case isTS(a) && isTS(b) && op == "-":
		return func(v []types.Datum) (types.Datum, error) {
			// (not Time.Sub: a Duration saturates beyond ±292 years)
			d := v[0].(time.Time).UnixMicro() - v[1].(time.Time).UnixMicro()
			days := d / 86400e6 // justify_hours: days and time of one sign
			return types.IntervalVal{Days: int32(days), Micros: d - days*86400e6}, nil
		}, nil
	case a == types.Interval && b == types.Float8 && (op == "*" || op == "/"):
		return func(v []types.Datum) (types.Datum, error) {
			return intervalScale(v[0].(types.IntervalVal), v[1].(float64), op == "/")
		}, nil
	case a == types.Float8 && b == types.Interval && op == "*":
		return func(v []types.Datum) (types.Datum, error) {
			return intervalScale(v[1].(types.IntervalVal), v[0].(float64), false)
		}, nil
	case a == types.Interval && b == types.Interval && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			x, y := v[0].(types.IntervalVal), v[1].(types.IntervalVal)
			sign := int64(1)
			if op == "-" {
				sign = -1
			}
			m := int64(x.Months) + sign*int64(y.Months)
			d := int64(x.Days) + sign*int64(y.Days)
			us, ok := addInt64(x.Micros, y.Micros, sign)
			if !ok || m != int64(int32(m)) || d != int64(int32(d)) {
				return nil, intervalOutOfRange()
			}
			return types.IntervalVal{Months: int32(m), Days: int32(d), Micros: us}, nil
		}, nil
	}
	return nil, pgerr.New(pgerr.UndefinedFunction, "operator does not exist: %s %s %s", at[0], op, at[1])
}

// addInt64 returns x + sign×y and whether it did not overflow.
func addInt64(x, y, sign int64) (int64, bool) {
	if sign < 0 {
		if y == math.MinInt64 {
			return 0, false
		}
		y = -y
	}
	z := x + y
	return z, (z > x) == (y > 0)
}

// addDays is date ± integer, within PostgreSQL's date range.
func addDays(d types.DateVal, n int64) (types.Datum, error) {
	const minDate, maxDate = -2440588, 2145042905 // 4714-11-24 BC, 5874897-12-31
	if n > maxDate-minDate || n < minDate-maxDate || int64(d)+n < minDate || int64(d)+n > maxDate {
		return nil, pgerr.New(pgerr.DatetimeFieldOverflow, "date out of range")
	}
	return d + types.DateVal(n), nil
}

func asTime(d types.Datum) time.Time {
	if dv, ok := d.(types.DateVal); ok {
		return dv.Time()
	}
	return d.(time.Time)
}

// timestamp range: 4714-11-24 BC up to 294247-01-01 (types' range)
const minTimestampUsec, endTimestampUsec = int64(-2440588) * 86400e6, int64(106751982) * 86400e6

// AddIntervalChecked is AddInterval with PostgreSQL's "timestamp out of
// range" (22008) instead of overflow.
func AddIntervalChecked(t time.Time, iv types.IntervalVal) (types.Datum, error) {
	bad := pgerr.New(pgerr.DatetimeFieldOverflow, "timestamp out of range")
	t = t.UTC()
	if y := int64(t.Year()) + int64(iv.Months)/12; y > 294248 || y < -4714 {
		return nil, bad
	}
	t = addMonths(t, iv.Months)
	if iv.Days > 2*106751982 || iv.Days < -2*106751982 {
		return nil, bad
	}
	t = t.AddDate(0, 0, int(iv.Days))
	if t.Year() > 294247 || t.Year() < -4714 {
		return nil, bad
	}
	us, ok := addInt64(t.UnixMicro(), iv.Micros, 1)
	if !ok || us < minTimestampUsec || us >= endTimestampUsec {
		return nil, bad
	}
	return time.UnixMicro(us).UTC(), nil
}

// AddInterval adds an interval to a time as PostgreSQL does: months (the
// day clamped to the end of the month), then days, then microseconds.
// It does not check the timestamp range.
func AddInterval(t time.Time, iv types.IntervalVal) time.Time {
	t = addMonths(t.UTC(), iv.Months).AddDate(0, 0, int(iv.Days))
	// (not Add(Duration): a Duration overflows beyond ±292 years)
	return time.UnixMicro(t.UnixMicro() + iv.Micros).UTC()
}

func addMonths(t time.Time, n int32) time.Time {
	if n == 0 {
		return t
	}
	y, m, d := t.Date()
	months := int(m) - 1 + int(n)
	y += months / 12
	months %= 12
	if months < 0 {
		months += 12
		y--
	}
	nm := time.Month(months + 1)
	// clamp the day to the end of the target month
	if last := time.Date(y, nm+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	h, mi, s := t.Clock()
	return time.Date(y, nm, d, h, mi, s, t.Nanosecond(), time.UTC)
}

func compare(op string) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		return wrap2(compare2(op)(at, r)), nil
	}
}

// compare2 is a comparison's body.
func compare2(op string) func(at []types.Type, r types.Type) fn2 {
	return func(at []types.Type, r types.Type) fn2 {
		test := map[string]func(int) bool{
			"=": func(c int) bool { return c == 0 }, "<>": func(c int) bool { return c != 0 },
			"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
			">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
		}[op]
		bpchar := at[0].OID == types.Bpchar && at[1].OID == types.Bpchar
		general := func(a, b types.Datum) (types.Datum, error) {
			if bpchar {
				a, b = strings.TrimRight(a.(string), " "), strings.TrimRight(b.(string), " ")
			}
			return test(types.Compare(a, b)), nil
		}
		// Integers, dates and numerics, the usual filter and join columns,
		// compare without types.Compare's switch over both values' types
		// (any other pair of values takes the general path).
		switch x, y := at[0].OID, at[1].OID; {
		case types.IsInteger(x) && types.IsInteger(y):
			return orderedCompare[int64](op, general)
		case x == types.Date && y == types.Date:
			return orderedCompare[types.DateVal](op, general)
		case x == types.Numeric && y == types.Numeric:
			return func(a, b types.Datum) (types.Datum, error) {
				dx, ok1 := a.(*apd.Decimal)
				dy, ok2 := b.(*apd.Decimal)
				if !ok1 || !ok2 {
					return general(a, b)
				}
				return test(types.CompareNumeric(dx, dy)), nil
			}
		}
		return general
	}
}

// orderedCompare is comparison op of two values of type T, or general's
// for other values.
func orderedCompare[T int64 | types.DateVal](op string, general fn2) fn2 {
	var test func(x, y T) bool
	switch op {
	case "=":
		test = func(x, y T) bool { return x == y }
	case "<>":
		test = func(x, y T) bool { return x != y }
	case "<":
		test = func(x, y T) bool { return x < y }
	case "<=":
		test = func(x, y T) bool { return x <= y }
	case ">":
		test = func(x, y T) bool { return x > y }
	case ">=":
		test = func(x, y T) bool { return x >= y }
	default:
		return general
	}
	return func(a, b types.Datum) (types.Datum, error) {
		x, ok1 := a.(T)
		y, ok2 := b.(T)
		if !ok1 || !ok2 {
			return general(a, b)
		}
		return test(x, y), nil
	}
}

// maxTextBytes is the longest text a function makes: PostgreSQL's limit
// on a value (1 GB).
const maxTextBytes = 1<<30 - 1

func tooLong() error {
	return pgerr.New(pgerr.ProgramLimitExceeded, "requested length too large")
}

// repeatFn is repeat(text, int): the text n times (empty when n <= 0).
func repeatFn(v []types.Datum) (types.Datum, error) {
	s, n := v[0].(string), v[1].(int64)
	if n <= 0 || s == "" {
		return "", nil
	}
	if n > maxTextBytes/int64(len(s)) {
		return nil, tooLong()
	}
	return strings.Repeat(s, int(n)), nil
}

// pad is lpad/rpad(text, length [, fill]): the text cut or filled (with
// fill, a space by default, repeated) to length characters, on the left
// or the right; a text longer than length is cut on the right either way,
// and an empty fill leaves a shorter text as it is.
func pad(v []types.Datum, left bool) (types.Datum, error) {
	s, n := v[0].(string), v[1].(int64)
	fill := " "
	if len(v) > 2 {
		fill = v[2].(string)
	}
	if n <= 0 {
		return "", nil
	}
	if n > maxTextBytes/utf8.UTFMax {
		return nil, tooLong()
	}
	have := int64(utf8.RuneCountInString(s))
	if have >= n || fill == "" {
		if have > n {
			r := []rune(s)
			return string(r[:n]), nil
		}
		return s, nil
	}
	f := []rune(fill)
	var b strings.Builder
	b.Grow(len(s) + int(n-have)*utf8.UTFMax)
	addFill := func() {
		for i := int64(0); i < n-have; i++ {
			b.WriteRune(f[i%int64(len(f))])
		}
	}
	if left {
		addFill()
		b.WriteString(s)
	} else {
		b.WriteString(s)
		addFill()
	}
	return b.String(), nil
}

func substr(v []types.Datum) (types.Datum, error) {
	s := []rune(v[0].(string))
	start := v[1].(int64)
	end := int64(len(s)) + 1
	if len(v) > 2 {
		n := v[2].(int64)
		if n < 0 {
			return nil, pgerr.New("22011", "negative substring length not allowed")
		}
		if start > math.MaxInt64-n {
			end = math.MaxInt64
		} else {
			end = start + n
		}
	}
	if start < 1 {
		start = 1
	}
	if end > int64(len(s))+1 {
		end = int64(len(s)) + 1
	}
	if start >= end {
		return "", nil
	}
	return string(s[start-1 : end-1]), nil
}

func roundFn(at []types.Type, r types.Type) (fn, error) {
	return func(v []types.Datum) (types.Datum, error) {
		places := int64(0)
		if len(v) > 1 {
			places = v[1].(int64)
		}
		switch x := v[0].(type) {
		case float64:
			return math.RoundToEven(x), nil
		case *apd.Decimal:
			c := *types.DecimalCtx // a copy: the shared context must not change
			c.Rounding = apd.RoundHalfUp
			if isNaN(x) {
				return x, nil
			}
			places = max(min(places, types.NumericMaxScale), -types.NumericMaxIntDigits)
			c.Precision = uint32(max(int64(x.NumDigits())+int64(x.Exponent)+places+1, 1))
			d := new(apd.Decimal)
			if _, err := c.Quantize(d, x, -int32(places)); err != nil {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
			}
			return types.NormalizeNumeric(d)
		case int64:
			return x, nil
		}
		return nil, badArg("round")
	}, nil
}

// numericSqrt is sqrt(numeric) with PostgreSQL's result scale: at least 16
// significant digits, and no fewer fractional digits than the argument.
func numericSqrt(x *apd.Decimal) (types.Datum, error) {
	if x.Negative && !x.IsZero() {
		return nil, pgerr.New("2201F", "cannot take square root of a negative number")
	}
	if isNaN(x) {
		return x, nil
	}
	dscale := int64(0)
	if x.Exponent < 0 {
		dscale = int64(-x.Exponent)
	}
	rscale := int64(0)
	if !x.IsZero() {
		// weight: the base-10000 position of the leading digit
		e := int64(x.NumDigits()) + int64(x.Exponent) - 1
		weight := e / 4
		if e < 0 && e%4 != 0 {
			weight--
		}
		sweight := (weight+1)*4/2 - 1
		rscale = 16 - sweight
	}
	rscale = max(rscale, dscale, 0)
	rscale = min(rscale, 1000)
	c := types.DecimalCtx.WithPrecision(uint32(int64(x.NumDigits())/2 + rscale + 20))
	z := new(apd.Decimal)
	if _, err := c.Sqrt(z, x); err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
	}
	out := new(apd.Decimal)
	c.Rounding = apd.RoundHalfUp
	if _, err := c.Quantize(out, z, -int32(rscale)); err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
	}
	return out, nil
}

// LikeEscape rewrites a LIKE pattern with escape character esc into one
// with backslash escapes (PostgreSQL's like_escape); an empty esc means
// no escape character.
func LikeEscape(p, esc string) (string, error) {
	if utf8.RuneCountInString(esc) > 1 {
		return "", pgerr.New(pgerr.InvalidEscapeSequence, "invalid escape string").WithHint("Escape string must be empty or one character.")
	}
	var b strings.Builder
	e, _ := utf8.DecodeRuneInString(esc)
	escaped := false
	for _, c := range p {
		switch {
		case escaped:
			if c == '\\' {
				b.WriteString(`\\`)
			} else {
				b.WriteRune('\\')
				b.WriteRune(c)
			}
			escaped = false
		case esc != "" && c == e:
			escaped = true
		case c == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(c)
		}
	}
	if escaped {
		b.WriteRune('\\')
	}
	return b.String(), nil
}

// intervalScale is PostgreSQL's interval_mul (interval_div when div):
// months and days scale separately, and the fractions of months and days
// cascade down (a month is 30 days, a day 24 hours), never up.
func intervalScale(iv types.IntervalVal, f float64, div bool) (types.Datum, error) {
	if div && f == 0 {
		return nil, divByZero()
	}
	scale := func(x float64) float64 {
		if div {
			return x / f
		}
		return x * f
	}
	tsround := func(x float64) float64 { return math.RoundToEven(x*1e6) / 1e6 }
	fits32 := func(x float64) bool { return !math.IsNaN(x) && x <= math.MaxInt32 && x >= math.MinInt32 }
	m, d := scale(float64(iv.Months)), scale(float64(iv.Days))
	if !fits32(m) || !fits32(d) {
		return nil, intervalOutOfRange()
	}
	out := types.IntervalVal{Months: int32(m), Days: int32(d)}
	monthDays := tsround((m - float64(out.Months)) * 30)
	secs := tsround((d - float64(out.Days) + monthDays - math.Trunc(monthDays)) * 86400)
	days := int64(out.Days)
	if math.Abs(secs) >= 86400 {
		days += int64(secs / 86400)
		secs -= math.Trunc(secs/86400) * 86400
	}
	days += int64(monthDays)
	if days != int64(int32(days)) {
		return nil, intervalOutOfRange()
	}
	out.Days = int32(days)
	t := math.RoundToEven(scale(float64(iv.Micros)) + secs*1e6)
	if math.IsNaN(t) || t >= 9.223372036854775807e18 || t < -9.223372036854775808e18 {
		return nil, intervalOutOfRange()
	}
	out.Micros = int64(t)
	return out, nil
}
