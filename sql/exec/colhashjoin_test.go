package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// filteringColSource is a column source that takes a join's runtime
// filter and applies it (as a datanode's scan does), remembering it.
type filteringColSource struct {
	rowsColSource
	filtered int // the filtered column, -1: none
}

func (s *filteringColSource) FilterKeys(col int, keep func(int64) bool) bool {
	s.filtered = col
	var rows []Row
	for _, r := range s.rows {
		if v, ok := r[col].(int64); ok && keep(v) {
			rows = append(rows, r)
		}
	}
	s.rows = rows
	return true
}

// colJoinPlan is a hash join of a table scan (left) and a stream
// (right), both of aggInTypes, on their columns keys (default: the
// first), with a residual comparing their third columns when asked; built
// on the left input when buildLeft.
func colJoinPlan(typ JoinType, residual, buildLeft bool, keys ...int) *meridianpb.PlanNode {
	i8, boolT := types.T(types.Int8), types.T(types.Bool)
	w := int32(len(aggInTypes))
	j := &meridianpb.JoinNode{Type: meridianpb.JoinType(typ), BuildLeft: buildLeft}
	if len(keys) == 0 {
		keys = []int{0}
	}
	if keys[0] < 0 {
		keys = nil // a join without keys: a nested loop
	}
	for _, c := range keys {
		j.LeftKeys = append(j.LeftKeys, expr.Column(c, types.T(aggInTypes[c])))
		j.RightKeys = append(j.RightKeys, expr.Column(c, types.T(aggInTypes[c])))
	}
	if residual {
		j.Residual = &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<", TypeOid: boolT.OID,
			Args: []*meridianpb.Expr{expr.Column(2, i8), expr.Column(int(w+2), i8)}}
	}
	types := aggInTypes
	if typ == JoinInner || typ == JoinLeft || typ == JoinRight || typ == JoinFull {
		types = append(append([]uint32(nil), aggInTypes...), aggInTypes...)
	}
	scan := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
	recv := &meridianpb.PlanNode{Id: 3, Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{}}, Types: aggInTypes}
	return &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Join{Join: j}, Types: types, Inputs: []*meridianpb.PlanNode{scan, recv}}
}

// The vectorized hash join gives the row engine's rows for every type it
// runs, built on either input, with and without a residual, over keys with
// NULLs and duplicates on both sides — one integer, an integer and a
// text, a numeric (equal values of other scales: 1, 1.0) and a float, or none (a nested loop) —
// also when its build side outgrows the budget and it hands the join to
// the row join; it gives its inputs and memory back, and hands the build
// values of an integer key to the probe input where a probe row without a
// match is dropped anyway.
func TestColHashJoin(t *testing.T) {
	leftRows := bigNumerics(aggInput(51, 3000, 300))
	rightRows := bigNumerics(aggInput(52, 2000, 400))
	names := []string{"inner", "left", "right", "full", "semi", "anti"}
	for _, keys := range [][]int{{0}, {1, 0}, {3, 4}, {-1}} {
		for _, buildLeft := range []bool{false, true} {
			for _, typ := range []JoinType{JoinInner, JoinLeft, JoinRight, JoinFull, JoinSemi, JoinAnti} {
				if buildLeft && (typ == JoinInner || typ == JoinRight || typ == JoinFull || keys[0] < 0) {
					continue
				}
				for _, residual := range []bool{false, true} {
					// (A budget of 64 KiB also hands over, with less partitioning.)
					for _, mem := range []int64{0, 1 << 10} {
						if mem > 0 && len(keys) > 1 {
							mem = 1 << 16
						}
						l, r := leftRows, rightRows
						if keys[0] < 0 {
							// A nested loop: every pair a candidate; it
							// holds its build side, never spills.
							if mem > 0 {
								continue
							}
							l, r = leftRows[:300], rightRows[:200]
						}
						name := fmt.Sprintf("keys=%v/%s/buildleft=%v/residual=%v/mem=%d", keys, names[typ], buildLeft, residual, mem)
						t.Run(name, func(t *testing.T) {
							testColHashJoin(t, l, r, typ, buildLeft, residual, mem, keys)
						})
					}
				}
			}
		}
	}
}

