package exec

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// gTable is distributed by id, with a global unique index on k.
var gTable = &meridianpb.TableDesc{Id: 30, Name: "gt", Version: 1, DistColumns: []int32{0}, Columns: []*meridianpb.ColumnDesc{
	{Name: "id", TypeOid: types.Int4, Typmod: -1}, {Name: "k", TypeOid: types.Int4, Typmod: -1}},
	GlobalIndexes: []*meridianpb.IndexDesc{{Id: 31, Name: "gt_k", Columns: []int32{1}, Unique: true}}}

func txnCtx(gxid uint64) *meridianpb.TxnContext {
	return &meridianpb.TxnContext{Gxid: gxid, SnapshotCsn: math.MaxUint64, CommandId: 1}
}

func run(x *Executor, req *meridianpb.ExecRequest) (Result, error) {
	return x.Exec(context.Background(), req, func([]types.Datum) error { return nil })
}

func insertRows(x *Executor, gxid uint64, commit bool, rows ...[]types.Datum) (Result, error) {
	spec := &meridianpb.InsertSpec{Table: gTable}
	for _, r := range rows {
		spec.Rows = append(spec.Rows, codec.EncodeRow(nil, r))
		spec.Buckets = append(spec.Buckets, codec.Bucket(r[:1]))
	}
	return run(x, &meridianpb.ExecRequest{Txn: txnCtx(gxid), Commit: commit, Op: &meridianpb.ExecRequest_Insert{Insert: spec}})
}

func entryWrite(x *Executor, gxid uint64, build bool, ops ...*meridianpb.GlobalIndexOp) error {
	_, err := run(x, &meridianpb.ExecRequest{Txn: txnCtx(gxid), Op: &meridianpb.ExecRequest_GlobalIndexWrite{
		GlobalIndexWrite: &meridianpb.GlobalIndexWrite{Table: gTable, Ops: ops, Build: build}}})
	return err
}

// entry is the insert op of key k for a row at (bucket 1, rowID).
func entry(k int64, rowID uint64) *meridianpb.GlobalIndexOp {
	vals := []types.Datum{k}
	return &meridianpb.GlobalIndexOp{IndexId: 31, Values: codec.EncodeRow(nil, vals), Bucket: codec.Bucket(vals), RowBucket: 1, RowSuffix: codec.RowSuffix(nil, nil, rowID)}
}

func deletion(k int64, rowID uint64) *meridianpb.GlobalIndexOp {
	op := entry(k, rowID)
	op.Delete = true
	return op
}

func commit(t *testing.T, x *Executor, gxid uint64) {
	t.Helper()
	if _, err := x.Commit(context.Background(), gxid, 0); err != nil {
		t.Fatalf("commit %d: %v", gxid, err)
	}
}

func wantUnique(t *testing.T, err error, msg, detail string) {
	t.Helper()
	e := pgerr.As(err)
	if e == nil || e.Code != pgerr.UniqueViolation || e.Message != msg || e.Detail != detail {
		t.Fatalf("got %v, want 23505 %q %q", err, msg, detail)
	}
}

// A write to a table with a global index reports the entries its rows
// need — none for a NULL key — and cannot commit in one phase (its
// entries would be left out).
func TestGlobalIndexReportsInserts(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	res, err := insertRows(x, 1, false, []types.Datum{int64(1), int64(10)}, []types.Datum{int64(2), nil}, []types.Datum{int64(3), int64(30)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IndexOps) != 2 {
		t.Fatalf("ops %v", res.IndexOps)
	}
	for i, want := range []int64{10, 30} {
		op := res.IndexOps[i]
		vals, err := codec.DecodeRow([]uint32{types.Int4}, nil, op.Values)
		if err != nil || vals[0] != want || op.Delete || op.IndexId != 31 || op.Bucket != codec.Bucket(vals) {
			t.Fatalf("op %d: %v (%v)", i, op, err)
		}
		id := int64(1 + 2*i)
		if op.RowBucket != codec.Bucket([]types.Datum{id}) || len(op.RowSuffix) != 8 {
			t.Fatalf("op %d: row at %d/%x", i, op.RowBucket, op.RowSuffix)
		}
	}
	commit(t, x, 1)

	_, err = insertRows(x, 2, true, []types.Datum{int64(4), int64(40)})
	if pgerr.Code(err) != pgerr.InternalError {
		t.Fatalf("one-phase commit with entries: %v", err)
	}
	var n int
	scan := &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Scan{Scan: &meridianpb.ScanSpec{Table: gTable}}}
	if _, err := x.Exec(context.Background(), scan, func([]types.Datum) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("rows after the refused commit: %d, %v", n, err)
	}
}

