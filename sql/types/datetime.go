package types

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Date and timestamp range: from julian day 0 (4714-11-24 BC) to
// 5874897-12-31 for dates, as PostgreSQL; timestamps up to (not
// including) 294247-01-01, where Unix microseconds end (PostgreSQL, which
// counts from 2000, goes on to 294276-12-31).
const (
	minDateDays      = -2440588                     // 4714-11-24 BC
	maxDateDays      = 2145042905                   // 5874897-12-31
	minTimestampUsec = int64(minDateDays) * 86400e6 // 4714-11-24 BC 00:00:00
	endTimestampUsec = int64(106751982) * 86400e6   // 294247-01-01 00:00:00
)

const (
	codeIntervalFieldOverflow = "22015"
	codeInvalidTZDisplacement = "22009"
)

func dtSyntax(typ string, s string) error {
	return pgerr.New(pgerr.InvalidDatetimeFormat, "invalid input syntax for type %s: %q", typ, s)
}

func dtFieldOverflow(s string) error {
	return pgerr.New(pgerr.DatetimeFieldOverflow, "date/time field value out of range: %q", s)
}

// dateTimeFields is a parsed date [time] [zone] input.
type dateTimeFields struct {
	year, month, day int // astronomical year (1 BC is 0)
	hour, min, sec   int
	usec             int64
	tzSec            int // zone offset east of UTC
	hasTZ            bool
}

// parseDateTime parses PostgreSQL's ISO input: Y-M-D (or Y/M/D, or
// YYYYMMDD), then optionally a time (separated by space or T)
// H:M[:S[.frac]], a zone (Z, UTC, GMT, ±HH, ±HHMM, ±HH:MM, ±HH:MM:SS)
// and an era (BC/AD); or "epoch". Malformed input is 22007, a field out of
// range 22008.
func parseDateTime(s, typ string) (dateTimeFields, error) {
	var f dateTimeFields
	in := strings.ToLower(strings.TrimSpace(s))
	switch in {
	case "epoch":
		f.year, f.month, f.day = 1970, 1, 1
		return f, nil
	case "infinity", "+infinity", "-infinity":
		return f, pgerr.New(pgerr.FeatureNotSupported, "infinite %s values are not supported", typ)
	}
	in = normalizeDateOrder(in)
	bc := false
	if rest, ok := strings.CutSuffix(in, "bc"); ok && rest != in {
		bc, in = true, strings.TrimRight(rest, " \t")
	} else if rest, ok := strings.CutSuffix(in, "ad"); ok {
		in = strings.TrimRight(rest, " \t")
	}
	p := &dtScanner{s: in}
	bad := func() (dateTimeFields, error) { return f, dtSyntax(typ, s) }

	y, ny := p.digits()
	switch {
	case ny == 8 && (p.eof() || p.peek() == ' ' || p.peek() == 't'):
		f.year, f.month, f.day = y/10000, y/100%100, y%100
	case ny >= 3 && (p.peek() == '-' || p.peek() == '/'):
		sep := p.next()
		m, nm := p.digits()
		if nm == 0 || nm > 2 || p.next() != sep {
			return bad()
		}
		d, nd := p.digits()
		if nd == 0 || nd > 2 {
			return bad()
		}
		f.year, f.month, f.day = y, m, d
	default:
		return bad()
	}
	if ny > 9 {
		return f, dtFieldOverflow(s)
	}
	if !p.eof() {
		if p.peek() == 't' {
			p.next()
		} else if !p.spaces() {
			return bad()
		}
		if !p.eof() && isDigit(p.peek()) {
			h, nh := p.digits()
			if nh > 2 || p.next() != ':' {
				return bad()
			}
			mi, nmi := p.digits()
			if nmi == 0 || nmi > 2 {
				return bad()
			}
			f.hour, f.min = h, mi
			if !p.eof() && p.peek() == ':' {
				p.next()
				sec, ns := p.digits()
				if ns == 0 || ns > 2 {
					return bad()
				}
				f.sec = sec
				if !p.eof() && p.peek() == '.' {
					p.next()
					start := p.i
					_, nf := p.digits()
					if nf > 0 {
						fr, _ := strconv.ParseFloat("0."+p.s[start:p.i], 64)
						f.usec = int64(math.RoundToEven(fr * 1e6))
					}
				}
			}
			p.spaces()
			if !p.eof() {
				if !p.zone(&f) {
					return bad()
				}
				if f.hasTZ && (f.tzSec > 15*3600+59*60+59 || f.tzSec < -(15*3600+59*60+59)) {
					return f, pgerr.New(codeInvalidTZDisplacement, "time zone displacement out of range: %q", s)
				}
			}
		}
		p.spaces()
		if !p.eof() {
			return bad()
		}
	}
	// validate fields
	if f.year == 0 {
		return f, dtFieldOverflow(s)
	}
	if bc {
		f.year = 1 - f.year
	}
	if f.month < 1 || f.month > 12 || f.day < 1 || f.day > daysIn(f.year, f.month) {
		return f, dtFieldOverflow(s)
	}
	if f.min > 59 || f.sec > 60 || f.hour > 24 ||
		f.hour == 24 && (f.min > 0 || f.sec > 0 || f.usec > 0) {
		return f, dtFieldOverflow(s)
	}
	return f, nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

type dtScanner struct {
	s string
	i int
}

func (p *dtScanner) eof() bool { return p.i >= len(p.s) }

func (p *dtScanner) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *dtScanner) next() byte {
	c := p.peek()
	p.i++
	return c
}

