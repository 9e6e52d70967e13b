package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// aggInTypes are the columns of the aggregated rows: g1 int8, g2 text,
// vi int8, vn numeric, vf float8.
var aggInTypes = []uint32{types.Int8, types.Text, types.Int8, types.Numeric, types.Float8}

// aggInput makes n rows of aggInTypes with g1 in [0, groups).
func aggInput(seed uint64, n, groups int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, i int) Row {
		return Row{randInt(rng, groups, 0.1), randText(rng, 3, 0.1), randInt(rng, 1000, 0.1),
			randNumeric(rng, 50, 0.1), randHalf(rng, 20, 0.1)}
	})
}

// aggDef is an aggregate call over an aggInTypes column (-1: count(*)).
type aggDef struct {
	spec agg.Spec
	col  int
}

func aggOf(fn string, c int, argType, typ uint32) aggDef {
	return aggDef{agg.Spec{Func: fn, ArgType: argType, Type: types.T(typ)}, c}
}

func distinctOf(d aggDef) aggDef {
	d.spec.Distinct = true
	return d
}

// splitAggs have a partial form; every type of argument and result.
var splitAggs = []aggDef{
	{agg.Spec{Func: "count", Type: types.T(types.Int8)}, -1},
	aggOf("count", 2, types.Int8, types.Int8),
	aggOf("sum", 2, types.Int8, types.Numeric),
	aggOf("sum", 2, types.Int8, types.Int8),
	aggOf("avg", 2, types.Int8, types.Numeric),
	aggOf("min", 2, types.Int8, types.Int8),
	aggOf("max", 2, types.Int8, types.Int8),
	aggOf("sum", 3, types.Numeric, types.Numeric),
	aggOf("avg", 3, types.Numeric, types.Numeric),
	aggOf("min", 3, types.Numeric, types.Numeric),
	aggOf("max", 3, types.Numeric, types.Numeric),
	aggOf("sum", 4, types.Float8, types.Float8),
	aggOf("avg", 4, types.Float8, types.Float8),
	aggOf("min", 4, types.Float8, types.Float8),
	aggOf("max", 1, types.Text, types.Text),
}

// fullAggs adds DISTINCT aggregates, which run in one phase only.
var fullAggs = append(append([]aggDef{}, splitAggs...),
	distinctOf(aggOf("count", 2, types.Int8, types.Int8)),
	distinctOf(aggOf("sum", 3, types.Numeric, types.Numeric)),
	distinctOf(aggOf("avg", 4, types.Float8, types.Float8)),
	distinctOf(aggOf("max", 1, types.Text, types.Text)),
)

// calls compiles defs for phase (AggFinal has no arguments).
func calls(defs []aggDef, phase AggPhase) []AggCall {
	out := make([]AggCall, len(defs))
	for i, d := range defs {
		out[i].Spec = d.spec
		if d.col >= 0 && phase != AggFinal {
			out[i].Arg = col(d.col)
		}
	}
	return out
}

// refAggregate computes one aggregate over a group's rows directly.
func refAggregate(d aggDef, rows []Row) types.Datum {
	if d.col < 0 {
		return int64(len(rows))
	}
	var vals []types.Datum
	seen := map[string]bool{}
	for _, r := range rows {
		v := r[d.col]
		if v == nil || (d.spec.Distinct && seen[fmtDatum(v)]) {
			continue
		}
		seen[fmtDatum(v)] = true
		vals = append(vals, v)
	}
	switch d.spec.Func {
	case "count":
		return int64(len(vals))
	case "min", "max":
		var m types.Datum
		for _, v := range vals {
			c := 0
			if m != nil {
				c = types.Compare(v, m)
			}
			if m == nil || (d.spec.Func == "min" && c < 0) || (d.spec.Func == "max" && c > 0) {
				m = v
			}
		}
		return m
	}
	if len(vals) == 0 {
		return nil
	}
	if d.spec.ArgType == types.Float8 {
		s := 0.0
		for _, v := range vals {
			s += v.(float64)
		}
		if d.spec.Func == "avg" {
			return s / float64(len(vals))
		}
		return s
	}
	sum := new(apd.Decimal)
	ctx := apd.BaseContext.WithPrecision(100)
	for _, v := range vals {
		x, ok := v.(*apd.Decimal)
		if !ok {
			x = apd.New(v.(int64), 0)
		}
		if _, err := ctx.Add(sum, sum, x); err != nil {
			panic(err)
		}
	}
	switch {
	case d.spec.Func == "avg":
		q, err := expr.NumericDiv(sum, apd.New(int64(len(vals)), 0))
		if err != nil {
			panic(err)
		}
		return q
	case d.spec.Type.OID == types.Int8:
		i, err := sum.Int64()
		if err != nil {
			panic(err)
		}
		return i
	}
	return sum
}

