package agg

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// TestPartialsMergeToTheFullResult: for every aggregate and argument type,
// splitting the rows over several datanodes (partial states merged by the
// final form) gives exactly what one pass over all rows gives.
func TestPartialsMergeToTheFullResult(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	gen := map[uint32]func() types.Datum{
		types.Int4: func() types.Datum { return int64(rng.Intn(2000) - 1000) },
		types.Int8: func() types.Datum { return rng.Int63n(1<<62) - 1<<61 },
		types.Numeric: func() types.Datum {
			return apd.New(rng.Int63n(1000000)-500000, -int32(rng.Intn(4)))
		},
		types.Float8: func() types.Datum { return float64(rng.Intn(1000)) / 8 },
		types.Interval: func() types.Datum {
			return types.IntervalVal{Months: int32(rng.Intn(3)), Days: int32(rng.Intn(40)), Micros: rng.Int63n(86400e6)}
		},
	}
	resultType := map[string]map[uint32]uint32{
		"sum": {types.Int4: types.Int8, types.Int8: types.Numeric, types.Numeric: types.Numeric, types.Float8: types.Float8, types.Interval: types.Interval},
		"avg": {types.Int4: types.Numeric, types.Int8: types.Numeric, types.Numeric: types.Numeric, types.Float8: types.Float8, types.Interval: types.Interval},
	}
	for _, fn := range []string{"count", "sum", "avg", "min", "max"} {
		for argType, g := range gen {
			rt := argType
			if m, ok := resultType[fn]; ok {
				rt = m[argType]
			}
			if fn == "count" {
				rt = types.Int8
			}
			spec := Spec{Func: fn, ArgType: argType, Type: types.T(rt)}
			for _, nodes := range []int{1, 3, 7} {
				t.Run(fmt.Sprintf("%s/%d/%d", fn, argType, nodes), func(t *testing.T) {
					full := New(spec)
					parts := make([]Partial, nodes)
					for i := range parts {
						parts[i] = NewPartial(spec)
					}
					for i := 0; i < 200; i++ {
						var d types.Datum
						if i%13 != 0 { // some NULLs
							d = g()
						}
						if err := full.Add(d); err != nil {
							t.Fatal(err)
						}
						if err := parts[rng.Intn(nodes)].Add(d); err != nil {
							t.Fatal(err)
						}
					}
					fin := NewFinal(spec)
					for _, p := range parts {
						st, err := p.State()
						if err != nil {
							t.Fatal(err)
						}
						if len(st) != len(PartialTypes(spec)) {
							t.Fatalf("state has %d columns, PartialTypes says %d", len(st), len(PartialTypes(spec)))
						}
						if err := fin.Merge(st); err != nil {
							t.Fatal(err)
						}
					}
					want, err := full.Result()
					if err != nil {
						t.Fatal(err)
					}
					got, err := fin.Result()
					if err != nil {
						t.Fatal(err)
					}
					if types.FormatText(spec.Type, want) != types.FormatText(spec.Type, got) {
						t.Fatalf("merged %v, one pass %v", types.FormatText(spec.Type, got), types.FormatText(spec.Type, want))
					}
				})
			}
		}
	}
}

func TestEmptyInput(t *testing.T) {
	for _, fn := range []string{"count", "sum", "avg", "min", "max"} {
		spec := Spec{Func: fn, ArgType: types.Int4, Type: types.T(types.Int8)}
		fin := NewFinal(spec)
		got, err := fin.Result()
		if err != nil {
			t.Fatal(err)
		}
		if fn == "count" {
			if got != int64(0) {
				t.Fatalf("count of nothing = %v", got)
			}
		} else if got != nil {
			t.Fatalf("%s of nothing = %v, want NULL", fn, got)
		}
	}
}

// TestNumericSumFastPath: numerics summed as int64 coefficients per
// exponent give exactly the sum apd's addition gives, across exponent
// changes, negative values, coefficients beyond int64 and int64 overflow
// of the partial sum.
func TestNumericSumFastPath(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 200; round++ {
		acc := New(Spec{Func: "sum", ArgType: types.Numeric, Type: types.T(types.Numeric)})
		var want apd.Decimal
		n := 1 + rng.Intn(300)
		exp := int32(-rng.Intn(4))
		for i := 0; i < n; i++ {
			var d *apd.Decimal
			switch rng.Intn(10) {
			case 0: // another exponent
				exp = int32(-rng.Intn(6))
				d = apd.New(rng.Int63n(1000000)-500000, exp)
			case 1: // near the int64 limits: the partial sum overflows
				d = apd.New(math.MaxInt64-rng.Int63n(10), exp)
				if rng.Intn(2) == 0 {
					d.Negative = true
				}
			case 2: // beyond int64
				d, _, _ = apd.NewFromString("123456789012345678901234567890.12")
			default:
				d = apd.New(rng.Int63n(2000000)-1000000, exp)
			}
			if err := acc.Add(d); err != nil {
				t.Fatal(err)
			}
			if _, err := types.DecimalCtx.Add(&want, &want, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := acc.Result()
		if err != nil {
			t.Fatal(err)
		}
		g := got.(*apd.Decimal)
		if g.Cmp(&want) != 0 || g.Exponent != want.Exponent {
			t.Fatalf("round %d: sum %s (exponent %d), want %s (exponent %d)", round, g, g.Exponent, &want, want.Exponent)
		}
	}
}

// A sum or avg state is 64 bytes: a hash aggregation holds one per group
// and aggregate, and charges 64 bytes per aggregate to its work_mem
// (sql/exec's HashAgg).
func TestSumStateSize(t *testing.T) {
	if n := unsafe.Sizeof(sumAcc{}); n > 64 {
		t.Fatalf("sumAcc is %d bytes", n)
	}
}

// Interval sums and averages, whose total is allocated on first use.
func TestIntervalSum(t *testing.T) {
	for _, fn := range []string{"sum", "avg"} {
		a := New(Spec{Func: fn, ArgType: types.Interval, Type: types.T(types.Interval)})
		if v, err := a.Result(); err != nil || v != nil {
			t.Fatalf("%s of no rows: %v, %v", fn, v, err)
		}
		for _, d := range []types.Datum{types.IntervalVal{Days: 1}, nil, types.IntervalVal{Months: 1, Micros: 10}} {
			if err := a.Add(d); err != nil {
				t.Fatal(err)
			}
		}
		v, err := a.Result()
		want := types.IntervalVal{Months: 1, Days: 1, Micros: 10}
		if fn == "avg" {
			want = IntervalDiv(want, 2)
		}
		if err != nil || v != want {
			t.Fatalf("%s: %v, %v; want %v", fn, v, err, want)
		}
	}
}
