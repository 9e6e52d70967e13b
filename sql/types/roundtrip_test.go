package types

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// Whatever FormatText prints, ParseText reads back as the same value: the
// shortest float digits read back to the same bits, numerics keep their
// scale, timestamps their microseconds, intervals their fields.
func TestTextRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	check := func(typ Type, d Datum) {
		t.Helper()
		s := FormatText(typ, d)
		back, err := ParseText(typ, s)
		if err != nil {
			t.Fatalf("%s: ParseText(%q): %v", typ, s, err)
		}
		if s2 := FormatText(typ, back); s2 != s {
			t.Fatalf("%s: %q reads back as %q", typ, s, s2)
		}
		switch x := d.(type) {
		case float64:
			y := back.(float64)
			if math.Float64bits(x) != math.Float64bits(y) && !(math.IsNaN(x) && math.IsNaN(y)) {
				t.Fatalf("%s: %v (%q) reads back as %v", typ, x, s, y)
			}
		case IntervalVal:
			if back.(IntervalVal) != x {
				t.Fatalf("interval %+v (%q) reads back as %+v", x, s, back)
			}
		default:
			if Compare(d, back) != 0 {
				t.Fatalf("%s: %v (%q) reads back as %v", typ, d, s, back)
			}
		}
	}
	for i := 0; i < 20000; i++ {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) {
			check(T(Float8), f)
		}
		f32 := math.Float32frombits(r.Uint32())
		if !math.IsNaN(float64(f32)) {
			check(T(Float4), float64(f32))
		}
	}
	for i := 0; i < 2000; i++ {
		digits := make([]byte, 1+r.IntN(40))
		for j := range digits {
			digits[j] = byte('0' + r.IntN(10))
		}
		c, _ := new(big.Int).SetString(string(digits), 10)
		d := new(apd.Decimal)
		d.Coeff.SetMathBigInt(c)
		d.Exponent = int32(r.IntN(60) - 40)
		d.Negative = r.IntN(2) == 0
		nd, err := NormalizeNumeric(d)
		if err != nil {
			t.Fatal(err)
		}
		check(T(Numeric), nd)

		check(T(Date), DateVal(r.Int64N(maxDateDays-minDateDays+1)+minDateDays))
		us := minTimestampUsec + int64(r.Uint64N(uint64(endTimestampUsec)+uint64(-minTimestampUsec)))
		check(T(Timestamp), time.UnixMicro(us).UTC())
		check(T(TimestampTZ), time.UnixMicro(us).UTC())
		iv := IntervalVal{Months: int32(r.Uint32()), Days: int32(r.Uint32()), Micros: int64(r.Uint64())}
		if r.IntN(2) == 0 {
			iv = IntervalVal{Months: int32(r.IntN(100) - 50), Days: int32(r.IntN(100) - 50), Micros: r.Int64N(2e11) - 1e11}
		}
		if iv.Micros != math.MinInt64 {
			check(T(Interval), iv)
		}
		b := make([]byte, r.IntN(8))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		check(T(Bytea), b)
	}
}

var fuzzTypes = []Type{
	T(Int2), T(Int4), T(Int8), T(Float4), T(Float8), T(Numeric), {Numeric, NumericTypmod(5, 2)},
	T(Bool), T(Text), {Varchar, 8}, {Bpchar, 7}, T(Bytea), T(Date), T(Timestamp), T(TimestampTZ), T(Interval),
}

// FuzzParseText: no input makes ParseText panic, errors carry a SQLSTATE
// of class 22 or 0A, and accepted values format and read back.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", "NaN", `\x00ff`, "2024-01-15 10:30:00.5+02", "1 year 2 mons -3 days 04:05:06.789 ago",
		"P1Y2M3DT4H5M6.5S", "P0001-02-03T04:05:06", "t", "4714-11-24 BC", "1-2", "@ 1 day", "05:06.5"} {
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, k uint8, s string) {
		typ := fuzzTypes[int(k)%len(fuzzTypes)]
		d, err := ParseText(typ, s)
		if err != nil {
			if c := errCode(err); c[:2] != "22" && c != "0A000" {
				t.Fatalf("ParseText(%s, %q): %v (%s)", typ, s, err, c)
			}
			return
		}
		out := FormatText(typ, d)
		if _, err := ParseText(typ, out); err != nil {
			t.Fatalf("ParseText(%s, %q) = %q which does not read back: %v", typ, s, out, err)
		}
	})
}

// FuzzParseBinary: no input makes ParseBinary panic, and accepted values
// re-encode to input that parses to the same text.
func FuzzParseBinary(f *testing.F) {
	f.Add(uint8(5), []byte{0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88})
	f.Add(uint8(12), []byte{0, 0, 0x22, 0x79})
	f.Fuzz(func(t *testing.T, k uint8, b []byte) {
		typ := fuzzTypes[int(k)%len(fuzzTypes)]
		d, err := ParseBinary(typ, b)
		if err != nil {
			return
		}
		enc, err := AppendBinary(nil, typ, d)
		if err != nil {
			t.Fatalf("AppendBinary(%s, %v): %v", typ, d, err)
		}
		d2, err := ParseBinary(typ, enc)
		if err != nil || FormatText(typ, d2) != FormatText(typ, d) {
			t.Fatalf("%s: %x → %s → %x → %v, %v", typ, b, FormatText(typ, d), enc, d2, err)
		}
	})
}