// digits reads a run of decimal digits: its value (saturated) and length.
func (p *dtScanner) digits() (int, int) {
	v, n := 0, 0
	for !p.eof() && isDigit(p.s[p.i]) {
		if v < 1e15 {
			v = v*10 + int(p.s[p.i]-'0')
		}
		p.i++
		n++
	}
	return v, n
}

func (p *dtScanner) spaces() bool {
	start := p.i
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	return p.i > start
}

// zone reads a zone: z, utc, gmt or a numeric offset.
func (p *dtScanner) zone(f *dateTimeFields) bool {
	rest := p.s[p.i:]
	for _, name := range []string{"utc", "gmt", "z"} {
		if strings.HasPrefix(rest, name) {
			p.i += len(name)
			f.hasTZ = true
			return true
		}
	}
	c := p.peek()
	if c != '+' && c != '-' {
		return false
	}
	p.next()
	h, nh := p.digits()
	var m, sec int
	switch {
	case nh == 4:
		h, m = h/100, h%100
	case nh == 1 || nh == 2:
		if p.peek() == ':' {
			p.next()
			var nm int
			if m, nm = p.digits(); nm != 2 {
				return false
			}
			if p.peek() == ':' {
				p.next()
				var ns int
				if sec, ns = p.digits(); ns != 2 {
					return false
				}
			}
		}
	default:
		return false
	}
	if m > 59 || sec > 59 {
		return false
	}
	off := h*3600 + m*60 + sec
	if c == '-' {
		off = -off
	}
	f.tzSec, f.hasTZ = off, true
	return true
}