func testColHashJoin(t *testing.T, leftRows, rightRows []Row, typ JoinType, buildLeft, residual bool, mem int64, keys []int) {
	plan := colJoinPlan(typ, residual, buildLeft, keys...)
	env, _ := testEnv(t, mem)
	env.Stats = map[int32]*Stats{}
	// The probe side is read by column, the build side as rows.
	probeRows, buildRows := leftRows, rightRows
	if buildLeft {
		probeRows, buildRows = rightRows, leftRows
	}
	build := &testOp{rows: buildRows, batch: 300}
	src := &filteringColSource{rowsColSource: rowsColSource{types: aggInTypes, rows: probeRows,
		rng: rand.New(rand.NewPCG(uint64(typ), uint64(mem)))}, filtered: -1}
	env.Recv = func(*meridianpb.PlanNode) (Operator, error) { return build, nil }
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	if buildLeft {
		env.Scan = func(*meridianpb.PlanNode) (Operator, error) { return build, nil }
		env.RecvCols = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	}
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := op.(*instrumented).op.(*colToRows); !ok || func() bool { _, ok := c.src.(*ColHashJoin); return !ok }() {
		t.Fatalf("built %T, not the vectorized join", op.(*instrumented).op)
	}
	got := mustCollect(t, op)
	released(t, env)
	if src.opens != 1 || src.closes != 1 || build.opens != 1 || build.closes != 1 {
		t.Errorf("probe opened %d and closed %d times, build %d and %d", src.opens, src.closes, build.opens, build.closes)
	}
	if env.Stats[1].Vectorized != (mem == 0) {
		t.Errorf("the join's statistics say vectorized %v, want %v (handed over: %v)", env.Stats[1].Vectorized, mem == 0, mem > 0)
	}
	if mem > 0 && env.Stats[1].SpilledBytes == 0 {
		t.Error("a build side past the budget did not spill")
	}
	// (A row join partitioning to disk takes none.)
	if want := (typ == JoinInner || typ == JoinRight || typ == JoinSemi || buildLeft) && mem == 0 && slices.Contains(keys, 0); (src.filtered == 0) != want {
		t.Errorf("runtime filter on column %d, want one: %v", src.filtered, want)
	}
	// The row join over the rows the probe selected.
	ref, _ := testEnv(t, 0)
	ref.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: rightRows, batch: 300}, nil }
	ref.Scan = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: src.selected, batch: 500}, nil }
	if buildLeft {
		ref.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: src.selected, batch: 300}, nil }
		ref.Scan = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: leftRows, batch: 500}, nil }
	}
	rop, err := ref.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rop.(*colToRows); ok {
		t.Fatalf("the reference built %T, not the row join", rop)
	}
	want := mustCollect(t, rop)
	// (An anti join without keys or residual keeps no row: every right
	// row matches.)
	if len(want) == 0 && (len(keys) > 0 && keys[0] >= 0 || typ != JoinAnti || residual) {
		t.Fatal("the reference join is empty: the test proves nothing")
	}
	sameMultiset(t, got, want)
}

