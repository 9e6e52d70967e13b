package types

import (
	"bytes"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Datum is a SQL value; see the package comment for the representations.
type Datum = any

// Date is a calendar date: days since 1970-01-01.
type DateVal int64

// Time returns midnight UTC of d.
func (d DateVal) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// DateOf returns the date of t (in UTC).
func DateOf(t time.Time) DateVal {
	y, m, dd := t.Date()
	return DateVal(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Interval is a PostgreSQL interval: months, days and microseconds are
// kept apart, as PostgreSQL does.
type IntervalVal struct {
	Months int32
	Days   int32
	Micros int64
}

// Span returns the length PostgreSQL orders intervals by (a month is 30
// days, a day 24 hours) in microseconds, as the signed 128-bit integer
// hi<<64 | lo: the sum does not fit 64 bits for large intervals.
func (i IntervalVal) Span() (hi int64, lo uint64) {
	days := int64(i.Months)*30 + int64(i.Days) // |days| < 2^37
	ud := uint64(days)
	if days < 0 {
		ud = uint64(-days)
	}
	h, l := bits.Mul64(ud, 86400e6)
	if days < 0 {
		l = ^l + 1
		h = ^h
		if l == 0 {
			h++
		}
	}
	mh := uint64(0)
	if i.Micros < 0 {
		mh = math.MaxUint64
	}
	l, c := bits.Add64(l, uint64(i.Micros), 0)
	h, _ = bits.Add64(h, mh, c)
	return int64(h), l
}

func cmpInterval(x, y IntervalVal) int {
	xh, xl := x.Span()
	yh, yl := y.Span()
	if xh != yh {
		return cmp3(xh < yh, xh > yh)
	}
	return cmp3(xl < yl, xl > yl)
}

// Compare orders two non-NULL datums of the same type: -1, 0 or 1.
func Compare(a, b Datum) int {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x < y, x > y)
		case float64:
			return cmpFloat(float64(x), y)
		case *apd.Decimal:
			var d apd.Decimal
			d.SetInt64(x)
			return CompareNumeric(&d, y)
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmpFloat(x, y)
		case int64:
			return cmpFloat(x, float64(y))
		case *apd.Decimal:
			return cmpFloat(x, numericToFloat(y))
		}
	case *apd.Decimal:
		switch y := b.(type) {
		case *apd.Decimal:
			return CompareNumeric(x, y)
		case int64:
			var d apd.Decimal
			d.SetInt64(y)
			return CompareNumeric(x, &d)
		case float64:
			return cmpFloat(numericToFloat(x), y)
		}
	case bool:
		y := b.(bool)
		return cmp3(!x && y, x && !y)
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case DateVal:
		switch y := b.(type) {
		case DateVal:
			return cmp3(x < y, x > y)
		case time.Time:
			return x.Time().Compare(y)
		}
	case time.Time:
		switch y := b.(type) {
		case time.Time:
			return x.Compare(y)
		case DateVal:
			return x.Compare(y.Time())
		}
	case IntervalVal:
		return cmpInterval(x, b.(IntervalVal))
	}
	panic(pgerr.New(pgerr.InternalError, "cannot compare %T with %T", a, b))
}

func cmp3(less, greater bool) int {
	if less {
		return -1
	}
	if greater {
		return 1
	}
	return 0
}

// CompareNumeric orders numerics as PostgreSQL does: NaN equals NaN and
// is greater than every other value (apd leaves NaN comparisons undefined).
func CompareNumeric(x, y *apd.Decimal) int {
	xn, yn := isNaNDecimal(x), isNaNDecimal(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	return x.Cmp(y)
}

func isNaNDecimal(d *apd.Decimal) bool {
	return d.Form == apd.NaN || d.Form == apd.NaNSignaling
}

// numericToFloat converts for numeric-vs-float comparisons (PostgreSQL
// casts the numeric to double precision); out-of-range values become ±Inf.
func numericToFloat(d *apd.Decimal) float64 {
	if isNaNDecimal(d) {
		return math.NaN()
	}
	f, _ := d.Float64()
	return f
}

// cmpFloat orders floats as PostgreSQL does: NaN is greater than
// everything and equal to itself.
// CompareFloat orders floats as PostgreSQL does: NaN equals NaN and is
// greater than every other value.
func CompareFloat(x, y float64) int { return cmpFloat(x, y) }

func cmpFloat(x, y float64) int {
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	return cmp3(x < y, x > y)
}

// CompareNullsLast compares datums that may be NULL, NULLs last (the
// default of ORDER BY ... ASC).
func CompareNullsLast(a, b Datum) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return Compare(a, b)
}