// UPDATE reports a delete and an insert for a changed key only; DELETE a
// delete per row with a key.
func TestGlobalIndexReportsUpdatesAndDeletes(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	if _, err := insertRows(x, 1, false, []types.Datum{int64(1), int64(10)}, []types.Datum{int64(2), int64(20)}); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 1)
	col := func(i int) *meridianpb.Expr { return expr.Column(i, types.T(types.Int4)) }
	upd := func(gxid uint64, set *meridianpb.Expr) []*meridianpb.GlobalIndexOp {
		res, err := run(x, &meridianpb.ExecRequest{Txn: txnCtx(gxid), Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
			Target: &meridianpb.ScanSpec{Table: gTable}, SetColumns: []int32{1}, SetValues: []*meridianpb.Expr{set}}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.IndexOps
	}
	if ops := upd(2, col(1)); len(ops) != 0 {
		t.Fatalf("k = k reported %v", ops)
	}
	commit(t, x, 2)
	ops := upd(3, expr.Const(types.T(types.Int4), int64(7)))
	if len(ops) != 4 || !ops[0].Delete || ops[1].Delete || !bytes.Equal(ops[0].RowSuffix, ops[1].RowSuffix) {
		t.Fatalf("k = 7 reported %v", ops)
	}
	commit(t, x, 3)
	res, err := run(x, &meridianpb.ExecRequest{Txn: txnCtx(4), Op: &meridianpb.ExecRequest_Delete{Delete: &meridianpb.DeleteSpec{
		Target: &meridianpb.ScanSpec{Table: gTable}}}})
	if err != nil || len(res.IndexOps) != 2 || !res.IndexOps[0].Delete || !res.IndexOps[1].Delete {
		t.Fatalf("delete reported %v, %v", res.IndexOps, err)
	}
}

// On the entry's datanode: a live key fails an insert with PostgreSQL's
// message and DETAIL; an in-flight writer of the key is waited for and
// decides (abort: the insert goes on; commit: 23505); a delete removes
// the entry of its own row only.
func TestGlobalIndexWrite(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	if err := entryWrite(x, 1, false, entry(5, 100)); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 1)
	wantUnique(t, entryWrite(x, 2, false, entry(5, 200)), `duplicate key value violates unique constraint "gt_k"`, "Key (k)=(5) already exists.")
	_ = x.Abort(2)

	// A delete naming another row leaves the entry.
	if err := entryWrite(x, 3, false, deletion(5, 999)); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 3)
	wantUnique(t, entryWrite(x, 4, false, entry(5, 200)), `duplicate key value violates unique constraint "gt_k"`, "Key (k)=(5) already exists.")
	_ = x.Abort(4)
	// Deletes go first: one request moves the key to another row.
	if err := entryWrite(x, 5, false, entry(5, 200), deletion(5, 100)); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 5)

	// In flight: the second writer waits for the first's outcome.
	if err := entryWrite(x, 6, false, entry(8, 300)); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- entryWrite(x, 7, false, entry(8, 301)) }()
	select {
	case err := <-second:
		t.Fatalf("second writer did not wait: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	_ = x.Abort(6)
	if err := <-second; err != nil {
		t.Fatalf("after the first aborted: %v", err)
	}
	third := make(chan error, 1)
	go func() { third <- entryWrite(x, 8, false, entry(8, 302)) }()
	select {
	case err := <-third:
		t.Fatalf("third writer did not wait: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	commit(t, x, 7)
	wantUnique(t, <-third, `duplicate key value violates unique constraint "gt_k"`, "Key (k)=(8) already exists.")
	_ = x.Abort(8)

	// Ops must name an index of the table and the key's own bucket.
	bad := entry(9, 1)
	bad.Bucket = (bad.Bucket + 1) % codec.NumBuckets
	if err := entryWrite(x, 9, false, bad); pgerr.Code(err) != pgerr.ProtocolViolation {
		t.Fatalf("wrong bucket: %v", err)
	}
	bad = entry(9, 1)
	bad.IndexId = 99
	if err := entryWrite(x, 9, false, bad); pgerr.Code(err) != pgerr.UndefinedObject {
		t.Fatalf("unknown index: %v", err)
	}
	bad = entry(9, 1)
	bad.Values = codec.EncodeRow(nil, []types.Datum{nil})
	if err := entryWrite(x, 9, false, bad); pgerr.Code(err) != pgerr.ProtocolViolation {
		t.Fatalf("NULL key: %v", err)
	}
}

// A build keeps an entry that already points to the same row and fails
// as CREATE UNIQUE INDEX does on a true duplicate; DROP INDEX and
// TRUNCATE remove the entries.
func TestGlobalIndexBuildAndDrop(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	if err := entryWrite(x, 1, false, entry(1, 10)); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 1)
	if err := entryWrite(x, 2, true, entry(1, 10), entry(2, 20)); err != nil {
		t.Fatalf("build over its own row's entry: %v", err)
	}
	wantUnique(t, entryWrite(x, 2, true, entry(2, 21)), `could not create unique index "gt_k"`, "Key (k)=(2) is duplicated.")
	_ = x.Abort(2)

	ctx := context.Background()
	if err := x.DDL(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_DropIndex{DropIndex: &meridianpb.DropIndex{IndexId: 31}}}); err != nil {
		t.Fatal(err)
	}
	if err := entryWrite(x, 3, false, entry(1, 11)); err != nil {
		t.Fatalf("after DROP INDEX: %v", err)
	}
	commit(t, x, 3)
	if err := x.DDL(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_ClearTable{ClearTable: gTable}}); err != nil {
		t.Fatal(err)
	}
	if err := entryWrite(x, 4, false, entry(1, 12)); err != nil {
		t.Fatalf("after TRUNCATE: %v", err)
	}
}

