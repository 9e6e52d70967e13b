package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// colSortPlan sorts a table scan of aggInTypes rows by keys, keeping limit
// rows (0: all).
func colSortPlan(keys []*meridianpb.SortKey, limit int64) *meridianpb.PlanNode {
	s := &meridianpb.SortNode{Keys: keys}
	if limit > 0 {
		s.Limit = expr.Const(types.T(types.Int8), limit)
	}
	scan := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
	return &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Sort{Sort: s}, Types: aggInTypes, Inputs: []*meridianpb.PlanNode{scan}}
}

// The vectorized sort orders rows as the row Sort does — every type's
// values, NULLs first or last, ascending and descending, several keys and
// an expression, numerics of every size and NaN — ties in input order,
// with and without a limit (a top-N that cuts back what it holds), also
// when it outgrows its budget and hands the rows to the row Sort (which
// spills); it gives its input and memory back.
func TestColSort(t *testing.T) {
	rows := bigNumerics(aggInput(61, 5000, 200))
	i8 := types.T(types.Int8)
	sum := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "+", TypeOid: types.Int8, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(0, i8), expr.Column(2, i8)}}
	key := func(c int, desc, nullsFirst bool) *meridianpb.SortKey {
		return &meridianpb.SortKey{Expr: expr.Column(c, types.T(aggInTypes[c])), Desc: desc, NullsFirst: nullsFirst}
	}
	keySets := map[string][]*meridianpb.SortKey{
		"int":                    {key(0, false, false)},
		"text desc":              {key(1, true, true)},
		"text nulls first":       {key(1, false, true)},
		"numeric, float desc":    {key(3, false, false), key(4, true, false)},
		"float, int desc, text":  {key(4, false, true), key(2, true, true), key(1, false, false)},
		"expression desc":        {{Expr: sum, Desc: true, NullsFirst: false}},
		"int nulls first, int 2": {key(0, false, true), key(2, false, false)},
	}
	for name, keys := range keySets {
		for _, limit := range []int64{0, 7, 3000} {
			for _, mem := range []int64{0, 1 << 14} {
				t.Run(fmt.Sprintf("%s/limit=%d/mem=%d", name, limit, mem), func(t *testing.T) {
					testColSort(t, rows, keys, limit, mem)
				})
			}
		}
	}
}

func testColSort(t *testing.T, rows []Row, keys []*meridianpb.SortKey, limit, mem int64) {
	plan := colSortPlan(keys, limit)
	env, _ := testEnv(t, mem)
	env.Stats = map[int32]*Stats{}
	src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(uint64(limit), uint64(mem)))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := op.(*instrumented).op.(*colToRows); !ok || func() bool { _, ok := c.src.(*ColSort); return !ok }() {
		t.Fatalf("built %T, not the vectorized sort", op.(*instrumented).op)
	}
	got := mustCollect(t, op)
	released(t, env)
	if src.opens != 1 || src.closes != 1 {
		t.Errorf("input opened %d and closed %d times", src.opens, src.closes)
	}
	// Past the budget: a sort spills runs of its own, a top-N of 3000
	// rows hands over to the row sort (7 rows fit, cut back to as the
	// budget is reached).
	handedOver := mem > 0 && limit == 3000
	if env.Stats[1].Vectorized == handedOver {
		t.Errorf("the sort's statistics say vectorized %v; handed over: %v", env.Stats[1].Vectorized, handedOver)
	}
	if mem > 0 && limit == 0 && env.Stats[1].SpilledBytes == 0 {
		t.Error("a sort past its budget did not spill")
	}

	// The row Sort over the rows the source selected.
	ref, _ := testEnv(t, 0)
	ref.Scan = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: src.selected, batch: 500}, nil }
	rop, err := ref.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rop.(*Sort); !ok {
		t.Fatalf("the reference built %T, not the row sort", rop)
	}
	want := mustCollect(t, rop)
	if len(want) < 7 {
		t.Fatalf("the reference sort has %d rows: the test proves little", len(want))
	}
	if limit == 0 && !handedOver {
		sameRows(t, got, want) // both stable: the same rows in the same order
		return
	}
	if limit == 0 {
		sameMultiset(t, got, want)
	}
	// A top-N's ties may keep other rows (the row Sort's heap is not
	// stable), and the merge of spilled runs orders ties by run: the keys'
	// values must be the same, in order.
	sk, err := ref.sortKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if c := refOrder(sk, got[i], want[i]); c != 0 {
			t.Fatalf("row %d: %s, want %s (keys %s vs %s)", i, fmtRow(got[i]), fmtRow(want[i]),
				fmtRow(sortKeyValues(sk, got[i])), fmtRow(sortKeyValues(sk, want[i])))
		}
	}
	for i := 1; i < len(got); i++ {
		if refOrder(sk, got[i-1], got[i]) > 0 {
			t.Fatalf("rows %d and %d out of order", i-1, i)
		}
	}
}

