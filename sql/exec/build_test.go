package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Plan builders.

func cI8(v int64) *pb.Expr    { return expr.Const(types.T(types.Int8), v) }
func cText(s string) *pb.Expr { return expr.Const(types.T(types.Text), s) }
func cNull(oid uint32) *pb.Expr {
	return expr.Const(types.T(oid), nil)
}
func cCol(i int, oid uint32) *pb.Expr { return expr.Column(i, types.T(oid)) }
func cFunc(name string, oid uint32, args ...*pb.Expr) *pb.Expr {
	return &pb.Expr{Kind: pb.ExprKind_EXPR_FUNC, Name: name, TypeOid: oid, Typmod: -1, Args: args}
}

// valuesNode yields rows of constants (nil: NULL) of column types oids.
func valuesNode(id int32, oids []uint32, rows ...Row) *pb.PlanNode {
	v := &pb.ValuesNode{}
	for _, r := range rows {
		er := &pb.ExprRow{}
		for i, d := range r {
			er.Exprs = append(er.Exprs, expr.Const(types.T(oids[i]), d))
		}
		v.Rows = append(v.Rows, er)
	}
	return &pb.PlanNode{Id: id, Types: oids, Op: &pb.PlanNode_Values{Values: v}}
}

// node is a plan node of op (one of the messages of PlanNode's oneof op;
// nil for none) over inputs.
func node(id int32, oids []uint32, op proto.Message, inputs ...*pb.PlanNode) *pb.PlanNode {
	n := &pb.PlanNode{Id: id, Types: oids, Inputs: inputs}
	if op == nil {
		return n
	}
	m, o := n.ProtoReflect(), op.ProtoReflect()
	fields := m.Descriptor().Oneofs().ByName("op").Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.Message().FullName() == o.Descriptor().FullName() {
			m.Set(f, protoreflect.ValueOfMessage(o))
			return n
		}
	}
	panic(fmt.Sprintf("node: %T is no plan node", op))
}

var (
	i8    = types.Int8
	text  = types.Text
	tA    = []uint32{i8, text, i8} // id, g, v
	tB    = []uint32{i8, text}     // id, w
	rowsA = []Row{
		{int64(1), "x", int64(10)}, {int64(2), "y", int64(20)}, {int64(3), "x", nil},
		{int64(4), nil, int64(40)}, {nil, "y", int64(50)}, {int64(2), "x", int64(60)},
	}
	rowsB = []Row{{int64(2), "b2"}, {int64(3), "b3"}, {int64(3), "b3'"}, {nil, "bn"}, {int64(9), "b9"}}
)

func valuesA(id int32) *pb.PlanNode { return valuesNode(id, tA, rowsA...) }
func valuesB(id int32) *pb.PlanNode { return valuesNode(id, tB, rowsB...) }

// buildRun builds plan in a fresh env, runs it and returns its rows.
func buildRun(t *testing.T, env *Env, plan *pb.PlanNode) ([]Row, error) {
	t.Helper()
	op, err := env.Build(plan)
	if err != nil {
		return nil, err
	}
	return collect(ctxBg(), op)
}