// refGroupBy groups rows by the columns in set of groupCols (the others
// are NULL in the output) and computes defs per group.
func refGroupBy(rows []Row, groupCols []int, set []int, defs []aggDef, global bool) []Row {
	in := make([]bool, len(groupCols))
	for _, c := range set {
		in[c] = true
	}
	groups := map[string][]Row{}
	var order []string
	keys := map[string]Row{}
	for _, r := range rows {
		key := make(Row, len(groupCols))
		var sb strings.Builder
		for i, c := range groupCols {
			if in[i] {
				key[i] = r[c]
			}
			sb.WriteString(fmtDatum(key[i]) + "|")
		}
		k := sb.String()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			keys[k] = key
		}
		groups[k] = append(groups[k], r)
	}
	if global && len(set) == 0 && len(rows) == 0 {
		order = append(order, "")
		keys[""] = make(Row, len(groupCols))
	}
	var out []Row
	for _, k := range order {
		row := append(Row{}, keys[k]...)
		for _, d := range defs {
			row = append(row, refAggregate(d, groups[k]))
		}
		out = append(out, row)
	}
	return out
}

// aggRun runs one HashAgg over rows and checks that it released its
// input and spill files.
func aggRun(t *testing.T, mem int64, rows []Row, inTypes []uint32, phase AggPhase, groupBy []expr.Eval, cs []AggCall, sets [][]int) ([]Row, *Stats) {
	t.Helper()
	env, st := testEnv(t, mem)
	in := &testOp{rows: rows, batch: 100}
	got := mustCollect(t, NewHashAgg(env, st, in, inTypes, phase, groupBy, cs, sets))
	closedOnce(t, in)
	released(t, env)
	return got, st
}

// splitAgg runs AggPartial over each of parts and AggFinal over the
// union of their outputs; it returns the final rows, each phase's stats
// and the final phase's input.
func splitAgg(t *testing.T, mem int64, parts [][]Row, groupCols []int, defs []aggDef) ([]Row, []*Stats, []Row) {
	t.Helper()
	var partial []Row
	var stats []*Stats
	finalTypes := make([]uint32, len(groupCols))
	for i, c := range groupCols {
		finalTypes[i] = aggInTypes[c]
	}
	for _, d := range defs {
		finalTypes = append(finalTypes, agg.PartialTypes(d.spec)...)
	}
	for _, p := range parts {
		out, st := aggRun(t, mem, p, aggInTypes, AggPartial, colEvals(groupCols...), calls(defs, AggPartial), nil)
		for _, r := range out {
			if len(r) != len(finalTypes) {
				t.Fatalf("partial row %s has %d columns, want %d", fmtRow(r), len(r), len(finalTypes))
			}
		}
		partial = append(partial, out...)
		stats = append(stats, st)
	}
	out, st := aggRun(t, mem, partial, finalTypes, AggFinal, colEvals(upTo(len(groupCols))...), calls(defs, AggFinal), nil)
	return out, append(stats, st), partial
}

// cutRows cuts rows into n parts at random, some of them empty.
func cutRows(seed uint64, rows []Row, n int) [][]Row {
	rng := newRand(seed)
	parts := make([][]Row, n)
	for _, r := range rows {
		p := rng.IntN(n)
		if p == 0 && n > 2 { // part 0 stays empty
			p = 1
		}
		parts[p] = append(parts[p], r)
	}
	return parts
}

