package exec

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Every kind of datum comes back from a spill file as it went in, as
// many times as the file is read.
func TestSpillFileRoundTrip(t *testing.T) {
	oids := []uint32{types.Int8, types.Float8, types.Numeric, types.Bool, types.Text, types.Bytea,
		types.Date, types.TimestampTZ, types.Interval}
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	rows := []Row{
		{int64(math.MinInt64), math.Copysign(0, -1), apd.New(-12345, -3), true, "", []byte{}, types.DateVal(-1), ts, types.IntervalVal{Months: -1, Days: 2, Micros: 3}},
		{int64(math.MaxInt64), math.Inf(-1), apd.New(0, -2), false, "a\x00b", []byte{0, 255}, types.DateVal(20000), ts.Add(-time.Hour), types.IntervalVal{}},
		make(Row, len(oids)),
	}
	for i := range 5000 {
		rows = append(rows, Row{int64(i), float64(i) / 3, apd.New(int64(i), -2), i%2 == 0, "s", []byte("b"), types.DateVal(i), ts, types.IntervalVal{Days: int32(i)}})
	}
	env, st := testEnv(t, 0)
	f, err := newSpillFile(env, oids, st)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for _, r := range rows {
		if err := f.write(r); err != nil {
			t.Fatal(err)
		}
	}
	if st.SpilledBytes != encodedSize(rows) {
		t.Errorf("SpilledBytes %d, want %d", st.SpilledBytes, encodedSize(rows))
	}
	for range 2 {
		r, err := f.reader()
		if err != nil {
			t.Fatal(err)
		}
		var got []Row
		for {
			row, err := r.next()
			if err != nil {
				t.Fatal(err)
			}
			if row == nil {
				break
			}
			got = append(got, row)
		}
		sameRows(t, got, rows)
		if !math.Signbit(got[0][1].(float64)) {
			t.Errorf("-0 came back as +0")
		}
	}
	if n := openFiles(t, env.TempDir); n != 1 {
		t.Errorf("%d open spill files, want 1", n)
	}
	f.close()
	released(t, env)
}

// An operator that cannot make its spill files fails with 58030 and
// still closes its inputs.
func TestSpillDirectoryError(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := &Env{WorkMem: 1, TempDir: filepath.Join(notDir, "spill")}
	for name, mk := range operators {
		if !mkSpills[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ins := opInputs(name, 0)
			_, err := collect(ctxBg(), mk(env, &Stats{}, ins))
			wantCode(t, err, pgerr.IOError)
			closedOnce(t, ins...)
		})
	}
}

var mkSpills = map[string]bool{"sort": true, "hash agg": true, "hash join": true}

func TestMemory(t *testing.T) {
	st := &Stats{}
	m := newMemory(&Env{}, st)
	if m.limit != DefaultWorkMem {
		t.Fatalf("limit %d, want the default %d", m.limit, DefaultWorkMem)
	}
	m = newMemory(&Env{WorkMem: 100}, st)
	if !m.grow(60) || m.grow(41) {
		t.Fatalf("100-byte budget: 60 bytes should fit, 101 not")
	}
	m.release()
	if !m.grow(100) || st.PeakMemory != 101 {
		t.Fatalf("after release: 100 bytes should fit; peak %d, want 101", st.PeakMemory)
	}
	small, big := rowSize(Row{"a", int64(1)}), rowSize(Row{string(make([]byte, 1000)), int64(1)})
	if big-small != 999 {
		t.Errorf("a string 999 bytes longer counts %d bytes more", big-small)
	}
}

// Operators share the process's memory pool on top of their own budget:
// with work_mem far away, an aggregation spills once the pool is used up
// (by itself or by another query's operators) and gives the same result;
// a window, which cannot spill, fails with 53200; every reservation is
// given back on Close.
func TestMemPool(t *testing.T) {
	rows := aggInput(5, 20000, 20000)
	groupCols := []int{0, 1}
	want := refGroupBy(rows, groupCols, []int{0, 1}, splitAggs, true)
	run := func(pool *MemPool) *Stats {
		t.Helper()
		env, st := testEnv(t, 0) // work_mem: the default 64 MB
		env.Pool = pool
		before := pool.Used()
		sameMultiset(t, mustCollect(t, NewHashAgg(env, st, &testOp{rows: rows, batch: 100}, aggInTypes, AggFull,
			colEvals(groupCols...), calls(splitAggs, AggFull), nil)), want)
		if pool.Used() != before {
			t.Errorf("the pool holds %d bytes after the aggregation closed, %d before", pool.Used(), before)
		}
		released(t, &Env{TempDir: env.TempDir})
		return st
	}
	if st := run(NewMemPool(1 << 30)); st.SpilledBytes != 0 {
		t.Fatalf("the aggregation spilled %d bytes within its budget and a large pool", st.SpilledBytes)
	}
	small := NewMemPool(256 << 10)
	if st := run(small); st.SpilledBytes == 0 {
		t.Errorf("the aggregation did not spill with the pool used up")
	}
	if small.Peak() < small.Limit() {
		t.Errorf("pool peak %d, below its limit %d", small.Peak(), small.Limit())
	}
	shared := NewMemPool(64 << 20)
	if !shared.take(63 << 20) { // another query's operators
		t.Fatal("63 MB of 64 did not fit")
	}
	if st := run(shared); st.SpilledBytes == 0 {
		t.Errorf("the aggregation did not spill with the pool held by another query")
	}
	shared.give(63 << 20)
	if shared.Used() != 0 {
		t.Errorf("%d bytes reserved after everything was given back", shared.Used())
	}

	env, st := testEnv(t, 0)
	env.Pool = NewMemPool(1 << 20)
	many := aggInput(6, 100000, 10) // beyond the floor an operator always has
	// cume_dist needs its whole partition, here every row: its rows
	// spill, and a byte per row stays in memory.
	w := NewWindow(env, st, &testOp{rows: many, batch: 100}, aggInTypes, []WindowFn{{Func: "cume_dist"}})
	got, err := collect(context.Background(), w)
	if err != nil || len(got) != len(many) || st.SpilledBytes == 0 {
		t.Fatalf("cume_dist over %d rows: %d rows, %d bytes spilled, error %v", len(many), len(got), st.SpilledBytes, err)
	}
	released(t, env)
	// A function whose arguments, kept for every row of the spilled
	// partition, pass the query memory fails with 53200.
	wide := WindowFn{Func: "first_value", Args: []expr.Eval{constEval(strings.Repeat("x", 200))}, Frame: wholeFrame}
	_, err = collect(context.Background(), NewWindow(env, st, &testOp{rows: many, batch: 100}, aggInTypes, []WindowFn{wide}))
	wantCode(t, err, pgerr.OutOfMemory)
	released(t, env)
	// Functions known at the end of each row's peer group hold only the
	// group: the same rows go through.
	for _, fn := range []WindowFn{{Func: "row_number"}, {Func: "rank", OrderBy: []SortKey{asc(0)}}, aggWin("sum", 0, defaultFrame, asc(0))} {
		sorted := NewSort(env, st, &testOp{rows: many, batch: 100}, aggInTypes, fn.OrderBy, 0)
		got, err := collect(context.Background(), NewWindow(env, st, sorted, aggInTypes, []WindowFn{fn}))
		if err != nil || len(got) != len(many) {
			t.Fatalf("%s: %d rows, error %v", fn.Func, len(got), err)
		}
		released(t, env)
	}
}
