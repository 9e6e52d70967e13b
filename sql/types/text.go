package types

import (
	"encoding/hex"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

func invalidText(t uint32, s string) error {
	return pgerr.New(pgerr.InvalidTextRepresentation, "invalid input syntax for type %s: %q", InfoOf(t).Name, s)
}

func outOfRange(t uint32, s string) error {
	return pgerr.New(pgerr.NumericValueOutOfRange, "value %q is out of range for type %s", s, InfoOf(t).Name)
}

// CheckText rejects what PostgreSQL cannot hold in a UTF-8 text value:
// invalid UTF-8 and NUL bytes (22021).
func CheckText(s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return pgerr.New("22021", "invalid byte sequence for encoding \"UTF8\"")
	}
	return nil
}

// IntRange returns the bounds of an integer type.
func IntRange(oid uint32) (int64, int64) {
	switch oid {
	case Int2:
		return math.MinInt16, math.MaxInt16
	case Int4:
		return math.MinInt32, math.MaxInt32
	case OID:
		return 0, math.MaxUint32
	}
	return math.MinInt64, math.MaxInt64
}

// ParseText parses s, the text form of a value of type t, and applies t's
// typmod.
func ParseText(t Type, s string) (Datum, error) {
	if t.OID == Interval {
		d, err := parseInterval(s, IntervalRange(t.Typmod))
		if err != nil {
			return nil, err
		}
		return Coerce(t, d)
	}
	d, err := parseText(t.OID, s)
	if err != nil {
		return nil, err
	}
	return Coerce(t, d)
}

func parseText(oid uint32, s string) (Datum, error) {
	switch oid {
	case Int2, Int4, Int8, OID:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, outOfRange(oid, s)
			}
			return nil, invalidText(oid, s)
		}
		lo, hi := IntRange(oid)
		if v < lo || v > hi {
			return nil, outOfRange(oid, s)
		}
		return v, nil
	case Float4, Float8:
		return parseFloat(oid, s)
	case Numeric:
		return parseNumeric(s)
	case Bool:
		if b, ok := parseBool(s); ok {
			return b, nil
		}
		return nil, invalidText(oid, s)
	case Text, Varchar, Bpchar, Name, Unknown:
		if err := CheckText(s); err != nil {
			return nil, err
		}
		return s, nil
	case Bytea:
		return parseBytea(s)
	case Date:
		return parseDate(s)
	case Timestamp:
		t, err := parseTimestamp(s, false)
		if err != nil {
			return nil, err
		}
		return t, nil
	case TimestampTZ:
		t, err := parseTimestamp(s, true)
		if err != nil {
			return nil, err
		}
		return t, nil
	case Interval:
		return ParseInterval(s)
	}
	return nil, pgerr.New(pgerr.FeatureNotSupported, "type %s is not supported", InfoOf(oid).Name)
}

// parseBool accepts what PostgreSQL's boolin does: any unique prefix of
// true/false/yes/no, on/off (at least two letters), 1 and 0, ignoring case
// and surrounding white space.
func parseBool(s string) (bool, bool) {
	ts := strings.ToLower(strings.TrimSpace(s))
	if ts == "" {
		return false, false
	}
	prefix := func(word string, minLen int) bool {
		return len(ts) >= minLen && strings.HasPrefix(word, ts)
	}
	switch {
	case prefix("true", 1), prefix("yes", 1), prefix("on", 2), ts == "1":
		return true, true
	case prefix("false", 1), prefix("no", 1), prefix("off", 2), ts == "0":
		return false, true
	}
	return false, false
}

func parseFloat(oid uint32, s string) (Datum, error) {
	ts := strings.TrimSpace(s)
	switch strings.ToLower(ts) {
	case "nan", "+nan", "-nan":
		return math.NaN(), nil
	case "infinity", "inf", "+infinity", "+inf":
		return math.Inf(1), nil
	case "-infinity", "-inf":
		return math.Inf(-1), nil
	}
	bits := 64
	if oid == Float4 {
		bits = 32
	}
	if ts == "" || strings.ContainsAny(ts, "_nNiI") {
		// Go accepts digit separators and spellings of Inf/NaN that
		// PostgreSQL's strtod-based input does not.
		return nil, invalidText(oid, s)
	}
	v, err := strconv.ParseFloat(ts, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return nil, floatOutOfRange(oid, s)
		}
		return nil, invalidText(oid, s)
	}
	if v == 0 && hasNonZeroDigit(ts) {
		// underflow: PostgreSQL rejects a nonzero input that rounds to 0
		return nil, floatOutOfRange(oid, s)
	}
	return v, nil
}

