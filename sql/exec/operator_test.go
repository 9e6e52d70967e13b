package exec

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func TestRows(t *testing.T) {
	input := intRows(2*BatchSize + 5)
	r := NewRows(input)
	var sizes []int
	if err := r.Open(ctxBg()); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := r.Next(ctxBg())
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			break
		}
		sizes = append(sizes, len(b.Rows))
	}
	r.Close()
	if len(sizes) != 3 || sizes[0] != BatchSize || sizes[1] != BatchSize || sizes[2] != 5 {
		t.Fatalf("batches of %v rows", sizes)
	}
	if got := mustCollect(t, NewRows(nil)); len(got) != 0 {
		t.Fatalf("got %d rows from none", len(got))
	}
}

func TestRunAndDrain(t *testing.T) {
	in := &testOp{rows: intRows(3000), batch: 1000}
	got, err := Run(ctxBg(), NewFilter(in, func([]types.Datum) (types.Datum, error) { return true, nil }))
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, got, intRows(3000))
	closedOnce(t, in)

	in = &testOp{openErr: errTest}
	if _, err := Run(ctxBg(), in); err != errTest {
		t.Fatalf("got %v, want the Open error", err)
	}
	closedOnce(t, in)
	in = &testOp{rows: intRows(3000), failAt: 2}
	if _, err := Run(ctxBg(), in); err != errTest {
		t.Fatalf("got %v, want the Next error", err)
	}
	closedOnce(t, in)
}

// A canceled statement fails with 57014, whether canceled by the user or
// by its timeout; a cancellation with another cause keeps the cause.
func TestCanceled(t *testing.T) {
	wantCode(t, canceled(canceledCtx()), pgerr.QueryCanceled)
	ctx, cancel := context.WithDeadline(ctxBg(), time.Unix(0, 0))
	defer cancel()
	wantCode(t, canceled(ctx), pgerr.QueryCanceled)
	cause := pgerr.New(pgerr.AdminShutdown, "shutting down")
	ctx, cancelCause := context.WithCancelCause(ctxBg())
	cancelCause(cause)
	if err := canceled(ctx); !errors.Is(err, cause) {
		t.Fatalf("got %v, want the cause", err)
	}
}

// operators builds each operator over its inputs: the first of ins, or
// both for joins, merges, appends and set operations (binary).
var operators = map[string]func(env *Env, st *Stats, ins []*testOp) Operator{
	"filter": func(_ *Env, _ *Stats, ins []*testOp) Operator {
		return NewFilter(ins[0], func(r []types.Datum) (types.Datum, error) { return r[0] != nil, nil })
	},
	"project": func(_ *Env, _ *Stats, ins []*testOp) Operator { return NewProject(ins[0], colEvals(1, 0)) },
	"limit":   func(_ *Env, _ *Stats, ins []*testOp) Operator { return NewLimit(ins[0], 2500, 10) },
	"append":  func(_ *Env, _ *Stats, ins []*testOp) Operator { return NewAppend(ins[0], ins[1]) },
	"merge": func(_ *Env, _ *Stats, ins []*testOp) Operator {
		return MergeKeys([]Operator{ins[0], ins[1]}, []int{3}, []bool{false}, []bool{false})
	},
	"sort": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewSort(env, st, ins[0], sortTypes, sortKeySets["a nulls first, b desc"], 0)
	},
	"top-n": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewSort(env, st, ins[0], sortTypes, sortKeySets["a nulls first, b desc"], 10)
	},
	"hash agg": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewHashAgg(env, st, ins[0], sortTypes, AggFull, colEvals(3), calls(splitAggs[:1], AggFull), nil)
	},
	"hash join": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewHashJoin(env, st, ins[0], ins[1], JoinSpec{Type: JoinFull, LeftKeys: colEvals(3), RightKeys: colEvals(3), LeftTypes: sortTypes, RightTypes: sortTypes})
	},
	"set op": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewSetOp(env, st, ins[0], ins[1], false, true)
	},
	"window": func(env *Env, st *Stats, ins []*testOp) Operator {
		return NewWindow(env, st, ins[0], nil, []WindowFn{{Func: "row_number", OrderBy: []SortKey{asc(3)}}})
	},
	// The vectorized aggregation, over the rows stored by column (the
	// datanode's build of an aggregation with a computed argument).
	"vectorized hash agg": func(env *Env, st *Stats, ins []*testOp) Operator {
		i8 := types.T(types.Int8)
		env.Vectorize = true
		env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return nil, nil }
		env.Recv = func(*meridianpb.PlanNode) (Operator, error) { return ins[0], nil }
		recv := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{}}, Types: sortTypes}
		sum := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "+", TypeOid: types.Int8, Typmod: -1,
			Args: []*meridianpb.Expr{expr.Column(0, i8), expr.Column(3, i8)}}
		op, err := env.Build(&meridianpb.PlanNode{Id: 1, Inputs: []*meridianpb.PlanNode{recv}, Op: &meridianpb.PlanNode_Agg{Agg: &meridianpb.AggNode{
			Phase: meridianpb.AggPhase_AGG_FULL, GroupBy: []*meridianpb.Expr{expr.Column(3, i8)},
			Aggs: []*meridianpb.AggFunc{{Func: "sum", Arg: sum, TypeOid: types.Numeric, Typmod: -1}}}}})
		if err != nil {
			panic(err)
		}
		if _, ok := op.(*ColHashAgg); !ok {
			panic(fmt.Sprintf("built %T", op))
		}
		return op
	},
}

