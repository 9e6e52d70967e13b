package types

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
	"time"
)

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The bytes PostgreSQL 15's send functions produce (numeric_send,
// date_send, ...) for values given in text.
func TestBinaryMatchesPostgres(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		text string
		hex  string
	}{
		{T(Numeric), "0", "0000000000000000"},
		{T(Numeric), "0.00", "0000000000000002"},
		{T(Numeric), "1", "00010000000000000001"},
		{T(Numeric), "-1.5", "000200004000000100011388"},
		{T(Numeric), "12345.6789", "0003000100000004000109291a85"},
		{T(Numeric), "0.0001", "0001ffff000000040001"},
		{T(Numeric), "1e20", "00010005000000000001"},
		{T(Numeric), "NaN", "00000000c0000000"},
		{T(Numeric), "-0.000012345", "0002fffe4000000904d21388"},
		{T(Numeric), "10000", "00010001000000000001"},
		{T(Numeric), "99999999.99999999", "0004000100000008270f270f270f270f"},
		{T(Numeric), "1.0", "00010000000000010001"},
		{T(Numeric), "123.456", "0002000000000003007b11d0"},
		{T(Date), "2024-02-29", "00002279"},
		{T(Date), "1999-12-31", "ffffffff"},
		{T(Timestamp), "2024-01-15 10:30:00.5", "0002b1f843c65b20"},
		{T(Timestamp), "1900-01-01 00:00:00", "fff4c9ee7c0b8000"},
		{T(Timestamp), "2500-06-01 12:00:00", "00381a67786a9000"},
		{T(TimestampTZ), "2024-01-15 10:30:00+02", "0002b1f696977200"},
		{T(Interval), "1 year 2 mons 3 days 04:05:06.5", "000000036c9361a0000000030000000e"},
		{T(Interval), "-1 days -00:00:01", "fffffffffff0bdc0ffffffff00000000"},
		{T(Float4), "1.5", "3fc00000"},
		{T(Float8), "0.1", "3fb999999999999a"},
		{T(Int2), "-2", "fffe"},
		{T(Int4), "-2", "fffffffe"},
		{T(Int8), "258", "0000000000000102"},
		{T(Bool), "true", "01"},
		{T(Bool), "false", "00"},
		{T(Text), "hé", "68c3a9"},
		{T(Bytea), `\x00ff`, "00ff"},
	} {
		d, err := ParseText(c.typ, c.text)
		if err != nil {
			t.Fatalf("ParseText(%s, %q): %v", c.typ, c.text, err)
		}
		got, err := AppendBinary(nil, c.typ, d)
		if err != nil {
			t.Fatalf("AppendBinary(%s, %q): %v", c.typ, c.text, err)
		}
		if hex.EncodeToString(got) != c.hex {
			t.Errorf("AppendBinary(%s, %q) = %x, want %s", c.typ, c.text, got, c.hex)
		}
		back, err := ParseBinary(c.typ, unhexT(t, c.hex))
		if err != nil {
			t.Errorf("ParseBinary(%s, %s): %v", c.typ, c.hex, err)
			continue
		}
		if FormatText(c.typ, back) != FormatText(c.typ, d) {
			t.Errorf("ParseBinary(%s, %s) = %s, want %s", c.typ, c.hex, FormatText(c.typ, back), FormatText(c.typ, d))
		}
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := ParseText(T(Timestamp), s)
		if err != nil {
			t.Fatal(err)
		}
		return v.(time.Time)
	}
	cases := []struct {
		typ Type
		d   Datum
	}{
		{T(Int2), int64(math.MinInt16)}, {T(Int2), int64(math.MaxInt16)},
		{T(Int4), int64(math.MinInt32)}, {T(Int4), int64(math.MaxInt32)},
		{T(Int8), int64(math.MinInt64)}, {T(Int8), int64(math.MaxInt64)},
		{T(OID), int64(math.MaxUint32)},
		{T(Float4), float64(float32(3.14159))}, {T(Float4), math.Inf(-1)},
		{T(Float8), math.Pi}, {T(Float8), math.Inf(1)}, {T(Float8), math.Copysign(0, -1)},
		{T(Float8), math.SmallestNonzeroFloat64}, {T(Float8), -math.MaxFloat64},
		{T(Bool), true}, {T(Bool), false},
		{T(Text), ""}, {T(Text), "日本語"}, {T(Varchar), "x"}, {T(Bpchar), "ab "},
		{T(Bytea), []byte{}}, {T(Bytea), []byte{0, 1, 2, 255}},
		{T(Date), DateVal(0)}, {T(Date), DateVal(-2440588)}, {T(Date), DateVal(2145042905)},
		{T(Timestamp), ts("2024-01-15 10:30:00.123456")},
		{T(Timestamp), ts("1500-03-01 00:00:00")},          // beyond ±292 years of 2000
		{T(Timestamp), ts("4714-11-24 00:00:00 BC")},       // the first
		{T(Timestamp), ts("294246-12-31 23:59:59.999999")}, // the last
		{T(TimestampTZ), ts("2600-01-01 00:00:00.000001")}, // beyond +292 years
		{T(Interval), IntervalVal{Months: -14, Days: 3, Micros: -1}},
		{T(Interval), IntervalVal{Months: math.MaxInt32, Days: math.MinInt32, Micros: math.MaxInt64}},
	}
	for _, s := range []string{"0", "0.000", "1", "-1", "0.5", "1.5", "-1.05", "12345678901234567890.123456789",
		"0.00000000000000000001", "1e20", "10000", "9999", "99990000", "0.1234", "0.12345", "1234.5",
		"NaN", "1e1000", "-1e-1000", "3.14159265358979323846264338327950288419716939937510"} {
		d, err := ParseText(T(Numeric), s)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			typ Type
			d   Datum
		}{T(Numeric), d})
	}
	for _, c := range cases {
		b, err := AppendBinary([]byte("prefix"), c.typ, c.d)
		if err != nil {
			t.Fatalf("AppendBinary(%s, %v): %v", c.typ, c.d, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendBinary does not append")
		}
		back, err := ParseBinary(c.typ, b[6:])
		if err != nil {
			t.Errorf("ParseBinary(%s, %x): %v", c.typ, b[6:], err)
			continue
		}
		if Compare(c.d, back) != 0 || FormatText(c.typ, c.d) != FormatText(c.typ, back) {
			t.Errorf("%s: %s round-trips to %s", c.typ, FormatText(c.typ, c.d), FormatText(c.typ, back))
		}
		if f, ok := c.d.(float64); ok && math.Signbit(f) != math.Signbit(back.(float64)) {
			t.Errorf("%s: sign of %v lost", c.typ, f)
		}
	}
}

