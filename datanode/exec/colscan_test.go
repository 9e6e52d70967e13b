package exec

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// A column scan of stored rows yields, batch after batch (the batches
// cycle between its goroutine and the reader), exactly the rows its
// filter keeps with the values of its output columns, in key order; a
// reader that stops early closes it cleanly.
func TestColScan(t *testing.T) {
	const n = 20000
	x, table, rows := lineitemLike(t, n, 0, true)
	date, num := types.T(types.Date), types.T(types.Numeric)
	snap := storage.Snapshot{CSN: storage.Latest}
	all := func(uint32) bool { return true }
	for _, cut := range []int{9050, 11400} { // 2% of the rows, then 96%
		filter := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_AND, TypeOid: types.Bool, Typmod: -1, Args: []*meridianpb.Expr{
			{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<", TypeOid: types.Bool, Typmod: -1,
				Args: []*meridianpb.Expr{expr.Column(10, date), expr.Const(date, types.DateVal(cut))}},
			{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: ">=", TypeOid: types.Bool, Typmod: -1,
				Args: []*meridianpb.Expr{expr.Column(6, num), expr.Column(7, num)}},
		}}
		node := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{
			Table: table, Columns: []int32{15, 1, 5}, Filter: filter}}}
		src, err := x.ColScan(snap, node, all)
		if err != nil || src == nil {
			t.Fatalf("column scan: %v, %v", src, err)
		}
		if got := src.Types(); len(got) != 3 || got[0] != types.Varchar || got[1] != types.Int8 || got[2] != types.Numeric {
			t.Fatalf("types %v", got)
		}
		// The date's range is a gate of the decoder (whichever of the
		// two cuts: the second one's turns itself off).
		if cs := src.(*colScan); len(cs.gates) != 1 || cs.gates[10] == nil {
			t.Fatalf("gates on columns %v, want one on c10", cs.gates)
		}
		ctx := context.Background()
		if err := src.Open(ctx); err != nil {
			t.Fatal(err)
		}
		var got [][]types.Datum
		for {
			b, err := src.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				break
			}
			for _, i := range b.Sel {
				got = append(got, b.Row(i))
			}
		}
		src.Close()
		var want [][]types.Datum
		for _, r := range rows {
			if int(r[10].(types.DateVal)) < cut && types.Compare(r[6], r[7]) >= 0 {
				want = append(want, []types.Datum{r[15], r[1], r[5]})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("date < %d: %d rows, want %d", cut, len(got), len(want))
		}
		sameRows(t, fmt.Sprintf("date < %d", cut), got, want)

		// As rows, with a join's key filter on column c1 (late decoding
		// of c15 and c5 for the rows kept when few are).
		op, err := x.ColScanRows(snap, node, all)
		if err != nil || op == nil {
			t.Fatalf("column scan as rows: %v, %v", op, err)
		}
		even := func(v int64) bool { return v%2 == 0 }
		if !op.(sqlexec.KeyFilterer).FilterKeys(1, even) || op.(sqlexec.KeyFilterer).FilterKeys(0, even) {
			t.Fatal("key filters: want one on the integer column c1, none on the text column c15")
		}
		rowsGot, err := sqlexec.Run(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		var wantEven [][]types.Datum
		for _, r := range want {
			if even(r[1].(int64)) {
				wantEven = append(wantEven, r)
			}
		}
		sameRows(t, fmt.Sprintf("rows of date < %d with even c1", cut), rowsGot, wantEven)
	}

	// A range of an integer column and a join's key filter on the same
	// column: both apply.
	i8 := types.T(types.Int8)
	cmp := func(op string, v int64) *meridianpb.Expr {
		return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: op, TypeOid: types.Bool, Typmod: -1,
			Args: []*meridianpb.Expr{expr.Const(i8, v), expr.Column(1, i8)}}
	}
	ranged := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{Table: table, Columns: []int32{1},
		Filter: &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_AND, TypeOid: types.Bool, Typmod: -1,
			Args: []*meridianpb.Expr{cmp("<=", 100), cmp(">", 5000)}}}}}
	op, err := x.ColScanRows(snap, ranged, all)
	if err != nil || op == nil {
		t.Fatalf("column scan as rows: %v, %v", op, err)
	}
	if !op.(sqlexec.KeyFilterer).FilterKeys(0, func(v int64) bool { return v%3 == 0 }) {
		t.Fatal("no key filter on c1")
	}
	got, err := sqlexec.Run(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]types.Datum
	for _, r := range rows {
		if v, ok := r[1].(int64); ok && v >= 100 && v < 5000 && v%3 == 0 {
			want = append(want, []types.Datum{r[1]})
		}
	}
	if len(want) == 0 {
		t.Fatal("no row in the range: the test proves nothing")
	}
	sameRows(t, "100 <= c1 < 5000, c1 % 3 = 0", got, want)

	// Stopping after the first batch.
	node := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{Table: table, Columns: []int32{0}}}}
	src, err := x.ColScan(snap, node, all)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, err := src.Next(context.Background()); err != nil || b == nil || len(b.Sel) == 0 {
		t.Fatalf("first batch: %v, %v", b, err)
	}
	src.Close()

	// Scans a column scan does not read: by index, with a limit, of row
	// keys.
	for _, sn := range []*meridianpb.ScanNode{
		{Table: table, Columns: []int32{0}, IndexId: 1},
		{Table: table, Columns: []int32{0}, Limit: 5},
		{Table: table, Columns: []int32{-1}},
	} {
		src, err := x.ColScan(snap, &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: sn}}, all)
		if src != nil || err != nil {
			t.Errorf("column scan of %v: %v, %v; want none", sn, src, err)
		}
	}
	op, err = x.ColScanRows(snap, node, all)
	if err != nil || op == nil {
		t.Fatalf("column scan as rows without a filter: %v, %v", op, err)
	}
	got, err = sqlexec.Run(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	want = make([][]types.Datum, len(rows))
	for i, r := range rows {
		want[i] = []types.Datum{r[0]}
	}
	sameRows(t, "every row", got, want)
}