// aggCase is an input and the columns it is grouped by.
type aggCase struct {
	name      string
	rows      []Row
	groupCols []int
}

// keyRuns orders the rows by column c (NULLs first), so that the rows of
// a key come together, as a table stored in key order gives them.
func keyRuns(rows []Row, c int) []Row {
	out := append([]Row(nil), rows...)
	slices.SortStableFunc(out, func(a, b Row) int { return types.CompareNullsLast(a[c], b[c]) })
	return out
}

// nullsFirst moves the rows whose column c is NULL to the front.
func nullsFirst(rows []Row, c int) []Row {
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if r[c] == nil {
			out = append(out, r)
		}
	}
	for _, r := range rows {
		if r[c] != nil {
			out = append(out, r)
		}
	}
	return out
}

// upTo lists 0 ... n-1.
func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestHashAggFull(t *testing.T) {
	for _, tc := range []aggCase{
		{"empty/global", nil, nil},
		{"empty/grouped", nil, []int{0, 1}},
		{"one/global", aggInput(1, 1, 5), nil},
		{"global", aggInput(2, 3000, 5), nil},
		{"g1", aggInput(3, 3000, 40), []int{0}},
		{"g1g2", aggInput(4, 3000, 40), []int{0, 1}},
		{"g2g1", aggInput(5, 3000, 40), []int{1, 0}},
		{"numeric key", aggInput(6, 1000, 40), []int{3}},
		// One key: integers go to the integer table, other types to the
		// general one; a NULL key seen before any other waits for the
		// table's kind.
		{"integer key, many groups", aggInput(7, 3000, 2000), []int{0}},
		{"integer key, NULLs first", nullsFirst(aggInput(8, 3000, 40), 0), []int{0}},
		{"integer key, rows in runs of a key", keyRuns(aggInput(10, 3000, 700), 0), []int{0}},
		{"text key, NULLs first", nullsFirst(aggInput(9, 3000, 40), 1), []int{1}},
	} {
		for _, mem := range []int64{0, 1 << 10} {
			t.Run(fmt.Sprintf("%s/mem=%d", tc.name, mem), func(t *testing.T) {
				got, st := aggRun(t, mem, tc.rows, aggInTypes, AggFull, colEvals(tc.groupCols...), calls(fullAggs, AggFull), nil)
				sameMultiset(t, got, refGroupBy(tc.rows, tc.groupCols, upTo(len(tc.groupCols)), fullAggs, true))
				if mem > 0 && len(tc.groupCols) > 0 && len(got) > 100 && st.SpilledBytes == 0 {
					t.Errorf("%d groups did not spill with a budget of %d bytes", len(got), mem)
				}
			})
		}
	}
}

// AggPartial on several datanodes' slices of the input, then AggFinal
// over their outputs, equals AggFull over all rows, also when each
// phase spills.
func TestHashAggPartialFinal(t *testing.T) {
	for _, tc := range []aggCase{
		{"empty/global", nil, nil},
		{"empty/grouped", nil, []int{0, 1}},
		{"global", aggInput(12, 2000, 5), nil},
		{"g1g2", aggInput(13, 3000, 40), []int{0, 1}},
		{"many groups", aggInput(14, 3000, 2000), []int{0, 1}},
		{"many groups of an integer", aggInput(15, 3000, 2000), []int{0}},
	} {
		for _, mem := range []int64{0, 1 << 10} {
			t.Run(fmt.Sprintf("%s/mem=%d", tc.name, mem), func(t *testing.T) {
				full, _ := aggRun(t, 0, tc.rows, aggInTypes, AggFull, colEvals(tc.groupCols...), calls(splitAggs, AggFull), nil)
				got, stats, _ := splitAgg(t, mem, cutRows(uint64(len(tc.rows)), tc.rows, 3), tc.groupCols, splitAggs)
				sameMultiset(t, got, full)
				if mem > 0 && len(full) > 1000 {
					for i, st := range stats {
						if i > 0 && st.SpilledBytes == 0 { // part 0 is empty
							t.Errorf("phase %d of %d did not spill", i, len(stats))
						}
					}
				}
			})
		}
	}
}

