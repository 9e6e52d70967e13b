package types

import (
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
)

func TestCoerce(t *testing.T) {
	vc := func(n int32) Type { return Type{Varchar, n + 4} }
	ch := func(n int32) Type { return Type{Bpchar, n + 4} }
	nm := func(p, s int32) Type { return Type{Numeric, NumericTypmod(p, s)} }
	for _, c := range []struct {
		typ  Type
		in   Datum
		want string // FormatText of the result, or "ERR code"
	}{
		{vc(3), "abc", "abc"},
		{vc(3), "abcd", "ERR 22001"},
		{vc(3), "ab  ", "ab "}, // only spaces beyond n: cut silently
		{vc(3), "abc    ", "abc"},
		{vc(3), "日本語", "日本語"}, // characters, not bytes
		{vc(3), "日本語x", "ERR 22001"},
		{T(Varchar), "no limit at all", "no limit at all"},
		{ch(3), "a", "a  "},
		{ch(3), "", "   "},
		{ch(3), "abc  ", "abc"},
		{ch(3), "abcd", "ERR 22001"},
		{ch(3), "é", "é  "},
		{T(Bpchar), "unlimited ", "unlimited "},

		{nm(5, 2), mustNum(t, "1.005"), "1.01"},
		{nm(5, 2), mustNum(t, "-1.005"), "-1.01"},
		{nm(5, 2), mustNum(t, "1.004999"), "1.00"},
		{nm(5, 2), mustNum(t, "2.5"), "2.50"},
		{nm(5, 2), mustNum(t, "999.99"), "999.99"},
		{nm(5, 2), mustNum(t, "999.995"), "ERR 22003"},
		{nm(5, 2), mustNum(t, "1000.0"), "ERR 22003"},
		{nm(5, 2), mustNum(t, "-1000"), "ERR 22003"},
		{nm(5, 2), mustNum(t, "0.001"), "0.00"},
		{nm(5, 2), mustNum(t, "-0.001"), "0.00"}, // no negative zero
		{nm(5, 2), mustNum(t, "1e300"), "ERR 22003"},
		{nm(5, 0), mustNum(t, "12345.5"), "12346"},
		{nm(5, 0), mustNum(t, "99999.5"), "ERR 22003"},
		{nm(5, 0), mustNum(t, "1234.5"), "1235"},
		{nm(3, -2), mustNum(t, "12345"), "12300"},
		{nm(3, -2), mustNum(t, "12350"), "12400"},
		{nm(3, 5), mustNum(t, "0.001234"), "0.00123"},
		{nm(3, 5), mustNum(t, "0.01"), "ERR 22003"},
		{nm(5, 2), &apd.Decimal{Form: apd.NaN}, "NaN"},
		{T(Numeric), mustNum(t, "1E+2"), "100"},
		{T(Numeric), mustNum(t, "-0.0"), "0.0"},

		{T(Int2), int64(32767), "32767"},
		{T(Int2), int64(32768), "ERR 22003"},
		{T(Int2), int64(-32768), "-32768"},
		{T(Int2), int64(-32769), "ERR 22003"},
		{T(Int4), int64(math.MaxInt32 + 1), "ERR 22003"},
		{T(Int4), int64(math.MinInt32), "-2147483648"},
		{T(Int8), int64(math.MinInt64), "-9223372036854775808"},

		{T(Float4), 1e39, "ERR 22003"},
		{T(Float4), 1e-50, "ERR 22003"},
		{T(Float4), math.Inf(1), "Infinity"},
		{T(Float4), 0.1, "0.1"},
		{T(Float8), 1e300, "1e+300"},

		{T(Int4), nil, ""},
	} {
		got, err := Coerce(c.typ, c.in)
		if len(c.want) > 4 && c.want[:4] == "ERR " {
			if errCode(err) != c.want[4:] {
				t.Errorf("Coerce(%s, %v) = %v, %v; want SQLSTATE %s", c.typ, c.in, got, err, c.want[4:])
			}
			continue
		}
		if err != nil {
			t.Errorf("Coerce(%s, %v): %v", c.typ, c.in, err)
			continue
		}
		if s := FormatText(c.typ, got); s != c.want {
			t.Errorf("Coerce(%s, %v) = %q, want %q", c.typ, c.in, s, c.want)
		}
	}
}