func mustBuildRun(t *testing.T, plan *pb.PlanNode) []Row {
	t.Helper()
	env, _ := testEnv(t, 0)
	rows, err := buildRun(t, env, plan)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestBuildNodes(t *testing.T) {
	vGt := func(n int64) *pb.Expr { return cFunc(">", types.Bool, cCol(2, i8), cI8(n)) }
	aggOut := []uint32{text, i8, types.Numeric}
	for _, tc := range []struct {
		name    string
		plan    *pb.PlanNode
		want    []Row
		ordered bool
	}{
		{"values", valuesA(1), rowsA, true},
		{"filter", node(2, tA, &pb.FilterNode{Cond: vGt(20)}, valuesA(1)),
			[]Row{rowsA[3], rowsA[4], rowsA[5]}, true},
		{"project", node(2, []uint32{i8, text}, &pb.ProjectNode{Exprs: []*pb.Expr{cFunc("+", i8, cCol(2, i8), cI8(1)), cCol(1, text)}}, valuesA(1)),
			[]Row{{int64(11), "x"}, {int64(21), "y"}, {nil, "x"}, {int64(41), nil}, {int64(51), "y"}, {int64(61), "x"}}, true},
		{"agg", node(2, aggOut, &pb.AggNode{GroupBy: []*pb.Expr{cCol(1, text)}, Aggs: []*pb.AggFunc{
			{Func: "count", TypeOid: i8},
			{Func: "sum", Arg: cCol(2, i8), TypeOid: types.Numeric},
		}}, valuesA(1)),
			[]Row{{"x", int64(3), apd.New(70, 0)}, {"y", int64(2), apd.New(70, 0)}, {nil, int64(1), apd.New(40, 0)}}, false},
		{"agg partial final", node(3, aggOut, &pb.AggNode{Phase: pb.AggPhase_AGG_FINAL, GroupBy: []*pb.Expr{cCol(0, text)}, Aggs: []*pb.AggFunc{
			{Func: "count", TypeOid: i8},
			{Func: "avg", ArgTypeOid: i8, TypeOid: types.Numeric},
		}}, node(2, []uint32{text, i8, types.Numeric, i8}, &pb.AggNode{Phase: pb.AggPhase_AGG_PARTIAL, GroupBy: []*pb.Expr{cCol(1, text)}, Aggs: []*pb.AggFunc{
			{Func: "count", TypeOid: i8},
			{Func: "avg", Arg: cCol(2, i8), TypeOid: types.Numeric},
		}}, valuesA(1))),
			[]Row{{"x", int64(3), apd.New(35, 0)}, {"y", int64(2), apd.New(35, 0)}, {nil, int64(1), apd.New(40, 0)}}, false},
		{"agg grouping sets", node(2, []uint32{text, i8, i8}, &pb.AggNode{GroupBy: []*pb.Expr{cCol(1, text), cCol(0, i8)},
			Aggs: []*pb.AggFunc{{Func: "count", TypeOid: i8}},
			Sets: []*pb.GroupingSet{{Columns: []int32{0}}, {}}}, valuesA(1)),
			[]Row{{"x", nil, int64(3)}, {"y", nil, int64(2)}, {nil, nil, int64(1)}, {nil, nil, int64(6)}}, false},
		{"agg global empty", node(2, []uint32{i8}, &pb.AggNode{Aggs: []*pb.AggFunc{{Func: "count", TypeOid: i8}}}, valuesNode(1, tA)),
			[]Row{{int64(0)}}, true},
		{"sort", node(2, tA, &pb.SortNode{Keys: []*pb.SortKey{{Expr: cCol(1, text), NullsFirst: true}, {Expr: cCol(2, i8), Desc: true}}}, valuesA(1)),
			[]Row{rowsA[3], rowsA[5], rowsA[0], rowsA[2], rowsA[4], rowsA[1]}, true},
		{"sort top-n", node(2, tA, &pb.SortNode{Keys: []*pb.SortKey{{Expr: cCol(2, i8), Desc: true}}, Limit: cI8(2)}, valuesA(1)),
			[]Row{rowsA[5], rowsA[4]}, true},
		{"limit", node(2, tA, &pb.LimitNode{Limit: cI8(2), Offset: cI8(3)}, valuesA(1)), rowsA[3:5], true},
		{"limit null", node(2, tA, &pb.LimitNode{Limit: cNull(i8), Offset: cNull(i8)}, valuesA(1)), rowsA, true},
		{"limit unset", node(2, tA, &pb.LimitNode{Offset: cI8(5)}, valuesA(1)), rowsA[5:], true},
		{"append", node(3, tA, &pb.AppendNode{}, valuesA(1), valuesNode(2, tA), valuesA(4)), append(append([]Row{}, rowsA...), rowsA...), true},
		{"intersect", node(3, tA, &pb.SetOpNode{Op: "intersect"}, valuesA(1), valuesNode(2, tA, rowsA[4], rowsA[4], rowsA[0], Row{int64(1), "x", int64(11)})),
			[]Row{rowsA[0], rowsA[4]}, false},
		{"except all", node(3, tB, &pb.SetOpNode{Op: "except", All: true}, valuesNode(1, tB, rowsB[3], rowsB[3], rowsB[0]), valuesNode(2, tB, rowsB[3])),
			[]Row{rowsB[3], rowsB[0]}, false},
		{"window", node(2, []uint32{i8, text, i8, i8, i8}, &pb.WindowNode{Funcs: []*pb.WindowFunc{
			{Func: "row_number", OrderBy: []*pb.SortKey{{Expr: cCol(2, i8)}}, TypeOid: i8},
			{Func: "sum", Args: []*pb.Expr{cCol(2, i8)}, PartitionBy: []*pb.Expr{cCol(1, text)}, OrderBy: []*pb.SortKey{{Expr: cCol(2, i8)}},
				Frame: &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind_FRAME_OFFSET_PRECEDING, StartOffset: cI8(1), End: pb.FrameBoundKind_FRAME_CURRENT_ROW},
				Agg:   &pb.AggFunc{Func: "sum", Arg: cCol(2, i8), TypeOid: i8}, TypeOid: i8},
		}}, valuesA(1)),
			[]Row{
				{int64(1), "x", int64(10), int64(1), int64(10)},
				{int64(2), "y", int64(20), int64(2), int64(20)},
				{int64(3), "x", nil, int64(6), int64(60)},
				{int64(4), nil, int64(40), int64(3), int64(40)},
				{nil, "y", int64(50), int64(4), int64(70)},
				{int64(2), "x", int64(60), int64(5), int64(70)},
			}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustBuildRun(t, tc.plan)
			if tc.ordered {
				sameRows(t, got, tc.want)
			} else {
				sameMultiset(t, got, tc.want)
			}
		})
	}
}

