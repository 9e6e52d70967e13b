package types

import (
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

func TestCompare(t *testing.T) {
	n := func(s string) *apd.Decimal { return mustNum(t, s) }
	nan := &apd.Decimal{Form: apd.NaN}
	ts := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		a, b Datum
		want int
	}{
		{int64(1), int64(2), -1},
		{int64(math.MinInt64), int64(math.MaxInt64), -1},
		{int64(3), int64(3), 0},
		{1.5, 2.5, -1},
		{math.Copysign(0, -1), 0.0, 0},
		{math.NaN(), math.NaN(), 0}, // PostgreSQL: NaN = NaN
		{math.NaN(), math.Inf(1), 1},
		{math.Inf(-1), -math.MaxFloat64, -1},
		{n("1.0"), n("1.00"), 0},
		{n("-0.0"), n("0"), 0},
		{n("0.1"), n("0.10000000000000000000000000001"), -1},
		{n("-2"), n("-10"), 1},
		{n("1e100"), n("99999999999"), 1},
		{nan, nan, 0}, // PostgreSQL: NaN = NaN and NaN > everything
		{nan, n("1e100000"), 1},
		{n("-5"), nan, -1},
		{int64(1), n("1.0"), 0}, // cross-type, as int = numeric
		{n("0.5"), int64(1), -1},
		{int64(2), 1.5, 1},
		{1.0, int64(1), 0},
		{n("0.1"), 0.1, 0}, // numeric vs float: as float8
		{0.30000000000000004, n("0.3"), 1},
		{nan, math.Inf(1), 1},
		{false, true, -1},
		{true, true, 0},
		{"a", "b", -1},
		{"a", "a\x00", -1},
		{"é", "z", 1}, // bytewise (C collation)
		{[]byte{1}, []byte{1, 0}, -1},
		{DateVal(1), DateVal(2), -1},
		{DateVal(19737), ts, 0},
		{ts.Add(time.Microsecond), DateVal(19737), 1},
		{ts, ts.Add(-time.Hour), 1},
		{IntervalVal{Months: 1}, IntervalVal{Days: 30}, 0}, // PostgreSQL: '1 mon' = '30 days'
		{IntervalVal{Days: 1}, IntervalVal{Micros: 86400e6}, 0},
		{IntervalVal{Days: 1}, IntervalVal{Micros: 86400e6 + 1}, -1},
		{IntervalVal{Months: -1}, IntervalVal{Days: -29}, -1},
		// beyond float64 precision and int64 range
		{IntervalVal{Micros: math.MaxInt64}, IntervalVal{Micros: math.MaxInt64 - 1}, 1},
		{IntervalVal{Months: math.MaxInt32, Micros: 1}, IntervalVal{Months: math.MaxInt32}, 1},
		{IntervalVal{Months: math.MaxInt32}, IntervalVal{Days: math.MaxInt32, Micros: math.MaxInt64}, 1},
		{IntervalVal{Months: math.MinInt32}, IntervalVal{Days: math.MinInt32, Micros: math.MinInt64}, -1},
		{IntervalVal{Months: math.MinInt32, Days: math.MinInt32, Micros: math.MinInt64}, IntervalVal{Months: math.MinInt32, Days: math.MinInt32, Micros: math.MinInt64 + 1}, -1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Compare(c.b, c.a); got != -c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestCompareNullsLast(t *testing.T) {
	if CompareNullsLast(nil, nil) != 0 || CompareNullsLast(nil, int64(1)) != 1 || CompareNullsLast(int64(1), nil) != -1 || CompareNullsLast(int64(1), int64(2)) != -1 {
		t.Error("CompareNullsLast")
	}
}

func TestComparePanicsOnMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("comparing text with bool did not panic")
		}
	}()
	Compare("a", true)
}

func TestIntervalSpan(t *testing.T) {
	for _, c := range []struct {
		v  IntervalVal
		hi int64
		lo uint64
	}{
		{IntervalVal{}, 0, 0},
		{IntervalVal{Micros: -1}, -1, math.MaxUint64},
		{IntervalVal{Days: 1, Micros: 5}, 0, 86400e6 + 5},
		{IntervalVal{Months: -1}, -1, math.MaxUint64 - 30*86400e6 + 1},
	} {
		hi, lo := c.v.Span()
		if hi != c.hi || lo != c.lo {
			t.Errorf("%+v.Span() = %d:%d, want %d:%d", c.v, hi, lo, c.hi, c.lo)
		}
	}
	// exact beyond 64 bits:
	// (2147483647*30 + 2147483647) * 86400e6 + 9223372036854775807
	// = 5761043572161654775807 = 312<<64 | 0x4e8a4d9062eb5fff
	v := IntervalVal{Months: math.MaxInt32, Days: math.MaxInt32, Micros: math.MaxInt64}
	hi, lo := v.Span()
	if hi != 312 || lo != 0x4e8a4d9062eb5fff {
		t.Errorf("max span = %d:%x", hi, lo)
	}
}

func TestDateVal(t *testing.T) {
	d := DateVal(19737)
	if got := d.Time(); !got.Equal(time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Time() = %v", got)
	}
	if got := DateOf(time.Date(2024, 1, 15, 23, 59, 59, 0, time.UTC)); got != d {
		t.Errorf("DateOf = %d", got)
	}
	if got := DateOf(time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)); got != -1 {
		t.Errorf("DateOf(1969-12-31) = %d", got)
	}
}