func TestParseBinaryErrors(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		hex  string
		code string
	}{
		{T(Int2), "000102", "22P03"},
		{T(Int4), "0001", "22P03"},
		{T(Int8), "", "22P03"},
		{T(Float8), "00", "22P03"},
		{T(Bool), "", "22P03"},
		{T(Date), "0000000000", "22P03"},
		{T(Timestamp), "00", "22P03"},
		{T(Interval), "00000000000000000000000000000000ff", "22P03"},
		{T(Numeric), "000100", "22P03"},               // short header
		{T(Numeric), "0001000000000000", "22P03"},     // missing digit
		{T(Numeric), "00010000000000002710", "22P03"}, // digit 10000
		{T(Numeric), "0000000080000000", "22P03"},     // bad sign
		{T(Numeric), "00000000d0000000", "22P03"},     // +Infinity: unsupported
		{T(Numeric), "00010000c0000000000a", "22P03"}, // NaN with digits
		{T(Numeric), "000000000000ffff", "22P03"},     // dscale too large
		{T(Numeric), "00017fff000000000001", "22003"}, // 10000^32767: beyond apd
		{T(Int2), "8000", ""},                         // -32768 fine
		{T(Text), "ff", "22021"},                      // invalid UTF-8
		{T(Text), "6100", "22021"},                    // NUL
		{T(Timestamp), "7fffffffffffffff", "22008"},   // beyond the range
		{Type{Varchar, 4 + 1}, "6162", "22001"},       // typmod applies
		{Type{Numeric, NumericTypmod(3, 1)}, "00010000000000000001", ""},
		{Type{Numeric, NumericTypmod(3, 1)}, "00010001000000000001", "22003"},
	} {
		_, err := ParseBinary(c.typ, unhexT(t, c.hex))
		if errCode(err) != c.code {
			t.Errorf("ParseBinary(%s, %s): %v, want SQLSTATE %q", c.typ, c.hex, err, c.code)
		}
	}
	// Digits beyond the dscale sent are truncated, as numeric_recv does:
	// 1.29 with dscale 1 is 1.2.
	d, err := ParseBinary(T(Numeric), unhexT(t, "000200000000000100010b54"))
	if err != nil || FormatText(T(Numeric), d) != "1.2" {
		t.Errorf("1.29 with dscale 1 = %v, %v; want 1.2", d, err)
	}
	// negative zero reads as zero
	d, err = ParseBinary(T(Numeric), unhexT(t, "0000000040000002"))
	if err != nil || FormatText(T(Numeric), d) != "0.00" {
		t.Errorf("-0.00 = %v, %v", d, err)
	}
}