func floatOutOfRange(oid uint32, s string) error {
	return pgerr.New(pgerr.NumericValueOutOfRange, "%q is out of range for type %s", s, InfoOf(oid).Name)
}

// hasNonZeroDigit reports a nonzero digit in a float literal's mantissa.
func hasNonZeroDigit(s string) bool {
	hex := strings.HasPrefix(strings.TrimLeft(s, "+-"), "0x") || strings.HasPrefix(strings.TrimLeft(s, "+-"), "0X")
	if hex {
		s = strings.TrimLeft(s, "+-")[2:]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !hex && (c == 'e' || c == 'E') || hex && (c == 'p' || c == 'P') {
			return false
		}
		if c >= '1' && c <= '9' || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return true
		}
	}
	return false
}

// parseBytea accepts PostgreSQL's hex format (\x then pairs of hex digits,
// white space allowed between pairs) and escape format (\\ and \ooo).
func parseBytea(s string) (Datum, error) {
	if strings.HasPrefix(s, `\x`) {
		out := make([]byte, 0, (len(s)-2)/2)
		for i := 2; i < len(s); {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				i++
				continue
			}
			hi := unhex(c)
			if hi < 0 {
				return nil, pgerr.New(pgerr.InvalidParameterValue, "invalid hexadecimal digit: %q", string(c))
			}
			if i+1 >= len(s) {
				return nil, pgerr.New(pgerr.InvalidParameterValue, "invalid hexadecimal data: odd number of digits")
			}
			lo := unhex(s[i+1])
			if lo < 0 {
				return nil, pgerr.New(pgerr.InvalidParameterValue, "invalid hexadecimal digit: %q", string(s[i+1]))
			}
			out = append(out, byte(hi<<4|lo))
			i += 2
		}
		return out, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		if i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			out = append(out, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		return nil, invalidText(Bytea, s)
	}
	return out, nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// AppendText appends the text form of d (of type t) to buf.
func AppendText(buf []byte, t Type, d Datum) []byte {
	switch v := d.(type) {
	case int64:
		return strconv.AppendInt(buf, v, 10)
	case float64:
		return AppendFloat(buf, v, t.OID == Float4)
	case *apd.Decimal:
		if n, err := NormalizeNumeric(v); err == nil {
			v = n
		}
		return append(buf, v.Text('f')...)
	case bool:
		if v {
			return append(buf, 't')
		}
		return append(buf, 'f')
	case string:
		return append(buf, v...)
	case []byte:
		buf = append(buf, `\x`...)
		return hex.AppendEncode(buf, v)
	case DateVal:
		return appendDate(buf, v)
	case time.Time:
		return appendTimestamp(buf, v, t.OID == TimestampTZ)
	case IntervalVal:
		return appendInterval(buf, v)
	case nil:
		return buf
	}
	return append(buf, "?"...)
}

// FormatText returns the text form of d.
func FormatText(t Type, d Datum) string { return string(AppendText(nil, t, d)) }

// AppendFloat formats a float as PostgreSQL 15 does with the default
// extra_float_digits = 1: the shortest digits that read back exactly, in
// exponent form below 1e-4 or from 1e15 (real: 1e6) on.
func AppendFloat(buf []byte, f float64, single bool) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	}
	maxExp := 15
	if single {
		maxExp = 6
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(buf, "-0"...)
		}
		return append(buf, '0')
	}
	if f < 0 {
		buf = append(buf, '-')
		f = -f
	}
	digits, exp := shortestDigits(f, single)
	if exp < -4 || exp >= maxExp {
		buf = append(buf, digits[0])
		if len(digits) > 1 {
			buf = append(buf, '.')
			buf = append(buf, digits[1:]...)
		}
		buf = append(buf, 'e')
		if exp < 0 {
			buf = append(buf, '-')
			exp = -exp
		} else {
			buf = append(buf, '+')
		}
		if exp < 10 {
			buf = append(buf, '0')
		}
		return strconv.AppendInt(buf, int64(exp), 10)
	}
	if exp < 0 {
		buf = append(buf, "0."...)
		for i := -1; i > exp; i-- {
			buf = append(buf, '0')
		}
		return append(buf, digits...)
	}
	if len(digits) <= exp+1 {
		buf = append(buf, digits...)
		for i := len(digits); i <= exp; i++ {
			buf = append(buf, '0')
		}
		return buf
	}
	buf = append(buf, digits[:exp+1]...)
	buf = append(buf, '.')
	return append(buf, digits[exp+1:]...)
}

