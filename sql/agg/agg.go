// Package agg holds the aggregate functions (count, sum, avg, min, max)
// in the two forms distributed execution needs:
//
//	full:     New(spec)         rows ──Add──> Result            (one node sees every row)
//	partial:  NewPartial(spec)  rows ──Add──> State: columns    (each datanode)
//	final:    NewFinal(spec)    states ─Merge─> Result          (the coordinator)
//
// Partial states are ordinary datums, sent as extra columns of the
// datanodes' rows: count → its count; sum → the sum in the result type;
// avg → the sum and the count; min/max → the extreme value. DISTINCT
// aggregates have no partial form (the coordinator needs every value).
package agg

import (
	"math"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Spec is one aggregate call.
type Spec struct {
	Func     string     // count, sum, avg, min, max
	ArgType  uint32     // type of the argument; 0 for count(*)
	Type     types.Type // result type
	Distinct bool
}

// Acc is one aggregate's running state.
type Acc interface {
	Add(d types.Datum) error
	Result() (types.Datum, error)
}

type countAcc struct{ n int64 }

func (a *countAcc) Add(d types.Datum) error {
	if d != nil {
		a.n++
	}
	return nil
}
func (a *countAcc) Result() (types.Datum, error) { return a.n, nil }

type sumAcc struct {
	n int64
	i int64
	// Numeric values of one exponent are summed as int64 coefficients
	// (scaled, at scaledExp) and added to dec only when the exponent
	// changes, the int64 would overflow, or the result is asked for:
	// an apd addition per row costs several times more.
	scaled int64
	f      float64
	dec    *apd.Decimal       // the numeric total beyond scaled (nil: zero)
	iv     *types.IntervalVal // the interval total (nil: zero)
	// A hash aggregation holds one per group and aggregate: the fields
	// are ordered and the rare totals kept behind pointers to keep it at
	// 64 bytes.
	scaledExp int32
	argType   uint32
	resultOID uint32
	isAvg     bool
	iOver     bool
	hasScaled bool
}

// decimal returns the numeric total, allocated on first use.
func (a *sumAcc) decimal() *apd.Decimal {
	if a.dec == nil {
		a.dec = new(apd.Decimal)
	}
	return a.dec
}

func (a *sumAcc) Add(d types.Datum) error {
	if d == nil {
		return nil
	}
	a.n++
	switch v := d.(type) {
	case int64:
		if !a.iOver {
			s := a.i + v
			if (s > a.i) == (v > 0) || v == 0 {
				a.i = s
				return nil
			}
			a.iOver = true
			a.decimal().SetInt64(a.i)
		}
		_, err := types.DecimalCtx.Add(a.decimal(), a.decimal(), apd.New(v, 0))
		return err
	case *apd.Decimal:
		if v.Form == apd.Finite && v.Coeff.IsInt64() {
			c := v.Coeff.Int64()
			if v.Negative {
				c = -c
			}
			return a.addScaled(c, v.Exponent)
		}
		_, err := types.DecimalCtx.Add(a.decimal(), a.decimal(), v)
		return err
	case float64:
		a.f += v
	case types.IntervalVal:
		if a.iv == nil {
			a.iv = new(types.IntervalVal)
		}
		a.iv.Months += v.Months
		a.iv.Days += v.Days
		a.iv.Micros += v.Micros
	}
	return nil
}

// addScaled adds the numeric c×10^exp to the int64 sum of its exponent.
func (a *sumAcc) addScaled(c int64, exp int32) error {
	if a.hasScaled && exp == a.scaledExp {
		if s := a.scaled + c; (c >= 0) == (s >= a.scaled) {
			a.scaled = s
			return nil
		}
	}
	if err := a.flushScaled(); err != nil {
		return err
	}
	a.scaled, a.scaledExp, a.hasScaled = c, exp, true
	return nil
}

// flushScaled adds the int64 partial sum of numerics into dec.
func (a *sumAcc) flushScaled() error {
	if !a.hasScaled {
		return nil
	}
	var d apd.Decimal
	d.SetFinite(a.scaled, a.scaledExp)
	a.hasScaled = false
	_, err := types.DecimalCtx.Add(a.decimal(), a.decimal(), &d)
	return err
}

func (a *sumAcc) total() (*apd.Decimal, error) {
	if types.IsInteger(a.argType) && !a.iOver {
		return apd.New(a.i, 0), nil
	}
	if err := a.flushScaled(); err != nil {
		return nil, err
	}
	return a.decimal(), nil
}

func (a *sumAcc) Result() (types.Datum, error) {
	if a.n == 0 {
		return nil, nil
	}
	switch {
	case types.IsFloat(a.argType):
		if a.isAvg {
			return a.f / float64(a.n), nil
		}
		return a.f, nil
	case a.argType == types.Interval:
		var iv types.IntervalVal
		if a.iv != nil {
			iv = *a.iv
		}
		if a.isAvg {
			return IntervalDiv(iv, float64(a.n)), nil
		}
		return iv, nil
	}
	total, err := a.total()
	if err != nil {
		return nil, err
	}
	if a.isAvg {
		return expr.NumericDiv(total, apd.New(a.n, 0))
	}
	if a.resultOID == types.Int8 {
		if a.iOver {
			return nil, pgerr.New(pgerr.NumericValueOutOfRange, "bigint out of range")
		}
		return a.i, nil
	}
	out := new(apd.Decimal)
	out.Set(total)
	return out, nil
}

type minMaxAcc struct {
	max bool
	v   types.Datum
}

func (a *minMaxAcc) Add(d types.Datum) error {
	if d == nil {
		return nil
	}
	if a.v == nil {
		a.v = d
		return nil
	}
	c := types.Compare(d, a.v)
	if (a.max && c > 0) || (!a.max && c < 0) {
		a.v = d
	}
	return nil
}
func (a *minMaxAcc) Result() (types.Datum, error) { return a.v, nil }

// distinctAcc feeds each distinct value once.
type distinctAcc struct {
	inner Acc
	seen  map[string]bool
}

func (a *distinctAcc) Add(d types.Datum) error {
	if d == nil {
		return nil
	}
	k := string(codec.AppendKey(nil, d))
	if a.seen[k] {
		return nil
	}
	a.seen[k] = true
	return a.inner.Add(d)
}
func (a *distinctAcc) Result() (types.Datum, error) { return a.inner.Result() }

func New(spec Spec) Acc {
	var acc Acc
	switch spec.Func {
	case "count":
		acc = &countAcc{}
	case "sum", "avg":
		acc = &sumAcc{resultOID: spec.Type.OID, isAvg: spec.Func == "avg", argType: spec.ArgType}
	case "min":
		acc = &minMaxAcc{}
	case "max":
		acc = &minMaxAcc{max: true}
	}
	if spec.Distinct {
		acc = &distinctAcc{inner: acc, seen: map[string]bool{}}
	}
	return acc
}

// IntervalDiv divides an interval as PostgreSQL's interval_div does:
// fractional months carry into days (30 a month), fractional days into
// time.
func IntervalDiv(iv types.IntervalVal, f float64) types.IntervalVal {
	months := float64(iv.Months) / f
	days := float64(iv.Days) / f
	out := types.IntervalVal{Months: int32(months), Days: int32(days)}
	monthRemainderDays := tsRound((months - float64(out.Months)) * 30)
	secRemainder := tsRound((days - float64(out.Days) + monthRemainderDays - math.Trunc(monthRemainderDays)) * 86400)
	if math.Abs(secRemainder) >= 86400 {
		out.Days += int32(secRemainder / 86400)
		secRemainder -= math.Trunc(secRemainder/86400) * 86400
	}
	out.Days += int32(monthRemainderDays)
	out.Micros = int64(math.RoundToEven(float64(iv.Micros)/f + secRemainder*1e6))
	return out
}

// tsRound rounds to microsecond precision as PostgreSQL's TSROUND.
func tsRound(x float64) float64 { return math.RoundToEven(x*1e6) / 1e6 }

// CanSplit reports whether spec has a partial form.
func CanSplit(spec Spec) bool { return !spec.Distinct }

// sumType is the type avg's partial sum is carried in.
func sumType(argType uint32) types.Type {
	switch {
	case types.IsFloat(argType):
		return types.T(types.Float8)
	case argType == types.Interval:
		return types.T(types.Interval)
	}
	return types.T(types.Numeric)
}

// PartialTypes are the types of spec's partial state columns.
func PartialTypes(spec Spec) []uint32 {
	switch spec.Func {
	case "count":
		return []uint32{types.Int8}
	case "avg":
		return []uint32{sumType(spec.ArgType).OID, types.Int8}
	}
	return []uint32{spec.Type.OID}
}

// Partial accumulates rows into a partial state.
type Partial interface {
	Add(d types.Datum) error
	State() ([]types.Datum, error)
}

// NewPartial returns the partial form of spec (CanSplit must hold).
func NewPartial(spec Spec) Partial {
	switch spec.Func {
	case "avg":
		return &avgPartial{sum: &sumAcc{resultOID: sumType(spec.ArgType).OID, argType: spec.ArgType}}
	}
	return &onePartial{acc: New(spec)}
}

// DecAdder is implemented by the states (full and partial) of sum and
// avg of numerics: AddDec(c, exp, n) is Add of n numerics whose sum is
// c×10^exp (the vectorized aggregation's values, which it so does not
// build, or their sum it kept).
type DecAdder interface {
	AddDec(c int64, exp int32, n int64) error
}

type onePartial struct{ acc Acc }

// AddDec is DecAdder's, for sum only.
func (p *onePartial) AddDec(c int64, exp int32, n int64) error {
	return p.acc.(*sumAcc).AddDec(c, exp, n)
}

// AddDec is DecAdder's.
func (p *avgPartial) AddDec(c int64, exp int32, n int64) error {
	p.n += n
	return p.sum.AddDec(c, exp, n)
}

// AddDec is DecAdder's.
func (a *sumAcc) AddDec(c int64, exp int32, n int64) error {
	a.n += n
	return a.addScaled(c, exp)
}

func (p *onePartial) Add(d types.Datum) error { return p.acc.Add(d) }
func (p *onePartial) State() ([]types.Datum, error) {
	v, err := p.acc.Result()
	return []types.Datum{v}, err
}

type avgPartial struct {
	sum *sumAcc
	n   int64
}

func (p *avgPartial) Add(d types.Datum) error {
	if d == nil {
		return nil
	}
	p.n++
	return p.sum.Add(d)
}

func (p *avgPartial) State() ([]types.Datum, error) {
	s, err := p.sum.Result()
	return []types.Datum{s, p.n}, err
}

// Final merges partial states into the aggregate's result.
type Final interface {
	Merge(state []types.Datum) error
	Result() (types.Datum, error)
}

// NewFinal returns the final form of spec.
func NewFinal(spec Spec) Final {
	switch spec.Func {
	case "count":
		return &countFinal{}
	case "sum":
		return &oneFinal{acc: &sumAcc{resultOID: spec.Type.OID, argType: spec.Type.OID}}
	case "avg":
		st := sumType(spec.ArgType)
		return &avgFinal{spec: spec, sum: &sumAcc{resultOID: st.OID, argType: st.OID}}
	case "min":
		return &oneFinal{acc: &minMaxAcc{}}
	}
	return &oneFinal{acc: &minMaxAcc{max: true}}
}

type countFinal struct{ n int64 }

func (f *countFinal) Merge(s []types.Datum) error {
	f.n += s[0].(int64)
	return nil
}
func (f *countFinal) Result() (types.Datum, error) { return f.n, nil }

type oneFinal struct{ acc Acc }

func (f *oneFinal) Merge(s []types.Datum) error { return f.acc.Add(s[0]) }

// AddDec is DecAdder's, for sum only: Merge of the numeric state c×10^exp.
func (f *oneFinal) AddDec(c int64, exp int32, n int64) error {
	return f.acc.(*sumAcc).AddDec(c, exp, n)
}
func (f *oneFinal) Result() (types.Datum, error) { return f.acc.Result() }

type avgFinal struct {
	spec Spec
	sum  *sumAcc
	n    int64
}

func (f *avgFinal) Merge(s []types.Datum) error {
	if s[1] == nil || s[1].(int64) == 0 {
		return nil
	}
	f.n += s[1].(int64)
	return f.sum.Add(s[0])
}

func (f *avgFinal) Result() (types.Datum, error) {
	if f.n == 0 {
		return nil, nil
	}
	total, err := f.sum.Result()
	if err != nil {
		return nil, err
	}
	switch v := total.(type) {
	case float64:
		return v / float64(f.n), nil
	case types.IntervalVal:
		return IntervalDiv(v, float64(f.n)), nil
	case *apd.Decimal:
		return expr.NumericDiv(v, apd.New(f.n, 0))
	}
	return nil, pgerr.New(pgerr.InternalError, "avg: unexpected partial sum %T", total)
}
