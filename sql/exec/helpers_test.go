package exec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// TestMain fails the run when a goroutine started by this package is
// still alive after the tests (the package should start none).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := execGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running by sql/exec:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// execGoroutines returns the stacks of the goroutines, other than the
// caller's, that run code of this package.
func execGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sql/exec.") && !strings.Contains(g, "exec.execGoroutines") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

// col evaluates to column i of the row.
func col(i int) expr.Eval {
	return func(r []types.Datum) (types.Datum, error) { return r[i], nil }
}

// colEvals evaluates to the given columns.
func colEvals(idx ...int) []expr.Eval {
	out := make([]expr.Eval, len(idx))
	for i, c := range idx {
		out[i] = col(c)
	}
	return out
}

// testEnv is an Env that spills to a fresh directory with a budget of
// workMem bytes (0: the default), and the stats its operators share. Its
// pool is too large to matter; released checks it is given back.
func testEnv(t testing.TB, workMem int64) (*Env, *Stats) {
	return &Env{WorkMem: workMem, TempDir: t.TempDir(), Pool: NewMemPool(1 << 40)}, &Stats{}
}

// maxBatch bounds the batches operators return: they aim at BatchSize
// rows and may pass it by a row.
const maxBatch = BatchSize + 1

// collect opens op, reads it to the end and closes it (Run); every
// batch must be non-empty and at most maxBatch rows.
func collect(ctx context.Context, op Operator) ([]Row, error) {
	return Run(ctx, checkedBatches{op})
}

// checkedBatches fails on a batch that is empty or too large.
type checkedBatches struct{ Operator }

func (c checkedBatches) Next(ctx context.Context) (*Batch, error) {
	b, err := c.Operator.Next(ctx)
	if b != nil && (len(b.Rows) == 0 || len(b.Rows) > maxBatch) {
		return nil, fmt.Errorf("batch of %d rows", len(b.Rows))
	}
	return b, err
}

// mustCollect is collect for a run that must succeed.
func mustCollect(t testing.TB, op Operator) []Row {
	t.Helper()
	rows, err := collect(context.Background(), op)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rows
}

// wantCode fails unless err carries SQLSTATE code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want SQLSTATE %s", code)
	}
	if got := pgerr.Code(err); got != code {
		t.Fatalf("error %q has SQLSTATE %s, want %s", err, got, code)
	}
}

// fmtDatum prints a datum for failure messages and equality: NULLs are
// equal, numerics equal by value.
func fmtDatum(d types.Datum) string {
	switch v := d.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return "f" + strconv.FormatFloat(v, 'g', -1, 64)
	case *apd.Decimal:
		var r apd.Decimal
		r.Reduce(v)
		return "n" + r.String()
	case string:
		return strconv.Quote(v)
	case []byte:
		return fmt.Sprintf("x%x", v)
	case bool:
		return strconv.FormatBool(v)
	case types.DateVal:
		return "d" + v.Time().Format(time.DateOnly)
	case time.Time:
		return "t" + v.UTC().Format(time.RFC3339Nano)
	case types.IntervalVal:
		return fmt.Sprintf("i%+v", v)
	}
	return fmt.Sprintf("?%T(%v)", d, d)
}

