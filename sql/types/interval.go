package types

import (
	"fmt"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Interval field qualifiers (interval '90' day, interval '1-2' year to
// month, interval second(3)) are kept in the typmod as PostgreSQL does:
// the range — a mask of the fields named — in the high 16 bits, the
// fractional-second precision in the low 16 (0xFFFF: not given).
const (
	IntervalMaskMonth  = 1 << 1
	IntervalMaskYear   = 1 << 2
	IntervalMaskDay    = 1 << 3
	IntervalMaskHour   = 1 << 10
	IntervalMaskMinute = 1 << 11
	IntervalMaskSecond = 1 << 12
	// IntervalFullRange is the range of an interval without a qualifier.
	IntervalFullRange = 0x7FFF
	// IntervalFullPrecision is the precision when none is given.
	IntervalFullPrecision = 0xFFFF
	// IntervalMaxPrecision is the largest fractional-second precision.
	IntervalMaxPrecision = 6
)

// intervalRanges are the qualifiers PostgreSQL's grammar produces, with
// the names format_type prints.
var intervalRanges = map[int]string{
	IntervalMaskYear:                     "year",
	IntervalMaskMonth:                    "month",
	IntervalMaskDay:                      "day",
	IntervalMaskHour:                     "hour",
	IntervalMaskMinute:                   "minute",
	IntervalMaskSecond:                   "second",
	IntervalMaskYear | IntervalMaskMonth: "year to month",
	IntervalMaskDay | IntervalMaskHour:   "day to hour",
	IntervalMaskDay | IntervalMaskHour | IntervalMaskMinute:                      "day to minute",
	IntervalMaskDay | IntervalMaskHour | IntervalMaskMinute | IntervalMaskSecond: "day to second",
	IntervalMaskHour | IntervalMaskMinute:                                        "hour to minute",
	IntervalMaskHour | IntervalMaskMinute | IntervalMaskSecond:                   "hour to second",
	IntervalMaskMinute | IntervalMaskSecond:                                      "minute to second",
	IntervalFullRange:                                                            "",
}

// IntervalTypmod is PostgreSQL's intervaltypmodin: the typmod of
// interval with a range (IntervalFullRange for none) and a precision
// (-1 for none); -1 when neither restricts anything. A precision above 6
// is lowered to 6, as PostgreSQL does (with a warning).
func IntervalTypmod(rng int, precision int) (int32, error) {
	if _, ok := intervalRanges[rng]; !ok {
		return 0, pgerr.New(pgerr.InvalidParameterValue, "invalid INTERVAL type modifier")
	}
	if precision < 0 {
		if rng == IntervalFullRange {
			return -1, nil
		}
		precision = IntervalFullPrecision
	}
	if precision != IntervalFullPrecision && precision > IntervalMaxPrecision {
		precision = IntervalMaxPrecision
	}
	return int32(rng<<16 | precision), nil
}

// IntervalRange and IntervalPrecision decode an interval typmod.
func IntervalRange(typmod int32) int {
	if typmod < 0 {
		return IntervalFullRange
	}
	return int(typmod>>16) & 0x7FFF
}

// IntervalPrecision is the fractional-second precision of an interval
// typmod, IntervalFullPrecision for none.
func IntervalPrecision(typmod int32) int {
	if typmod < 0 {
		return IntervalFullPrecision
	}
	return int(typmod) & 0xFFFF
}

// intervalTypmodString is intervaltypmodout: " day", "(3)", " second(3)".
func intervalTypmodString(typmod int32) string {
	out := ""
	if name := intervalRanges[IntervalRange(typmod)]; name != "" {
		out = " " + name
	}
	if p := IntervalPrecision(typmod); p != IntervalFullPrecision {
		out += fmt.Sprintf("(%d)", p)
	}
	return out
}

// rangeUnit is the unit of a number without one under a qualifier: the
// qualifier's last field (seconds when there is none).
func rangeUnit(rng int) ivUnit {
	switch rng {
	case IntervalMaskYear:
		return ivUnit{ivYear, 'y', 1}
	case IntervalMaskMonth, IntervalMaskYear | IntervalMaskMonth:
		return ivUnit{ivMonth, 'M', 1}
	case IntervalMaskDay:
		return ivUnit{ivDay, 'd', 1}
	case IntervalMaskHour, IntervalMaskDay | IntervalMaskHour:
		return ivUnit{ivHour, 'u', 3600e6}
	case IntervalMaskMinute, IntervalMaskHour | IntervalMaskMinute,
		IntervalMaskDay | IntervalMaskHour | IntervalMaskMinute:
		return ivUnit{ivMinute, 'u', 60e6}
	}
	return ivUnit{ivSecond, 'u', 1e6}
}

// AdjustInterval is PostgreSQL's AdjustIntervalForTypmod: it drops the
// fields below the typmod's range (interval '1 day 3 hours' day is
// 1 day; year keeps whole years) and rounds seconds to its precision
// (half away from zero).
func AdjustInterval(v IntervalVal, typmod int32) IntervalVal {
	if typmod < 0 {
		return v
	}
	const hour, minute = int64(3600e6), int64(60e6)
	switch IntervalRange(typmod) {
	case IntervalMaskYear:
		v.Months = (v.Months / 12) * 12
		v.Days, v.Micros = 0, 0
	case IntervalMaskMonth, IntervalMaskYear | IntervalMaskMonth:
		v.Days, v.Micros = 0, 0
	case IntervalMaskDay:
		v.Micros = 0
	case IntervalMaskHour, IntervalMaskDay | IntervalMaskHour:
		v.Micros = (v.Micros / hour) * hour
	case IntervalMaskMinute, IntervalMaskDay | IntervalMaskHour | IntervalMaskMinute,
		IntervalMaskHour | IntervalMaskMinute:
		v.Micros = (v.Micros / minute) * minute
	}
	if p := IntervalPrecision(typmod); p != IntervalFullPrecision && p < IntervalMaxPrecision {
		scale := int64(1)
		for i := p; i < IntervalMaxPrecision; i++ {
			scale *= 10
		}
		half := scale / 2
		if v.Micros >= 0 {
			v.Micros = ((v.Micros + half) / scale) * scale
		} else {
			v.Micros = -(((-v.Micros + half) / scale) * scale)
		}
	}
	return v
}