// Joins built from plans agree with the reference for every join type.
func TestBuildJoin(t *testing.T) {
	joinTypeOf := map[pb.JoinType]JoinType{pb.JoinType_JOIN_INNER: JoinInner, pb.JoinType_JOIN_LEFT: JoinLeft, pb.JoinType_JOIN_RIGHT: JoinRight,
		pb.JoinType_JOIN_FULL: JoinFull, pb.JoinType_JOIN_SEMI: JoinSemi, pb.JoinType_JOIN_ANTI: JoinAnti}
	// residual: v (left column 2) < 50
	residual := cFunc("<", types.Bool, cCol(2, i8), cI8(50))
	for pt, jt := range joinTypeOf {
		for _, withRes := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/res=%v", pt, withRes), func(t *testing.T) {
				out := append(append([]uint32{}, tA...), tB...)
				j := &pb.JoinNode{Type: pt, LeftKeys: []*pb.Expr{cCol(0, i8)}, RightKeys: []*pb.Expr{cCol(0, i8)}}
				var res expr.Eval
				if withRes {
					j.Residual = residual
					res = func(r []types.Datum) (types.Datum, error) {
						if r[2] == nil {
							return nil, nil
						}
						return r[2].(int64) < 50, nil
					}
				}
				got := mustBuildRun(t, node(3, out, j, valuesA(1), valuesB(2)))
				sameMultiset(t, got, refJoin(jt, rowsA, rowsB, []int{0}, []int{0}, len(tA), len(tB), res))
			})
		}
	}
}

// A plan of several operators, end to end: the total v of each g over
// the rows of A with a match in B, largest first, the first one skipped.
func TestBuildPlan(t *testing.T) {
	join := node(3, tA, &pb.JoinNode{Type: pb.JoinType_JOIN_SEMI, LeftKeys: []*pb.Expr{cCol(0, i8)}, RightKeys: []*pb.Expr{cCol(0, i8)}}, valuesA(1), valuesB(2))
	agg := node(4, []uint32{text, i8}, &pb.AggNode{GroupBy: []*pb.Expr{cCol(1, text)},
		Aggs: []*pb.AggFunc{{Func: "sum", Arg: cCol(2, i8), TypeOid: i8}}}, join)
	sorted := node(5, agg.Types, &pb.SortNode{Keys: []*pb.SortKey{{Expr: cCol(1, i8), Desc: true}}}, agg)
	plan := node(6, agg.Types, &pb.LimitNode{Offset: cI8(1)}, sorted)
	stats := map[int32]*Stats{}
	env := &Env{TempDir: t.TempDir(), Stats: stats}
	got, err := buildRun(t, env, plan)
	if err != nil {
		t.Fatal(err)
	}
	// A ⋉ B: ids 2, 3, 2 → x: nil + 60 = 60, y: 20; sorted 60, 20; offset 1.
	sameRows(t, got, []Row{{"y", int64(20)}})
	for id, want := range map[int32]int64{1: 6, 2: 5, 3: 3, 4: 2, 5: 2, 6: 1} {
		if st := stats[id]; st == nil || st.Rows != want {
			t.Errorf("node %d: stats %+v, want %d rows", id, st, want)
		}
	}
}