func fmtRow(r Row) string {
	parts := make([]string, len(r))
	for i, d := range r {
		parts[i] = fmtDatum(d)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func fmtRows(rows []Row) string {
	const most = 20
	var parts []string
	for i, r := range rows {
		if i == most {
			parts = append(parts, fmt.Sprintf("... %d more", len(rows)-most))
			break
		}
		parts = append(parts, fmtRow(r))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sameRows fails unless got and want are equal row by row.
func sameRows(t testing.TB, got, want []Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\ngot  %s\nwant %s", len(got), len(want), fmtRows(got), fmtRows(want))
	}
	for i := range got {
		if g, w := fmtRow(got[i]), fmtRow(want[i]); g != w {
			t.Fatalf("row %d: got %s, want %s\ngot  %s\nwant %s", i, g, w, fmtRows(got), fmtRows(want))
		}
	}
}

// sameMultiset fails unless got and want hold the same rows as many
// times each, in any order.
func sameMultiset(t testing.TB, got, want []Row) {
	t.Helper()
	count := map[string]int{}
	for _, r := range got {
		count[fmtRow(r)]++
	}
	for _, r := range want {
		count[fmtRow(r)]--
	}
	var diff []string
	for k, n := range count {
		if n != 0 {
			diff = append(diff, fmt.Sprintf("%s %+d", k, n))
		}
	}
	if len(diff) > 0 {
		slices.Sort(diff)
		if len(diff) > 20 {
			diff = diff[:20]
		}
		t.Fatalf("got %d rows, want %d; extra (+) and missing (-) rows: %s", len(got), len(want), strings.Join(diff, " "))
	}
}

// refCompare orders two datums of a sort key as the reference sorts do:
// NULLs first or last, then types.Compare, reversed when desc.
func refCompare(a, b types.Datum, desc, nullsFirst bool) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		if nullsFirst {
			return -1
		}
		return 1
	case b == nil:
		if nullsFirst {
			return 1
		}
		return -1
	}
	c := types.Compare(a, b)
	if desc {
		return -c
	}
	return c
}

// refOrder orders rows a and b by the values of keys over them (the
// reference sorts' comparison).
func refOrder(keys []SortKey, a, b Row) int {
	return refOrderValues(keys, sortKeyValues(keys, a), sortKeyValues(keys, b))
}

// refOrderValues orders rows by their values of keys, ka and kb.
func refOrderValues(keys []SortKey, ka, kb Row) int {
	for k, key := range keys {
		if c := refCompare(ka[k], kb[k], key.Desc, key.NullsFirst); c != 0 {
			return c
		}
	}
	return 0
}

// sortKeyValues evaluates keys over a row.
func sortKeyValues(keys []SortKey, r Row) Row {
	out := make(Row, len(keys))
	for i, k := range keys {
		v, err := k.Eval(r)
		if err != nil {
			panic(err)
		}
		out[i] = v
	}
	return out
}

// refEqual is SQL equality of join keys: NULL equals nothing.
func refEqual(a, b types.Datum) bool {
	return a != nil && b != nil && types.Compare(a, b) == 0
}

// encodedSize is the number of bytes rows take in a spill file.
func encodedSize(rows []Row) int64 {
	var n int64
	var lb [binary.MaxVarintLen64]byte
	for _, r := range rows {
		enc := codec.EncodeRow(nil, r)
		n += int64(binary.PutUvarint(lb[:], uint64(len(enc))) + len(enc))
	}
	return n
}

// openFiles counts this process's open files in dir. Spill files are
// unlinked when made, so they show only as open descriptors.
func openFiles(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(link, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// released fails unless no spill file of env is left open or on disk.
func released(t testing.TB, env *Env) {
	t.Helper()
	if env.Pool != nil && env.Pool.Used() != 0 {
		t.Errorf("%d bytes of the memory pool still reserved after Close", env.Pool.Used())
	}
	if n := openFiles(t, env.TempDir); n != 0 {
		t.Errorf("%d spill files still open after Close", n)
	}
	ents, err := os.ReadDir(env.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%d files left in %s", len(ents), env.TempDir)
	}
}

// testOp is an input that yields rows in batches of batch rows (0:
// BatchSize), can fail Open or a Next, and records how it is driven.
type testOp struct {
	rows    []Row
	batch   int
	openErr error
	failAt  int // fail the failAt-th Next (1-based; 0: never)
	nextErr error

	opens, nexts, closes int
	misuse               []string
	pos                  int
}

var _ Operator = (*testOp)(nil)

var errTest = pgerr.New(pgerr.IOError, "injected failure")

func (o *testOp) Open(context.Context) error {
	o.opens++
	if o.closes > 0 {
		o.misuse = append(o.misuse, "Open after Close")
	}
	return o.openErr
}

func (o *testOp) Next(ctx context.Context) (*Batch, error) {
	o.nexts++
	if o.opens == 0 || o.closes > 0 {
		o.misuse = append(o.misuse, "Next when not open")
	}
	if o.failAt > 0 && o.nexts >= o.failAt {
		if o.nextErr != nil {
			return nil, o.nextErr
		}
		return nil, errTest
	}
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	if o.pos >= len(o.rows) {
		return nil, nil
	}
	n := o.batch
	if n <= 0 {
		n = BatchSize
	}
	end := min(o.pos+n, len(o.rows))
	b := &Batch{Rows: o.rows[o.pos:end:end]}
	o.pos = end
	return b, nil
}

func (o *testOp) Close() { o.closes++ }

// inputFailures name the ways a test makes one of two inputs fail.
var inputFailures = []string{"left open", "right open", "left next", "right next", "right later next"}

// fail makes l or r fail as what (one of inputFailures) says.
func fail(what string, l, r *testOp) {
	side, how, _ := strings.Cut(what, " ")
	o := l
	if side == "right" {
		o = r
	}
	switch how {
	case "open":
		o.openErr = errTest
	case "next":
		o.failAt = 1
	case "later next":
		o.failAt = 2
	}
}

// closedOnce fails unless each op was closed exactly once and never
// misused.
func closedOnce(t testing.TB, ops ...*testOp) {
	t.Helper()
	for i, o := range ops {
		if o.closes != 1 {
			t.Errorf("input %d closed %d times, want 1", i, o.closes)
		}
		if len(o.misuse) > 0 {
			t.Errorf("input %d: %s", i, strings.Join(o.misuse, "; "))
		}
	}
}

// randInt is an int64 in [0, n), NULL with probability pNull.
func randInt(rng *rand.Rand, n int, pNull float64) types.Datum {
	if rng.Float64() < pNull {
		return nil
	}
	return int64(rng.IntN(n))
}

// randNumeric is a numeric in [0, n) with a random scale (so that equal
// values have different representations), NULL with probability pNull.
func randNumeric(rng *rand.Rand, n int, pNull float64) types.Datum {
	if rng.Float64() < pNull {
		return nil
	}
	return apd.New(int64(rng.IntN(n))*100, -int32(rng.IntN(3)))
}

// randHalf is a float in [0, n) in steps of 0.5, NULL with probability
// pNull: its sums are exact, so they do not depend on the order of
// addition.
func randHalf(rng *rand.Rand, n int, pNull float64) types.Datum {
	if rng.Float64() < pNull {
		return nil
	}
	return float64(rng.IntN(2*n)) / 2
}

// randText is one of n short strings, NULL with probability pNull.
func randText(rng *rand.Rand, n int, pNull float64) types.Datum {
	if rng.Float64() < pNull {
		return nil
	}
	return "s" + strconv.Itoa(rng.IntN(n))
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// genRows makes n rows with gen, from a generator seeded with seed.
func genRows(seed uint64, n int, gen func(rng *rand.Rand, i int) Row) []Row {
	rng := newRand(seed)
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = gen(rng, i)
	}
	return rows
}

// canceledCtx is a context canceled already.
func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// untilError reads op until an error or its end (at most limit batches)
// and returns the error.
func untilError(ctx context.Context, op Operator, limit int) error {
	for range limit {
		b, err := op.Next(ctx)
		if err != nil || b == nil {
			return err
		}
	}
	return errors.New("no end after the batch limit")
}

func ctxBg() context.Context { return context.Background() }

// benchRows makes n rows (k, v) for benchmarks: k in [0, keys), v = i.
func benchRows(seed uint64, n, keys int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, i int) Row { return Row{int64(rng.IntN(keys)), int64(i)} })
}

var benchTypes = []uint32{types.Int8, types.Int8}

// inMemory is a budget that none of the benchmarks exceeds.
const inMemory = 1 << 30

// benchRun runs op made by mk b.N times and reports the input rows per
// second. The operators share st: it must show spilling exactly when
// the budget is not inMemory.
func benchRun(b *testing.B, inputRows int, env *Env, st *Stats, mk func() Operator) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Run(context.Background(), mk()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(inputRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if spilled := st.SpilledBytes > 0; spilled != (env.WorkMem != inMemory) {
		b.Fatalf("budget %d bytes: spilled %d bytes", env.WorkMem, st.SpilledBytes)
	}
}

// filterOp is a testOp that takes a join's key filter (KeyFilterer) as a
// datanode's table scan does, and drops the rows it rejects.
type filterOp struct {
	*testOp
	col  int
	keep func(int64) bool
	took int
}

func (f *filterOp) FilterKeys(col int, keep func(int64) bool) bool {
	if f.opens > 0 {
		f.misuse = append(f.misuse, "FilterKeys after Open")
	}
	f.col, f.keep = col, keep
	f.took++
	return true
}

func (f *filterOp) Next(ctx context.Context) (*Batch, error) {
	for {
		b, err := f.testOp.Next(ctx)
		if b == nil || err != nil || f.keep == nil {
			return b, err
		}
		out := b.Rows[:0:0]
		for _, r := range b.Rows {
			if v, ok := r[f.col].(int64); r[f.col] == nil || (ok && !f.keep(v)) {
				continue
			}
			out = append(out, r)
		}
		if len(out) > 0 {
			return &Batch{Rows: out}, nil
		}
	}
}
