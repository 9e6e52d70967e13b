package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// constEval evaluates to v.
func constEval(v types.Datum) expr.Eval {
	return func([]types.Datum) (types.Datum, error) { return v, nil }
}

func asc(c int) SortKey { return SortKey{Eval: col(c), Type: types.Int8} }
func desc(c int) SortKey {
	return SortKey{Eval: col(c), Type: types.Int8, Desc: true, NullsFirst: true}
}

func rowsFrame(start FrameBound, so int64, end FrameBound, eo int64) Frame {
	return Frame{Rows: true, Start: start, StartOffset: so, End: end, EndOffset: eo}
}

// defaultFrame is RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
var defaultFrame = Frame{Start: UnboundedPreceding, End: CurrentRow}

var wholeFrame = rowsFrame(UnboundedPreceding, 0, UnboundedFollowing, 0)

func aggWin(fn string, arg int, frame Frame, order ...SortKey) WindowFn {
	spec := agg.Spec{Func: fn, ArgType: types.Int8, Type: types.T(types.Int8)}
	w := WindowFn{Func: fn, Agg: &spec, Frame: frame, OrderBy: order}
	if arg >= 0 {
		w.Args = colEvals(arg)
	}
	return w
}

// windows returns input (rows of int8 columns) with the values of fns
// appended: a Window per function, each over a sort by its window, as
// buildWindow would build them with no two functions sharing a window.
func windows(env *Env, st *Stats, input Operator, width int, fns ...WindowFn) Operator {
	op := input
	for i, fn := range fns {
		var keys []SortKey
		for _, p := range fn.PartitionBy {
			keys = append(keys, SortKey{Eval: p, Type: types.Int8})
		}
		keys = append(keys, fn.OrderBy...)
		inTypes := slices.Repeat([]uint32{types.Int8}, width+i)
		if len(keys) > 0 {
			op = NewSort(env, nil, op, inTypes, keys, 0) // st: the windows' alone
		}
		op = NewWindow(env, st, op, inTypes, []WindowFn{fn})
	}
	return op
}

// runWindow returns the rows of windows over input, ordered by the
// values of column byCol (unique in input).
func runWindow(t *testing.T, input []Row, byCol int, fns ...WindowFn) []Row {
	t.Helper()
	got, _ := runWindowMem(t, 0, input, byCol, fns...)
	return got
}

// runWindowMem is runWindow with a budget of mem bytes (0: the default),
// returning the windows' statistics too.
func runWindowMem(t *testing.T, mem int64, input []Row, byCol int, fns ...WindowFn) ([]Row, *Stats) {
	t.Helper()
	env, st := testEnv(t, mem)
	in := &testOp{rows: input, batch: 3}
	width := 4
	if len(input) > 0 {
		width = len(input[0])
	}
	got := mustCollect(t, windows(env, st, in, width, fns...))
	closedOnce(t, in)
	released(t, env)
	slices.SortStableFunc(got, func(a, b Row) int { return types.Compare(a[byCol], b[byCol]) })
	return got, st
}