func sameRows(t *testing.T, what string, got, want [][]types.Datum) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want { // one bucket: key (insertion) order
		for c := range want[i] {
			if types.Compare(got[i][c], want[i][c]) != 0 {
				t.Fatalf("%s: row %d column %d = %v, want %v", what, i, c, got[i][c], want[i][c])
			}
		}
	}
}

// BenchmarkScanRows compares the row scan (ScanOperator) with the
// vectorized one read as rows (ColScanRows) on 50,000 lineitem-like rows
// in sstables, with a date filter that keeps 2% of them (TPC-H Q14's
// shape: three output columns the filter does not read), one that keeps
// 96%, and none.
func BenchmarkScanRows(b *testing.B) {
	const n = 50000
	x, table, _ := lineitemLike(b, n, 32<<10, true)
	date := types.T(types.Date)
	for _, tc := range []struct {
		name string
		cut  int
		want int
	}{{"keep2pct", 9050, n / 50}, {"keep96pct", 11400, n * 96 / 100}, {"nofilter", 0, n}} {
		var filter *meridianpb.Expr
		if tc.cut > 0 {
			filter = &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<", TypeOid: types.Bool, Typmod: -1,
				Args: []*meridianpb.Expr{expr.Column(10, date), expr.Const(date, types.DateVal(tc.cut))}}
		}
		node := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{
			Table: table, Columns: []int32{1, 5, 6}, Filter: filter}}}
		for _, engine := range []string{"row", "vector"} {
			b.Run(tc.name+"/"+engine, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var op sqlexec.Operator
					var err error
					if engine == "row" {
						op, err = x.ScanOperator(storage.Snapshot{CSN: storage.Latest}, node, func(uint32) bool { return true })
					} else {
						op, err = x.ColScanRows(storage.Snapshot{CSN: storage.Latest}, node, func(uint32) bool { return true })
					}
					if err != nil {
						b.Fatal(err)
					}
					rows, err := sqlexec.Run(context.Background(), op)
					if err != nil {
						b.Fatal(err)
					}
					if len(rows) < tc.want-n/100 || len(rows) > tc.want+n/100 {
						b.Fatalf("%d rows, want about %d", len(rows), tc.want)
					}
				}
			})
		}
	}
}
