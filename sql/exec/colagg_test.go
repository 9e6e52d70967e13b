package exec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// rowsColSource yields rows in column batches of random sizes, each with
// a random selection (a scan's filter); selected records the rows
// selected, in order.
type rowsColSource struct {
	types    []uint32
	rows     []Row
	rng      *rand.Rand
	b        *coldata.Batch
	pos      int
	selected []Row
	all      bool // select every row (else a random part of some batches)
	opens    int
	closes   int
}

func (s *rowsColSource) Types() []uint32 { return s.types }

func (s *rowsColSource) Open(context.Context) error {
	s.opens++
	s.b = coldata.NewBatch(s.types)
	return nil
}

func (s *rowsColSource) Next(ctx context.Context) (*coldata.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.pos >= len(s.rows) {
		return nil, nil
	}
	n := min(1+s.rng.IntN(coldata.BatchSize), len(s.rows)-s.pos)
	b := s.b
	b.Reset()
	for i := 0; i < n; i++ {
		for c, d := range s.rows[s.pos+i] {
			b.Vecs[c].Set(i, d)
		}
	}
	b.SelectAll(n)
	if !s.all && s.rng.IntN(2) == 0 {
		sel := b.Sel[:0]
		for _, i := range b.Sel {
			if s.rng.IntN(4) > 0 {
				sel = append(sel, i)
			}
		}
		b.Sel = sel
	}
	for _, i := range b.Sel {
		s.selected = append(s.selected, s.rows[s.pos+i])
	}
	s.pos += n
	return b, nil
}

func (s *rowsColSource) Close() { s.closes++ }

// colAggPlan is the plan of a partial aggregation of defs over a scan of
// aggInTypes rows, grouped by groupCols.
func colAggPlan(groupCols []int, defs []aggDef) *meridianpb.PlanNode {
	a := &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_PARTIAL}
	for _, c := range groupCols {
		a.GroupBy = append(a.GroupBy, expr.Column(c, types.T(aggInTypes[c])))
	}
	for _, d := range defs {
		f := &meridianpb.AggFunc{Func: d.spec.Func, TypeOid: d.spec.Type.OID, Typmod: d.spec.Type.Typmod, ArgTypeOid: d.spec.ArgType}
		if d.col >= 0 {
			f.Arg = expr.Column(d.col, types.T(aggInTypes[d.col]))
		}
		a.Aggs = append(a.Aggs, f)
	}
	scan := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
	return &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Agg{Agg: a}, Inputs: []*meridianpb.PlanNode{scan}}
}

// bigNumerics puts numerics beyond an int64 and NaN among the rows'
// numeric column (vectors hold them apart from the small ones).
func bigNumerics(rows []Row) []Row {
	for i, r := range rows {
		switch i % 7 {
		case 0:
			d, _, _ := apd.NewFromString("123456789012345678901234.5")
			r[3] = d
		case 3:
			r[3] = apd.New(math.MaxInt64, -2)
		}
		if i == 100 {
			r[3] = &apd.Decimal{Form: apd.NaN}
		}
	}
	return rows
}

// The vectorized partial aggregation's rows, merged by the final phase,
// equal the row engine's full aggregation of the rows its input selected;
// with the default budget its rows equal HashAgg's partial rows; past a
// small budget it emits groups more than once instead of spilling. The
// vectorized full aggregation's rows equal the row engine's, also past a
// small budget, where it spills. Both give back their memory and spill
// files and close their input once.
func TestColHashAgg(t *testing.T) {
	for _, tc := range []aggCase{
		{"empty/global", nil, nil},
		{"empty/grouped", nil, []int{0, 1}},
		{"global", aggInput(32, 5000, 5), nil},
		{"g1", aggInput(33, 5000, 40), []int{0}},
		{"g2g1", aggInput(34, 5000, 40), []int{1, 0}},
		{"numeric key", aggInput(35, 3000, 40), []int{3}},
		{"float key", aggInput(36, 3000, 40), []int{4}},
		{"many groups", aggInput(37, 5000, 3000), []int{0, 1}},
		{"many groups of an integer", aggInput(39, 5000, 3000), []int{0}},
		{"runs of an integer key", keyRuns(aggInput(40, 5000, 1500), 0), []int{0}},
		{"big numerics", bigNumerics(aggInput(38, 3000, 20)), []int{0}},
	} {
		for _, phase := range []AggPhase{AggPartial, AggFull} {
			for _, mem := range []int64{0, 1 << 10} {
				t.Run(fmt.Sprintf("%s/phase=%d/mem=%d", tc.name, phase, mem), func(t *testing.T) {
					testColHashAgg(t, tc, phase, mem, false)
				})
				if len(tc.groupCols) > 0 {
					t.Run(fmt.Sprintf("%s/sorted/phase=%d/mem=%d", tc.name, phase, mem), func(t *testing.T) {
						testColHashAgg(t, grouped(tc), phase, mem, true)
					})
				}
			}
		}
	}
}