func civilDays(year, month, day int) int64 {
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func parseDate(s string) (Datum, error) {
	f, err := parseDateTime(s, "date")
	if err != nil {
		return nil, err
	}
	days := civilDays(f.year, f.month, f.day)
	if days < minDateDays || days > maxDateDays {
		return nil, pgerr.New(pgerr.DatetimeFieldOverflow, "date out of range: %q", s)
	}
	return DateVal(days), nil
}

func parseTimestamp(s string, withTZ bool) (time.Time, error) {
	typ := "timestamp without time zone"
	if withTZ {
		typ = "timestamp with time zone"
	}
	f, err := parseDateTime(s, typ)
	if err != nil {
		return time.Time{}, err
	}
	days := civilDays(f.year, f.month, f.day)
	if days < minDateDays-1 || days > endTimestampUsec/86400e6+1 {
		return time.Time{}, pgerr.New(pgerr.DatetimeFieldOverflow, "timestamp out of range: %q", s)
	}
	us := days*86400e6 +
		int64(f.hour)*3600e6 + int64(f.min)*60e6 + int64(f.sec)*1e6 + f.usec
	if withTZ {
		// A timestamp without time zone ignores a zone given.
		us -= int64(f.tzSec) * 1e6
	}
	if us < minTimestampUsec || us >= endTimestampUsec {
		return time.Time{}, pgerr.New(pgerr.DatetimeFieldOverflow, "timestamp out of range: %q", s)
	}
	return time.UnixMicro(us).UTC(), nil
}

// appendYMD appends YYYY-MM-DD (year zero-padded to 4 digits, 1 BC as
// 0001) and reports whether the date is BC.
func appendYMD(buf []byte, y int, m time.Month, d int) ([]byte, bool) {
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	for w := 1000; w > 1 && y < w; w /= 10 {
		buf = append(buf, '0')
	}
	buf = strconv.AppendInt(buf, int64(y), 10)
	buf = append(buf, '-')
	buf = appendPad2(buf, int64(m))
	buf = append(buf, '-')
	return appendPad2(buf, int64(d)), bc
}

func appendDate(buf []byte, d DateVal) []byte {
	y, m, dd := d.Time().Date()
	buf, bc := appendYMD(buf, y, m, dd)
	if bc {
		buf = append(buf, " BC"...)
	}
	return buf
}

// appendTimestamp formats as PostgreSQL's ISO DateStyle with TimeZone UTC.
func appendTimestamp(buf []byte, t time.Time, withTZ bool) []byte {
	t = t.UTC()
	y, m, d := t.Date()
	buf, bc := appendYMD(buf, y, m, d)
	buf = append(buf, ' ')
	h, mi, s := t.Clock()
	buf = appendPad2(buf, int64(h))
	buf = append(buf, ':')
	buf = appendPad2(buf, int64(mi))
	buf = append(buf, ':')
	buf = appendPad2(buf, int64(s))
	buf = appendFraction(buf, int64(t.Nanosecond()/1000))
	if withTZ {
		buf = append(buf, "+00"...)
	}
	if bc {
		buf = append(buf, " BC"...)
	}
	return buf
}

// appendFraction appends .ffffff without trailing zeros (nothing for 0).
func appendFraction(buf []byte, usec int64) []byte {
	if usec == 0 {
		return buf
	}
	fs := strconv.FormatInt(usec+1e6, 10)[1:]
	buf = append(buf, '.')
	return append(buf, strings.TrimRight(fs, "0")...)
}

func appendPad2(buf []byte, n int64) []byte {
	if n < 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, n, 10)
}

// appendInterval formats as PostgreSQL's IntervalStyle postgres: each
// nonzero year/mon/day field with its unit ("s" unless exactly 1), a "+"
// on a positive field that follows a negative one, then [-]HH:MM:SS[.f].
func appendInterval(buf []byte, v IntervalVal) []byte {
	start := len(buf)
	isBefore := false
	part := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		if isBefore && n > 0 {
			buf = append(buf, '+')
		}
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		buf = append(buf, unit...)
		if n != 1 {
			buf = append(buf, 's')
		}
		isBefore = n < 0
	}
	part(int64(v.Months/12), "year")
	part(int64(v.Months%12), "mon")
	part(int64(v.Days), "day")
	if v.Micros != 0 || len(buf) == start {
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		m := uint64(v.Micros)
		if v.Micros < 0 {
			buf = append(buf, '-')
			m = -m
		} else if isBefore {
			buf = append(buf, '+')
		}
		h := m / 3600e6
		m -= h * 3600e6
		mi := m / 60e6
		m -= mi * 60e6
		if h < 10 {
			buf = append(buf, '0')
		}
		buf = strconv.AppendUint(buf, h, 10)
		buf = append(buf, ':')
		buf = appendPad2(buf, int64(mi))
		buf = append(buf, ':')
		buf = appendPad2(buf, int64(m/1e6))
		buf = appendFraction(buf, int64(m%1e6))
	}
	return buf
}

// interval input

// intervalAcc accumulates interval fields as PostgreSQL's DecodeInterval
// does (pg_itm_in), with its overflow checks.
type intervalAcc struct {
	years, months, days int64 // each must stay within int32
	micros              int64
	ok                  bool // false once a field overflowed
}