// Leaves come from the env's callbacks; without them, building fails.
func TestBuildLeaves(t *testing.T) {
	leaves := map[string]*pb.PlanNode{
		"scan":     {Id: 1, Types: tA, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}},
		"recv":     {Id: 1, Types: tA, Op: &pb.PlanNode_Recv{Recv: &pb.RecvNode{}}},
		"rows ref": {Id: 1, Types: tA, Op: &pb.PlanNode_RowsRef{RowsRef: &pb.RowsRefNode{}}},
	}
	for name, leaf := range leaves {
		t.Run(name, func(t *testing.T) {
			env, _ := testEnv(t, 0)
			if _, err := env.Build(leaf); err == nil {
				t.Fatalf("built a %s without its callback", name)
			}
			mk := func(*pb.PlanNode) (Operator, error) { return NewRows(rowsA), nil }
			env.Scan, env.Recv, env.RowsRef = mk, mk, mk
			got, err := buildRun(t, env, node(2, tA, &pb.LimitNode{Limit: cI8(1)}, leaf))
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, got, rowsA[:1])
		})
	}
}

// Malformed plans fail to build with an error; they never panic, and
// the inputs built so far are closed.
func TestBuildMalformed(t *testing.T) {
	a := valuesA(1)
	key := []*pb.Expr{cCol(0, i8)}
	for _, tc := range []struct {
		name string
		plan *pb.PlanNode
		code string
	}{
		{"nil node", nil, "XX000"},
		{"nil input", node(2, tA, &pb.FilterNode{Cond: cFunc("=", types.Bool, cCol(0, i8), cI8(1))}, nil), "XX000"},
		{"no op", &pb.PlanNode{Id: 1}, "XX000"},
		{"filter without input", node(2, tA, &pb.FilterNode{Cond: cNull(types.Bool)}), "XX000"},
		{"filter with two inputs", node(2, tA, &pb.FilterNode{Cond: cNull(types.Bool)}, a, a), "XX000"},
		{"filter without condition", node(2, tA, &pb.FilterNode{}, a), "XX000"},
		{"project without input", node(2, tA, &pb.ProjectNode{}), "XX000"},
		{"project of a nil expression", node(2, tA, &pb.ProjectNode{Exprs: []*pb.Expr{nil}}, a), "XX000"},
		{"join with one input", node(2, tA, &pb.JoinNode{LeftKeys: key, RightKeys: key}, a), "XX000"},
		{"join with other key counts", node(3, tA, &pb.JoinNode{LeftKeys: key, RightKeys: append(key, key...)}, a, valuesA(2)), "XX000"},
		{"join of an unknown type", node(3, tA, &pb.JoinNode{Type: 42, LeftKeys: key, RightKeys: key}, a, valuesA(2)), "XX000"},
		{"agg without input", node(2, tA, &pb.AggNode{}), "XX000"},
		{"agg of an unknown phase", node(2, tA, &pb.AggNode{Phase: 9, Aggs: []*pb.AggFunc{{Func: "count", TypeOid: i8}}}, a), "XX000"},
		{"agg of an unknown function", node(2, tA, &pb.AggNode{Aggs: []*pb.AggFunc{{Func: "median", Arg: cCol(0, i8), TypeOid: i8}}}, a), "XX000"},
		{"distinct partial agg", node(2, tA, &pb.AggNode{Phase: pb.AggPhase_AGG_PARTIAL, Aggs: []*pb.AggFunc{{Func: "count", Arg: cCol(0, i8), Distinct: true, TypeOid: i8}}}, a), "XX000"},
		{"grouping set out of range", node(2, tA, &pb.AggNode{GroupBy: key, Sets: []*pb.GroupingSet{{Columns: []int32{1}}}}, a), "XX000"},
		{"sort without input", node(2, tA, &pb.SortNode{}), "XX000"},
		{"sort key without expression", node(2, tA, &pb.SortNode{Keys: []*pb.SortKey{{}}}, a), "XX000"},
		{"limit with two inputs", node(3, tA, &pb.LimitNode{}, a, a), "XX000"},
		{"limit of text", node(2, tA, &pb.LimitNode{Limit: cText("3")}, a), "XX000"},
		{"negative limit", node(2, tA, &pb.LimitNode{Limit: cI8(-1)}, a), "2201W"},
		{"negative offset", node(2, tA, &pb.LimitNode{Offset: cI8(-1)}, a), "2201X"},
		{"window without input", node(2, tA, &pb.WindowNode{}), "XX000"},
		{"window frame offset null", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "sum", Args: key, Agg: &pb.AggFunc{Func: "sum", Arg: key[0], TypeOid: i8},
			Frame: &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind_FRAME_OFFSET_PRECEDING, StartOffset: cNull(i8), End: pb.FrameBoundKind_FRAME_CURRENT_ROW}}}}, a), "22004"},
		{"window frame offset negative", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "sum", Args: key, Agg: &pb.AggFunc{Func: "sum", Arg: key[0], TypeOid: i8},
			Frame: &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind_FRAME_CURRENT_ROW, End: pb.FrameBoundKind_FRAME_OFFSET_FOLLOWING, EndOffset: cI8(-2)}}}}, a), "22013"},
		{"window frame offset of text", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "sum", Args: key, Agg: &pb.AggFunc{Func: "sum", Arg: key[0], TypeOid: i8},
			Frame: &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind_FRAME_CURRENT_ROW, End: pb.FrameBoundKind_FRAME_OFFSET_FOLLOWING, EndOffset: cText("2")}}}}, a), "XX000"},
		{"lag without arguments", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "lag"}}}, a), "XX000"},
		{"nth_value of one argument", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "nth_value", Args: key}}}, a), "XX000"},
		{"ntile without arguments", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "ntile"}}}, a), "XX000"},
		{"first_value without arguments", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "first_value"}}}, a), "XX000"},
		{"window of an unknown aggregate", node(2, tA, &pb.WindowNode{Funcs: []*pb.WindowFunc{{Func: "median", Args: key, Agg: &pb.AggFunc{Func: "median", Arg: key[0], TypeOid: i8}}}}, a), "XX000"},
		{"set op with one input", node(2, tA, &pb.SetOpNode{Op: "intersect"}, a), "XX000"},
		{"unknown set op", node(3, tA, &pb.SetOpNode{Op: "symmetric difference"}, a, valuesA(2)), "XX000"},
		{"unknown function", node(2, tA, &pb.FilterNode{Cond: cFunc("no_such_function", types.Bool)}, a), "42883"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := testEnv(t, 0)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				_, err = buildRun(t, env, tc.plan)
			}()
			wantCode(t, err, tc.code)
		})
	}
}