func TestNumericTypmod(t *testing.T) {
	for _, c := range []struct{ p, s int32 }{{5, 2}, {1, 0}, {1000, 1000}, {3, -2}, {10, -1000}, {3, 5}} {
		tm := NumericTypmod(c.p, c.s)
		if p, s := NumericPrecScale(tm); p != c.p || s != c.s {
			t.Errorf("NumericPrecScale(NumericTypmod(%d, %d)) = %d, %d", c.p, c.s, p, s)
		}
	}
	// PostgreSQL 15's atttypmod: numeric(5,2) is 327686, numeric(3,-2) 198658.
	if tm := NumericTypmod(5, 2); tm != 327686 {
		t.Errorf("numeric(5,2) typmod %d", tm)
	}
	if tm := NumericTypmod(3, -2); tm != 198658 {
		t.Errorf("numeric(3,-2) typmod %d", tm)
	}
	for typ, want := range map[Type]string{
		{Numeric, NumericTypmod(5, 2)}:  "numeric(5,2)",
		{Numeric, NumericTypmod(3, -2)}: "numeric(3,-2)",
		T(Numeric):                      "numeric",
		{Varchar, 14}:                   "character varying(10)",
		{Bpchar, 7}:                     "character(3)",
		T(TimestampTZ):                  "timestamp with time zone",
		T(12345):                        "oid12345",
	} {
		if typ.String() != want {
			t.Errorf("%#v.String() = %q, want %q", typ, typ.String(), want)
		}
	}
}