const (
	ivYear = 1 << iota
	ivMonth
	ivDay
	ivWeek
	ivHour
	ivMinute
	ivSecond
	ivMillisecond
	ivMicrosecond
	ivDecade
	ivCentury
	ivMillennium
	ivAllSecs = ivSecond | ivMillisecond | ivMicrosecond
	ivTime    = ivHour | ivMinute | ivAllSecs
)

func fitsInt32(v int64) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }

func (a *intervalAcc) addInt32(field *int64, v int64) {
	if !fitsInt32(v) || !fitsInt32(*field+v) {
		a.ok = false
		return
	}
	*field += v
}

func (a *intervalAcc) addMicrosInt(v int64) {
	s := a.micros + v
	if (s > a.micros) != (v > 0) {
		a.ok = false
		return
	}
	a.micros = s
}

// fractMicros is AdjustFractMicroseconds: frac×scale microseconds,
// rounded to the nearest (half away from zero only past .5).
func (a *intervalAcc) fractMicros(frac float64, scale float64) {
	if frac == 0 {
		return
	}
	frac *= scale
	if math.Abs(frac) >= 9.2e18 {
		a.ok = false
		return
	}
	us := int64(frac)
	frac -= float64(us)
	if frac > 0.5 {
		us++
	} else if frac < -0.5 {
		us--
	}
	a.addMicrosInt(us)
}

// micros is AdjustMicroseconds: val×scale plus the fraction.
func (a *intervalAcc) addMicros(val int64, frac float64, scale int64) {
	if val != 0 && (val > math.MaxInt64/scale || val < math.MinInt64/scale) {
		a.ok = false
		return
	}
	a.addMicrosInt(val * scale)
	a.fractMicros(frac, float64(scale))
}

// fractDays is AdjustFractDays: frac×scale days, the remainder in
// microseconds.
func (a *intervalAcc) fractDays(frac float64, scale float64) {
	if frac == 0 {
		return
	}
	frac *= scale
	extra := int64(frac)
	a.addInt32(&a.days, extra)
	a.fractMicros(frac-float64(extra), 86400e6)
}

func (a *intervalAcc) addYears(val int64, frac float64, scale int64) {
	a.addInt32(&a.years, val*scale)
	a.addInt32(&a.months, int64(math.RoundToEven(frac*float64(scale)*12)))
}

// finish negates for "ago" and combines years and months as interval_in
// does.
func (a *intervalAcc) finish(s string, ago bool) (IntervalVal, error) {
	if !a.ok {
		return IntervalVal{}, pgerr.New(codeIntervalFieldOverflow, "interval field value out of range: %q", s)
	}
	if ago {
		if a.micros == math.MinInt64 || a.days == math.MinInt32 || a.months == math.MinInt32 || a.years == math.MinInt32 {
			return IntervalVal{}, pgerr.New(codeIntervalFieldOverflow, "interval field value out of range: %q", s)
		}
		a.years, a.months, a.days, a.micros = -a.years, -a.months, -a.days, -a.micros
	}
	months := a.years*12 + a.months
	if !fitsInt32(months) {
		return IntervalVal{}, pgerr.New(pgerr.DatetimeFieldOverflow, "interval out of range")
	}
	return IntervalVal{Months: int32(months), Days: int32(a.days), Micros: a.micros}, nil
}

type ivUnit struct {
	mask  int
	kind  byte // y=years(scale) M=months w=weeks d=days u=micros(scale)
	scale int64
}

