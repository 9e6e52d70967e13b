package codec

import (
	"math"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// gen makes random datums of each type, biased towards edge values.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

// typeOIDs are the value types the codecs handle, each with a generator.
var typeOIDs = []uint32{
	types.Int2, types.Int4, types.Int8, types.Float4, types.Float8, types.Numeric,
	types.Bool, types.Text, types.Varchar, types.Bpchar, types.Bytea,
	types.Date, types.Timestamp, types.TimestampTZ, types.Interval,
}

func (g *gen) datum(oid uint32) types.Datum {
	r := g.r
	switch oid {
	case types.Int2, types.Int4, types.Int8:
		lo, hi := types.IntRange(oid)
		switch r.IntN(6) {
		case 0:
			return []int64{lo, hi, 0, -1, 1, lo + 1, hi - 1}[r.IntN(7)]
		case 1:
			return int64(r.IntN(21) - 10)
		}
		v := int64(r.Uint64())
		if oid != types.Int8 {
			v = lo + int64(r.Uint64()%uint64(hi-lo+1))
		}
		return v
	case types.Float4, types.Float8:
		var f float64
		switch r.IntN(5) {
		case 0:
			f = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
				math.Float64frombits(0x7ff8000000000001), math.Float64frombits(0xfff8000000000000),
				math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64,
				1, -1, 0.1, -0.1}[r.IntN(15)]
		case 1:
			f = float64(r.IntN(21) - 10)
		case 2:
			f = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
		default:
			f = math.Float64frombits(r.Uint64())
		}
		if oid == types.Float4 {
			f = float64(float32(f))
		}
		return f
	case types.Numeric:
		return g.numeric()
	case types.Bool:
		return r.IntN(2) == 0
	case types.Text, types.Varchar, types.Bpchar:
		return string(g.bytes())
	case types.Bytea:
		return g.bytes()
	case types.Date:
		if r.IntN(4) == 0 {
			return types.DateVal(r.IntN(11) - 5)
		}
		return types.DateVal(r.Int64N(2145042905+2440588) - 2440588)
	case types.Timestamp, types.TimestampTZ:
		// 4714-11-24 BC .. 294247-01-01 (exclusive)
		const lo, hi int64 = -2440588 * 86400e6, 106751982 * 86400e6
		if r.IntN(4) == 0 {
			return time.UnixMicro(int64(r.IntN(2001) - 1000)).UTC()
		}
		return time.UnixMicro(lo + int64(r.Uint64N(uint64(hi)+uint64(-lo)))).UTC()
	case types.Interval:
		switch r.IntN(4) {
		case 0:
			return types.IntervalVal{Months: int32(r.IntN(5) - 2), Days: int32(r.IntN(61) - 30), Micros: int64(r.IntN(5) - 2)}
		case 1:
			ext := []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}
			e32 := []int32{math.MinInt32, math.MaxInt32, 0, -1, 1}
			return types.IntervalVal{Months: e32[r.IntN(5)], Days: e32[r.IntN(5)], Micros: ext[r.IntN(5)]}
		}
		return types.IntervalVal{Months: int32(r.Uint32()), Days: int32(r.Uint32()), Micros: int64(r.Uint64())}
	}
	panic("no generator")
}

// bytes are short, over a small alphabet with 0x00, 0x01 and 0xff, so
// that prefixes and equal values are common.
func (g *gen) bytes() []byte {
	alphabet := []byte{0, 1, 'a', 'b', 0xfe, 0xff}
	n := g.r.IntN(6)
	b := make([]byte, n)
	for i := range b {
		if g.r.IntN(8) == 0 {
			b[i] = byte(g.r.IntN(256))
		} else {
			b[i] = alphabet[g.r.IntN(len(alphabet))]
		}
	}
	return b
}

// numeric makes decimals with random digits, signs, exponents and
// trailing zeros (1.0 and 1.00 are the same value).
func (g *gen) numeric() *apd.Decimal {
	r := g.r
	switch r.IntN(10) {
	case 0:
		return &apd.Decimal{Form: apd.NaN}
	case 1:
		return &apd.Decimal{Exponent: -int32(r.IntN(4))} // zeros of several scales
	}
	var coeff big.Int
	nd := 1 + r.IntN(30)
	if r.IntN(3) == 0 {
		nd = 1 + r.IntN(3)
	}
	for i := 0; i < nd; i++ {
		coeff.Mul(&coeff, big.NewInt(10))
		coeff.Add(&coeff, big.NewInt(int64(r.IntN(10))))
	}
	d := new(apd.Decimal)
	d.Coeff.SetMathBigInt(&coeff)
	d.Exponent = int32(r.IntN(41) - 30)
	if r.IntN(3) == 0 {
		d.Exponent = int32(r.IntN(5) - 4)
	}
	d.Negative = r.IntN(2) == 0
	nd2, err := types.NormalizeNumeric(d)
	if err != nil {
		panic(err)
	}
	return nd2
}

// rescale returns d with k more trailing zeros: the same value.
func rescale(d *apd.Decimal, k int32) *apd.Decimal {
	if d.Form != apd.Finite {
		return d
	}
	out := new(apd.Decimal)
	c := new(big.Int).Mul(d.Coeff.MathBigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil))
	out.Coeff.SetMathBigInt(c)
	out.Exponent = d.Exponent - k
	out.Negative = d.Negative
	return out
}