// A hand case, with the values PostgreSQL gives: k 1, 1, 2, 3, 3, 3,
// NULL with v 10 ... 70.
func TestWindowHandCase(t *testing.T) {
	var input []Row
	for i, k := range []types.Datum{int64(1), int64(1), int64(2), int64(3), int64(3), int64(3), nil} {
		input = append(input, Row{k, int64(10 * (i + 1))})
	}
	kv := []SortKey{asc(0), asc(1)}
	fns := []WindowFn{
		{Func: "rank", OrderBy: kv[:1]},
		{Func: "dense_rank", OrderBy: kv[:1]},
		{Func: "row_number", OrderBy: kv},
		aggWin("sum", 1, defaultFrame, kv[:1]...),
		{Func: "lag", Args: colEvals(1), OrderBy: kv},
		{Func: "lead", Args: []expr.Eval{col(1), constEval(int64(2)), constEval(int64(0))}, OrderBy: kv},
		aggWin("sum", 1, rowsFrame(OffsetPreceding, 1, OffsetFollowing, 1), kv...),
		{Func: "first_value", Args: colEvals(1), OrderBy: kv, Frame: rowsFrame(OffsetPreceding, 1, CurrentRow, 0)},
		{Func: "nth_value", Args: []expr.Eval{col(1), constEval(int64(3))}, OrderBy: kv, Frame: wholeFrame},
		{Func: "rank", OrderBy: []SortKey{desc(0)}},
		aggWin("count", -1, defaultFrame),
		{Func: "percent_rank", OrderBy: kv[:1]},
		{Func: "cume_dist", OrderBy: kv[:1]},
		{Func: "ntile", Args: []expr.Eval{constEval(int64(3))}, OrderBy: kv},
	}
	n := func(v int64) types.Datum { return v }
	want := [][]types.Datum{
		{n(1), n(1), n(3), n(4), n(4), n(4), n(7)},
		{n(1), n(1), n(2), n(3), n(3), n(3), n(4)},
		{n(1), n(2), n(3), n(4), n(5), n(6), n(7)},
		{n(30), n(30), n(60), n(210), n(210), n(210), n(280)},
		{nil, n(10), n(20), n(30), n(40), n(50), n(60)},
		{n(30), n(40), n(50), n(60), n(70), n(0), n(0)},
		{n(30), n(60), n(90), n(120), n(150), n(180), n(130)},
		{n(10), n(10), n(20), n(30), n(40), n(50), n(60)},
		{n(30), n(30), n(30), n(30), n(30), n(30), n(30)},
		{n(6), n(6), n(5), n(2), n(2), n(2), n(1)},
		{n(7), n(7), n(7), n(7), n(7), n(7), n(7)},
		{0.0, 0.0, 2.0 / 6, 3.0 / 6, 3.0 / 6, 3.0 / 6, 1.0},
		{2.0 / 7, 2.0 / 7, 3.0 / 7, 6.0 / 7, 6.0 / 7, 6.0 / 7, 1.0},
		{n(1), n(1), n(1), n(2), n(2), n(3), n(3)},
	}
	got := runWindow(t, input, 1, fns...)
	for f := range fns {
		for i, r := range got {
			if fmtDatum(r[2+f]) != fmtDatum(want[f][i]) {
				t.Errorf("function %d (%s), row %d: got %s, want %s", f, fns[f].Func, i, fmtDatum(r[2+f]), fmtDatum(want[f][i]))
			}
		}
	}
}

// winTypes are the columns of the generated rows: p, k, v, id int8.
func winInput(seed uint64, n int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, i int) Row {
		return Row{randInt(rng, 4, 0.1), randInt(rng, 8, 0.1), randInt(rng, 100, 0.15), int64(i)}
	})
}

// refFrameRows lists the rows of p (a partition in window order) in the
// frame of row i, from the frame's definition: ROWS bounds count rows,
// RANGE's CURRENT ROW bounds take in the row's peers.
func refFrameRows(f Frame, ord []SortKey, p []Row, i int) []Row {
	cmp := func(j int) int { return refOrder(ord, p[j], p[i]) } // row j against row i
	after := func(b FrameBound, off int64, j int) bool {        // j is at or after the bound
		switch b {
		case OffsetPreceding:
			return int64(j) >= int64(i)-off
		case CurrentRow:
			if f.Rows {
				return j >= i
			}
			return cmp(j) >= 0
		case OffsetFollowing:
			return int64(j) >= int64(i)+off
		case UnboundedFollowing:
			return false
		}
		return true
	}
	before := func(b FrameBound, off int64, j int) bool { // j is at or before the bound
		switch b {
		case OffsetPreceding:
			return int64(j) <= int64(i)-off
		case CurrentRow:
			if f.Rows {
				return j <= i
			}
			return cmp(j) <= 0
		case OffsetFollowing:
			return int64(j) <= int64(i)+off
		case UnboundedPreceding:
			return false
		}
		return true
	}
	var out []Row
	for j := range p {
		if after(f.Start, f.StartOffset, j) && before(f.End, f.EndOffset, j) {
			out = append(out, p[j])
		}
	}
	return out
}