// Inputs already built are closed when a later one fails to build.
func TestBuildClosesBuiltInputs(t *testing.T) {
	env, _ := testEnv(t, 0)
	var built []*testOp
	env.Scan = func(*pb.PlanNode) (Operator, error) {
		op := &testOp{rows: rowsA}
		built = append(built, op)
		return op, nil
	}
	scan := &pb.PlanNode{Id: 1, Types: tA, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}}
	bad := node(2, tA, &pb.FilterNode{Cond: cNull(types.Bool)}) // no input
	plan := node(3, tA, &pb.AppendNode{}, scan, scan, bad, scan)
	if _, err := env.Build(plan); err == nil {
		t.Fatal("built a plan with a malformed node")
	}
	if len(built) != 2 {
		t.Fatalf("%d scans built, want 2", len(built))
	}
	closedOnce(t, built...)
}

// A window function without a frame gets PostgreSQL's default, RANGE
// BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
func TestBuildWindowDefaultFrame(t *testing.T) {
	v := []*pb.Expr{cCol(2, i8)}
	plan := node(2, []uint32{i8, text, i8, i8, i8}, &pb.WindowNode{Funcs: []*pb.WindowFunc{
		{Func: "sum", Args: v, OrderBy: []*pb.SortKey{{Expr: cCol(1, text)}}, Agg: &pb.AggFunc{Func: "sum", Arg: v[0], TypeOid: i8}, TypeOid: i8},
		{Func: "last_value", Args: v, OrderBy: []*pb.SortKey{{Expr: cCol(2, i8), Desc: true}}, TypeOid: i8},
	}}, valuesA(1))
	got := mustBuildRun(t, plan)
	// g x: 10 + NULL + 60 = 70; y: 20 + 50 = 70 more; NULL last: 40 more.
	// v is unique: the last value up to the current row is the row's.
	sums := []int64{70, 140, 70, 180, 140, 70}
	if len(got) != len(rowsA) {
		t.Fatalf("%d rows, want %d", len(got), len(rowsA))
	}
	for _, r := range got {
		i := slices.IndexFunc(rowsA, func(a Row) bool { return fmtRow(a) == fmtRow(r[:3]) })
		if i < 0 {
			t.Fatalf("row %s is not an input row", fmtRow(r))
		}
		if r[3] != sums[i] || r[4] != rowsA[i][2] {
			t.Errorf("row %s: got %s, want sum %d and last value %s", fmtRow(rowsA[i]), fmtRow(r[3:]), sums[i], fmtDatum(rowsA[i][2]))
		}
	}
}