// intervalUnits are PostgreSQL's interval unit names (deltatktbl), which
// it matches on their first 10 characters.
var intervalUnits = map[string]ivUnit{
	"microsecon": {ivMicrosecond, 'u', 1}, "us": {ivMicrosecond, 'u', 1}, "usec": {ivMicrosecond, 'u', 1},
	"usecond": {ivMicrosecond, 'u', 1}, "useconds": {ivMicrosecond, 'u', 1}, "usecs": {ivMicrosecond, 'u', 1},
	"millisecon": {ivMillisecond, 'u', 1e3}, "ms": {ivMillisecond, 'u', 1e3}, "msec": {ivMillisecond, 'u', 1e3},
	"msecond": {ivMillisecond, 'u', 1e3}, "mseconds": {ivMillisecond, 'u', 1e3}, "msecs": {ivMillisecond, 'u', 1e3},
	"s": {ivSecond, 'u', 1e6}, "sec": {ivSecond, 'u', 1e6}, "second": {ivSecond, 'u', 1e6},
	"seconds": {ivSecond, 'u', 1e6}, "secs": {ivSecond, 'u', 1e6},
	"m": {ivMinute, 'u', 60e6}, "min": {ivMinute, 'u', 60e6}, "mins": {ivMinute, 'u', 60e6},
	"minute": {ivMinute, 'u', 60e6}, "minutes": {ivMinute, 'u', 60e6},
	"h": {ivHour, 'u', 3600e6}, "hour": {ivHour, 'u', 3600e6}, "hours": {ivHour, 'u', 3600e6},
	"hr": {ivHour, 'u', 3600e6}, "hrs": {ivHour, 'u', 3600e6},
	"d": {ivDay, 'd', 1}, "day": {ivDay, 'd', 1}, "days": {ivDay, 'd', 1},
	"w": {ivWeek, 'w', 7}, "week": {ivWeek, 'w', 7}, "weeks": {ivWeek, 'w', 7},
	"mon": {ivMonth, 'M', 1}, "mons": {ivMonth, 'M', 1}, "month": {ivMonth, 'M', 1}, "months": {ivMonth, 'M', 1},
	"y": {ivYear, 'y', 1}, "year": {ivYear, 'y', 1}, "years": {ivYear, 'y', 1}, "yr": {ivYear, 'y', 1}, "yrs": {ivYear, 'y', 1},
	"dec": {ivDecade, 'y', 10}, "decade": {ivDecade, 'y', 10}, "decades": {ivDecade, 'y', 10}, "decs": {ivDecade, 'y', 10},
	"c": {ivCentury, 'y', 100}, "cent": {ivCentury, 'y', 100}, "century": {ivCentury, 'y', 100}, "centuries": {ivCentury, 'y', 100},
	"mil": {ivMillennium, 'y', 1000}, "mils": {ivMillennium, 'y', 1000}, "millennia": {ivMillennium, 'y', 1000},
	"millennium": {ivMillennium, 'y', 1000},
}

func lookupIntervalUnit(w string) (ivUnit, bool) {
	if len(w) > 10 {
		w = w[:10]
	}
	u, ok := intervalUnits[w]
	return u, ok
}

// splitIntervalFields splits on white space and splits a number from a
// unit written against it ("1day", "-1.5h").
func splitIntervalFields(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		f = strings.TrimRight(f, ",")
		if f == "" {
			continue
		}
		if f[0] == '@' && len(f) > 1 {
			out = append(out, "@")
			f = f[1:]
		}
		k := strings.IndexFunc(f, func(r rune) bool { return r >= 'a' && r <= 'z' })
		if k > 0 && (isDigit(f[k-1]) || f[k-1] == '.') {
			out = append(out, f[:k], f[k:])
			continue
		}
		out = append(out, f)
	}
	return out
}

// parseIntervalNumber splits [+-]digits[.digits] into its integer part and
// its signed fraction.
func parseIntervalNumber(f string) (val int64, frac float64, ok, overflow bool) {
	i := 0
	neg := false
	if i < len(f) && (f[i] == '+' || f[i] == '-') {
		neg = f[i] == '-'
		i++
	}
	start := i
	for i < len(f) && isDigit(f[i]) {
		i++
	}
	intPart := f[start:i]
	fracPart := ""
	if i < len(f) && f[i] == '.' {
		i++
		fs := i
		for i < len(f) && isDigit(f[i]) {
			i++
		}
		fracPart = f[fs:i]
	}
	if i != len(f) || intPart == "" && fracPart == "" {
		return 0, 0, false, false
	}
	if intPart != "" {
		v, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil {
			return 0, 0, true, true
		}
		val = v
	}
	if fracPart != "" {
		frac, _ = strconv.ParseFloat("0."+fracPart, 64)
	}
	if neg {
		val, frac = -val, -frac
	}
	return val, frac, true, false
}