func TestCast(t *testing.T) {
	n := func(s string) *apd.Decimal { return mustNum(t, s) }
	day := DateVal(19737) // 2024-01-15
	midnight := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    Datum
		from uint32
		to   Type
		want string // text of the result or "ERR code"
	}{
		{"42", Text, T(Int4), "42"},
		{" 42 ", Text, T(Int4), "42"},
		{"abc", Text, T(Int4), "ERR 22P02"},
		{"42.0", Text, T(Int4), "ERR 22P02"},
		{"99999", Text, T(Int2), "ERR 22003"},
		{"1.5", Varchar, T(Numeric), "1.5"},
		{"2024-13-01", Text, T(Date), "ERR 22008"},
		{"soon", Text, T(Timestamp), "ERR 22007"},
		{"yes", Text, T(Bool), "t"},
		{"ab ", Bpchar, T(Text), "ab"},
		{"ab ", Bpchar, T(Varchar), "ab"},
		{"7 ", Bpchar, T(Int4), "7"},
		{"ab", Text, Type{Bpchar, 4 + 4}, "ab  "},
		{"abcde", Text, Type{Varchar, 3 + 4}, "ERR 22001"}, // PostgreSQL's explicit cast would cut

		{2.5, Float8, T(Int4), "2"}, // float → int: rint, half to even
		{3.5, Float8, T(Int4), "4"},
		{-2.5, Float8, T(Int4), "-2"},
		{-3.7, Float8, T(Int8), "-4"},
		{2147483647.4, Float8, T(Int4), "2147483647"},
		{2147483647.5, Float8, T(Int4), "ERR 22003"},
		{32767.5, Float8, T(Int2), "ERR 22003"},
		{9.3e18, Float8, T(Int8), "ERR 22003"},
		{-9223372036854775808.0, Float8, T(Int8), "-9223372036854775808"},
		{math.NaN(), Float8, T(Int8), "ERR 22003"},
		{math.Inf(1), Float8, T(Int4), "ERR 22003"},

		{n("2.5"), Numeric, T(Int4), "3"}, // numeric → int: half away from zero
		{n("-2.5"), Numeric, T(Int4), "-3"},
		{n("2.4999"), Numeric, T(Int4), "2"},
		{n("-0.5"), Numeric, T(Int8), "-1"},
		{n("0.49"), Numeric, T(Int8), "0"},
		{n("32767.5"), Numeric, T(Int2), "ERR 22003"},
		{n("32767.4"), Numeric, T(Int2), "32767"},
		{n("9223372036854775807.4"), Numeric, T(Int8), "9223372036854775807"},
		{n("9223372036854775807.5"), Numeric, T(Int8), "ERR 22003"},
		{n("1e30"), Numeric, T(Int8), "ERR 22003"},
		{n("NaN"), Numeric, T(Int4), "ERR 0A000"},

		{true, Bool, T(Int4), "1"},
		{false, Bool, T(Int4), "0"},
		{int64(5), Int4, T(Bool), "t"},
		{int64(0), Int4, T(Bool), "f"},
		{true, Bool, T(Text), "true"}, // bool::text spells the word
		{false, Bool, T(Varchar), "false"},

		{0.1 + 0.2, Float8, T(Numeric), "0.3"}, // %.15g as PostgreSQL
		{0.5, Float8, T(Numeric), "0.5"},
		{math.Copysign(0, -1), Float8, T(Numeric), "0"},
		{1e20, Float8, T(Numeric), "100000000000000000000"},
		{1e-20, Float8, T(Numeric), "0.00000000000000000001"},
		{123456789012345678.0, Float8, T(Numeric), "123456789012346000"},
		{float64(float32(0.1)), Float4, T(Numeric), "0.1"}, // %.6g for real
		{float64(float32(3.14159265)), Float4, T(Numeric), "3.14159"},
		{math.NaN(), Float8, T(Numeric), "NaN"},
		{math.Inf(1), Float8, T(Numeric), "ERR 0A000"},
		{1.005, Float8, Type{Numeric, NumericTypmod(5, 2)}, "1.01"}, // 1.00499999... as a double, 1.005 at 15 digits

		{n("1e400"), Numeric, T(Float8), "ERR 22003"},
		{n("1e-400"), Numeric, T(Float8), "ERR 22003"},
		{n("1e39"), Numeric, T(Float4), "ERR 22003"},
		{n("0.1"), Numeric, T(Float8), "0.1"},
		{n("NaN"), Numeric, T(Float8), "NaN"},
		{int64(1) << 53, Int8, T(Float8), "9.007199254740992e+15"},
		{int64(16777217), Int4, T(Float4), "1.6777216e+07"},
		{1e300, Float8, T(Float4), "ERR 22003"},

		{int64(100), Int4, Type{Numeric, NumericTypmod(3, 1)}, "ERR 22003"},
		{int64(99), Int4, Type{Numeric, NumericTypmod(3, 1)}, "99.0"},
		{int64(70000), Int4, T(Int2), "ERR 22003"},
		{int64(-5), Int8, T(Int4), "-5"},

		{n("1.50"), Numeric, T(Text), "1.50"},
		{float64(float32(0.1)), Float4, T(Text), "0.1"},
		{IntervalVal{Days: 1}, Interval, T(Text), "1 day"},
		{day, Date, T(Text), "2024-01-15"},
		{[]byte{1}, Bytea, T(Text), `\x01`},

		{day, Date, T(Timestamp), "2024-01-15 00:00:00"},
		{day, Date, T(TimestampTZ), "2024-01-15 00:00:00+00"},
		{midnight.Add(23 * time.Hour), Timestamp, T(Date), "2024-01-15"},
		{midnight, TimestampTZ, T(Timestamp), "2024-01-15 00:00:00"},

		{nil, Int4, T(Text), ""},
		{true, Bool, T(Date), "ERR 42804"},
		{IntervalVal{}, Interval, T(Int4), "ERR 42804"},
	} {
		got, err := Cast(c.d, c.from, c.to)
		if len(c.want) > 4 && c.want[:4] == "ERR " {
			if errCode(err) != c.want[4:] {
				t.Errorf("Cast(%v, %s → %s) = %v, %v; want SQLSTATE %s", c.d, InfoOf(c.from).Name, c.to, got, err, c.want[4:])
			}
			continue
		}
		if err != nil {
			t.Errorf("Cast(%v, %s → %s): %v", c.d, InfoOf(c.from).Name, c.to, err)
			continue
		}
		if s := FormatText(c.to, got); s != c.want {
			t.Errorf("Cast(%v, %s → %s) = %q, want %q", c.d, InfoOf(c.from).Name, c.to, s, c.want)
		}
	}
}

