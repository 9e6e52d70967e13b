package exec

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// BenchmarkScanSelective: a scan of lineitem-like rows (16 columns) whose
// filter on a date passes 2% of them and whose output is three other
// columns (TPC-H Q14's shape). It scans 50,000 lineitem-like rows with a filter
// that keeps 2%, from the memtable and from sstables of 4 KiB (Pebble's
// default) and 32 KiB data blocks (DefaultBlockBytes).
func BenchmarkScanSelective(b *testing.B) {
	b.Run("memtable", func(b *testing.B) { benchScanSelective(b, 0, false) })
	b.Run("sstables-4k", func(b *testing.B) { benchScanSelective(b, 4<<10, true) })
	b.Run("sstables-32k", func(b *testing.B) { benchScanSelective(b, 32<<10, true) })
}

// lineitemLike stores n lineitem-like rows (16 columns) in a fresh
// engine (flushed to sstables of block-byte data blocks when flush) and
// returns the executor, the table and the rows.
func lineitemLike(b testing.TB, n, block int, flush bool) (*Executor, *meridianpb.TableDesc, [][]types.Datum) {
	cfg := storage.NewConfig()
	cfg.Dir = b.TempDir()
	cfg.BlockBytes = block
	st, err := storage.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	x := New(st, &countingGTM{})
	oids := []uint32{types.Int8, types.Int8, types.Int8, types.Int4, types.Numeric, types.Numeric, types.Numeric, types.Numeric,
		types.Bpchar, types.Bpchar, types.Date, types.Date, types.Date, types.Bpchar, types.Bpchar, types.Varchar}
	table := &meridianpb.TableDesc{Id: 10, Name: "li", Version: 1, DistColumns: []int32{0}}
	for i, o := range oids {
		table.Columns = append(table.Columns, &meridianpb.ColumnDesc{Name: fmt.Sprint("c", i), TypeOid: o, Typmod: -1})
	}
	var enc [][]byte
	var rows [][]types.Datum
	for i := 0; i < n; i++ {
		num := func(v int64) types.Datum { return apd.New(v, -2) }
		row := []types.Datum{int64(i), int64(i % 2000), int64(i % 100), int64(i % 7), num(int64(i % 5000)), num(int64(i*7) % 100000),
			num(int64(i % 11)), num(int64(i % 9)), "N", "O", types.DateVal(9000 + i%2500), types.DateVal(9000 + i%2400),
			types.DateVal(9001 + i%2500), "DELIVER IN PERSON", "TRUCK", fmt.Sprint("comment of row ", i)}
		enc = append(enc, codec.EncodeRow(nil, row))
		rows = append(rows, row)
	}
	if _, _, err := writeExec(b, x, 1, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
		Table: table, Rows: enc, Buckets: make([]uint32, n)}}}); err != nil {
		b.Fatal(err)
	}
	if flush {
		if err := st.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	return x, table, rows
}

func benchScanSelective(b *testing.B, block int, flush bool) {
	const n = 50000
	x, table, _ := lineitemLike(b, n, block, flush)
	date := types.T(types.Date)
	filter := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<", TypeOid: types.Bool, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(10, date), expr.Const(date, types.DateVal(9050))}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op, err := x.ScanOperator(storage.Snapshot{CSN: storage.Latest}, &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{
			Table: table, Columns: []int32{1, 5, 6}, Filter: filter}}}, func(uint32) bool { return true })
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := op.Open(ctx); err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			bt, err := op.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if bt == nil {
				break
			}
			rows += len(bt.Rows)
		}
		op.Close()
		if rows != n/50 {
			b.Fatalf("%d rows", rows)
		}
	}
}

// A key filter drops what keep rejects; one that drops little in its
// first keyFilterProbe rows turns itself off.
func TestKeyFilterPass(t *testing.T) {
	odd := keyFilter{keep: func(v int64) bool { return v%2 == 1 }}
	for v := int64(0); v < 3*keyFilterProbe; v++ {
		if got := odd.pass(v); got != (v%2 == 1) {
			t.Fatalf("filter of odd values: pass(%d) = %v", v, got)
		}
	}
	rare := keyFilter{keep: func(v int64) bool { return v%100 != 0 }}
	for v := int64(0); v < keyFilterProbe; v++ {
		rare.pass(v)
	}
	if !rare.off || !rare.pass(0) {
		t.Fatalf("a filter that dropped %d of %d rows is still on", rare.dropped, rare.seen)
	}
}

// A scan with a filter, output columns the filter does not read (decoded
// only for the rows it keeps) and a join's key filter returns exactly the
// rows that pass both, with their values — when few rows pass and when
// most do (late decoding turns itself off).
func TestScanOperatorFilters(t *testing.T) {
	const n = 20000
	x, table, rows := lineitemLike(t, n, 0, true)
	date := types.T(types.Date)
	for _, cut := range []int{9050, 11400} { // 2% of the rows, then 96%
		filter := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<", TypeOid: types.Bool, Typmod: -1,
			Args: []*meridianpb.Expr{expr.Column(10, date), expr.Const(date, types.DateVal(cut))}}
		op, err := x.ScanOperator(storage.Snapshot{CSN: storage.Latest}, &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Scan{Scan: &meridianpb.ScanNode{
			Table: table, Columns: []int32{1, 5, 6, 15}, Filter: filter}}}, func(uint32) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		even := func(v int64) bool { return v%2 == 0 }
		if !op.(sqlexec.KeyFilterer).FilterKeys(0, even) {
			t.Fatal("the scan refused a key filter on an integer column")
		}
		got, err := sqlexec.Run(context.Background(), op)
		if err != nil {
			t.Fatal(err)
		}
		var want [][]types.Datum
		for _, r := range rows {
			if int(r[10].(types.DateVal)) < cut && even(r[1].(int64)) {
				want = append(want, []types.Datum{r[1], r[5], r[6], r[15]})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("filter date < %d: %d rows, want %d", cut, len(got), len(want))
		}
		for i := range want { // one bucket: key (insertion) order
			for c := range want[i] {
				if types.Compare(got[i][c], want[i][c]) != 0 {
					t.Fatalf("filter date < %d: row %d column %d = %v, want %v", cut, i, c, got[i][c], want[i][c])
				}
			}
		}
	}
}
