package types

import (
	"fmt"
	"strings"
)

// PostgreSQL type OIDs of the supported types.
const (
	Unknown     uint32 = 705
	Bool        uint32 = 16
	Bytea       uint32 = 17
	Name        uint32 = 19
	Int8        uint32 = 20
	Int2        uint32 = 21
	Int4        uint32 = 23
	Text        uint32 = 25
	OID         uint32 = 26
	Float4      uint32 = 700
	Float8      uint32 = 701
	Bpchar      uint32 = 1042
	Varchar     uint32 = 1043
	Date        uint32 = 1082
	Timestamp   uint32 = 1114
	TimestampTZ uint32 = 1184
	Interval    uint32 = 1186
	Numeric     uint32 = 1700
)

// Type is a SQL type: an OID and a typmod (-1 for none).
type Type struct {
	OID    uint32
	Typmod int32
}

// T returns the type oid without a typmod.
func T(oid uint32) Type { return Type{OID: oid, Typmod: -1} }

// Category groups types for operator resolution.
type Category int

const (
	CatUnknown Category = iota
	CatNumeric
	CatString
	CatBool
	CatBytes
	CatDateTime
	CatInterval
)

// Info is static information about a type.
type Info struct {
	Name     string // SQL name as format_type prints it
	Size     int16  // pg_type.typlen
	Category Category
}

var infos = map[uint32]Info{
	Unknown:     {"unknown", -2, CatUnknown},
	Bool:        {"boolean", 1, CatBool},
	Bytea:       {"bytea", -1, CatBytes},
	Name:        {"name", 64, CatString},
	Int8:        {"bigint", 8, CatNumeric},
	Int2:        {"smallint", 2, CatNumeric},
	Int4:        {"integer", 4, CatNumeric},
	Text:        {"text", -1, CatString},
	OID:         {"oid", 4, CatNumeric},
	Float4:      {"real", 4, CatNumeric},
	Float8:      {"double precision", 8, CatNumeric},
	Bpchar:      {"character", -1, CatString},
	Varchar:     {"character varying", -1, CatString},
	Date:        {"date", 4, CatDateTime},
	Timestamp:   {"timestamp without time zone", 8, CatDateTime},
	TimestampTZ: {"timestamp with time zone", 8, CatDateTime},
	Interval:    {"interval", 16, CatInterval},
	Numeric:     {"numeric", -1, CatNumeric},
}

// Supported reports whether oid is a type Meridian stores.
func Supported(oid uint32) bool {
	_, ok := infos[oid]
	return ok && oid != Unknown && oid != Name && oid != OID
}

// InfoOf returns the static information of oid.
func InfoOf(oid uint32) Info {
	if i, ok := infos[oid]; ok {
		return i
	}
	return Info{Name: fmt.Sprintf("oid%d", oid), Size: -1}
}

// String formats the type as PostgreSQL's format_type does.
func (t Type) String() string {
	name := InfoOf(t.OID).Name
	if t.Typmod < 0 {
		return name
	}
	switch t.OID {
	case Varchar, Bpchar:
		return fmt.Sprintf("%s(%d)", name, t.Typmod-4)
	case Numeric:
		p, s := NumericPrecScale(t.Typmod)
		return fmt.Sprintf("numeric(%d,%d)", p, s)
	case Interval:
		return name + intervalTypmodString(t.Typmod)
	}
	return name
}

// NumericTypmod encodes numeric(p,s) as PostgreSQL 15 does: the scale
// may be negative (-1000..1000) and is kept in the low 11 bits.
func NumericTypmod(p, s int32) int32 { return (p<<16 | s&0x7ff) + 4 }

// NumericPrecScale decodes a numeric typmod (the scale sign-extended from
// 11 bits, as PostgreSQL 15 does).
func NumericPrecScale(typmod int32) (p, s int32) {
	v := typmod - 4
	return (v >> 16) & 0xffff, ((v & 0x7ff) ^ 1024) - 1024
}

// IsInteger reports smallint, integer and bigint.
func IsInteger(oid uint32) bool { return oid == Int2 || oid == Int4 || oid == Int8 || oid == OID }

// IsFloat reports real and double precision.
func IsFloat(oid uint32) bool { return oid == Float4 || oid == Float8 }

// IsString reports text, varchar, char and name.
func IsString(oid uint32) bool {
	return oid == Text || oid == Varchar || oid == Bpchar || oid == Name
}

// numericRank orders numeric types for implicit promotion.
func numericRank(oid uint32) int {
	switch oid {
	case Int2:
		return 1
	case Int4, OID:
		return 2
	case Int8:
		return 3
	case Numeric:
		return 4
	case Float4:
		return 5
	case Float8:
		return 6
	}
	return 0
}

// CommonType returns the type both a and b implicitly convert to, as
// PostgreSQL's operator resolution would pick for comparisons and
// arithmetic, and false when there is none.
func CommonType(a, b uint32) (uint32, bool) {
	if a == b {
		if a == Varchar || a == Bpchar || a == Name {
			return Text, true
		}
		return a, true
	}
	if a == Unknown {
		return b, true
	}
	if b == Unknown {
		return a, true
	}
	ra, rb := numericRank(a), numericRank(b)
	if ra > 0 && rb > 0 {
		// real only stays real against real: PostgreSQL resolves
		// smallint/integer/bigint/numeric against real to double precision.
		if (a == Float4 && !IsFloat(b)) || (b == Float4 && !IsFloat(a)) {
			return Float8, true
		}
		if ra >= rb {
			return a, true
		}
		return b, true
	}
	if IsString(a) && IsString(b) {
		return Text, true
	}
	dt := func(x uint32) int {
		switch x {
		case Date:
			return 1
		case Timestamp:
			return 2
		case TimestampTZ:
			return 3
		}
		return 0
	}
	if da, db := dt(a), dt(b); da > 0 && db > 0 {
		if da >= db {
			return a, true
		}
		return b, true
	}
	return 0, false
}

// ParseTypeName maps a SQL type name (as pg_query's TypeName names list
// ends) to an OID.
func ParseTypeName(name string) (uint32, bool) {
	switch strings.ToLower(name) {
	case "int2", "smallint", "smallserial", "serial2":
		return Int2, true
	case "int4", "int", "integer", "serial", "serial4":
		return Int4, true
	case "int8", "bigint", "bigserial", "serial8":
		return Int8, true
	case "numeric", "decimal":
		return Numeric, true
	case "float4", "real":
		return Float4, true
	case "float8", "double precision", "float":
		return Float8, true
	case "bool", "boolean":
		return Bool, true
	case "text":
		return Text, true
	case "varchar", "character varying":
		return Varchar, true
	case "bpchar", "char", "character":
		return Bpchar, true
	case "bytea":
		return Bytea, true
	case "date":
		return Date, true
	case "timestamp", "timestamp without time zone":
		return Timestamp, true
	case "timestamptz", "timestamp with time zone":
		return TimestampTZ, true
	case "interval":
		return Interval, true
	case "name":
		return Name, true
	case "oid", "regclass", "regtype", "regproc":
		return OID, true
	case "unknown":
		return Unknown, true
	}
	return 0, false
}
