package exec

import (
	"context"
	"math"
	"sort"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// writeExec runs a write request of transaction gxid, committed with it,
// and returns the RETURNING rows sorted by their first column.
func writeExec(t testing.TB, x *Executor, gxid uint64, req *meridianpb.ExecRequest) ([][]types.Datum, int64, error) {
	t.Helper()
	req.Txn = &meridianpb.TxnContext{Gxid: gxid, SnapshotCsn: math.MaxUint64, CommandId: 1}
	req.Commit = true
	var rows [][]types.Datum
	res, err := x.Exec(context.Background(), req, func(row []types.Datum) error {
		rows = append(rows, append([]types.Datum(nil), row...))
		return nil
	})
	sort.Slice(rows, func(i, j int) bool { return types.Compare(rows[i][0], rows[j][0]) < 0 })
	return rows, res.RowsAffected, err
}

func int4Rows(rows ...[]types.Datum) [][]byte {
	out := make([][]byte, len(rows))
	for i, r := range rows {
		out[i] = codec.EncodeRow(nil, r)
	}
	return out
}

// TestRowTargets: an UPDATE or DELETE of rows the coordinator names (by
// row key, or by value for a replicated table) changes each row that
// still passes the filter, which — like SET and RETURNING — reads the
// row followed by its extras.
func TestRowTargets(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	int4 := types.T(types.Int4)
	var buckets []uint32
	var rows [][]types.Datum
	for i := int64(1); i <= 4; i++ {
		rows = append(rows, []types.Datum{i, i * 10})
		buckets = append(buckets, codec.Bucket([]types.Datum{i}))
	}
	if _, _, err := writeExec(t, x, 1, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
		Table: lockTable, Rows: int4Rows(rows...), Buckets: buckets}}}); err != nil {
		t.Fatal(err)
	}
	got, err := lockExec(t, x, 2, &meridianpb.ScanSpec{WithRowKeys: true})
	if err != nil || len(got) != 4 {
		t.Fatalf("row keys: %v, %v", got, err)
	}
	keyOf := map[int64][]byte{}
	for _, r := range got {
		keyOf[r[0].(int64)] = r[2].([]byte)
	}
	// Rows 1, 2, 3 with an extra each; the filter (extra > 150) keeps 2
	// and 3; v becomes v + extra; RETURNING id, v, extra.
	extra := expr.Column(2, int4)
	gt := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: ">", TypeOid: types.Bool, Typmod: -1,
		Args: []*meridianpb.Expr{extra, expr.Const(int4, int64(150))}}
	plus := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "+", TypeOid: types.Int4, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(1, int4), extra}}
	targets := &meridianpb.RowTargets{RowKeys: [][]byte{keyOf[1], keyOf[2], keyOf[3]},
		Extras: int4Rows([]types.Datum{int64(100)}, []types.Datum{int64(200)}, []types.Datum{int64(300)}), ExtraTypes: []uint32{types.Int4}}
	ret := []*meridianpb.Expr{expr.Column(0, int4), expr.Column(1, int4), extra}
	got, n, err := writeExec(t, x, 3, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
		Target: &meridianpb.ScanSpec{Table: lockTable, Filter: gt}, SetColumns: []int32{1}, SetValues: []*meridianpb.Expr{plus},
		Returning: ret, Rows: targets}}})
	if err != nil || n != 2 || len(got) != 2 || got[0][1] != int64(220) || got[1][1] != int64(330) || got[1][2] != int64(300) {
		t.Fatalf("update: %d %v, %v", n, got, err)
	}
	// A key of a deleted row is passed over.
	got, n, err = writeExec(t, x, 4, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{
		Target: &meridianpb.ScanSpec{Table: lockTable}, Returning: ret[:2], Rows: &meridianpb.RowTargets{RowKeys: [][]byte{keyOf[2]}}}}})
	if err != nil || n != 1 || got[0][1] != int64(220) {
		t.Fatalf("delete: %d %v, %v", n, got, err)
	}
	_, n, err = writeExec(t, x, 5, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{
		Target: &meridianpb.ScanSpec{Table: lockTable}, Rows: &meridianpb.RowTargets{RowKeys: [][]byte{keyOf[2], keyOf[4]}}}}})
	if err != nil || n != 1 {
		t.Fatalf("delete of a deleted row: %d, %v", n, err)
	}
	// Malformed requests.
	for name, rt := range map[string]*meridianpb.RowTargets{
		"keys and images":   {RowKeys: [][]byte{keyOf[1]}, Images: int4Rows([]types.Datum{int64(1), int64(10)})},
		"extras per target": {RowKeys: [][]byte{keyOf[1], keyOf[3]}, Extras: int4Rows([]types.Datum{int64(1)}), ExtraTypes: []uint32{types.Int4}},
		"a foreign key":     {RowKeys: [][]byte{codec.RowKey(99, 1, codec.RowSuffix(nil, nil, 1))}},
	} {
		_, _, err := writeExec(t, x, 6, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{
			Target: &meridianpb.ScanSpec{Table: lockTable}, Rows: rt}}})
		if pgerr.Code(err) != pgerr.ProtocolViolation {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// A replicated table: rows by value, every equal row a target.
	rep := &meridianpb.TableDesc{Id: 8, Name: "rep", Version: 1, Dist: meridianpb.DistKind_DIST_REPLICATION, Columns: lockTable.Columns}
	if _, _, err := writeExec(t, x, 7, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
		Table: rep, Rows: int4Rows([]types.Datum{int64(1), int64(10)}, []types.Datum{int64(1), int64(10)}, []types.Datum{int64(2), nil}),
		Buckets: []uint32{0, 0, 0}}}}); err != nil {
		t.Fatal(err)
	}
	got, n, err = writeExec(t, x, 8, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
		Target: &meridianpb.ScanSpec{Table: rep}, SetColumns: []int32{1}, SetValues: []*meridianpb.Expr{extra}, Returning: ret,
		Rows: &meridianpb.RowTargets{Images: int4Rows([]types.Datum{int64(1), int64(10)}, []types.Datum{int64(2), nil}),
			Extras: int4Rows([]types.Datum{int64(7)}, []types.Datum{int64(8)}), ExtraTypes: []uint32{types.Int4}}}}})
	if err != nil || n != 3 || len(got) != 3 || got[0][1] != int64(7) || got[1][1] != int64(7) || got[2][1] != int64(8) {
		t.Fatalf("update by value: %d %v, %v", n, got, err)
	}
}