// parseIntervalTime parses [+-]H:M[:S[.f]] or [+-]M:S.f into microseconds;
// under the qualifier MINUTE TO SECOND, H:M is M:S too.
func parseIntervalTime(f string, rng int, a *intervalAcc) bool {
	neg := false
	if f[0] == '+' || f[0] == '-' {
		neg = f[0] == '-'
		f = f[1:]
	}
	parts := strings.Split(f, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	num := func(p string) (int64, bool) {
		if p == "" {
			return 0, false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return 0, false
			}
		}
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			a.ok = false
			return 0, true
		}
		return v, true
	}
	var h, m, sec int64
	var fsec int64
	last := parts[len(parts)-1]
	fracStr := ""
	if k := strings.IndexByte(last, '.'); k >= 0 {
		last, fracStr = last[:k], last[k:]
	}
	var ok bool
	if h, ok = num(parts[0]); !ok {
		return false
	}
	if len(parts) == 2 {
		if m, ok = num(last); !ok {
			return false
		}
		if fracStr != "" || rng == IntervalMaskMinute|IntervalMaskSecond { // mm:ss[.fff]
			h, m, sec = 0, h, m
		}
	} else {
		if m, ok = num(parts[1]); !ok {
			return false
		}
		if sec, ok = num(last); !ok {
			return false
		}
	}
	if fracStr != "" {
		for i := 1; i < len(fracStr); i++ {
			if !isDigit(fracStr[i]) {
				return false
			}
		}
		fr, _ := strconv.ParseFloat("0"+fracStr, 64)
		fsec = int64(math.RoundToEven(fr * 1e6))
	}
	if m > 59 || sec > 60 || fsec > 1e6 {
		a.ok = false
		return true
	}
	if h > math.MaxInt64/int64(3600e6) {
		a.ok = false
		return true
	}
	rest := m*60e6 + sec*1e6 + fsec
	if h*3600e6 > math.MaxInt64-rest {
		a.ok = false
		return true
	}
	us := h*3600e6 + rest
	if neg {
		us = -us
	}
	a.addMicrosInt(us)
	return true
}

// ParseInterval parses PostgreSQL's interval input: "<n> <unit>" pairs
// (fractions spill into smaller units as PostgreSQL does), an optional
// [-]HH:MM[:SS[.ffffff]] part, "Y-M" year-month values, "@" and "ago", or
// ISO 8601 "P..." (designators or the alternative format). Malformed
// input is 22007, a duplicated field too; a field out of range 22015.
func ParseInterval(s string) (Datum, error) { return parseInterval(s, IntervalFullRange) }