// grouped puts the rows of each of tc's groups together (in an order of
// their key encodings: the groups' rows as a sort aggregation gets them).
func grouped(tc aggCase) aggCase {
	rows := append([]Row(nil), tc.rows...)
	key := func(r Row) string {
		k := make([]types.Datum, len(tc.groupCols))
		for i, c := range tc.groupCols {
			k[i] = r[c]
		}
		b, _ := appendRowKey(nil, k)
		return string(b)
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return strings.Compare(key(a), key(b)) })
	tc.rows = rows
	return tc
}

// sorted: the plan's sort aggregation over tc's rows, grouped, whose
// rows must equal the row SortAgg's in order, with nothing spilled and
// each group emitted once.
func testColHashAgg(t *testing.T, tc aggCase, phase AggPhase, mem int64, sorted bool) {
	env, _ := testEnv(t, mem)
	src := &rowsColSource{types: aggInTypes, rows: tc.rows, rng: rand.New(rand.NewPCG(uint64(len(tc.rows)), 5))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	env.Stats = map[int32]*Stats{}
	plan := colAggPlan(tc.groupCols, splitAggs)
	plan.GetAgg().Phase = meridianpb.AggPhase(phase)
	plan.GetAgg().Sorted = sorted
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := op.(*instrumented).op.(*ColHashAgg)
	if !ok {
		t.Fatalf("built %T, not the vectorized aggregation", op.(*instrumented).op)
	}
	// One integer key: the integer table (NULL keys in their own group).
	if want := len(tc.groupCols) == 1 && aggInTypes[tc.groupCols[0]] == types.Int8; h.intKey != want {
		t.Errorf("integer table %v, want %v", h.intKey, want)
	}
	got := mustCollect(t, op)
	released(t, env)
	if src.opens != 1 || src.closes != 1 {
		t.Errorf("input opened %d and closed %d times", src.opens, src.closes)
	}
	if n := env.Stats[2].Rows; n != int64(len(src.selected)) {
		t.Errorf("scan statistics count %d rows, the input selected %d", n, len(src.selected))
	}
	if !env.Stats[1].Vectorized || !env.Stats[2].Vectorized {
		t.Error("the aggregation's and the scan's statistics do not say vectorized")
	}
	full, _ := aggRun(t, 0, src.selected, aggInTypes, AggFull, colEvals(tc.groupCols...), calls(splitAggs, AggFull), nil)
	if sorted {
		want := mustCollect(t, NewSortAgg(NewRows(src.selected), phase, colEvals(tc.groupCols...), calls(splitAggs, phase)))
		sameRows(t, got, want)
		if len(got) != len(full) {
			t.Errorf("%d rows for %d groups", len(got), len(full))
		}
		if env.Stats[1].SpilledBytes != 0 {
			t.Errorf("the sort aggregation spilled %d bytes", env.Stats[1].SpilledBytes)
		}
	}
	if phase == AggFull {
		sameMultiset(t, got, full)
		if mem > 0 && len(full) > 1000 && env.Stats[1].SpilledBytes == 0 && !sorted {
			t.Errorf("%d groups did not spill with a budget of %d bytes", len(full), mem)
		}
		return
	}
	finalTypes := make([]uint32, len(tc.groupCols))
	for i, c := range tc.groupCols {
		finalTypes[i] = aggInTypes[c]
	}
	for _, d := range splitAggs {
		finalTypes = append(finalTypes, agg.PartialTypes(d.spec)...)
	}
	final, _ := aggRun(t, 0, got, finalTypes, AggFinal, colEvals(upTo(len(tc.groupCols))...), calls(splitAggs, AggFinal), nil)
	sameMultiset(t, final, full)

	// The vectorized final phase over the partial rows gives the same.
	fenv, _ := testEnv(t, mem)
	fenv.Stats = map[int32]*Stats{}
	fsrc := &rowsColSource{types: finalTypes, rows: got, all: true, rng: rand.New(rand.NewPCG(7, 7))}
	fenv.Vectorize = true
	fenv.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return fsrc, nil }
	fplan := colAggPlan(upTo(len(tc.groupCols)), splitAggs)
	fplan.GetAgg().Phase = meridianpb.AggPhase_AGG_FINAL
	fplan.GetAgg().Sorted = sorted // the partial rows of a group come together
	fplan.Inputs[0].Types = finalTypes
	for i, g := range fplan.GetAgg().GroupBy {
		g.TypeOid = finalTypes[i]
	}
	fop, err := fenv.Build(fplan)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fop.(*instrumented).op.(*ColHashAgg); !ok {
		t.Fatalf("final phase: built %T, not the vectorized aggregation", fop.(*instrumented).op)
	}
	fgot := mustCollect(t, fop)
	if sorted {
		sameRows(t, fgot, mustCollect(t, NewSortAgg(NewRows(got), AggFinal, colEvals(upTo(len(tc.groupCols))...), calls(splitAggs, AggFinal))))
	}
	sameMultiset(t, fgot, full)
	released(t, fenv)
	if mem > 0 && len(full) > 1000 && fenv.Stats[1].SpilledBytes == 0 && !sorted {
		t.Errorf("final phase: %d groups did not spill with a budget of %d bytes", len(full), mem)
	}
	if mem == 0 || sorted {
		rowPartial, _ := aggRun(t, 0, src.selected, aggInTypes, AggPartial, colEvals(tc.groupCols...), calls(splitAggs, AggPartial), nil)
		sameMultiset(t, got, rowPartial)
	} else if len(full) > 1000 && len(got) <= len(full) {
		t.Errorf("%d groups in %d partial rows with a budget of %d bytes: no group emitted early", len(full), len(got), mem)
	}
}

