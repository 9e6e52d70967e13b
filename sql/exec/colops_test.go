package exec

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// A vector kernel over a projection's column that is computed row by row
// (upper(text): no kernel of its own) reads that column's values: the
// filter upper(c1) = 'S1' keeps the rows whose c1 is s1.
func TestFilterOverRowwiseColumn(t *testing.T) {
	rows := aggInput(62, 3000, 20)
	env, _ := testEnv(t, 0)
	src := &rowsColSource{types: aggInTypes, rows: rows, rng: rand.New(rand.NewPCG(1, 2))}
	env.Vectorize = true
	env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
	text := types.T(types.Text)
	up := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "upper", TypeOid: types.Text, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(1, text)}}
	scan := &meridianpb.PlanNode{Id: 3, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
	proj := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Project{Project: &meridianpb.ProjectNode{
		Exprs: []*meridianpb.Expr{up, expr.Column(0, types.T(types.Int8))}}}, Types: []uint32{types.Text, types.Int8}, Inputs: []*meridianpb.PlanNode{scan}}
	cond := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "=", TypeOid: types.Bool, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(0, text), expr.Const(text, "S1")}}
	filt := &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Filter{Filter: &meridianpb.FilterNode{Cond: cond}},
		Types: proj.Types, Inputs: []*meridianpb.PlanNode{proj}}
	cols, _, err := env.buildCols(filt)
	if err != nil {
		t.Fatal(err)
	}
	got := mustCollect(t, ColRows(cols))
	var want []Row
	for _, r := range src.selected {
		if s, ok := r[1].(string); ok && strings.ToUpper(s) == "S1" {
			want = append(want, Row{"S1", r[0]})
		}
	}
	if len(want) == 0 {
		t.Fatal("no row passes: the test proves nothing")
	}
	sameRows(t, got, want)
}

// A fragment's LIMIT over a scan read by column cuts the batches'
// selections: the rows after the offset, up to the limit, and no more
// batches read than it takes.
func TestColLimit(t *testing.T) {
	rows := aggInput(63, 20000, 20)
	for _, tc := range []struct{ limit, offset int64 }{{100, 0}, {100, 5}, {3000, 1500}, {0, 0}, {-1, 19000}} {
		env, _ := testEnv(t, 0)
		src := &rowsColSource{types: aggInTypes, rows: rows, all: true, rng: rand.New(rand.NewPCG(1, 2))}
		env.Vectorize = true
		env.ColScan = func(*meridianpb.PlanNode) (ColSource, error) { return src, nil }
		scan := &meridianpb.PlanNode{Id: 2, Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{}}, Types: aggInTypes}
		ln := &meridianpb.LimitNode{}
		if tc.limit >= 0 {
			ln.Limit = expr.Const(types.T(types.Int8), tc.limit)
		}
		if tc.offset > 0 {
			ln.Offset = expr.Const(types.T(types.Int8), tc.offset)
		}
		plan := &meridianpb.PlanNode{Id: 1, Op: &meridianpb.PlanNode_Limit{Limit: ln}, Types: aggInTypes, Inputs: []*meridianpb.PlanNode{scan}}
		cols, op, err := env.BuildRoot(plan)
		if err != nil || op != nil {
			t.Fatalf("%+v: built %T, %v; want column batches", tc, op, err)
		}
		got := mustCollect(t, ColRows(cols))
		end := int64(len(rows))
		if tc.limit >= 0 {
			end = min(end, tc.offset+tc.limit)
		}
		want := rows[min(tc.offset, end):end]
		sameRows(t, got, want)
		if tc.limit >= 0 && len(src.selected) > int(end)+2*1024 {
			t.Errorf("%+v: %d rows read for %d", tc, len(src.selected), end)
		}
	}
}