// shortestDigits returns the significant digits and the decimal exponent
// (of the first digit) of the shortest representation of f > 0 that
// PostgreSQL's Ryu prints. PostgreSQL builds Ryu without
// STRICTLY_SHORTEST, so a decimal exactly halfway to a neighbouring float
// is never chosen; Go's strconv accepts it when the mantissa is even
// (float4 94075936 prints as 9.4075936e+07 in PostgreSQL, 9.407594e+07 in
// Go).
func shortestDigits(f float64, single bool) (string, int) {
	bits := 64
	if single {
		bits = 32
	}
	e := strconv.FormatFloat(f, 'e', -1, bits)
	digits, exp := splitExp(e)
	if !mayBeOnBound(f, single) {
		return digits, exp
	}
	lo, hi := roundingBounds(f, single)
	if d := decimalRat(digits, exp); d.Cmp(lo) > 0 && d.Cmp(hi) < 0 {
		return digits, exp
	}
	// Rare: find the shortest decimal strictly inside the bounds, the
	// closest to f among those of that length.
	exact := new(big.Rat).SetFloat64(f)
	for n := 1; n <= 17; n++ {
		cd, ce := splitExp(strconv.FormatFloat(f, 'e', n-1, bits))
		base, _ := new(big.Int).SetString(cd, 10)
		var best *big.Rat
		bestDigits, bestExp := "", 0
		for delta := int64(-1); delta <= 1; delta++ {
			c := new(big.Int).Add(base, big.NewInt(delta))
			cs := c.String()
			if c.Sign() <= 0 {
				continue
			}
			// c × 10^(ce-n+1); cs may have n±1 digits (99+1, 10-1)
			d := decimalRat(cs, ce+len(cs)-n)
			if d.Cmp(lo) <= 0 || d.Cmp(hi) >= 0 {
				continue
			}
			dist := new(big.Rat).Sub(d, exact)
			dist.Abs(dist)
			if best == nil || dist.Cmp(best) < 0 {
				best, bestDigits, bestExp = dist, strings.TrimRight(cs, "0"), ce+len(cs)-n
			}
		}
		if best != nil {
			if bestDigits == "" {
				bestDigits = "0"
			}
			return bestDigits, bestExp
		}
	}
	return digits, exp
}

// splitExp splits Go's 'e' format "d.ddde±x" into "dddd" and x.
func splitExp(e string) (string, int) {
	k := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[k+1:])
	return strings.Replace(e[:k], ".", "", 1), exp
}

// decimalRat is 0.d1d2... × 10^(exp+1), i.e. d1.d2... × 10^exp.
func decimalRat(digits string, exp int) *big.Rat {
	n, _ := new(big.Int).SetString(digits, 10)
	p := exp - (len(digits) - 1)
	r := new(big.Rat).SetInt(n)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(p))), nil)
	if p >= 0 {
		return r.Mul(r, new(big.Rat).SetInt(pow))
	}
	return r.Quo(r, new(big.Rat).SetInt(pow))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// mayBeOnBound reports whether f's shortest decimal could be exactly a
// rounding bound: the mantissa is even (Go excludes bounds otherwise) and
// the bound, odd × 2^k, has at most 17 (real: 9) significant decimal
// digits, which bounds k.
func mayBeOnBound(f float64, single bool) bool {
	var mant uint64
	var k int
	if single {
		b := math.Float32bits(float32(f))
		mant, k = uint64(b&(1<<23-1)), int(b>>23&0xff)-150-1
		if k < -3 || k > 41 {
			return false
		}
	} else {
		b := math.Float64bits(f)
		mant, k = b&(1<<52-1), int(b>>52&0x7ff)-1075-1
		if k < -3 || k > 81 {
			return false
		}
	}
	return mant%2 == 0
}

// roundingBounds returns the midpoints between f and its neighbours.
func roundingBounds(f float64, single bool) (lo, hi *big.Rat) {
	var down, up float64
	if single {
		down = float64(math.Nextafter32(float32(f), 0))
		up = float64(math.Nextafter32(float32(f), float32(math.Inf(1))))
	} else {
		down, up = math.Nextafter(f, 0), math.Nextafter(f, math.Inf(1))
	}
	x := new(big.Rat).SetFloat64(f)
	half := big.NewRat(1, 2)
	lo = new(big.Rat).Add(x, new(big.Rat).SetFloat64(down))
	lo.Mul(lo, half)
	if math.IsInf(up, 1) || single && math.IsInf(float64(float32(up)), 1) {
		// the largest float: mirror the lower bound
		hi = new(big.Rat).Add(x, new(big.Rat).Sub(x, lo))
		return lo, hi
	}
	hi = new(big.Rat).Add(x, new(big.Rat).SetFloat64(up))
	hi.Mul(hi, half)
	return lo, hi
}
