package types

import (
	"encoding/binary"
	"math"
	"math/big"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

const (
	pgEpochDays  = 10957                 // days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch
	pgEpochMicro = pgEpochDays * 86400e6 // its Unix time in microseconds
)

func badBinary(t uint32) error {
	return pgerr.New(pgerr.InvalidBinaryRepresentation, "incorrect binary data format for type %s", InfoOf(t).Name)
}

// AppendBinary appends PostgreSQL's binary form of d (of type t).
func AppendBinary(buf []byte, t Type, d Datum) ([]byte, error) {
	switch t.OID {
	case Int2:
		return binary.BigEndian.AppendUint16(buf, uint16(d.(int64))), nil
	case Int4, OID:
		return binary.BigEndian.AppendUint32(buf, uint32(d.(int64))), nil
	case Int8:
		return binary.BigEndian.AppendUint64(buf, uint64(d.(int64))), nil
	case Float4:
		return binary.BigEndian.AppendUint32(buf, math.Float32bits(float32(d.(float64)))), nil
	case Float8:
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(d.(float64))), nil
	case Bool:
		if d.(bool) {
			return append(buf, 1), nil
		}
		return append(buf, 0), nil
	case Text, Varchar, Bpchar, Name, Unknown:
		return append(buf, d.(string)...), nil
	case Bytea:
		return append(buf, d.([]byte)...), nil
	case Date:
		return binary.BigEndian.AppendUint32(buf, uint32(int32(int64(d.(DateVal))-pgEpochDays))), nil
	case Timestamp, TimestampTZ:
		// (not Time.Sub: a Duration saturates beyond ±292 years)
		us := d.(time.Time).UnixMicro() - pgEpochMicro
		return binary.BigEndian.AppendUint64(buf, uint64(us)), nil
	case Interval:
		iv := d.(IntervalVal)
		buf = binary.BigEndian.AppendUint64(buf, uint64(iv.Micros))
		buf = binary.BigEndian.AppendUint32(buf, uint32(iv.Days))
		return binary.BigEndian.AppendUint32(buf, uint32(iv.Months)), nil
	case Numeric:
		return appendNumericBinary(buf, d.(*apd.Decimal)), nil
	}
	return nil, pgerr.New(pgerr.FeatureNotSupported, "binary format for type %s is not supported", InfoOf(t.OID).Name)
}

// ParseBinary decodes PostgreSQL's binary form of a value of type t.
func ParseBinary(t Type, b []byte) (Datum, error) {
	need := func(n int) error {
		if len(b) != n {
			return badBinary(t.OID)
		}
		return nil
	}
	var d Datum
	switch t.OID {
	case Int2:
		if err := need(2); err != nil {
			return nil, err
		}
		d = int64(int16(binary.BigEndian.Uint16(b)))
	case Int4:
		if err := need(4); err != nil {
			return nil, err
		}
		d = int64(int32(binary.BigEndian.Uint32(b)))
	case OID:
		if err := need(4); err != nil {
			return nil, err
		}
		d = int64(binary.BigEndian.Uint32(b))
	case Int8:
		if err := need(8); err != nil {
			return nil, err
		}
		d = int64(binary.BigEndian.Uint64(b))
	case Float4:
		if err := need(4); err != nil {
			return nil, err
		}
		d = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case Float8:
		if err := need(8); err != nil {
			return nil, err
		}
		d = math.Float64frombits(binary.BigEndian.Uint64(b))
	case Bool:
		if err := need(1); err != nil {
			return nil, err
		}
		d = b[0] != 0
	case Text, Varchar, Bpchar, Name, Unknown:
		if err := CheckText(string(b)); err != nil {
			return nil, err
		}
		d = string(b)
	case Bytea:
		d = append([]byte(nil), b...)
	case Date:
		if err := need(4); err != nil {
			return nil, err
		}
		d = DateVal(int64(int32(binary.BigEndian.Uint32(b))) + pgEpochDays)
	case Timestamp, TimestampTZ:
		if err := need(8); err != nil {
			return nil, err
		}
		us := int64(binary.BigEndian.Uint64(b))
		if us < minTimestampUsec-pgEpochMicro || us >= endTimestampUsec-pgEpochMicro {
			return nil, pgerr.New(pgerr.DatetimeFieldOverflow, "timestamp out of range")
		}
		d = time.UnixMicro(us + pgEpochMicro).UTC()
	case Interval:
		if err := need(16); err != nil {
			return nil, err
		}
		d = IntervalVal{
			Micros: int64(binary.BigEndian.Uint64(b)),
			Days:   int32(binary.BigEndian.Uint32(b[8:])),
			Months: int32(binary.BigEndian.Uint32(b[12:])),
		}
	case Numeric:
		v, err := parseNumericBinary(b)
		if err != nil {
			return nil, err
		}
		d = v
	default:
		return nil, pgerr.New(pgerr.FeatureNotSupported, "binary format for type %s is not supported", InfoOf(t.OID).Name)
	}
	return Coerce(t, d)
}

