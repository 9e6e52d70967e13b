package expr

import (
	"math"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// extract(field FROM x) and date_part('field', x), as PostgreSQL 15:
// extract returns numeric (exact: seconds keep six decimals), date_part
// double precision. Both take the field as text first; the planner casts
// a date to timestamp for date_part (PostgreSQL's date_part(text, date) is
// a SQL function doing that), while extract has date rules of its own
// (no time-of-day fields; epoch and julian are whole days).

type dtUnit int

const (
	unitNone dtUnit = iota
	unitMicrosecond
	unitMillisecond
	unitSecond
	unitMinute
	unitHour
	unitDay
	unitWeek
	unitMonth
	unitQuarter
	unitYear
	unitDecade
	unitCentury
	unitMillennium
	unitJulian
	unitISOYear
	unitDOW
	unitISODOW
	unitDOY
	unitTZ
	unitTZHour
	unitTZMinute
	unitEpoch
	unitReserved // a special word (now, infinity, ...): not supported
)

// extractUnits are the words PostgreSQL's DecodeUnits and DecodeSpecial
// accept as a field, matched on their first 10 characters.
var extractUnits = map[string]dtUnit{
	"c": unitCentury, "cent": unitCentury, "centuries": unitCentury, "century": unitCentury,
	"d": unitDay, "day": unitDay, "days": unitDay,
	"dec": unitDecade, "decade": unitDecade, "decades": unitDecade, "decs": unitDecade,
	"h": unitHour, "hour": unitHour, "hours": unitHour, "hr": unitHour, "hrs": unitHour,
	"m": unitMinute, "min": unitMinute, "mins": unitMinute, "minute": unitMinute, "minutes": unitMinute,
	"microsecon": unitMicrosecond, "us": unitMicrosecond, "usec": unitMicrosecond, "usecond": unitMicrosecond,
	"useconds": unitMicrosecond, "usecs": unitMicrosecond,
	"mil": unitMillennium, "millennia": unitMillennium, "millennium": unitMillennium, "mils": unitMillennium,
	"millisecon": unitMillisecond, "ms": unitMillisecond, "msec": unitMillisecond, "msecond": unitMillisecond,
	"mseconds": unitMillisecond, "msecs": unitMillisecond,
	"mon": unitMonth, "mons": unitMonth, "month": unitMonth, "months": unitMonth,
	"qtr": unitQuarter, "quarter": unitQuarter,
	"s": unitSecond, "sec": unitSecond, "second": unitSecond, "seconds": unitSecond, "secs": unitSecond,
	"timezone": unitTZ, "timezone_h": unitTZHour, "timezone_m": unitTZMinute,
	"w": unitWeek, "week": unitWeek, "weeks": unitWeek,
	"y": unitYear, "year": unitYear, "years": unitYear, "yr": unitYear, "yrs": unitYear,
	"dow": unitDOW, "doy": unitDOY, "isodow": unitISODOW, "isoyear": unitISOYear,
	"j": unitJulian, "jd": unitJulian, "julian": unitJulian,
	"epoch":    unitEpoch,
	"infinity": unitReserved, "-infinity": unitReserved, "now": unitReserved, "today": unitReserved,
	"tomorrow": unitReserved, "yesterday": unitReserved, "allballs": unitReserved,
}

func parseExtractUnit(field string) (string, dtUnit) {
	low := strings.ToLower(field) // downcase_truncate_identifier: ASCII only
	if len(low) > 63 {
		low = low[:63]
	}
	key := low
	if len(key) > 10 {
		key = key[:10]
	}
	return low, extractUnits[key]
}

func unitNotRecognized(low string, t uint32) error {
	return pgerr.New(pgerr.InvalidParameterValue, "unit %q not recognized for type %s", low, types.InfoOf(t).Name)
}

func unitNotSupported(low string, t uint32) error {
	return pgerr.New(pgerr.FeatureNotSupported, "unit %q not supported for type %s", low, types.InfoOf(t).Name)
}

// partValue is a field's value: an integer, or a count of micro (or
// milli) units with the decimal scale to show it at.
type partValue struct {
	n     int64
	scale int32 // n × 10^-scale
	// f is date_part's value when it is not float64(n) (PostgreSQL's
	// float formulas, to the last bit).
	f    float64
	hasF bool
	// julian is a timestamp's julian day and fraction (numeric:
	// day + us/86400e6 at division scale; float: the same in float64).
	julian      bool
	jday, jusec int64
}

func (p partValue) numeric() (types.Datum, error) {
	if p.julian {
		frac, err := NumericDiv(apd.New(p.jusec, 0), apd.New(86400e6, 0))
		if err != nil {
			return nil, err
		}
		return NumericArith("+", apd.New(p.jday, 0), frac)
	}
	return apd.New(p.n, -p.scale), nil
}

func (p partValue) float() float64 {
	switch {
	case p.julian:
		return float64(p.jday) + (float64(p.jusec/1e6)+float64(p.jusec%1e6)/1e6)/86400
	case p.hasF:
		return p.f
	}
	return float64(p.n) / math.Pow10(int(p.scale))
}

// julianDay is PostgreSQL's date2j: days since 4714-11-24 BC.
func julianDay(t time.Time) int64 {
	return int64(types.DateOf(t)) + 2440588
}

// timePart extracts a field from a timestamp (timestamptz values are UTC).
func timePart(low string, u dtUnit, t time.Time, oid uint32) (partValue, error) {
	t = t.UTC()
	year := int64(t.Year()) // 1 BC is 0
	usec := int64(t.Second())*1e6 + int64(t.Nanosecond()/1e3)
	switch u {
	case unitMicrosecond:
		return partValue{n: usec}, nil
	case unitMillisecond:
		return partValue{n: usec, scale: 3, f: float64(t.Second())*1000 + float64(usec%1e6)/1000, hasF: true}, nil
	case unitSecond:
		return partValue{n: usec, scale: 6, f: float64(t.Second()) + float64(usec%1e6)/1e6, hasF: true}, nil
	case unitMinute:
		return partValue{n: int64(t.Minute())}, nil
	case unitHour:
		return partValue{n: int64(t.Hour())}, nil
	case unitEpoch:
		return partValue{n: t.UnixMicro(), scale: 6, f: float64(t.UnixMicro()) / 1e6, hasF: true}, nil
	case unitJulian:
		sod := int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + usec
		return partValue{julian: true, jday: julianDay(t), jusec: sod}, nil
	case unitTZ, unitTZHour, unitTZMinute:
		if oid == types.TimestampTZ {
			return partValue{}, nil // values are in UTC
		}
		return partValue{}, unitNotSupported(low, oid)
	}
	return datePart(low, u, year, t, oid)
}

// datePart extracts the fields a date and a timestamp share.
func datePart(low string, u dtUnit, year int64, t time.Time, oid uint32) (partValue, error) {
	v := int64(0)
	switch u {
	case unitDay:
		v = int64(t.Day())
	case unitMonth:
		v = int64(t.Month())
	case unitQuarter:
		v = (int64(t.Month())-1)/3 + 1
	case unitWeek:
		_, w := t.ISOWeek()
		v = int64(w)
	case unitYear:
		v = year
		if year <= 0 {
			v = year - 1 // no year 0: 1 BC, 1 AD
		}
	case unitDecade:
		if year >= 0 {
			v = year / 10
		} else {
			v = -((8 - (year - 1)) / 10)
		}
	case unitCentury:
		if year > 0 {
			v = (year + 99) / 100
		} else {
			v = -((99 - (year - 1)) / 100)
		}
	case unitMillennium:
		if year > 0 {
			v = (year + 999) / 1000
		} else {
			v = -((999 - (year - 1)) / 1000)
		}
	case unitISOYear:
		y, _ := t.ISOWeek()
		v = int64(y)
		if v <= 0 {
			v--
		}
	case unitDOW, unitISODOW:
		v = int64(t.Weekday())
		if u == unitISODOW && v == 0 {
			v = 7
		}
	case unitDOY:
		v = int64(t.YearDay())
	case unitNone:
		return partValue{}, unitNotRecognized(low, oid)
	default:
		return partValue{}, unitNotSupported(low, oid)
	}
	return partValue{n: v}, nil
}

// dateExtract is extract(field FROM date): whole numbers only.
func dateExtract(low string, u dtUnit, d types.DateVal) (partValue, error) {
	t := d.Time()
	switch u {
	case unitEpoch:
		return partValue{n: int64(d) * 86400}, nil
	case unitJulian:
		return partValue{n: int64(d) + 2440588}, nil
	case unitNone:
		return partValue{}, unitNotRecognized(low, types.Date)
	case unitMicrosecond, unitMillisecond, unitSecond, unitMinute, unitHour, unitTZ, unitTZHour, unitTZMinute:
		return partValue{}, unitNotSupported(low, types.Date)
	}
	return datePart(low, u, int64(t.Year()), t, types.Date)
}

// intervalPart extracts a field from an interval: its fields broken down
// as PostgreSQL's interval2itm (each with the interval's signs).
func intervalPart(low string, u dtUnit, iv types.IntervalVal) (partValue, error) {
	years, months := int64(iv.Months)/12, int64(iv.Months)%12
	hours := iv.Micros / 3600e6
	mins := (iv.Micros / 60e6) % 60
	usec := iv.Micros % 60e6 // seconds and microseconds
	v := int64(0)
	switch u {
	case unitMicrosecond:
		return partValue{n: usec}, nil
	case unitMillisecond:
		return partValue{n: usec, scale: 3, f: float64(usec/1e6)*1000 + float64(usec%1e6)/1000, hasF: true}, nil
	case unitSecond:
		return partValue{n: usec, scale: 6, f: float64(usec/1e6) + float64(usec%1e6)/1e6, hasF: true}, nil
	case unitEpoch:
		// a year is 365.25 days, a month 30 (in quarter days, to stay exact)
		secs := (1461*years + 120*months + 4*int64(iv.Days)) * (86400 / 4)
		f := float64(iv.Micros)/1e6 + 365.25*86400*float64(years) + 30*86400*float64(months) + 86400*float64(iv.Days)
		return partValue{n: secs*1e6 + iv.Micros, scale: 6, f: f, hasF: true}, nil
	case unitMinute:
		v = mins
	case unitHour:
		v = hours
	case unitDay:
		v = int64(iv.Days)
	case unitMonth:
		v = months
	case unitQuarter:
		v = months/3 + 1 // PostgreSQL 15: -5 months is quarter 0
	case unitYear:
		v = years
	case unitDecade:
		v = years / 10
	case unitCentury:
		v = years / 100
	case unitMillennium:
		v = years / 1000
	case unitNone:
		return partValue{}, unitNotRecognized(low, types.Interval)
	default:
		return partValue{}, unitNotSupported(low, types.Interval)
	}
	return partValue{n: v}, nil
}

// partBuilder builds extract (numeric) or date_part (float8).
func partBuilder(numeric bool) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		if len(at) != 2 {
			return nil, badArg("extract")
		}
		oid := at[1].OID
		return func(v []types.Datum) (types.Datum, error) {
			low, u := parseExtractUnit(v[0].(string))
			var p partValue
			var err error
			switch x := v[1].(type) {
			case types.DateVal:
				if !numeric {
					p, err = timePart(low, u, x.Time(), types.Timestamp)
				} else {
					p, err = dateExtract(low, u, x)
				}
			case time.Time:
				p, err = timePart(low, u, x, oid)
			case types.IntervalVal:
				p, err = intervalPart(low, u, x)
			default:
				return nil, badArg("extract")
			}
			if err != nil {
				return nil, err
			}
			if numeric {
				return p.numeric()
			}
			return p.float(), nil
		}, nil
	}
}

func init() {
	funcs["extract"] = partBuilder(true)
	funcs["date_part"] = partBuilder(false)
}