// parseInterval is PostgreSQL's DecodeInterval under a field qualifier
// (the range of an interval typmod, IntervalFullRange for none): the
// fields are read from right to left, so that a unit applies to the
// number before it, and a number without a unit takes the unit the
// qualifier's last field names (interval '90' day is 90 days) — or
// days, before a time or an hour count.
func parseInterval(s string, rng int) (Datum, error) {
	bad := func() error {
		return pgerr.New(pgerr.InvalidDatetimeFormat, "invalid input syntax for type interval: %q", s)
	}
	ts := strings.TrimSpace(s)
	if strings.HasPrefix(ts, "P") {
		return parseISOInterval(s, ts[1:])
	}
	fields := splitIntervalFields(strings.ToLower(ts))
	if len(fields) == 0 {
		return nil, bad()
	}
	a := intervalAcc{ok: true}
	ago := false
	mask := 0
	use := func(m int) bool {
		if mask&m != 0 {
			return false
		}
		mask |= m
		return true
	}
	// unit is the unit the next number (to the left) takes; unset until a
	// unit word, a time or a number sets it.
	var unit ivUnit
	unitSet := false
	for i := len(fields) - 1; i >= 0; i-- {
		f := fields[i]
		switch {
		case f == "@":
			continue
		case f == "ago":
			// PostgreSQL's AGO leaves no unit for a bare number before it.
			ago, unit, unitSet = true, ivUnit{}, true
			continue
		case strings.Contains(f, ":"):
			if !use(ivTime) || !parseIntervalTime(f, rng, &a) {
				return nil, bad()
			}
			unit, unitSet = ivUnit{ivDay, 'd', 1}, true
			continue
		}
		if u, isUnit := lookupIntervalUnit(f); isUnit {
			unit, unitSet = u, true
			continue
		}
		if !unitSet {
			unit, unitSet = rangeUnit(rng), true
		}
		if k := strings.IndexByte(f[1:], '-'); k >= 0 && f[0] != '.' {
			// SQL standard year-month: [-]Y-M
			y, _, ok1, of1 := parseIntervalNumber(f[:k+1])
			m, _, ok2, of2 := parseIntervalNumber(f[k+2:])
			if !ok1 || !ok2 || strings.ContainsAny(f, ".+") || f[k+2:] == "" || f[k+2] == '-' {
				return nil, bad()
			}
			if of1 || of2 || m >= 12 {
				a.ok = false
			}
			if f[0] == '-' {
				m = -m
			}
			if !use(ivMonth) {
				return nil, bad()
			}
			a.addInt32(&a.months, y*12+m)
			unit, unitSet = ivUnit{ivMonth, 'M', 1}, true
			continue
		}
		val, frac, ok, overflow := parseIntervalNumber(f)
		if !ok || unit.mask == 0 {
			return nil, bad()
		}
		if overflow {
			a.ok = false
		}
		m := unit.mask
		if unit.kind == 'u' && unit.scale == 1e6 && frac != 0 {
			m = ivAllSecs
		}
		if !use(m) {
			return nil, bad()
		}
		switch unit.kind {
		case 'u':
			a.addMicros(val, frac, unit.scale)
		case 'd':
			a.addInt32(&a.days, val)
			a.fractMicros(frac, 86400e6)
		case 'w':
			if !fitsInt32(val) {
				a.ok = false
			}
			a.addInt32(&a.days, val*7)
			a.fractDays(frac, 7)
		case 'M':
			a.addInt32(&a.months, val)
			a.fractDays(frac, 30)
		case 'y':
			if !fitsInt32(val) {
				a.ok = false
			} else {
				a.addYears(val, frac, unit.scale)
			}
		}
		if unit.mask == ivHour {
			unit = ivUnit{ivDay, 'd', 1} // a number before an hour count is days
		}
	}
	if mask == 0 {
		return nil, bad()
	}
	iv, err := a.finish(s, ago)
	if err != nil {
		return nil, err
	}
	return iv, nil
}