// A probe input that is rows (not a column scan) keeps the row join: its
// rows would only be stored by column to be read back as rows.
func TestColHashJoinChosen(t *testing.T) {
	env, _ := testEnv(t, 0)
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) {
		return &rowsColSource{types: aggInTypes, rng: rand.New(rand.NewPCG(1, 1))}, nil
	}
	env.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{}, nil }
	env.Scan = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{}, nil }
	for _, tc := range []struct {
		name string
		edit func(n *meridianpb.PlanNode)
		want bool
	}{
		{"inner", func(*meridianpb.PlanNode) {}, true},
		{"probe of rows", func(n *meridianpb.PlanNode) { n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0] }, false},
		{"right", func(n *meridianpb.PlanNode) { n.GetJoin().Type = meridianpb.JoinType(JoinRight) }, true},
		{"full", func(n *meridianpb.PlanNode) { n.GetJoin().Type = meridianpb.JoinType(JoinFull) }, true},
		{"build left, probe of rows", func(n *meridianpb.PlanNode) {
			n.GetJoin().Type = meridianpb.JoinType(JoinLeft)
			n.GetJoin().BuildLeft = true
		}, false},
		{"merge", func(n *meridianpb.PlanNode) { n.GetJoin().Algo = meridianpb.JoinAlgo_JOIN_MERGE }, false},
		{"text key", func(n *meridianpb.PlanNode) {
			n.GetJoin().LeftKeys[0] = expr.Column(1, types.T(types.Text))
			n.GetJoin().RightKeys[0] = expr.Column(1, types.T(types.Text))
		}, true},
		{"two keys", func(n *meridianpb.PlanNode) {
			j := n.GetJoin()
			j.LeftKeys = append(j.LeftKeys, expr.Column(2, types.T(types.Int8)))
			j.RightKeys = append(j.RightKeys, expr.Column(2, types.T(types.Int8)))
		}, true},
		{"cross (a nested loop)", func(n *meridianpb.PlanNode) {
			j := n.GetJoin()
			j.LeftKeys, j.RightKeys = nil, nil
		}, true},
	} {
		n := colJoinPlan(JoinInner, false, false)
		tc.edit(n)
		op, err := env.Build(n)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, vec := op.(*colToRows)
		if vec != tc.want {
			t.Errorf("%s: built %T, want vectorized %v", tc.name, op, tc.want)
		}
		if vec {
			if _, ok := c.src.(*ColHashJoin); !ok {
				t.Errorf("%s: rows of %T", tc.name, c.src)
			}
		}
		op.Close()
	}
	// Under an aggregation the join's batches go to it as they are.
	agg := &meridianpb.PlanNode{Id: 9, Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{Phase: meridianpb.AggPhase_AGG_PARTIAL,
		GroupBy: []*meridianpb.Expr{expr.Column(1, types.T(types.Text))},
		Aggs:    []*meridianpb.AggFunc{{Func: "count", TypeOid: types.Int8}}}}, Inputs: []*meridianpb.PlanNode{colJoinPlan(JoinInner, false, false)}}
	op, err := env.Build(agg)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := op.(*ColHashAgg)
	if !ok {
		t.Fatalf("aggregation built %T", op)
	}
	if _, ok := h.src.(*ColHashJoin); !ok {
		t.Errorf("the aggregation reads %T, not the vectorized join", h.src)
	}
	op.Close()
}

// Cancelled while probing, the join fails with the context's error and
// still gives everything back.
func TestColHashJoinCancel(t *testing.T) {
	env, _ := testEnv(t, 0)
	env.Recv = func(*meridianpb.PlanNode) (Operator, error) {
		return &testOp{rows: aggInput(61, 500, 50), batch: 100}, nil
	}
	src := &rowsColSource{types: aggInTypes, rows: aggInput(62, 5000, 50), rng: rand.New(rand.NewPCG(3, 3))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	op, err := env.Build(colJoinPlan(JoinInner, true, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Next(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	var nerr error
	for i := 0; i < 100 && nerr == nil; i++ {
		var b *Batch
		if b, nerr = op.Next(ctx); b == nil && nerr == nil {
			t.Fatal("the join ended instead of failing")
		}
	}
	if nerr == nil {
		t.Fatal("no error after the cancel")
	}
	op.Close()
	op.Close()
	released(t, env)
	if src.closes != 1 {
		t.Errorf("probe closed %d times", src.closes)
	}
}
