package expr

import (
	"math"
	"strings"
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

func init() {
	for _, op := range []string{"+", "-", "*", "/", "%"} {
		funcs[op] = arith(op)
	}
	for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
		funcs[op] = compare(op)
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
				return new(apd.Decimal).Neg(x), nil
			case types.IntervalVal:
				return types.IntervalVal{Months: -x.Months, Days: -x.Days, Micros: -x.Micros}, nil
			}
			return nil, badArg("-")
		}, nil
	}
	funcs["||"] = simple(func(v []types.Datum) (types.Datum, error) {
		return types.FormatText(types.T(types.Text), v[0]) + types.FormatText(types.T(types.Text), v[1]), nil
	})
	funcs["like"] = likeBuilder(false, false)
	funcs["not like"] = likeBuilder(false, true)
	funcs["ilike"] = likeBuilder(true, false)
	funcs["not ilike"] = likeBuilder(true, true)
	funcs["lower"] = strFn(strings.ToLower)
	funcs["upper"] = strFn(strings.ToUpper)
	funcs["btrim"] = strFn(func(s string) string { return strings.Trim(s, " ") })
	funcs["ltrim"] = strFn(func(s string) string { return strings.TrimLeft(s, " ") })
	funcs["rtrim"] = strFn(func(s string) string { return strings.TrimRight(s, " ") })
	funcs["length"] = simple(func(v []types.Datum) (types.Datum, error) {
		if b, ok := v[0].([]byte); ok {
			return int64(len(b)), nil
		}
		return int64(utf8.RuneCountInString(v[0].(string))), nil
	})
	funcs["char_length"] = funcs["length"]
	funcs["octet_length"] = simple(func(v []types.Datum) (types.Datum, error) {
		if b, ok := v[0].([]byte); ok {
			return int64(len(b)), nil
		}
		return int64(len(v[0].(string))), nil
	})
	funcs["substr"] = simple(substr)
	funcs["substring"] = simple(substr)
	funcs["abs"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case int64:
			if x < 0 {
				if x == math.MinInt64 {
					return nil, overflow(types.Int8)
				}
				return -x, nil
			}
			return x, nil
		case float64:
			return math.Abs(x), nil
		case *apd.Decimal:
			return new(apd.Decimal).Abs(x), nil
		}
		return nil, badArg("abs")
	})
	funcs["round"] = roundFn
	funcs["floor"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case float64:
			return math.Floor(x), nil
		case *apd.Decimal:
			d := new(apd.Decimal)
			_, err := types.DecimalCtx.Floor(d, x)
			return d, err
		}
		return v[0], nil
	})
	funcs["ceil"] = simple(func(v []types.Datum) (types.Datum, error) {
		switch x := v[0].(type) {
		case float64:
			return math.Ceil(x), nil
		case *apd.Decimal:
			d := new(apd.Decimal)
			_, err := types.DecimalCtx.Ceil(d, x)
			return d, err
		}
		return v[0], nil
	})
	funcs["ceiling"] = funcs["ceil"]
	funcs["sqrt"] = simple(func(v []types.Datum) (types.Datum, error) {
		x := v[0].(float64)
		if x < 0 {
			return nil, pgerr.New("2201F", "cannot take square root of a negative number")
		}
		return math.Sqrt(x), nil
	})
	funcs["mod"] = funcs["%"]
}

// Functions lists the names the evaluator knows (for the planner).
func Known(name string) bool { _, ok := funcs[name]; return ok }

func simple(f fn) builder {
	return func([]types.Type, types.Type) (fn, error) { return f, nil }
}

func strFn(f func(string) string) builder {
	return simple(func(v []types.Datum) (types.Datum, error) { return f(v[0].(string)), nil })
}

func badArg(name string) error {
	return pgerr.New(pgerr.UndefinedFunction, "function %s does not exist for these argument types", name)
}