// GlobalIndexEntries lists, at its snapshot, the entries of the rows here.
func TestGlobalIndexEntries(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	if _, err := insertRows(x, 1, false, []types.Datum{int64(1), int64(10)}, []types.Datum{int64(2), nil}); err != nil {
		t.Fatal(err)
	}
	commit(t, x, 1)
	if _, err := insertRows(x, 2, false, []types.Datum{int64(3), int64(30)}); err != nil {
		t.Fatal(err)
	}
	// Transaction 2 is in flight: the build reads the committed rows.
	req := &meridianpb.ExecRequest{Txn: &meridianpb.TxnContext{SnapshotCsn: math.MaxUint64},
		Op: &meridianpb.ExecRequest_GlobalIndexEntries{GlobalIndexEntries: &meridianpb.GlobalIndexEntries{Table: gTable, IndexId: 31}}}
	res, err := run(x, req)
	if err != nil || len(res.IndexOps) != 1 {
		t.Fatalf("entries %v, %v", res.IndexOps, err)
	}
	if vals, _ := codec.DecodeRow([]uint32{types.Int4}, nil, res.IndexOps[0].Values); vals[0] != int64(10) {
		t.Fatalf("entry %v", vals)
	}
	req.GetGlobalIndexEntries().IndexId = 5
	if _, err := run(x, req); pgerr.Code(err) != pgerr.UndefinedObject {
		t.Fatalf("unknown index: %v", err)
	}
}

// The whole path over two datanodes: the row on one, its entry on the
// other, committed together by two-phase commit; an abort removes both.
func TestGlobalIndexTwoDatanodes(t *testing.T) {
	rows, entries := New(openEngine(t), &countingGTM{}), New(openEngine(t), &countingGTM{})
	ctx := context.Background()
	step := func(gxid uint64, id, k int64) error {
		res, err := insertRows(rows, gxid, false, []types.Datum{id, k})
		if err != nil {
			return err
		}
		return entryWrite(entries, gxid, false, res.IndexOps...)
	}
	if err := step(1, 1, 10); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Executor{rows, entries} {
		if err := x.Prepare(1, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []*Executor{rows, entries} {
		if _, err := x.Commit(ctx, 1, 1000); err != nil {
			t.Fatal(err)
		}
	}
	wantUnique(t, step(2, 2, 10), `duplicate key value violates unique constraint "gt_k"`, "Key (k)=(10) already exists.")
	_ = rows.Abort(2)
	_ = entries.Abort(2)
	if err := step(3, 3, 11); err != nil {
		t.Fatal(err)
	}
	_ = rows.Abort(3)
	_ = entries.Abort(3)
	if err := step(4, 4, 11); err != nil {
		t.Fatalf("key of an aborted insert: %v", err)
	}
}
