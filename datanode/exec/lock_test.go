package exec

import (
	"context"
	"math"
	"sync/atomic"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

type countingGTM struct{ n atomic.Uint64 }

func (g *countingGTM) Commit(context.Context) (uint64, error) { return g.n.Add(1), nil }

var lockTable = &meridianpb.TableDesc{Id: 7, Name: "jobs", Version: 1, DistColumns: []int32{0}, Columns: []*meridianpb.ColumnDesc{
	{Name: "id", TypeOid: types.Int4, Typmod: -1}, {Name: "v", TypeOid: types.Int4, Typmod: -1}}}

// lockExec runs a scan of lockTable for transaction gxid and returns the
// rows (id, v[, row key]).
func lockExec(t *testing.T, x *Executor, gxid uint64, spec *meridianpb.ScanSpec) ([][]types.Datum, error) {
	t.Helper()
	spec.Table = lockTable
	spec.Projection = []*meridianpb.Expr{expr.Column(0, types.T(types.Int4)), expr.Column(1, types.T(types.Int4))}
	tc := &meridianpb.TxnContext{Gxid: gxid, SnapshotCsn: math.MaxUint64, CommandId: 1}
	var rows [][]types.Datum
	_, err := x.Exec(context.Background(), &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Scan{Scan: spec}},
		func(row []types.Datum) error {
			rows = append(rows, append([]types.Datum(nil), row...))
			return nil
		})
	return rows, err
}

func ids(rows [][]types.Datum) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r[0].(int64)
	}
	return out
}

func sameIDs(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLockScan: a locking scan locks the rows it returns, in ORDER BY
// order, no more than its limit; NOWAIT names the relation; SKIP LOCKED
// leaves locked rows out; row keys come back and can be locked by key.
func TestLockScan(t *testing.T) {
	x := New(openEngine(t), &countingGTM{})
	var rows [][]byte
	var buckets []uint32
	for i := int64(1); i <= 5; i++ {
		r := []types.Datum{i, i * 10}
		rows = append(rows, codec.EncodeRow(nil, r))
		buckets = append(buckets, codec.Bucket([]types.Datum{i}))
	}
	ins := &meridianpb.ExecRequest{Txn: &meridianpb.TxnContext{Gxid: 1, SnapshotCsn: math.MaxUint64, CommandId: 1}, Commit: true,
		Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{Table: lockTable, Rows: rows, Buckets: buckets}}}
	if _, err := x.Exec(context.Background(), ins, func([]types.Datum) error { return nil }); err != nil {
		t.Fatal(err)
	}
	forUpdate := func(w meridianpb.LockWaitPolicy) *meridianpb.RowLock {
		return &meridianpb.RowLock{Strength: meridianpb.LockStrength_LOCK_FOR_UPDATE, Wait: w}
	}
	desc := []*meridianpb.SortKey{{Expr: expr.Column(0, types.T(types.Int4)), Desc: true}}

	// Transaction 2 locks the two highest ids.
	got, err := lockExec(t, x, 2, &meridianpb.ScanSpec{Lock: forUpdate(0), OrderBy: desc, Limit: 2})
	if err != nil || !sameIDs(ids(got), 5, 4) {
		t.Fatalf("locked %v, %v", ids(got), err)
	}
	// Transaction 3: NOWAIT fails on them, SKIP LOCKED passes them by.
	_, err = lockExec(t, x, 3, &meridianpb.ScanSpec{Lock: forUpdate(meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT), OrderBy: desc, Limit: 1})
	if pgerr.Code(err) != pgerr.LockNotAvailable || pgerr.As(err).Message != `could not obtain lock on row in relation "jobs"` {
		t.Fatalf("NOWAIT: %v", err)
	}
	got, err = lockExec(t, x, 3, &meridianpb.ScanSpec{Lock: forUpdate(meridianpb.LockWaitPolicy_LOCK_WAIT_SKIP), OrderBy: desc, Limit: 2})
	if err != nil || !sameIDs(ids(got), 3, 2) {
		t.Fatalf("SKIP LOCKED: %v, %v", ids(got), err)
	}
	// Unlocked candidates with their row keys, then a lock by key, in
	// the order given.
	got, err = lockExec(t, x, 4, &meridianpb.ScanSpec{OrderBy: desc, Limit: 5, WithRowKeys: true})
	if err != nil || len(got) != 5 || len(got[0]) != 3 {
		t.Fatalf("candidates: %v, %v", got, err)
	}
	keyOf := map[int64][]byte{}
	for _, r := range got {
		keyOf[r[0].(int64)] = r[2].([]byte)
	}
	got, err = lockExec(t, x, 4, &meridianpb.ScanSpec{Lock: forUpdate(meridianpb.LockWaitPolicy_LOCK_WAIT_SKIP),
		RowKeys: [][]byte{keyOf[5], keyOf[1], keyOf[3], keyOf[2]}, Limit: 1})
	if err != nil || !sameIDs(ids(got), 1) {
		t.Fatalf("lock by key: %v, %v", ids(got), err)
	}
	if _, err := lockExec(t, x, 4, &meridianpb.ScanSpec{RowKeys: [][]byte{[]byte("not a row key")}}); pgerr.Code(err) != pgerr.ProtocolViolation {
		t.Fatalf("bad row key: %v", err)
	}
	// Ending transaction 2 frees its rows.
	if err := x.Abort(2); err != nil {
		t.Fatal(err)
	}
	got, err = lockExec(t, x, 5, &meridianpb.ScanSpec{Lock: forUpdate(meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT), OrderBy: desc, Limit: 2})
	if err != nil || !sameIDs(ids(got), 5, 4) {
		t.Fatalf("after abort: %v, %v", ids(got), err)
	}
}
