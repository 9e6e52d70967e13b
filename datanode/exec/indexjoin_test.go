package exec

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// A batch of index lookups on stored rows finds, for each key, exactly
// the rows with that key that pass the filter (none for a key no row
// has), through a unique index and a non-unique one, with row keys when
// asked; a key the join is done with gets no more rows.
func TestIndexLookupBatch(t *testing.T) {
	cfg := storage.NewConfig()
	cfg.Dir = t.TempDir()
	st, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the lookups' readers, released by later cleanups
	x := New(st, &countingGTM{})
	table := &meridianpb.TableDesc{Id: 40, Name: "t", Version: 1, DistColumns: []int32{0}, Indexes: []*meridianpb.IndexDesc{
		{Id: 41, Name: "t_k", Columns: []int32{1}},
		{Id: 42, Name: "t_pkey", Columns: []int32{0}, Unique: true, Primary: true},
	}}
	for i, o := range []uint32{types.Int8, types.Int8, types.Text} {
		table.Columns = append(table.Columns, &meridianpb.ColumnDesc{Name: fmt.Sprint("c", i), TypeOid: o, Typmod: -1})
	}
	const n = 3000
	var enc [][]byte
	var buckets []uint32
	for i := 0; i < n; i++ {
		enc = append(enc, codec.EncodeRow(nil, []types.Datum{int64(i), int64(i % 97), fmt.Sprint("v", i)}))
		buckets = append(buckets, uint32(i*7919%16384)) // rows of one key far apart
	}
	if _, _, err := writeExec(t, x, 1, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
		Table: table, Rows: enc, Buckets: buckets}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	i8 := types.T(types.Int8)
	odd := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "<>", TypeOid: types.Bool, Typmod: -1, Args: []*meridianpb.Expr{
		{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "%", TypeOid: types.Int8, Typmod: -1, Args: []*meridianpb.Expr{expr.Column(0, i8), expr.Const(i8, int64(2))}},
		expr.Const(i8, int64(0))}}
	lookup := func(index uint32, filter *meridianpb.Expr) sqlexec.IndexLookup {
		node := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_IndexJoin{IndexJoin: &meridianpb.IndexJoinNode{
			Table: table, IndexId: index, LookupKeys: []*meridianpb.Expr{expr.Column(0, i8)}, Columns: []int32{0, 1, 2, -1}, Filter: filter}}}
		l, release, err := x.IndexLookup(storage.Snapshot{CSN: storage.Latest}, node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		return l
	}
	keys := [][]types.Datum{{int64(5)}, {int64(200)}, {int64(96)}, {int64(0)}}
	for _, tc := range []struct {
		name   string
		index  uint32
		filter *meridianpb.Expr
		match  func(id, k int64) bool
	}{
		{"by k", 41, nil, func(id, k int64) bool { return true }},
		{"by k, odd ids", 41, odd, func(id, k int64) bool { return id%2 != 0 }},
	} {
		got := map[int][]string{}
		err := lookup(tc.index, tc.filter)(context.Background(), keys, func(i int, row sqlexec.Row) error {
			rk, ok := row[3].([]byte)
			if !ok || len(rk) == 0 {
				t.Fatalf("%s: row %v without its row key", tc.name, row)
			}
			got[i] = append(got[i], fmt.Sprint(row[:3]...))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, key := range keys {
			var want []string
			for id := int64(0); id < n; id++ {
				if id%97 == key[0].(int64) && tc.match(id, key[0].(int64)) {
					want = append(want, fmt.Sprint(id, id%97, fmt.Sprint("v", id)))
				}
			}
			sort.Strings(got[i])
			sort.Strings(want)
			if !slices.Equal(got[i], want) {
				t.Errorf("%s: key %v: %d rows, want %d", tc.name, key, len(got[i]), len(want))
			}
		}
	}

	// The unique index: point reads.
	got := map[int]string{}
	err = lookup(42, nil)(context.Background(), [][]types.Datum{{int64(7)}, {int64(n + 5)}, {int64(2999)}}, func(i int, row sqlexec.Row) error {
		got[i] = fmt.Sprint(row[:3]...)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != fmt.Sprint(7, 7, "v7") || got[2] != fmt.Sprint(2999, 2999%97, "v2999") {
		t.Errorf("unique lookups: %v, %v", got, err)
	}

	// Done with a key: no more of its rows.
	count := map[int]int{}
	err = lookup(41, nil)(context.Background(), keys, func(i int, row sqlexec.Row) error {
		count[i]++
		if i == 0 {
			return sqlexec.ErrLookupDone
		}
		return nil
	})
	if err != nil || count[0] != 1 || count[2] < 2 {
		t.Errorf("rows per key with key 0 done at its first: %v, %v", count, err)
	}
}