// The vectorized aggregation is only built for a full or partial phase
// without grouping sets or DISTINCT, over a scan the datanode reads by
// column.
func TestColHashAggChosen(t *testing.T) {
	env, _ := testEnv(t, 0)
	var asked int
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) {
		asked++
		return &rowsColSource{types: aggInTypes, rng: rand.New(rand.NewPCG(1, 1))}, nil
	}
	env.Scan = func(*meridianpb.PlanNode) (Operator, error) { return NewRows(nil), nil }
	for _, tc := range []struct {
		name string
		edit func(n *meridianpb.PlanNode)
		want bool
	}{
		{"partial", func(*meridianpb.PlanNode) {}, true},
		{"full", func(n *meridianpb.PlanNode) { n.GetAgg().Phase = meridianpb.AggPhase_AGG_FULL }, true},
		// A final phase whose input does not hold the partial states'
		// types stays on rows (testColHashAgg builds well-formed ones).
		{"final over other types", func(n *meridianpb.PlanNode) { n.GetAgg().Phase = meridianpb.AggPhase_AGG_FINAL }, false},
		{"sorted", func(n *meridianpb.PlanNode) { n.GetAgg().Sorted = true }, true},
		{"sorted without keys", func(n *meridianpb.PlanNode) {
			n.GetAgg().Sorted = true
			n.GetAgg().GroupBy = nil
		}, false},
		{"sets", func(n *meridianpb.PlanNode) {
			n.GetAgg().Sets = []*meridianpb.GroupingSet{{Columns: []int32{0}}}
		}, false},
		{"distinct", func(n *meridianpb.PlanNode) { n.GetAgg().Aggs[0].Distinct = true }, false},
	} {
		n := colAggPlan([]int{0}, splitAggs)
		tc.edit(n)
		asked = 0
		op, err := env.Build(n)
		if err != nil {
			if tc.want {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		_, vec := op.(*ColHashAgg)
		if vec != tc.want || (asked > 0) != tc.want {
			t.Errorf("%s: built %T (column scan asked %d times), want vectorized %v", tc.name, op, asked, tc.want)
		}
		op.Close()
	}
}

// An aggregation over a projection and a filter over any row input (here
// a stream) runs them on column batches (the rows stored by column first)
// and gives the row engine's rows, for both phases and over rows with
// NULLs, numerics of several scales and numerics beyond an int64; over
// plain columns of a row input it stays the row aggregation.
func TestColPipelineOverRows(t *testing.T) {
	num, i8, boolT := types.T(types.Numeric), types.T(types.Int8), types.T(types.Bool)
	rows := bigNumerics(aggInput(41, 4000, 30))
	fn := func(name string, r types.Type, args ...*meridianpb.Expr) *meridianpb.Expr {
		return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: name, TypeOid: r.OID, Typmod: r.Typmod, Args: args}
	}
	colOf := func(i int) *meridianpb.Expr { return expr.Column(i, types.T(aggInTypes[i])) }
	recv := &meridianpb.PlanNode{Id: 4, Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{}}, Types: aggInTypes}
	filter := &meridianpb.PlanNode{Id: 3, Op: &meridianpb.PlanNode_Filter{Filter: &meridianpb.FilterNode{
		Cond: fn("<>", boolT, colOf(2), expr.Const(i8, int64(7)))}}, Types: aggInTypes, Inputs: []*meridianpb.PlanNode{recv}}
	project := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Project{Project: &meridianpb.ProjectNode{Exprs: []*meridianpb.Expr{
		colOf(0),
		fn("*", num, colOf(3), fn("-", num, expr.Const(num, apd.New(1, 0)), colOf(3))),
		fn("+", i8, colOf(2), colOf(0)),
		colOf(1),
	}}}, Types: []uint32{types.Int8, types.Numeric, types.Int8, types.Text}, Inputs: []*meridianpb.PlanNode{filter}}
	defs := []aggDef{
		{agg.Spec{Func: "count", Type: types.T(types.Int8)}, -1},
		aggOf("sum", 1, types.Numeric, types.Numeric),
		aggOf("avg", 1, types.Numeric, types.Numeric),
		aggOf("max", 1, types.Numeric, types.Numeric),
		aggOf("sum", 2, types.Int8, types.Numeric),
		aggOf("min", 3, types.Text, types.Text),
	}
	plan := func(phase meridianpb.AggPhase, input *meridianpb.PlanNode, groupCols ...int) *meridianpb.PlanNode {
		a := &meridianpb.AggNode{Phase: phase}
		for _, c := range groupCols {
			a.GroupBy = append(a.GroupBy, expr.Column(c, types.T(input.Types[c])))
		}
		for _, d := range defs {
			f := &meridianpb.AggFunc{Func: d.spec.Func, TypeOid: d.spec.Type.OID, Typmod: d.spec.Type.Typmod, ArgTypeOid: d.spec.ArgType}
			if d.col >= 0 {
				f.Arg = expr.Column(d.col, types.T(input.Types[d.col]))
			}
			a.Aggs = append(a.Aggs, f)
		}
		return &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Agg{Agg: a}, Inputs: []*meridianpb.PlanNode{input}}
	}
	run := func(vectorized bool, n *meridianpb.PlanNode) ([]Row, Operator) {
		env, _ := testEnv(t, 0)
		env.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: rows, batch: 700}, nil }
		if vectorized {
			env.Vectorize = true
			env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return nil, nil }
		}
		op, err := env.Build(n)
		if err != nil {
			t.Fatal(err)
		}
		built := op
		got := mustCollect(t, op)
		released(t, env)
		return got, built
	}
	for _, phase := range []meridianpb.AggPhase{meridianpb.AggPhase_AGG_PARTIAL, meridianpb.AggPhase_AGG_FULL} {
		for _, groups := range [][]int{nil, {0}, {3, 0}} {
			n := plan(phase, project, groups...)
			want, _ := run(false, n)
			got, op := run(true, n)
			if _, ok := op.(*ColHashAgg); !ok {
				t.Fatalf("phase %v groups %v: built %T, not the vectorized aggregation", phase, groups, op)
			}
			sameMultiset(t, got, want)
		}
	}
	// Plain columns of rows: nothing to compute by column.
	if _, op := run(true, plan(meridianpb.AggPhase_AGG_PARTIAL, recv, 0)); func() bool { _, ok := op.(*HashAgg); return !ok }() {
		t.Errorf("an aggregation of plain columns of rows built %T, want the row HashAgg", op)
	}
}

// Aggregations without a numeric sum or average, of each phase, over
// one and two keys (a count alone; counts, min and max).
func TestColHashAggWithoutNumericSums(t *testing.T) {
	rows := aggInput(71, 4000, 300)
	for _, defs := range [][]aggDef{splitAggs[:1], {splitAggs[0], splitAggs[1], splitAggs[5], splitAggs[14]}} {
		for _, groupCols := range [][]int{{0}, {0, 1}} {
			env, _ := testEnv(t, 0)
			src := &rowsColSource{types: aggInTypes, rows: rows, all: true, rng: rand.New(rand.NewPCG(3, 4))}
			env.Vectorize = true
			env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
			plan := colAggPlan(groupCols, defs)
			plan.GetAgg().Phase = meridianpb.AggPhase_AGG_FULL
			op, err := env.Build(plan)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := op.(*ColHashAgg); !ok {
				t.Fatalf("built %T, not the vectorized aggregation", op)
			}
			got := mustCollect(t, op)
			want, _ := aggRun(t, 0, rows, aggInTypes, AggFull, colEvals(groupCols...), calls(defs, AggFull), nil)
			sameMultiset(t, got, want)
		}
	}
}