// Explicit casts cut strings to the length (checked in PostgreSQL 15).
func TestCastExplicit(t *testing.T) {
	vc3, ch3, vc2 := Type{Varchar, 3 + 4}, Type{Bpchar, 3 + 4}, Type{Varchar, 2 + 4}
	for _, c := range []struct {
		d    Datum
		from uint32
		to   Type
		want string
	}{
		{"abcd", Text, vc3, "abc"},
		{"日本語です", Text, vc3, "日本語"},
		{"abcd", Text, ch3, "abc"},
		{"ab", Text, ch3, "ab "},
		{true, Bool, vc2, "tr"},
		{int64(12345), Int4, vc3, "123"},
		{"abcd", Varchar, T(Text), "abcd"},
		{"1.005", Text, Type{Numeric, NumericTypmod(5, 2)}, "1.01"},
	} {
		got, err := CastExplicit(c.d, c.from, c.to)
		if err != nil || FormatText(c.to, got) != c.want {
			t.Errorf("CastExplicit(%v, %s → %s) = %v, %v; want %q", c.d, InfoOf(c.from).Name, c.to, got, err, c.want)
		}
	}
	if _, err := CastExplicit("1000", Text, Type{Numeric, NumericTypmod(5, 2)}); errCode(err) != "22003" {
		t.Errorf("numeric overflow on explicit cast: %v", err)
	}
	if got, err := CastExplicit(nil, Text, vc3); got != nil || err != nil {
		t.Errorf("NULL: %v, %v", got, err)
	}
}

func TestCanCast(t *testing.T) {
	for _, c := range []struct {
		from, to uint32
		want     bool
	}{
		{Int4, Int8, true}, {Numeric, Float4, true}, {Text, Int4, true}, {Int4, Text, true},
		{Bool, Int4, true}, {Int4, Bool, true}, {Bool, Int8, false}, {Int8, Bool, false},
		{Date, Timestamp, true}, {TimestampTZ, Date, true}, {Unknown, Interval, true},
		{Bool, Date, false}, {Interval, Int4, false}, {Bytea, Int4, false},
	} {
		if got := CanCast(c.from, c.to); got != c.want {
			t.Errorf("CanCast(%s, %s) = %v", InfoOf(c.from).Name, InfoOf(c.to).Name, got)
		}
	}
}

// CommonType picks what PostgreSQL's operator resolution picks (checked
// with pg_typeof(a + b) / pg_typeof(a = b) style queries).
func TestCommonType(t *testing.T) {
	for _, c := range []struct {
		a, b, want uint32
		ok         bool
	}{
		{Int2, Int2, Int2, true},
		{Int2, Int4, Int4, true},
		{Int4, Int8, Int8, true},
		{Int8, Numeric, Numeric, true},
		{Int4, Float8, Float8, true},
		{Numeric, Float8, Float8, true},
		{Float4, Float4, Float4, true},
		{Float4, Float8, Float8, true},
		{Int2, Float4, Float8, true},
		{Int8, Float4, Float8, true},
		{Float4, Numeric, Float8, true},
		{Varchar, Varchar, Text, true},
		{Bpchar, Text, Text, true},
		{Unknown, Int4, Int4, true},
		{Date, Date, Date, true},
		{Date, Timestamp, Timestamp, true},
		{Timestamp, TimestampTZ, TimestampTZ, true},
		{Interval, Interval, Interval, true},
		{Bool, Bool, Bool, true},
		{Int4, Text, 0, false},
		{Bool, Int4, 0, false},
		{Date, Interval, 0, false},
	} {
		for _, swap := range []bool{false, true} {
			a, b := c.a, c.b
			if swap {
				a, b = b, a
			}
			got, ok := CommonType(a, b)
			if got != c.want || ok != c.ok {
				t.Errorf("CommonType(%s, %s) = %s, %v; want %s, %v", InfoOf(a).Name, InfoOf(b).Name, InfoOf(got).Name, ok, InfoOf(c.want).Name, c.ok)
			}
		}
	}
}

func TestParseTypeName(t *testing.T) {
	for name, want := range map[string]uint32{
		"int": Int4, "INTEGER": Int4, "bigserial": Int8, "decimal": Numeric, "float": Float8,
		"double precision": Float8, "real": Float4, "character varying": Varchar, "char": Bpchar,
		"timestamptz": TimestampTZ, "timestamp without time zone": Timestamp, "bool": Bool,
	} {
		if got, ok := ParseTypeName(name); !ok || got != want {
			t.Errorf("ParseTypeName(%q) = %d, %v", name, got, ok)
		}
	}
	if _, ok := ParseTypeName("money"); ok {
		t.Error("money is not supported")
	}
	if !Supported(Int4) || Supported(OID) || Supported(Unknown) || Supported(9999) {
		t.Error("Supported")
	}
}