// parseISOInterval parses the part after "P" of an ISO 8601 interval, as
// PostgreSQL's DecodeISO8601Interval.
func parseISOInterval(s, rest string) (Datum, error) {
	bad := func() error {
		return pgerr.New(pgerr.InvalidDatetimeFormat, "invalid input syntax for type interval: %q", s)
	}
	if rest == "" {
		return nil, bad()
	}
	a := intervalAcc{ok: true}
	datePart := true
	// number reads [-]digits[.digits]
	number := func() (int64, float64, bool) {
		i := 0
		if i < len(rest) && rest[i] == '-' {
			i++
		}
		for i < len(rest) && (isDigit(rest[i]) || rest[i] == '.') {
			i++
		}
		val, frac, ok, overflow := parseIntervalNumber(rest[:i])
		if !ok || i == 0 {
			return 0, 0, false
		}
		if overflow || !fitsInt32(val) {
			a.ok = false
		}
		rest = rest[i:]
		return val, frac, true
	}
	unit := func() byte {
		if rest == "" {
			return 0
		}
		c := rest[0]
		rest = rest[1:]
		return c
	}
	for rest != "" {
		if rest[0] == 'T' {
			datePart = false
			rest = rest[1:]
			continue
		}
		val, frac, ok := number()
		if !ok {
			return nil, bad()
		}
		u := unit()
		if datePart {
			switch u {
			case 'Y':
				a.addYears(val, frac, 1)
			case 'M':
				a.addInt32(&a.months, val)
				a.fractDays(frac, 30)
			case 'W':
				a.addInt32(&a.days, val*7)
				a.fractDays(frac, 7)
			case 'D':
				a.addInt32(&a.days, val)
				a.fractMicros(frac, 86400e6)
			case '-': // alternative format YYYY-MM-DD
				a.addYears(val, frac, 1)
				if val, frac, ok = number(); !ok {
					return nil, bad()
				}
				a.addInt32(&a.months, val)
				a.fractDays(frac, 30)
				if rest == "" || rest[0] == 'T' {
					continue
				}
				if unit() != '-' {
					return nil, bad()
				}
				if val, frac, ok = number(); !ok {
					return nil, bad()
				}
				a.addInt32(&a.days, val)
				a.fractMicros(frac, 86400e6)
				if rest != "" && rest[0] != 'T' {
					return nil, bad()
				}
			default:
				return nil, bad()
			}
			continue
		}
		switch u {
		case 'H':
			a.addMicros(val, frac, 3600e6)
		case 'M':
			a.addMicros(val, frac, 60e6)
		case 'S':
			a.addMicros(val, frac, 1e6)
		case ':': // alternative format hh:mm:ss
			a.addMicros(val, frac, 3600e6)
			if val, frac, ok = number(); !ok {
				return nil, bad()
			}
			a.addMicros(val, frac, 60e6)
			if rest == "" {
				continue
			}
			if unit() != ':' {
				return nil, bad()
			}
			if val, frac, ok = number(); !ok {
				return nil, bad()
			}
			a.addMicros(val, frac, 1e6)
			if rest != "" {
				return nil, bad()
			}
		default:
			return nil, bad()
		}
	}
	iv, err := a.finish(s, false)
	if err != nil {
		return nil, err
	}
	return iv, nil
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

// normalizeDateOrder rewrites the non-ISO date forms PostgreSQL accepts
// under DateStyle "ISO, MDY" into Y-M-D: "Jan 5 2024", "January 5, 2024",
// "5 Jan 2024" and "01/02/2024" (month first). The rest of the string (a
// time, a zone) is kept. Other input is returned unchanged.
func normalizeDateOrder(in string) string {
	fields := strings.Fields(strings.ReplaceAll(in, ",", " "))
	if len(fields) >= 3 {
		month := func(w string) int {
			if len(w) < 3 {
				return 0
			}
			m := monthNames[w[:3]]
			if m != 0 && !strings.HasPrefix(monthFull[m-1], strings.TrimSuffix(w, ".")) {
				return 0
			}
			return m
		}
		num := func(w string) (int, bool) {
			n, err := strconv.Atoi(w)
			return n, err == nil
		}
		if m := month(fields[0]); m != 0 {
			if d, ok := num(fields[1]); ok {
				if y, ok := num(fields[2]); ok && len(fields[2]) >= 3 {
					return fmt.Sprintf("%04d-%02d-%02d %s", y, m, d, strings.Join(fields[3:], " "))
				}
			}
		}
		if d, ok := num(fields[0]); ok {
			if m := month(fields[1]); m != 0 {
				if y, ok := num(fields[2]); ok && len(fields[2]) >= 3 {
					return fmt.Sprintf("%04d-%02d-%02d %s", y, m, d, strings.Join(fields[3:], " "))
				}
			}
		}
	}
	// mm/dd/yyyy
	head, rest, _ := strings.Cut(in, " ")
	parts := strings.Split(head, "/")
	if len(parts) == 3 && len(parts[0]) <= 2 && len(parts[1]) <= 2 && len(parts[2]) >= 3 {
		m, e1 := strconv.Atoi(parts[0])
		d, e2 := strconv.Atoi(parts[1])
		y, e3 := strconv.Atoi(parts[2])
		if e1 == nil && e2 == nil && e3 == nil {
			return strings.TrimSpace(fmt.Sprintf("%04d-%02d-%02d %s", y, m, d, rest))
		}
	}
	return in
}

var monthFull = []string{"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december"}