// Groups far past the budget spill recursively, in every phase.
func TestHashAggRecursiveSpill(t *testing.T) {
	rows := aggInput(21, 4000, 4000)
	groupCols := []int{0, 1}
	for _, phase := range []AggPhase{AggFull, AggPartial} {
		t.Run([]string{"full", "partial"}[phase], func(t *testing.T) {
			got, st := aggRun(t, 1<<10, rows, aggInTypes, phase, colEvals(groupCols...), calls(splitAggs, phase), nil)
			if once := encodedSize(rows); st.SpilledBytes <= once {
				t.Errorf("spilled %d bytes, no more than the input's %d: no partition spilled again", st.SpilledBytes, once)
			}
			if phase == AggFull {
				sameMultiset(t, got, refGroupBy(rows, groupCols, []int{0, 1}, splitAggs, true))
			}
		})
	}
	t.Run("final", func(t *testing.T) {
		got, stats, partial := splitAgg(t, 1<<10, [][]Row{rows[:2000], rows[2000:]}, groupCols, splitAggs)
		sameMultiset(t, got, refGroupBy(rows, groupCols, []int{0, 1}, splitAggs, true))
		if st, once := stats[len(stats)-1], encodedSize(partial); st.SpilledBytes <= once {
			t.Errorf("the final phase spilled %d bytes, no more than its input's %d: no partition spilled again", st.SpilledBytes, once)
		}
	})
}

func TestHashAggGroupingSets(t *testing.T) {
	sets := [][]int{{0, 1}, {0}, {1}, {}}
	defs := []aggDef{splitAggs[0], splitAggs[2], splitAggs[8], distinctOf(aggOf("count", 2, types.Int8, types.Int8))}
	for _, n := range []int{0, 1, 2000} {
		for _, mem := range []int64{0, 1 << 10} {
			t.Run(fmt.Sprintf("rows=%d/mem=%d", n, mem), func(t *testing.T) {
				rows := aggInput(uint64(31+n), n, 30)
				got, st := aggRun(t, mem, rows, aggInTypes, AggFull, colEvals(0, 1), calls(defs, AggFull), sets)
				var want []Row
				for _, s := range sets {
					want = append(want, refGroupBy(rows, []int{0, 1}, s, defs, true)...)
				}
				sameMultiset(t, got, want)
				// Past the budget each set's new groups spill.
				if spilled := st.SpilledBytes > 0; spilled != (mem > 0 && n > 1) {
					t.Errorf("spilled %d bytes", st.SpilledBytes)
				}
			})
		}
	}
}

// Grouping sets in two phases — partial states by every key on each part
// of the rows, the final phase merging them into each set's groups — give
// the one-phase rows, also for no rows (the empty set's row).
func TestHashAggGroupingSetsSplit(t *testing.T) {
	sets := [][]int{{0, 1}, {0}, {1}, {}}
	for _, c := range []struct {
		n   int
		mem int64
	}{{0, 0}, {1, 0}, {3000, 0}, {3000, 1 << 10}} {
		n := c.n
		t.Run(fmt.Sprintf("rows=%d/mem=%d", n, c.mem), func(t *testing.T) {
			rows := bigNumerics(aggInput(uint64(41+n), n, 30))
			var partial []Row
			finalTypes := []uint32{aggInTypes[0], aggInTypes[1]}
			for _, d := range splitAggs {
				finalTypes = append(finalTypes, agg.PartialTypes(d.spec)...)
			}
			for _, p := range cutRows(uint64(n), rows, 3) {
				out, _ := aggRun(t, 0, p, aggInTypes, AggPartial, colEvals(0, 1), calls(splitAggs, AggPartial), nil)
				partial = append(partial, out...)
			}
			got, st := aggRun(t, c.mem, partial, finalTypes, AggFinal, colEvals(0, 1), calls(splitAggs, AggFinal), sets)
			want, _ := aggRun(t, 0, rows, aggInTypes, AggFull, colEvals(0, 1), calls(splitAggs, AggFull), sets)
			sameMultiset(t, got, want)
			if c.mem > 0 && st.SpilledBytes == 0 {
				t.Errorf("the final phase did not spill")
			}
			if n == 0 && len(got) != 1 {
				t.Errorf("%d rows for no input, want the empty set's one", len(got))
			}
		})
	}
}