const (
	numericPos = 0x0000
	numericNeg = 0x4000
	numericNaN = 0xC000
)

// appendNumericBinary writes the base-10000 wire form: ndigits, weight,
// sign, dscale, then the digits.
func appendNumericBinary(buf []byte, d *apd.Decimal) []byte {
	if d.Form == apd.NaN || d.Form == apd.NaNSignaling {
		buf = binary.BigEndian.AppendUint16(buf, 0)
		buf = binary.BigEndian.AppendUint16(buf, 0)
		buf = binary.BigEndian.AppendUint16(buf, numericNaN)
		return binary.BigEndian.AppendUint16(buf, 0)
	}
	dscale := int32(0)
	if d.Exponent < 0 {
		dscale = -d.Exponent
	}
	// Integer digits string of |coeff| scaled so the exponent is a multiple of 4.
	coeff := new(big.Int).Set(d.Coeff.MathBigInt())
	exp := d.Exponent
	// align exponent to multiple of 4 (downwards)
	shift := ((exp % 4) + 4) % 4
	if shift != 0 {
		coeff.Mul(coeff, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(shift)), nil))
		exp -= shift
	}
	var groups []uint16
	tenK := big.NewInt(10000)
	mod := new(big.Int)
	for coeff.Sign() > 0 {
		coeff.DivMod(coeff, tenK, mod)
		groups = append(groups, uint16(mod.Int64()))
	}
	// groups are least significant first; group i has weight exp/4 + i
	base := int(exp / 4)
	// strip trailing zero groups (least significant)
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		base++
	}
	weight := 0
	if len(groups) > 0 {
		weight = base + len(groups) - 1
	}
	sign := uint16(numericPos)
	if d.Negative && len(groups) > 0 {
		sign = numericNeg
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(groups)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for i := len(groups) - 1; i >= 0; i-- {
		buf = binary.BigEndian.AppendUint16(buf, groups[i])
	}
	return buf
}

func parseNumericBinary(b []byte) (*apd.Decimal, error) {
	if len(b) < 8 {
		return nil, badBinary(Numeric)
	}
	n := int(binary.BigEndian.Uint16(b))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	dscale := int32(binary.BigEndian.Uint16(b[6:]))
	if len(b) != 8+2*n {
		return nil, badBinary(Numeric)
	}
	if sign == numericNaN {
		if n != 0 {
			return nil, badBinary(Numeric)
		}
		return &apd.Decimal{Form: apd.NaN}, nil
	}
	if sign != numericPos && sign != numericNeg || dscale > NumericMaxScale {
		// (0xD000/0xF000, infinity, is not supported)
		return nil, badBinary(Numeric)
	}
	coeff := new(big.Int)
	tenK := big.NewInt(10000)
	for i := 0; i < n; i++ {
		g := binary.BigEndian.Uint16(b[8+2*i:])
		if g >= 10000 {
			return nil, badBinary(Numeric)
		}
		coeff.Mul(coeff, tenK)
		coeff.Add(coeff, big.NewInt(int64(g)))
	}
	exp := int32((weight - n + 1) * 4)
	d := new(apd.Decimal)
	d.Coeff.SetMathBigInt(coeff)
	d.Exponent = exp
	d.Negative = sign == numericNeg
	// present with the declared display scale; digits beyond it are
	// truncated away, as numeric_recv does
	if d.Coeff.Sign() != 0 && int64(d.NumDigits())+int64(d.Exponent) > NumericMaxIntDigits {
		return nil, numericOverflow()
	}
	out := new(apd.Decimal)
	c := apd.BaseContext.WithPrecision(uint32(max(int64(d.NumDigits())+int64(d.Exponent)+int64(dscale)+1, 1)))
	c.Rounding = apd.RoundDown
	if _, err := c.Quantize(out, d, -dscale); err != nil {
		return nil, badBinary(Numeric)
	}
	return NormalizeNumeric(out)
}