func compileFunc(e *meridianpb.Expr) (Eval, error) {
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
	args, err := compileAll(e.Args)
	if err != nil {
		return nil, err
	}
	n := len(args)
	return func(row []types.Datum) (types.Datum, error) {
		var buf [4]types.Datum
		vals := buf[:0]
		if n > len(buf) {
			vals = make([]types.Datum, 0, n)
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
		switch {
		case types.IsInteger(r.OID) && types.IsInteger(at[0].OID) && types.IsInteger(at[1].OID):
			return intArith(op, r.OID), nil
		case types.IsFloat(r.OID):
			return func(v []types.Datum) (types.Datum, error) {
				x, y := toFloat(v[0]), toFloat(v[1])
				var z float64
				switch op {
				case "+":
					z = x + y
				case "-":
					z = x - y
				case "*":
					z = x * y
				case "/":
					if y == 0 {
						return nil, divByZero()
					}
					z = x / y
				case "%":
					if y == 0 {
						return nil, divByZero()
					}
					z = math.Mod(x, y)
				}
				if math.IsInf(z, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
					return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: overflow")
				}
				if r.OID == types.Float4 {
					return types.Coerce(r, z)
				}
				return z, nil
			}, nil
		case r.OID == types.Numeric:
			return func(v []types.Datum) (types.Datum, error) {
				return NumericArith(op, toDecimal(v[0]), toDecimal(v[1]))
			}, nil
		}
		return dateArith(op, at, r)
	}
}

func intArith(op string, r uint32) fn {
	return func(v []types.Datum) (types.Datum, error) {
		x, y := v[0].(int64), v[1].(int64)
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

// NumericArith is numeric +, -, *, / and % with PostgreSQL's result scales.
func NumericArith(op string, x, y *apd.Decimal) (types.Datum, error) {
	z := new(apd.Decimal)
	var err error
	switch op {
	case "+":
		_, err = types.DecimalCtx.Add(z, x, y)
	case "-":
		_, err = types.DecimalCtx.Sub(z, x, y)
	case "*":
		_, err = types.DecimalCtx.Mul(z, x, y)
	case "/":
		if y.IsZero() {
			return nil, divByZero()
		}
		return NumericDiv(x, y)
	case "%":
		if y.IsZero() {
			return nil, divByZero()
		}
		_, err = types.DecimalCtx.Rem(z, x, y)
	}
	if err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
	}
	return z, nil
}

// NumericDiv divides with PostgreSQL's select_div_scale rule: at least 16
// significant digits, and no fewer fractional digits than either input.
func NumericDiv(x, y *apd.Decimal) (*apd.Decimal, error) {
	if y.IsZero() {
		return nil, divByZero()
	}
	sx, sy := int32(0), int32(0)
	if x.Exponent < 0 {
		sx = -x.Exponent
	}
	if y.Exponent < 0 {
		sy = -y.Exponent
	}
	// estimated weight (decimal digits before the point) of the quotient
	wx := int32(x.NumDigits()) + x.Exponent
	wy := int32(y.NumDigits()) + y.Exponent
	qweight := wx - wy
	rscale := 16 - qweight
	if rscale < sx {
		rscale = sx
	}
	if rscale < sy {
		rscale = sy
	}
	if rscale < 0 {
		rscale = 0
	}
	if rscale > 1000 {
		rscale = 1000
	}
	q := new(apd.Decimal)
	c := types.DecimalCtx.WithPrecision(uint32(max(int32(50), qweight+rscale+10)))
	if _, err := c.Quo(q, x, y); err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
	}
	out := new(apd.Decimal)
	c.Rounding = apd.RoundHalfUp
	if _, err := c.Quantize(out, q, -rscale); err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
	}
	return out, nil
}

