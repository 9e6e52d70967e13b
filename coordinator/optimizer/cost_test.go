package optimizer

import (
	"math"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// A date column's range against a timestamp constant (TPC-H Q14's
// `l_shipdate < date '1995-09-01' + interval '1' month`) is estimated
// from the column's histogram as the same range against dates is, not
// with the default third.
func TestRangeSelectivityDateAndTimestamp(t *testing.T) {
	var h [][]byte
	for i := 0; i <= 100; i++ { // dates 9000 ... 11500, uniform
		h = append(h, codec.AppendDatum(nil, types.DateVal(9000+25*i)))
	}
	cols := []colStat{{ndv: 2500, base: &meridianpb.ColumnStatistics{Distinct: 2500, Histogram: h}}}
	date, ts := types.T(types.Date), types.T(types.Timestamp)
	col := expr.Column(0, date)
	cmp := func(op string, r *Expr) *Expr {
		return &Expr{Kind: kFunc, Name: op, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{col, r}}
	}
	and := func(a, b *Expr) *Expr { return &Expr{Kind: kAnd, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{a, b}} }
	dates := selectivity(and(cmp(">=", expr.Const(date, types.DateVal(10000))), cmp("<", expr.Const(date, types.DateVal(10030)))), cols)
	mixed := selectivity(and(cmp(">=", expr.Const(date, types.DateVal(10000))), cmp("<", expr.Const(ts, types.DateVal(10030).Time()))), cols)
	if math.Abs(dates-30.0/2500) > 0.003 {
		t.Errorf("a month of dates: selectivity %.4f, want about %.4f", dates, 30.0/2500)
	}
	if math.Abs(mixed-dates) > 1e-9 {
		t.Errorf("a month ending at a timestamp: selectivity %.4f, the same range of dates %.4f", mixed, dates)
	}
}