// A sort over rows (not column batches) stays the row Sort.
func TestColSortChosen(t *testing.T) {
	env, _ := testEnv(t, 0)
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) {
		return &rowsColSource{types: aggInTypes, rng: rand.New(rand.NewPCG(1, 1))}, nil
	}
	env.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{}, nil }
	n := colSortPlan([]*meridianpb.SortKey{{Expr: expr.Column(0, types.T(types.Int8))}}, 0)
	n.Inputs[0] = &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{}}, Types: aggInTypes}
	op, err := env.Build(n)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := op.(*Sort); !ok {
		t.Fatalf("a sort of a stream of rows built %T, not the row sort", op)
	}
	op.Close()
}

// A sort over an expression evaluated row by row (its vector holds
// datums, not values of its type's kind) keeps those values and orders by
// them.
func TestColSortRowwiseInput(t *testing.T) {
	rows := aggInput(62, 3000, 20)
	env, _ := testEnv(t, 0)
	src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(1, 2))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	up := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "upper", TypeOid: types.Text, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(1, types.T(types.Text))}}
	scan := &meridianpb.PlanNode{Id: 3, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
	proj := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Project{Project: &meridianpb.ProjectNode{
		Exprs: []*meridianpb.Expr{up, expr.Column(0, types.T(types.Int8))}}}, Types: []uint32{types.Text, types.Int8}, Inputs: []*meridianpb.PlanNode{scan}}
	sort := &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Sort{Sort: &meridianpb.SortNode{Keys: []*meridianpb.SortKey{
		{Expr: expr.Column(0, types.T(types.Text)), Desc: true}, {Expr: expr.Column(1, types.T(types.Int8))}}}},
		Types: proj.Types, Inputs: []*meridianpb.PlanNode{proj}}
	op, err := env.Build(sort)
	if err != nil {
		t.Fatal(err)
	}
	got := mustCollect(t, op)
	var want []Row
	for _, r := range src.selected {
		var u types.Datum
		if r[1] != nil {
			u = strings.ToUpper(r[1].(string))
		}
		want = append(want, Row{u, r[0]})
	}
	slices.SortStableFunc(want, func(a, b Row) int {
		if c := refCompare(a[0], b[0], true, false); c != 0 { // DESC NULLS LAST, as the keys say
			return c
		}
		return refCompare(a[1], b[1], false, false)
	})
	sameRows(t, got, want)
}

// batchSource serves prebuilt column batches (a benchmark's input, at no
// cost per batch).
type batchSource struct {
	types   []uint32
	batches []*coldata.Batch
	pos     int
}

func (s *batchSource) Types() []uint32            { return s.types }
func (s *batchSource) Open(context.Context) error { s.pos = 0; return nil }
func (s *batchSource) Close()                     {}
func (s *batchSource) Next(context.Context) (*coldata.Batch, error) {
	if s.pos >= len(s.batches) {
		return nil, nil
	}
	s.pos++
	return s.batches[s.pos-1], nil
}

// BenchmarkColSort sorts BenchmarkSort's 1M rows by their integer key on
// column batches, in memory and keeping the first 100, read out as
// batches (as a Stream sends them).
func BenchmarkColSort(b *testing.B) {
	const n = 1 << 20
	rows := benchRows(4, n, n)
	src := &batchSource{types: benchTypes}
	for i := 0; i < n; i += coldata.BatchSize {
		bt := coldata.NewBatch(benchTypes)
		for j, r := range rows[i:min(i+coldata.BatchSize, n)] {
			if err := StoreRow(bt, j, r); err != nil {
				b.Fatal(err)
			}
			bt.N = j + 1
		}
		bt.SelectAll(bt.N)
		src.batches = append(src.batches, bt)
	}
	keys := []SortKey{{Eval: col(0), Type: types.Int8}}
	key, err := (&colexpr.Compiler{In: benchTypes}).Compile(expr.Column(0, types.T(types.Int8)))
	if err != nil {
		b.Fatal(err)
	}
	exprs := []colexpr.Expr{key}
	for _, tc := range sortBenchCases {
		b.Run(tc.name, func(b *testing.B) {
			env, st := testEnv(b, tc.mem)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s := NewColSort(env, st, src, exprs, keys, tc.limit)
				if err := s.Open(context.Background()); err != nil {
					b.Fatal(err)
				}
				for {
					bt, err := s.Next(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if bt == nil {
						break
					}
				}
				s.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