// A hand case: NULL is a group; numerics group by value.
func TestHashAggHandCase(t *testing.T) {
	rows := []Row{
		{apd.New(10, -1), int64(1)}, {apd.New(100, -2), int64(2)}, {nil, int64(3)},
		{apd.New(2, 0), nil}, {nil, int64(4)}, {apd.New(1, 0), int64(5)},
	}
	defs := []aggDef{
		{agg.Spec{Func: "count", Type: types.T(types.Int8)}, -1},
		aggOf("sum", 1, types.Int8, types.Int8),
		aggOf("count", 1, types.Int8, types.Int8),
	}
	want := []Row{{apd.New(1, 0), int64(3), int64(8), int64(3)}, {nil, int64(2), int64(7), int64(2)}, {apd.New(2, 0), int64(1), nil, int64(0)}}
	got, _ := aggRun(t, 0, rows, []uint32{types.Numeric, types.Int8}, AggFull, colEvals(0), calls(defs, AggFull), nil)
	sameMultiset(t, got, want)
}

func TestHashAggErrors(t *testing.T) {
	failing := func([]types.Datum) (types.Datum, error) { return nil, errTest }
	for _, mem := range []int64{0, 1 << 10} {
		for _, what := range []string{"open", "next", "key", "arg"} {
			t.Run(fmt.Sprintf("%s/mem=%d", what, mem), func(t *testing.T) {
				env, st := testEnv(t, mem)
				in := &testOp{rows: aggInput(41, 3000, 3000), batch: 100}
				groupBy, cs := colEvals(0, 1), calls(splitAggs, AggFull)
				switch what {
				case "open":
					in.openErr = errTest
				case "next":
					in.failAt = 20
				case "key":
					groupBy[1] = failing
				case "arg":
					cs[3].Arg = failing
				}
				_, err := collect(ctxBg(), NewHashAgg(env, st, in, aggInTypes, AggFull, groupBy, cs, nil))
				if err != errTest {
					t.Fatalf("got %v, want the injected error", err)
				}
				closedOnce(t, in)
				released(t, env)
			})
		}
	}
}

func TestHashAggCancel(t *testing.T) {
	rows := aggInput(51, 3000, 3000)
	for _, mem := range []int64{0, 1 << 10} {
		env, st := testEnv(t, mem)
		h := NewHashAgg(env, st, NewRows(rows), aggInTypes, AggFull, colEvals(0, 1), calls(splitAggs, AggFull), nil)
		if err := h.Open(ctxBg()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, untilError(canceledCtx(), h, 1000), "57014")
		h.Close()
		released(t, env)

		h = NewHashAgg(env, st, NewRows(rows), aggInTypes, AggFull, colEvals(0, 1), calls(splitAggs, AggFull), nil)
		wantCode(t, h.Open(canceledCtx()), "57014")
		h.Close()
		released(t, env)
	}
}

// BenchmarkHashAgg groups 1M rows into 10K or 1M groups, in memory and
// spilling, computing count(*), sum and avg.
func BenchmarkHashAgg(b *testing.B) {
	const n = 1 << 20
	defs := []aggDef{splitAggs[0], aggOf("sum", 1, types.Int8, types.Numeric), aggOf("avg", 1, types.Int8, types.Numeric)}
	for _, tc := range []struct {
		groups int
		mem    int64
	}{{10000, inMemory}, {n, inMemory}, {n, 16 << 20}} {
		b.Run(fmt.Sprintf("groups=%d/workmem=%dMiB", tc.groups, tc.mem>>20), func(b *testing.B) {
			rows := benchRows(3, n, tc.groups)
			env, st := testEnv(b, tc.mem)
			benchRun(b, n, env, st, func() Operator {
				return NewHashAgg(env, st, NewRows(rows), benchTypes, AggFull, colEvals(0), calls(defs, AggFull), nil)
			})
		})
	}
}
