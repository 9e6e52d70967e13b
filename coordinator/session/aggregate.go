package session

import (
	"context"
	"math"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// accumulator is one aggregate's running state.
type accumulator interface {
	add(d types.Datum) error
	result() (types.Datum, error)
}

type countAcc struct{ n int64 }

func (a *countAcc) add(d types.Datum) error {
	if d != nil {
		a.n++
	}
	return nil
}
func (a *countAcc) result() (types.Datum, error) { return a.n, nil }

type sumAcc struct {
	spec    planner.AggSpec
	isAvg   bool
	n       int64
	i       int64
	iOver   bool
	dec     apd.Decimal
	f       float64
	iv      types.IntervalVal
	argType uint32
}

func (a *sumAcc) add(d types.Datum) error {
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
			a.dec.SetInt64(a.i)
		}
		_, err := types.DecimalCtx.Add(&a.dec, &a.dec, apd.New(v, 0))
		return err
	case *apd.Decimal:
		_, err := types.DecimalCtx.Add(&a.dec, &a.dec, v)
		return err
	case float64:
		a.f += v
	case types.IntervalVal:
		a.iv.Months += v.Months
		a.iv.Days += v.Days
		a.iv.Micros += v.Micros
	}
	return nil
}

func (a *sumAcc) total() *apd.Decimal {
	if types.IsInteger(a.argType) && !a.iOver {
		return apd.New(a.i, 0)
	}
	return &a.dec
}

func (a *sumAcc) result() (types.Datum, error) {
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
		if a.isAvg {
			return intervalDiv(a.iv, float64(a.n)), nil
		}
		return a.iv, nil
	}
	if a.isAvg {
		return expr.NumericDiv(a.total(), apd.New(a.n, 0))
	}
	if a.spec.Type.OID == types.Int8 {
		if a.iOver {
			return nil, pgerr.New(pgerr.NumericValueOutOfRange, "bigint out of range")
		}
		return a.i, nil
	}
	out := new(apd.Decimal)
	out.Set(a.total())
	return out, nil
}

type minMaxAcc struct {
	max bool
	v   types.Datum
}

func (a *minMaxAcc) add(d types.Datum) error {
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
func (a *minMaxAcc) result() (types.Datum, error) { return a.v, nil }

// distinctAcc feeds each distinct value once.
type distinctAcc struct {
	inner accumulator
	seen  map[string]bool
}

func (a *distinctAcc) add(d types.Datum) error {
	if d == nil {
		return nil
	}
	k := string(codec.AppendKey(nil, d))
	if a.seen[k] {
		return nil
	}
	a.seen[k] = true
	return a.inner.add(d)
}
func (a *distinctAcc) result() (types.Datum, error) { return a.inner.result() }

func newAcc(spec planner.AggSpec) accumulator {
	var acc accumulator
	switch spec.Func {
	case "count":
		acc = &countAcc{}
	case "sum", "avg":
		acc = &sumAcc{spec: spec, isAvg: spec.Func == "avg", argType: spec.Arg.TypeOid}
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

type group struct {
	keys []types.Datum
	accs []accumulator
}

// aggregate groups the input rows and returns (groups..., aggregates...)
// rows that pass HAVING.
func (s *Session) aggregate(ctx context.Context, sel *planner.Select, env *planner.BindEnv, src rowIter) ([][]types.Datum, error) {
	defer src.close()
	groupEvals := make([]expr.Eval, len(sel.GroupBy))
	for i, g := range sel.GroupBy {
		b, err := planner.Bind(g, env)
		if err != nil {
			return nil, err
		}
		if groupEvals[i], err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	argEvals := make([]expr.Eval, len(sel.Aggs))
	for i, a := range sel.Aggs {
		if a.Arg == nil {
			continue
		}
		b, err := planner.Bind(a.Arg, env)
		if err != nil {
			return nil, err
		}
		if argEvals[i], err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	newGroup := func(keys []types.Datum) *group {
		g := &group{keys: keys, accs: make([]accumulator, len(sel.Aggs))}
		for i, a := range sel.Aggs {
			g.accs[i] = newAcc(a)
		}
		return g
	}
	groups := map[string]*group{}
	var order []*group
	if len(sel.GroupBy) == 0 {
		g := newGroup(nil)
		groups[""] = g
		order = append(order, g)
	}
	var kbuf []byte
	for {
		row, err := src.next(ctx)
		if err != nil {
			return nil, err
		}
		if row == nil {
			break
		}
		keys := make([]types.Datum, len(groupEvals))
		kbuf = kbuf[:0]
		for i, ge := range groupEvals {
			if keys[i], err = ge(row); err != nil {
				return nil, err
			}
			kbuf = codec.AppendKey(kbuf, keys[i])
		}
		g, ok := groups[string(kbuf)]
		if !ok {
			g = newGroup(keys)
			groups[string(kbuf)] = g
			order = append(order, g)
		}
		for i, acc := range g.accs {
			var v types.Datum = true // count(*)
			if argEvals[i] != nil {
				if v, err = argEvals[i](row); err != nil {
					return nil, err
				}
			}
			if err := acc.add(v); err != nil {
				return nil, err
			}
		}
	}
	var having expr.Eval
	if sel.Having != nil {
		b, err := planner.Bind(sel.Having, env)
		if err != nil {
			return nil, err
		}
		if having, err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	out := make([][]types.Datum, 0, len(order))
	for _, g := range order {
		row := make([]types.Datum, 0, len(g.keys)+len(g.accs))
		row = append(row, g.keys...)
		for _, acc := range g.accs {
			v, err := acc.result()
			if err != nil {
				return nil, err
			}
			row = append(row, v)
		}
		if having != nil {
			v, err := having(row)
			if err != nil {
				return nil, err
			}
			if !expr.IsTrue(v) {
				continue
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// intervalDiv divides an interval as PostgreSQL's interval_div does:
// fractional months carry into days (30 a month), fractional days into
// time.
func intervalDiv(iv types.IntervalVal, f float64) types.IntervalVal {
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