// refWindowFn computes fn for row i of p (its partition in window order)
// by definition.
func refWindowFn(fn WindowFn, p []Row, i int) types.Datum {
	peers := func(j int) bool { return refOrder(fn.OrderBy, p[j], p[i]) == 0 }
	arg := func(k, j int) types.Datum { v, _ := fn.Args[k](p[j]); return v }
	switch fn.Func {
	case "row_number":
		return int64(i + 1)
	case "rank", "dense_rank":
		rank, groups := int64(1), int64(1)
		for j := 0; j < i; j++ {
			if !peers(j) {
				rank++
				if j == 0 || refOrder(fn.OrderBy, p[j], p[j-1]) != 0 {
					groups++
				}
			}
		}
		if fn.Func == "rank" {
			return rank
		}
		return groups
	case "lag", "lead":
		off := arg(1, i).(int64)
		if fn.Func == "lag" {
			off = -off
		}
		if t := i + int(off); t >= 0 && t < len(p) {
			return arg(0, t)
		}
		if len(fn.Args) == 3 {
			return arg(2, i)
		}
		return nil
	}
	frame := refFrameRows(fn.Frame, fn.OrderBy, p, i)
	switch fn.Func {
	case "first_value", "last_value", "nth_value":
		k := 1
		switch fn.Func {
		case "last_value":
			k = len(frame)
		case "nth_value":
			k = int(arg(1, i).(int64))
		}
		if k < 1 || k > len(frame) {
			return nil
		}
		v, _ := fn.Args[0](frame[k-1])
		return v
	}
	c := -1
	if len(fn.Args) > 0 {
		c = 2 // the tests' aggregates are over v
	}
	return refAggregate(aggDef{*fn.Agg, c}, frame)
}

// refWindow computes fn for every row: its partition (by column 0 when
// partitioned), sorted stably by fn.OrderBy.
func refWindow(fn WindowFn, partitioned bool, rows []Row) []types.Datum {
	parts := map[string][]int{}
	for x, r := range rows {
		k := ""
		if partitioned {
			k = fmtDatum(r[0])
		}
		parts[k] = append(parts[k], x)
	}
	out := make([]types.Datum, len(rows))
	for _, idx := range parts {
		sort.SliceStable(idx, func(a, b int) bool { return refOrder(fn.OrderBy, rows[idx[a]], rows[idx[b]]) < 0 })
		sorted := make([]Row, len(idx))
		for k, x := range idx {
			sorted[k] = rows[x]
		}
		for k, x := range idx {
			out[x] = refWindowFn(fn, sorted, k)
		}
	}
	return out
}