// A window node's functions over three windows: one sort serves the
// window by (c1, c2) and the one by c1 alone, another sorts by c2 DESC,
// and the functions' columns come in the node's order.
func TestBuildWindowSorts(t *testing.T) {
	c1, c2 := cCol(1, text), cCol(2, i8)
	plan := node(2, []uint32{i8, text, i8, i8, i8, i8}, &pb.WindowNode{Funcs: []*pb.WindowFunc{
		{Func: "row_number", OrderBy: []*pb.SortKey{{Expr: c2, Desc: true, NullsFirst: true}}, TypeOid: i8},
		{Func: "rank", PartitionBy: []*pb.Expr{c1}, OrderBy: []*pb.SortKey{{Expr: c2}}, TypeOid: i8},
		{Func: "count", PartitionBy: []*pb.Expr{c1}, Agg: &pb.AggFunc{Func: "count", TypeOid: i8}, TypeOid: i8},
	}}, valuesA(1))
	env, _ := testEnv(t, 0)
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	want := "[*exec.Project *exec.Window *exec.Sort *exec.Window *exec.Window *exec.Sort *exec.Rows]"
	if shape := windowShape(op); shape != want {
		t.Errorf("built %v, want %s", shape, want)
	}
	got, err := collect(ctxBg(), op)
	if err != nil {
		t.Fatal(err)
	}
	released(t, env)
	n := func(v int64) types.Datum { return v }
	sameMultiset(t, got, []Row{
		{n(1), "x", n(10), n(6), n(1), n(3)},
		{n(2), "y", n(20), n(5), n(1), n(2)},
		{n(3), "x", nil, n(1), n(3), n(3)},
		{n(4), nil, n(40), n(4), n(1), n(1)},
		{nil, "y", n(50), n(3), n(2), n(2)},
		{n(2), "x", n(60), n(2), n(2), n(3)},
	})
}

// The first sort of a window node runs on column batches when its input
// does, and gives the rows the row operators give, spilling or not.
func TestBuildWindowOnBatches(t *testing.T) {
	rows := aggInput(11, 20000, 50)
	c0, c2, c3 := cCol(0, i8), cCol(2, i8), cCol(3, types.Numeric)
	win := &pb.WindowNode{Funcs: []*pb.WindowFunc{
		{Func: "rank", PartitionBy: []*pb.Expr{c0}, OrderBy: []*pb.SortKey{{Expr: c2}}, TypeOid: i8},
		{Func: "sum", Args: []*pb.Expr{c3}, PartitionBy: []*pb.Expr{c0}, Agg: &pb.AggFunc{Func: "sum", Arg: c3, TypeOid: types.Numeric}, TypeOid: types.Numeric},
		{Func: "count", OrderBy: []*pb.SortKey{{Expr: c2, Desc: true}}, Agg: &pb.AggFunc{Func: "count", TypeOid: i8}, TypeOid: i8},
	}}
	oids := append(slices.Clone(aggInTypes), i8, types.Numeric, i8)
	plan := node(2, oids, win, &pb.PlanNode{Id: 1, Types: aggInTypes, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}})
	for _, mem := range []int64{0, 1 << 16} {
		env, _ := testEnv(t, mem)
		env.Stats = map[int32]*Stats{}
		src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(7, uint64(mem)))}
		env.Vectorize = true
		env.ColScan = func(*pb.PlanNode) (ColSource, error) { return src, nil }
		got := mustCollect(t, mustBuild(t, env, plan))
		released(t, env)
		if mem == 0 && !env.Stats[2].Vectorized {
			t.Error("the window's sort did not run on column batches")
		}
		if mem > 0 && env.Stats[2].SpilledBytes == 0 {
			t.Errorf("work_mem %d: the window's sort did not spill", mem)
		}
		sameAsRows(t, plan, src.selected, got)
	}
}

// Windows whose functions' values are known at each row (row_number,
// rank, dense_rank, running ROWS aggregates) run on column batches
// (ColWindow), also a second window over the first's batches sorted
// again, and give the row operators' rows, with ties, NULLs, partitions
// and peer groups across batches, spilling sorts or not.
func TestBuildColWindow(t *testing.T) {
	// Partitions of 400 rows, and of 4 (many starting a batch).
	testBuildColWindow(t, aggInput(12, 20000, 50))
	testBuildColWindow(t, aggInput(13, 20000, 5000))
}

