package types

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// DecimalCtx is the context for numeric arithmetic: PostgreSQL keeps up to
// 1000 digits of precision before the decimal point and 16383 after.
var DecimalCtx = apd.BaseContext.WithPrecision(1000)

// Coerce applies t's typmod and range to d, a datum of t's representation:
// varchar(n) and char(n) length, numeric(p,s) rounding and overflow,
// integer range, real precision, an interval's fields and precision.
func Coerce(t Type, d Datum) (Datum, error) {
	if d == nil {
		return nil, nil
	}
	switch t.OID {
	case Int2, Int4, OID:
		v := d.(int64)
		lo, hi := IntRange(t.OID)
		if v < lo || v > hi {
			return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", InfoOf(t.OID).Name)
		}
	case Float4:
		v := d.(float64)
		f := float32(v)
		if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
			return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: overflow")
		}
		if f == 0 && v != 0 {
			return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: underflow")
		}
		return float64(f), nil
	case Varchar:
		if t.Typmod >= 4 {
			s := d.(string)
			n := int(t.Typmod - 4)
			if utf8.RuneCountInString(s) > n {
				trimmed := strings.TrimRight(s, " ")
				if utf8.RuneCountInString(trimmed) > n {
					return nil, pgerr.New(pgerr.StringDataRightTruncation, "value too long for type character varying(%d)", n)
				}
				return truncateRunes(s, n), nil
			}
		}
	case Bpchar:
		s := d.(string)
		n := 1
		if t.Typmod >= 4 {
			n = int(t.Typmod - 4)
		} else if t.Typmod < 0 {
			return s, nil
		}
		c := utf8.RuneCountInString(s)
		if c > n {
			trimmed := strings.TrimRight(s, " ")
			if utf8.RuneCountInString(trimmed) > n {
				return nil, pgerr.New(pgerr.StringDataRightTruncation, "value too long for type character(%d)", n)
			}
			return truncateRunes(s, n), nil
		}
		if c < n {
			return s + strings.Repeat(" ", n-c), nil
		}
	case Numeric:
		if t.Typmod >= 4 {
			return roundNumeric(d.(*apd.Decimal), t.Typmod)
		}
		return NormalizeNumeric(d.(*apd.Decimal))
	case Interval:
		return AdjustInterval(d.(IntervalVal), t.Typmod), nil
	}
	return d, nil
}

func truncateRunes(s string, n int) string {
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

func roundNumeric(v *apd.Decimal, typmod int32) (Datum, error) {
	if v.Form != apd.Finite {
		return v, nil
	}
	p, s := NumericPrecScale(typmod)
	out := new(apd.Decimal)
	// Quantize rounds half away from zero (apd's RoundHalfUp), as
	// PostgreSQL's round_var does.
	if _, err := DecimalCtx.Quantize(out, v, -s); err != nil {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "numeric field overflow").
			WithDetail("A field with precision %d, scale %d must round to an absolute value less than 10^%d.", p, s, p-s)
	}
	// digits before the point must fit in p - s
	digits := int32(out.NumDigits()) + out.Exponent
	if !out.IsZero() && digits > p-s {
		return nil, pgerr.New(pgerr.NumericValueOutOfRange, "numeric field overflow").
			WithDetail("A field with precision %d, scale %d must round to an absolute value less than 10^%d.", p, s, p-s)
	}
	return NormalizeNumeric(out)
}

// CanCast reports whether a value of type from converts to type to.
func CanCast(from, to uint32) bool {
	if from == to || from == Unknown {
		return true
	}
	if IsString(from) || IsString(to) {
		return true
	}
	ci, co := InfoOf(from).Category, InfoOf(to).Category
	switch {
	case ci == CatNumeric && co == CatNumeric:
		return true
	case ci == CatDateTime && co == CatDateTime:
		return !(from != Date && to == Date && false)
	case (from == Bool && IsInteger(to)) || (IsInteger(from) && to == Bool):
		return from == Int4 || to == Int4
	}
	return false
}

