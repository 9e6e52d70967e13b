package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// sortedBy sorts rows by the columns keys, ascending, NULLs last (a
// merge join's input order).
func sortedBy(rows []Row, keys []int) []Row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b Row) int {
		for _, k := range keys {
			if c := refCompare(a[k], b[k], false, false); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// The vectorized merge join gives the row merge join's rows for every
// join type, with and without a residual, over inputs in column batches
// of random sizes and selections, with keys of one integer, a text and
// an integer, a numeric and a float (equal values of other scales, NaN,
// numerics beyond an int64), NULL keys and duplicates on both sides —
// also groups of right rows larger than a batch; it opens and closes each
// input once.
func TestColMergeJoin(t *testing.T) {
	names := []string{"inner", "left", "right", "full", "semi", "anti"}
	for _, tc := range []struct {
		name        string
		left, right []Row
		keys        []int
	}{
		{"int", aggInput(61, 3000, 300), aggInput(62, 2000, 400), []int{0}},
		{"text,int", aggInput(63, 2000, 30), aggInput(64, 2000, 40), []int{1, 0}},
		{"numeric,float", bigNumerics(aggInput(65, 2000, 30)), bigNumerics(aggInput(66, 1500, 30)), []int{3, 4}},
		{"big groups", aggInput(67, 60, 2), aggInput(68, 3000, 2), []int{0}},
		{"empty left", nil, aggInput(69, 500, 20), []int{0}},
		{"empty right", aggInput(70, 500, 20), nil, []int{0}},
	} {
		left, right := sortedBy(tc.left, tc.keys), sortedBy(tc.right, tc.keys)
		for _, typ := range []JoinType{JoinInner, JoinLeft, JoinRight, JoinFull, JoinSemi, JoinAnti} {
			for _, residual := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/residual=%v", tc.name, names[typ], residual), func(t *testing.T) {
					testColMergeJoin(t, left, right, typ, residual, tc.keys)
				})
			}
		}
	}
}

func testColMergeJoin(t *testing.T, leftRows, rightRows []Row, typ JoinType, residual bool, keys []int) {
	plan := colJoinPlan(typ, residual, false, keys...)
	plan.GetJoin().Algo = meridianpb.JoinAlgo_JOIN_MERGE
	env, _ := testEnv(t, 0)
	env.Stats = map[int32]*Stats{}
	seed := uint64(typ)*7 + uint64(len(leftRows))
	lsrc := &rowsColSource{types: aggInTypes, rows: leftRows, rng: rand.New(rand.NewPCG(seed, 1))}
	rsrc := &rowsColSource{types: aggInTypes, rows: rightRows, rng: rand.New(rand.NewPCG(seed, 2))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return lsrc, nil }
	env.RecvCols = func(*meridianpb.PlanNode) (ColSource, error) { return rsrc, nil }
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := op.(*instrumented).op.(*colToRows); !ok || func() bool { _, ok := c.src.(*ColMergeJoin); return !ok }() {
		t.Fatalf("built %T, not the vectorized merge join", op.(*instrumented).op)
	}
	got := mustCollect(t, op)
	released(t, env)
	if lsrc.opens != 1 || lsrc.closes != 1 || rsrc.opens != 1 || rsrc.closes != 1 {
		t.Errorf("left opened %d and closed %d times, right %d and %d", lsrc.opens, lsrc.closes, rsrc.opens, rsrc.closes)
	}
	if !env.Stats[1].Vectorized {
		t.Error("the join's statistics do not say vectorized")
	}
	// The row merge join over the rows each input selected.
	ref, _ := testEnv(t, 0)
	ref.Scan = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: lsrc.selected, batch: 500}, nil }
	ref.Recv = func(*meridianpb.PlanNode) (Operator, error) { return &testOp{rows: rsrc.selected, batch: 300}, nil }
	rop, err := ref.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rop.(*MergeJoin); !ok {
		t.Fatalf("the reference built %T, not the row merge join", rop)
	}
	want := mustCollect(t, rop)
	if len(want) == 0 && len(leftRows) > 0 && len(rightRows) > 0 {
		t.Fatal("the reference join is empty: the test proves nothing")
	}
	sameMultiset(t, got, want)
}

// The right rows of one key, which a merge join holds, count against the
// query memory: past it the join fails with 53200, and gives back what it
// held.
func TestColMergeJoinMemory(t *testing.T) {
	plan := colJoinPlan(JoinInner, false, false)
	plan.GetJoin().Algo = meridianpb.JoinAlgo_JOIN_MERGE
	env, _ := testEnv(t, 0)
	env.Pool = NewMemPool(1 << 20)
	one := genRows(9, 80000, func(rng *rand.Rand, i int) Row { return Row{int64(1), "x", int64(i), nil, nil} })
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) {
		return &rowsColSource{types: aggInTypes, rows: one[:10], all: true, rng: rand.New(rand.NewPCG(1, 1))}, nil
	}
	env.RecvCols = func(*meridianpb.PlanNode) (ColSource, error) {
		return &rowsColSource{types: aggInTypes, rows: one, all: true, rng: rand.New(rand.NewPCG(1, 2))}, nil
	}
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	_, err = collect(t.Context(), op)
	wantCode(t, err, pgerr.OutOfMemory)
	released(t, env)
	if env.Pool.Used() != 0 {
		t.Errorf("%d bytes of the query memory still reserved", env.Pool.Used())
	}
}