func testBuildColWindow(t *testing.T, rows []Row) {
	c0, c1, c2, c3 := cCol(0, i8), cCol(1, text), cCol(2, i8), cCol(3, types.Numeric)
	part, ord := []*pb.Expr{c0}, []*pb.SortKey{{Expr: c2}}
	running := func(fn string, arg *pb.Expr, oid uint32) *pb.WindowFunc {
		f := &pb.WindowFunc{Func: fn, PartitionBy: part, OrderBy: ord, TypeOid: oid,
			Agg: &pb.AggFunc{Func: fn, Arg: arg, TypeOid: oid}, Frame: &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind(UnboundedPreceding), End: pb.FrameBoundKind(CurrentRow)}}
		if arg != nil {
			f.Args = []*pb.Expr{arg}
			f.Agg.ArgTypeOid = arg.TypeOid
		}
		return f
	}
	win := &pb.WindowNode{Funcs: []*pb.WindowFunc{
		{Func: "row_number", PartitionBy: part, OrderBy: ord, TypeOid: i8},
		{Func: "rank", PartitionBy: part, OrderBy: ord, TypeOid: i8},
		{Func: "row_number", OrderBy: []*pb.SortKey{{Expr: c1, Desc: true}, {Expr: c2}}, TypeOid: i8},
		{Func: "dense_rank", PartitionBy: part, OrderBy: ord, TypeOid: i8},
		running("sum", c3, types.Numeric),
		running("count", nil, i8),
		running("min", c1, text),
	}}
	oids := append(slices.Clone(aggInTypes), i8, i8, i8, i8, types.Numeric, i8, text)
	plan := node(2, oids, win, &pb.PlanNode{Id: 1, Types: aggInTypes, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}})
	for _, mem := range []int64{0, 1 << 16} {
		env, _ := testEnv(t, mem)
		env.Stats = map[int32]*Stats{}
		src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(8, uint64(mem)))}
		env.Vectorize = true
		env.ColScan = func(*pb.PlanNode) (ColSource, error) { return src, nil }
		op := mustBuild(t, env, plan)
		if shape := windowShape(op); !strings.Contains(shape, "*exec.ColWindow *exec.ColSort *exec.ColWindow *exec.ColSort") {
			t.Errorf("built %s, want two ColWindows over ColSorts", shape)
		}
		got := mustCollect(t, op)
		released(t, env)
		sameAsRows(t, plan, src.selected, got)

		// At a fragment's root the node gives its column batches (the
		// functions' columns put back in the node's order).
		src.pos, src.selected = 0, nil
		cols, rowOp, err := env.BuildRoot(plan)
		if err != nil || cols == nil || rowOp != nil {
			t.Fatalf("BuildRoot: %T, %T, %v; want column batches", cols, rowOp, err)
		}
		if !slices.Equal(cols.Types(), oids) {
			t.Errorf("batches of types %v, want %v", cols.Types(), oids)
		}
		got = mustCollect(t, ColRows(cols))
		released(t, env)
		sameAsRows(t, plan, src.selected, got)
	}
}

// Windows whose functions need their partition (lag, lead, ntile,
// frames, percent_rank, RANGE aggregates) run on column batches
// (ColPartWindow) and give the row operators' rows; past a small budget
// they hand the partition and the rest of the input to the row window,
// which spills, with the same rows.
func TestBuildColPartWindow(t *testing.T) {
	c0, c1, c2, c3 := cCol(0, i8), cCol(1, text), cCol(2, i8), cCol(3, types.Numeric)
	part, ord := []*pb.Expr{c0}, []*pb.SortKey{{Expr: c2}}
	fn := func(name string, oid uint32, args ...*pb.Expr) *pb.WindowFunc {
		return &pb.WindowFunc{Func: name, Args: args, PartitionBy: part, OrderBy: ord, TypeOid: oid}
	}
	sum := fn("sum", types.Numeric, c3)
	sum.Agg = &pb.AggFunc{Func: "sum", Arg: c3, TypeOid: types.Numeric, ArgTypeOid: types.Numeric}
	first := fn("first_value", text, c1)
	first.Frame = &pb.WindowFrame{Rows: true, Start: pb.FrameBoundKind(OffsetPreceding), StartOffset: cI8(2), End: pb.FrameBoundKind(OffsetFollowing), EndOffset: cI8(1)}
	count := &pb.WindowFunc{Func: "count", PartitionBy: part, TypeOid: i8, Agg: &pb.AggFunc{Func: "count", TypeOid: i8}}
	win := &pb.WindowNode{Funcs: []*pb.WindowFunc{
		fn("lag", i8, c2), fn("lead", types.Numeric, c3, cI8(2), expr.Const(types.T(types.Numeric), apd.New(-1, 0))),
		fn("ntile", i8, cI8(4)), first, sum, count, fn("percent_rank", types.Float8), fn("cume_dist", types.Float8),
	}}
	oids := append(slices.Clone(aggInTypes), i8, types.Numeric, i8, text, types.Numeric, i8, types.Float8, types.Float8)
	plan := node(2, oids, win, &pb.PlanNode{Id: 1, Types: aggInTypes, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}})
	for _, rows := range [][]Row{aggInput(14, 20000, 50), aggInput(15, 20000, 5000)} {
		for _, mem := range []int64{0, 1 << 16} {
			env, _ := testEnv(t, mem)
			env.Stats = map[int32]*Stats{}
			src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(9, uint64(mem)))}
			env.Vectorize = true
			env.ColScan = func(*pb.PlanNode) (ColSource, error) { return src, nil }
			op := mustBuild(t, env, plan)
			if shape := windowShape(op); !strings.Contains(shape, "*exec.ColPartWindow *exec.ColPartWindow *exec.ColSort") {
				t.Errorf("built %s, want two ColPartWindows over a ColSort", shape)
			}
			got := mustCollect(t, op)
			released(t, env)
			// The NULL partition's 2,000 rows pass 64 KiB: handed over.
			if handed := !env.Stats[2].Vectorized; handed != (mem > 0) {
				t.Errorf("work_mem %d: handed over to the row window %v", mem, handed)
			}
			sameAsRows(t, plan, src.selected, got)
		}
	}
}