func dateArith(op string, at []types.Type, r types.Type) (fn, error) {
	a, b := at[0].OID, at[1].OID
	switch {
	case a == types.Date && types.IsInteger(b) && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			n := v[1].(int64)
			if op == "-" {
				n = -n
			}
			return v[0].(types.DateVal) + types.DateVal(n), nil
		}, nil
	case types.IsInteger(a) && b == types.Date && op == "+":
		return func(v []types.Datum) (types.Datum, error) {
			return v[1].(types.DateVal) + types.DateVal(v[0].(int64)), nil
		}, nil
	case a == types.Date && b == types.Date && op == "-":
		return func(v []types.Datum) (types.Datum, error) {
			return int64(v[0].(types.DateVal) - v[1].(types.DateVal)), nil
		}, nil
	case (a == types.Timestamp || a == types.TimestampTZ || a == types.Date) && b == types.Interval && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			t := asTime(v[0])
			iv := v[1].(types.IntervalVal)
			if op == "-" {
				iv = types.IntervalVal{Months: -iv.Months, Days: -iv.Days, Micros: -iv.Micros}
			}
			return AddInterval(t, iv), nil
		}, nil
	case a == types.Interval && (b == types.Timestamp || b == types.TimestampTZ || b == types.Date) && op == "+":
		return func(v []types.Datum) (types.Datum, error) {
			return AddInterval(asTime(v[1]), v[0].(types.IntervalVal)), nil
		}, nil
	case (a == types.Timestamp || a == types.TimestampTZ) && a == b && op == "-":
		return func(v []types.Datum) (types.Datum, error) {
			d := v[0].(time.Time).Sub(v[1].(time.Time)).Microseconds()
			days := d / 86400e6
			return types.IntervalVal{Days: int32(days), Micros: d - days*86400e6}, nil
		}, nil
	case a == types.Interval && b == types.Interval && (op == "+" || op == "-"):
		return func(v []types.Datum) (types.Datum, error) {
			x, y := v[0].(types.IntervalVal), v[1].(types.IntervalVal)
			if op == "-" {
				y = types.IntervalVal{Months: -y.Months, Days: -y.Days, Micros: -y.Micros}
			}
			return types.IntervalVal{Months: x.Months + y.Months, Days: x.Days + y.Days, Micros: x.Micros + y.Micros}, nil
		}, nil
	}
	return nil, pgerr.New(pgerr.UndefinedFunction, "operator does not exist: %s %s %s", at[0], op, at[1])
}

func asTime(d types.Datum) time.Time {
	if dv, ok := d.(types.DateVal); ok {
		return dv.Time()
	}
	return d.(time.Time)
}

// AddInterval adds an interval to a time as PostgreSQL does: months, then
// days, then microseconds.
func AddInterval(t time.Time, iv types.IntervalVal) time.Time {
	if iv.Months != 0 {
		y, m, d := t.Date()
		nm := time.Month(int(m) + int(iv.Months))
		// clamp the day to the end of the target month
		last := time.Date(y, nm+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if d > last {
			d = last
		}
		h, mi, s := t.Clock()
		t = time.Date(y, nm, d, h, mi, s, t.Nanosecond(), time.UTC)
	}
	return t.AddDate(0, 0, int(iv.Days)).Add(time.Duration(iv.Micros) * time.Microsecond)
}

func compare(op string) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		test := map[string]func(int) bool{
			"=": func(c int) bool { return c == 0 }, "<>": func(c int) bool { return c != 0 },
			"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
			">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
		}[op]
		bpchar := at[0].OID == types.Bpchar && at[1].OID == types.Bpchar
		return func(v []types.Datum) (types.Datum, error) {
			a, b := v[0], v[1]
			if bpchar {
				a, b = strings.TrimRight(a.(string), " "), strings.TrimRight(b.(string), " ")
			}
			return test(types.Compare(a, b)), nil
		}, nil
	}
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
		end = start + n
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
			c := types.DecimalCtx
			c.Rounding = apd.RoundHalfUp
			d := new(apd.Decimal)
			if _, err := c.Quantize(d, x, -int32(places)); err != nil {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
			}
			return d, nil
		case int64:
			return x, nil
		}
		return nil, badArg("round")
	}, nil
}
