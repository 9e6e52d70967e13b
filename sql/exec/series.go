package exec

import (
	"context"
	"math"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Series is generate_series(start, stop, step): one column of type oid
// (int4, int8, numeric, timestamp, timestamptz), from start while not
// past stop. It yields rows in batches; it holds no more than one batch.
type Series struct {
	oid               uint32
	start, stop, step types.Datum
	cur               types.Datum
	down, done        bool
	// next advances cur; false when the next value would leave the type's
	// range (PostgreSQL stops there too).
	next func(cur types.Datum) (types.Datum, bool, error)
}

// NewSeries returns the series; a NULL argument gives no rows, a zero step
// fails with 22023.
func NewSeries(oid uint32, start, stop, step types.Datum) (*Series, error) {
	s := &Series{oid: oid, start: start, stop: stop, step: step, cur: start}
	if start == nil || stop == nil || step == nil {
		s.done = true
		return s, nil
	}
	zero := pgerr.New(pgerr.InvalidParameterValue, "step size cannot equal zero")
	switch oid {
	case types.Int2, types.Int4, types.Int8:
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if oid == types.Int4 {
			lo, hi = math.MinInt32, math.MaxInt32
		} else if oid == types.Int2 {
			lo, hi = math.MinInt16, math.MaxInt16
		}
		st, ok := step.(int64)
		if !ok {
			return nil, badSeries(step)
		}
		if st == 0 {
			return nil, zero
		}
		s.down = st < 0
		s.next = func(cur types.Datum) (types.Datum, bool, error) {
			c := cur.(int64)
			if (st > 0 && c > hi-st) || (st < 0 && c < lo-st) {
				return nil, false, nil
			}
			return c + st, true, nil
		}
	case types.Numeric:
		st, ok := step.(*apd.Decimal)
		if !ok {
			return nil, badSeries(step)
		}
		if st.IsZero() {
			return nil, zero
		}
		if st.Form != apd.Finite || start.(*apd.Decimal).Form != apd.Finite || stop.(*apd.Decimal).Form != apd.Finite {
			return nil, pgerr.New(pgerr.InvalidParameterValue, "start, stop and step values cannot be NaN or infinity")
		}
		s.down = st.Negative
		ctx := apd.BaseContext.WithPrecision(1000)
		s.next = func(cur types.Datum) (types.Datum, bool, error) {
			d := new(apd.Decimal)
			if _, err := ctx.Add(d, cur.(*apd.Decimal), st); err != nil {
				return nil, false, pgerr.Wrap(err, pgerr.NumericValueOutOfRange, "")
			}
			return d, true, nil
		}
	case types.Timestamp, types.TimestampTZ:
		st, ok := step.(types.IntervalVal)
		if !ok {
			return nil, badSeries(step)
		}
		hi, lo := st.Span()
		if hi == 0 && lo == 0 {
			return nil, zero
		}
		s.down = hi < 0
		s.next = func(cur types.Datum) (types.Datum, bool, error) {
			v, err := expr.AddIntervalChecked(cur.(time.Time), st)
			if err != nil {
				return nil, false, nil // beyond the timestamp range: the series ends
			}
			return v, true, nil
		}
	default:
		return nil, pgerr.New(pgerr.InternalError, "generate_series of type %d", oid)
	}
	return s, nil
}

func badSeries(step types.Datum) error {
	return pgerr.New(pgerr.InternalError, "generate_series: step is a %T", step)
}

func (s *Series) Open(context.Context) error { return nil }

func (s *Series) Next(ctx context.Context) (*Batch, error) {
	if s.done {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	rows := make([]Row, 0, BatchSize)
	vals := make([]types.Datum, BatchSize)
	for len(rows) < BatchSize {
		c := types.Compare(s.cur, s.stop)
		if (!s.down && c > 0) || (s.down && c < 0) {
			s.done = true
			break
		}
		vals[len(rows)] = s.cur
		rows = append(rows, vals[len(rows):len(rows)+1:len(rows)+1])
		nx, ok, err := s.next(s.cur)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.done = true
			break
		}
		s.cur = nx
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &Batch{Rows: rows}, nil
}

func (s *Series) Close() { s.done = true }