// sameAsRows checks got against the rows plan's row operators give over
// selected, the rows its column scan selected.
func sameAsRows(t *testing.T, plan *pb.PlanNode, selected, got []Row) {
	t.Helper()
	ref, _ := testEnv(t, 0)
	ref.Scan = func(*pb.PlanNode) (Operator, error) { return &testOp{rows: selected, batch: 500}, nil }
	want := mustCollect(t, mustBuild(t, ref, plan))
	if len(want) < 10000 {
		t.Fatalf("only %d rows selected", len(want))
	}
	sameMultiset(t, got, want)
}

func mustBuild(t *testing.T, env *Env, plan *pb.PlanNode) Operator {
	t.Helper()
	op, err := env.Build(plan)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// Input grouped for its first window (rows of a table clustered by the
// window's keys): that window is not sorted; another whose keys lead the
// first's is (the rows are grouped by the first window's keys, not
// sorted by their prefixes).
func TestBuildWindowGroupedInput(t *testing.T) {
	c0, c2 := cCol(0, i8), cCol(2, i8)
	plan := node(2, []uint32{i8, text, i8, i8, i8}, &pb.WindowNode{
		Funcs: []*pb.WindowFunc{
			{Func: "row_number", PartitionBy: []*pb.Expr{c0}, OrderBy: []*pb.SortKey{{Expr: c2}}, TypeOid: i8},
			{Func: "count", PartitionBy: []*pb.Expr{c0}, Agg: &pb.AggFunc{Func: "count", TypeOid: i8}, TypeOid: i8},
		},
		InputOrder: []*pb.SortKey{{Expr: c0}, {Expr: c2}}, InputGrouped: true,
	}, valuesA(1))
	env, _ := testEnv(t, 0)
	op := mustBuild(t, env, plan)
	if shape, want := windowShape(op), "[*exec.Window *exec.Sort *exec.Window *exec.Rows]"; shape != want {
		t.Errorf("built %v, want %s", shape, want)
	}
	op.Close()
}

// windowShape lists the operators a window node was built into, top down
// (through an instrumented operator, into column operators under rows).
func windowShape(op Operator) string {
	var shape []string
	var src ColSource
	for o := op; o != nil; {
		if x, ok := o.(*instrumented); ok {
			o = x.op
			continue
		}
		shape = append(shape, fmt.Sprintf("%T", o))
		switch x := o.(type) {
		case *Project:
			o = x.input
		case *Window:
			o = x.input
		case *Sort:
			o = x.input
		case *colToRows:
			o, src = nil, x.src
		default:
			o = nil
		}
	}
	for s := src; s != nil; {
		shape = append(shape, fmt.Sprintf("%T", s))
		switch x := s.(type) {
		case *ColWindow:
			s = x.in
		case *ColPartWindow:
			s = x.in
		case *ColSort:
			s = x.in
		default:
			s = nil
		}
	}
	return fmt.Sprint(shape)
}