var binaryOps = map[string]bool{"append": true, "merge": true, "hash join": true, "set op": true}

// opInputs are the inputs of operators[name]: 3000 sortTypes rows each,
// sorted by id.
func opInputs(name string, failAt int) []*testOp {
	ins := []*testOp{{rows: sortInput(1, 3000), failAt: failAt}, {rows: sortInput(2, 3000), failAt: failAt}}
	if !binaryOps[name] {
		ins = ins[:1]
	}
	return ins
}

// Close may come without Open, twice, or after an error: it never
// panics, a single Close closes each input once, and no spill file is
// left open.
func TestCloseProtocol(t *testing.T) {
	for name, mk := range operators {
		for _, mem := range []int64{0, 4 << 10} {
			t.Run(fmt.Sprintf("%s/mem=%d", name, mem), func(t *testing.T) {
				env, st := testEnv(t, mem)
				ins := opInputs(name, 0)
				mk(env, st, ins).Close()
				closedOnce(t, ins...)

				ins = opInputs(name, 3)
				op := mk(env, st, ins)
				if err := op.Open(ctxBg()); err == nil {
					if err := untilError(ctxBg(), op, 1000); err != errTest {
						t.Fatalf("got %v, want the inputs' error", err)
					}
				} else if err != errTest {
					t.Fatalf("Open: got %v, want the inputs' error", err)
				}
				op.Close()
				closedOnce(t, ins...)
				released(t, env)

				ins = opInputs(name, 0)
				op = mk(env, st, ins)
				if _, err := collect(ctxBg(), op); err != nil {
					t.Fatal(err)
				}
				op.Close()
				released(t, env)
			})
		}
	}
}

// A canceled context makes an open operator's Next fail with 57014.
func TestCancelEveryOperator(t *testing.T) {
	for name, mk := range operators {
		for _, mem := range []int64{0, 4 << 10} {
			t.Run(fmt.Sprintf("%s/mem=%d", name, mem), func(t *testing.T) {
				env, st := testEnv(t, mem)
				op := mk(env, st, opInputs(name, 0))
				defer op.Close()
				if err := op.Open(ctxBg()); err != nil {
					t.Fatal(err)
				}
				wantCode(t, untilError(canceledCtx(), op, 1000), pgerr.QueryCanceled)
			})
		}
	}
}

// EXPLAIN ANALYZE's measuring wrapper passes a join's runtime filter to
// the operator it measures, so the plan measured is the plan that runs.
func TestInstrumentedFilterKeys(t *testing.T) {
	f := &filterOp{testOp: &testOp{}}
	in := &instrumented{op: f, st: &Stats{}}
	keep := func(int64) bool { return true }
	if !in.FilterKeys(2, keep) || f.took != 1 || f.col != 2 {
		t.Errorf("the filter did not reach the measured scan (took %d, column %d)", f.took, f.col)
	}
	if (&instrumented{op: &testOp{}, st: &Stats{}}).FilterKeys(0, keep) {
		t.Error("an operator that takes no filter took one through the wrapper")
	}
}
