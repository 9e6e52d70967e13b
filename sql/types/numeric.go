package types

import (
	"math/big"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Numeric limits: digits before the decimal point and after it (display
// scale). PostgreSQL allows 131072 digits before the point; apd cannot
// hold an adjusted exponent beyond 100000, so Meridian stops at 100001.
const (
	NumericMaxIntDigits = apd.MaxExponent + 1
	NumericMaxScale     = 16383
)

func numericOverflow() error {
	return pgerr.New(pgerr.NumericValueOutOfRange, "value overflows numeric format")
}

// NormalizeNumeric puts d into the canonical form numeric datums are kept
// in, the one PostgreSQL's representation implies: no negative zero (nor
// negative NaN), no positive exponent (a display scale is never negative,
// so 1E+3 becomes 1000), and checks PostgreSQL's numeric range (22003).
// d is not modified; the result may be d itself.
func NormalizeNumeric(d *apd.Decimal) (*apd.Decimal, error) {
	switch d.Form {
	case apd.NaN, apd.NaNSignaling:
		if d.Form == apd.NaN && !d.Negative {
			return d, nil
		}
		return &apd.Decimal{Form: apd.NaN}, nil
	case apd.Infinite:
		return d, nil
	}
	if d.Coeff.Sign() == 0 {
		if !d.Negative && d.Exponent <= 0 {
			return d, nil
		}
		out := &apd.Decimal{Exponent: min(d.Exponent, 0)}
		if -out.Exponent > NumericMaxScale {
			return nil, numericOverflow()
		}
		return out, nil
	}
	if int64(d.NumDigits())+int64(d.Exponent) > NumericMaxIntDigits || -int64(d.Exponent) > NumericMaxScale {
		return nil, numericOverflow()
	}
	if d.Exponent <= 0 {
		return d, nil
	}
	out := new(apd.Decimal)
	c := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Exponent)), nil)
	c.Mul(c, d.Coeff.MathBigInt())
	out.Coeff.SetMathBigInt(c)
	out.Negative = d.Negative
	return out, nil
}

// parseNumeric parses PostgreSQL's numeric input: [+-]digits[.digits][e[+-]digits]
// or NaN, surrounded by optional white space.
func parseNumeric(s string) (Datum, error) {
	ts := strings.TrimSpace(s)
	if strings.EqualFold(ts, "nan") {
		return &apd.Decimal{Form: apd.NaN}, nil
	}
	digits, exp := false, false
	for i := 0; i < len(ts); i++ {
		c := ts[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == '+' || c == '-':
		case c == 'e' || c == 'E':
			exp = true
		default:
			return nil, invalidText(Numeric, s)
		}
	}
	if !digits {
		return nil, invalidText(Numeric, s)
	}
	d, _, err := apd.NewFromString(ts)
	if err != nil {
		if exp && strings.Contains(err.Error(), "out of range") {
			return nil, numericOverflow()
		}
		return nil, invalidText(Numeric, s)
	}
	if d.Form != apd.Finite {
		return nil, invalidText(Numeric, s)
	}
	return NormalizeNumeric(d)
}