// Randomized window functions against their definitions. Functions
// whose value depends on the order of peers are ordered by (k, id),
// which is unique; the others by k, with ties.
func TestWindowRandom(t *testing.T) {
	k, kid, kdesc := []SortKey{asc(1)}, []SortKey{asc(1), asc(3)}, []SortKey{desc(1), asc(3)}
	lagArgs := func(off int64, def expr.Eval) []expr.Eval {
		a := []expr.Eval{col(2), constEval(off)}
		if def != nil {
			a = append(a, def)
		}
		return a
	}
	fns := map[string]WindowFn{
		"row_number":                 {Func: "row_number", OrderBy: kid},
		"row_number desc":            {Func: "row_number", OrderBy: kdesc},
		"rank":                       {Func: "rank", OrderBy: k},
		"dense_rank":                 {Func: "dense_rank", OrderBy: k},
		"rank desc":                  {Func: "rank", OrderBy: []SortKey{desc(1)}},
		"lag":                        {Func: "lag", Args: lagArgs(1, nil), OrderBy: kid},
		"lag 3 default":              {Func: "lag", Args: lagArgs(3, constEval(int64(-1))), OrderBy: kid},
		"lead 2 default id":          {Func: "lead", Args: lagArgs(2, col(3)), OrderBy: kdesc},
		"lead 0":                     {Func: "lead", Args: lagArgs(0, nil), OrderBy: kid},
		"first_value":                {Func: "first_value", Args: colEvals(2), OrderBy: kid, Frame: defaultFrame},
		"last_value whole":           {Func: "last_value", Args: colEvals(2), OrderBy: kid, Frame: wholeFrame},
		"last_value 2 following":     {Func: "last_value", Args: colEvals(2), OrderBy: kid, Frame: rowsFrame(CurrentRow, 0, OffsetFollowing, 2)},
		"nth_value 2":                {Func: "nth_value", Args: []expr.Eval{col(2), constEval(int64(2))}, OrderBy: kid, Frame: defaultFrame},
		"nth_value 3 sliding":        {Func: "nth_value", Args: []expr.Eval{col(2), constEval(int64(3))}, OrderBy: kid, Frame: rowsFrame(OffsetPreceding, 1, OffsetFollowing, 2)},
		"sum range":                  aggWin("sum", 2, defaultFrame, k...),
		"sum range to end":           aggWin("sum", 2, Frame{Start: CurrentRow, End: UnboundedFollowing}, k...),
		"count range peers":          aggWin("count", -1, Frame{Start: CurrentRow, End: CurrentRow}, k...),
		"sum unordered":              aggWin("sum", 2, defaultFrame),
		"sum rows to current":        aggWin("sum", 2, rowsFrame(UnboundedPreceding, 0, CurrentRow, 0), kid...),
		"count rows to current ties": aggWin("count", 2, rowsFrame(UnboundedPreceding, 0, CurrentRow, 0), k...),
		"max range desc":             aggWin("max", 2, defaultFrame, kdesc[:1]...),
		"sum rows 2p 1f":             aggWin("sum", 2, rowsFrame(OffsetPreceding, 2, OffsetFollowing, 1), kid...),
		"sum rows 3p 1p":             aggWin("sum", 2, rowsFrame(OffsetPreceding, 3, OffsetPreceding, 1), kid...),
		"sum rows 1f 3f":             aggWin("sum", 2, rowsFrame(OffsetFollowing, 1, OffsetFollowing, 3), kid...),
		"sum rows 0p 0f":             aggWin("sum", 2, rowsFrame(OffsetPreceding, 0, OffsetFollowing, 0), kid...),
		"count rows unbounded to 1p": aggWin("count", 2, rowsFrame(UnboundedPreceding, 0, OffsetPreceding, 1), kid...),
		"min rows to end":            aggWin("min", 2, rowsFrame(CurrentRow, 0, UnboundedFollowing, 0), kdesc...),
		"sum rows 2f to end":         aggWin("sum", 2, rowsFrame(OffsetFollowing, 2, UnboundedFollowing, 0), kid...),
		"count rows 3p to end":       aggWin("count", 2, rowsFrame(OffsetPreceding, 3, UnboundedFollowing, 0), kdesc...),
		"avg range to end":           aggWin("avg", 2, Frame{Start: CurrentRow, End: UnboundedFollowing}, k...),
		"max rows 300f to end":       aggWin("max", 2, rowsFrame(OffsetFollowing, 300, UnboundedFollowing, 0), kid...),
		"max rows 5p current":        aggWin("max", 2, rowsFrame(OffsetPreceding, 5, CurrentRow, 0), kid...),
	}
	input := winInput(1, 250)
	for name, fn := range fns {
		for _, partitioned := range []bool{false, true} {
			// A budget of 1 KiB: partitions (and peer groups) spill.
			for _, mem := range []int64{0, 1 << 10} {
				t.Run(fmt.Sprintf("%s/partitioned=%v/mem=%d", name, partitioned, mem), func(t *testing.T) {
					testWindowRandom(t, fn, partitioned, mem, input)
				})
			}
		}
	}
}