// Cast converts d from type from to type to (typmod applied).
func Cast(d Datum, from uint32, to Type) (Datum, error) {
	if d == nil {
		return nil, nil
	}
	if from == to.OID {
		return Coerce(to, d)
	}
	if IsString(from) || from == Unknown {
		s := d.(string)
		if from == Bpchar && !IsString(to.OID) {
			s = strings.TrimRight(s, " ")
		}
		if to.OID == Bpchar || to.OID == Varchar || to.OID == Text {
			if from == Bpchar && to.OID != Bpchar {
				s = strings.TrimRight(s, " ")
			}
			return Coerce(to, s)
		}
		return ParseText(to, s)
	}
	if IsString(to.OID) {
		if b, ok := d.(bool); ok {
			// bool's cast to text spells the word out (booltext), unlike
			// its output function
			if b {
				return Coerce(to, "true")
			}
			return Coerce(to, "false")
		}
		return Coerce(to, FormatText(T(from), d))
	}
	switch {
	case IsInteger(to.OID):
		var v int64
		switch x := d.(type) {
		case int64:
			v = x
		case float64:
			if math.IsNaN(x) || x >= 9.223372036854775807e18 || x < -9.223372036854775808e18 {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", InfoOf(to.OID).Name)
			}
			v = int64(math.RoundToEven(x))
		case *apd.Decimal:
			if x.Form != apd.Finite {
				return nil, pgerr.New(pgerr.FeatureNotSupported, "cannot convert NaN to %s", InfoOf(to.OID).Name)
			}
			if int64(x.NumDigits())+int64(x.Exponent) > 20 {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", InfoOf(to.OID).Name)
			}
			// PostgreSQL rounds half away from zero for numeric → int
			// (apd's RoundHalfUp).
			var r apd.Decimal
			c := apd.BaseContext.WithPrecision(25)
			c.Rounding = apd.RoundHalfUp
			if _, err := c.Quantize(&r, x, 0); err != nil {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", InfoOf(to.OID).Name)
			}
			i, err := r.Int64()
			if err != nil {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", InfoOf(to.OID).Name)
			}
			v = i
		case bool:
			if x {
				v = 1
			}
		default:
			return nil, cannotCast(from, to.OID)
		}
		return Coerce(to, v)
	case IsFloat(to.OID):
		switch x := d.(type) {
		case int64:
			return Coerce(to, float64(x))
		case float64:
			return Coerce(to, x)
		case *apd.Decimal:
			if isNaNDecimal(x) {
				return math.NaN(), nil
			}
			f, err := x.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: overflow")
			}
			if f == 0 && !x.IsZero() {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range: underflow")
			}
			return Coerce(to, f)
		}
	case to.OID == Numeric:
		switch x := d.(type) {
		case int64:
			return Coerce(to, apd.New(x, 0))
		case float64:
			if math.IsInf(x, 0) {
				return nil, pgerr.New(pgerr.FeatureNotSupported, "cannot convert infinity to numeric")
			}
			if math.IsNaN(x) {
				return Coerce(to, &apd.Decimal{Form: apd.NaN})
			}
			// PostgreSQL converts through "%.15g" (real: "%.6g"): the
			// value rounded to DBL_DIG (FLT_DIG) significant digits.
			digits := 15
			if from == Float4 {
				digits = 6
			}
			dd, _, err := apd.NewFromString(strconv.FormatFloat(x, 'g', digits, 64))
			if err != nil {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "value out of range")
			}
			nd, err := NormalizeNumeric(dd)
			if err != nil {
				return nil, err
			}
			return Coerce(to, nd)
		case *apd.Decimal:
			return Coerce(to, x)
		}
	case to.OID == Bool:
		if x, ok := d.(int64); ok {
			return x != 0, nil
		}
	case to.OID == Date:
		switch x := d.(type) {
		case time.Time:
			return DateOf(x), nil
		case DateVal:
			return x, nil
		}
	case to.OID == Timestamp || to.OID == TimestampTZ:
		switch x := d.(type) {
		case DateVal:
			return x.Time(), nil
		case time.Time:
			return x, nil
		}
	}
	return nil, cannotCast(from, to.OID)
}

// CastExplicit is Cast for an explicit CAST or ::. The one difference is
// PostgreSQL's: a string too long for varchar(n) or char(n) is cut to n
// characters instead of failing with 22001 ('abcd'::varchar(3) is 'abc',
// true::varchar(2) is 'tr'); Cast keeps the assignment rule (22001 unless
// only spaces are cut).
func CastExplicit(d Datum, from uint32, to Type) (Datum, error) {
	if d == nil || (to.OID != Varchar && to.OID != Bpchar) || to.Typmod < 4 {
		return Cast(d, from, to)
	}
	v, err := Cast(d, from, T(to.OID))
	if err != nil {
		return nil, err
	}
	return Coerce(to, truncateRunes(v.(string), int(to.Typmod-4)))
}

func cannotCast(from, to uint32) error {
	return pgerr.New(pgerr.DatatypeMismatch, "cannot cast type %s to %s", InfoOf(from).Name, InfoOf(to).Name)
}