func testWindowRandom(t *testing.T, fn WindowFn, partitioned bool, mem int64, input []Row) {
	if partitioned {
		fn.PartitionBy = colEvals(0)
	}
	got, st := runWindowMem(t, mem, input, 3, fn)
	// (A streamed window holds a peer group: one row, for functions that
	// do not share a group's value.)
	if (mem == 0 && st.SpilledBytes > 0) || (mem > 0 && st.SpilledBytes == 0 && !streamable([]WindowFn{fn})) {
		t.Errorf("spilled %d bytes with a budget of %d", st.SpilledBytes, mem)
	}
	if mem > 0 && fn.Agg != nil && len(fn.OrderBy) == 0 && st.SpilledBytes == 0 {
		t.Errorf("a streamed peer group of the whole partition did not spill with a budget of %d", mem)
	}
	want := refWindow(fn, partitioned, input)
	for i, r := range got {
		if len(r) != 5 || fmtRow(r[:4]) != fmtRow(input[i]) {
			t.Fatalf("row %d: got %s, want the input row %s and one value", i, fmtRow(r), fmtRow(input[i]))
		}
		if fmtDatum(r[4]) != fmtDatum(want[i]) {
			t.Fatalf("row %d %s: got %s, want %s", i, fmtRow(input[i]), fmtDatum(r[4]), fmtDatum(want[i]))
		}
	}
}

// Several functions append their values in order; an empty input gives
// no rows.
func TestWindowSeveralAndEmpty(t *testing.T) {
	input := winInput(2, 50)
	fns := []WindowFn{{Func: "row_number", OrderBy: []SortKey{asc(3)}}, aggWin("count", -1, wholeFrame)}
	for i, r := range runWindow(t, input, 3, fns...) {
		if r[4] != int64(i+1) || r[5] != int64(50) {
			t.Fatalf("row %d: %s", i, fmtRow(r))
		}
	}
	if got := runWindow(t, nil, 3, fns...); len(got) != 0 {
		t.Fatalf("got %d rows from no input", len(got))
	}
}

func TestWindowErrors(t *testing.T) {
	input := winInput(3, 10)
	for name, tc := range map[string]struct {
		fn   WindowFn
		code string
	}{
		"ntile 0":     {WindowFn{Func: "ntile", Args: []expr.Eval{constEval(int64(0))}}, "22014"},
		"nth_value 0": {WindowFn{Func: "nth_value", Args: []expr.Eval{col(2), constEval(int64(0))}, Frame: wholeFrame}, "22016"},
		"unknown":     {WindowFn{Func: "no_such_function"}, "XX000"},
	} {
		t.Run(name, func(t *testing.T) {
			env, st := testEnv(t, 0)
			in := &testOp{rows: input}
			_, err := collect(ctxBg(), NewWindow(env, st, in, nil, []WindowFn{tc.fn}))
			wantCode(t, err, tc.code)
			closedOnce(t, in)
		})
	}
	env, st := testEnv(t, 0)
	in := &testOp{rows: input, failAt: 1}
	if _, err := collect(ctxBg(), NewWindow(env, st, in, nil, []WindowFn{{Func: "row_number"}})); err != errTest {
		t.Fatalf("got %v, want the input's error", err)
	}
	closedOnce(t, in)
}

func TestWindowCancel(t *testing.T) {
	env, st := testEnv(t, 0)
	w := NewWindow(env, st, NewRows(winInput(4, 3000)), nil, []WindowFn{{Func: "row_number"}})
	if err := w.Open(ctxBg()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, untilError(canceledCtx(), w, 1000), "57014")
	w.Close()
	// A partition per row: rows are returned as they come, and a
	// cancelled query stops between them.
	w = NewWindow(env, st, NewRows(winInput(4, 30000)), nil, []WindowFn{{Func: "row_number", PartitionBy: colEvals(3)}})
	if err := w.Open(ctxBg()); err != nil {
		t.Fatal(err)
	}
	if b, err := w.Next(ctxBg()); err != nil || b == nil || len(b.Rows) == 0 {
		t.Fatalf("first batch: %v, %v", b, err)
	}
	wantCode(t, untilError(canceledCtx(), w, 1000), "57014")
	w.Close()
	released(t, env)
}
