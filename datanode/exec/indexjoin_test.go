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
	st := openEngine(t) // closed after the lookups' readers (later cleanups)
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
	err := lookup(42, nil)(context.Background(), [][]types.Datum{{int64(7)}, {int64(n + 5)}, {int64(2999)}}, func(i int, row sqlexec.Row) error {
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

// In a table clustered by its primary key (a, b), distributed by a, a
// lookup by a or by (a, b) reads the rows under the key's prefix directly
// — the same rows, filter and early end as the index path — and an UPDATE
// of b moves the row: lookups by the primary key and by another index
// find it at its new key, none at the old one.
func TestClusteredIndexLookup(t *testing.T) {
	x := New(openEngine(t), &countingGTM{}) // closed after the lookups' readers (later cleanups)
	table := &meridianpb.TableDesc{Id: 50, Name: "c", Version: 1, DistColumns: []int32{0}, ClusterIndex: 52, Indexes: []*meridianpb.IndexDesc{
		{Id: 51, Name: "c_v", Columns: []int32{2}},
		{Id: 52, Name: "c_pkey", Columns: []int32{0, 1}, Unique: true, Primary: true},
	}}
	for i, o := range []uint32{types.Int8, types.Int8, types.Text} {
		table.Columns = append(table.Columns, &meridianpb.ColumnDesc{Name: fmt.Sprint("c", i), TypeOid: o, Typmod: -1})
	}
	type row struct {
		a, b int64
		v    string
	}
	var rows []row
	var enc [][]byte
	var buckets []uint32
	for a := int64(0); a < 300; a++ {
		for b := int64(0); b <= a%5; b++ {
			r := row{a, b * 10, fmt.Sprint("v", (a+b)%31)}
			rows = append(rows, r)
			enc = append(enc, codec.EncodeRow(nil, []types.Datum{r.a, r.b, r.v}))
			buckets = append(buckets, codec.Bucket([]types.Datum{r.a}))
		}
	}
	if _, _, err := writeExec(t, x, 1, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Insert{Insert: &meridianpb.InsertSpec{
		Table: table, Rows: enc, Buckets: buckets}}}); err != nil {
		t.Fatal(err)
	}
	ti, err := x.tables.get(table)
	if err != nil {
		t.Fatal(err)
	}
	if clusterLookup(ti, ti.index(52), 1) == nil || clusterLookup(ti, ti.index(52), 2) == nil || clusterLookup(ti, ti.index(51), 1) != nil {
		t.Fatal("clusterLookup: the primary key's lookups do not read the rows directly, or the other index's do")
	}
	i8 := types.T(types.Int8)
	bigB := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: ">=", TypeOid: types.Bool, Typmod: -1, Args: []*meridianpb.Expr{
		expr.Column(1, i8), expr.Const(i8, int64(20))}}
	lookup := func(index uint32, nkeys int, filter *meridianpb.Expr) sqlexec.IndexLookup {
		keys := []*meridianpb.Expr{expr.Column(0, i8), expr.Column(1, i8)}[:nkeys]
		if index == 51 {
			keys = []*meridianpb.Expr{expr.Column(0, types.T(types.Text))}
		}
		node := &meridianpb.PlanNode{Op: &meridianpb.PlanNode_IndexJoin{IndexJoin: &meridianpb.IndexJoinNode{
			Table: table, IndexId: index, LookupKeys: keys, Columns: []int32{0, 1, 2, -1}, Filter: filter}}}
		l, release, err := x.IndexLookup(storage.Snapshot{CSN: storage.Latest}, node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		return l
	}
	// collect runs a lookup and returns each key's rows, sorted, checking
	// that every row key is the table's.
	collect := func(l sqlexec.IndexLookup, keys [][]types.Datum) map[int][]string {
		t.Helper()
		got := map[int][]string{}
		err := l(context.Background(), keys, func(i int, r sqlexec.Row) error {
			if tb, _, _, err := codec.DecodeRowKey(r[3].([]byte)); err != nil || tb != 50 {
				t.Fatalf("row %v: row key %x (%v)", r, r[3], err)
			}
			got[i] = append(got[i], fmt.Sprint(r[:3]...))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			sort.Strings(g)
		}
		return got
	}
	want := func(keys [][]types.Datum, match func(r row, key []types.Datum) bool) map[int][]string {
		w := map[int][]string{}
		for i, k := range keys {
			for _, r := range rows {
				if match(r, k) {
					w[i] = append(w[i], fmt.Sprint(r.a, r.b, r.v))
				}
			}
			sort.Strings(w[i])
		}
		return w
	}
	check := func(name string, got, want map[int][]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
	}
	byA := [][]types.Datum{{int64(299)}, {int64(4)}, {int64(1000)}, {int64(0)}, {int64(123)}, {int64(4)}}
	check("by a", collect(lookup(52, 1, nil), byA), want(byA, func(r row, k []types.Datum) bool { return r.a == k[0].(int64) }))
	check("by a, b >= 20", collect(lookup(52, 1, bigB), byA), want(byA, func(r row, k []types.Datum) bool { return r.a == k[0].(int64) && r.b >= 20 }))
	byAB := [][]types.Datum{{int64(9), int64(30)}, {int64(9), int64(31)}, {int64(0), int64(0)}}
	check("by a, b", collect(lookup(52, 2, nil), byAB), want(byAB, func(r row, k []types.Datum) bool { return r.a == k[0].(int64) && r.b == k[1].(int64) }))
	byV := [][]types.Datum{{"v3"}, {"v30"}}
	check("by v", collect(lookup(51, 1, nil), byV), want(byV, func(r row, k []types.Datum) bool { return r.v == k[0].(string) }))

	// Done with a key after its first row.
	count := map[int]int{}
	err = lookup(52, 1, nil)(context.Background(), byA, func(i int, _ sqlexec.Row) error {
		count[i]++
		return sqlexec.ErrLookupDone
	})
	if err != nil || fmt.Sprint(count) != fmt.Sprint(map[int]int{0: 1, 1: 1, 3: 1, 4: 1, 5: 1}) {
		t.Errorf("rows per key, done at the first: %v, %v", count, err)
	}

	// b = b + 1000 where a = 9: the rows move.
	set := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "+", TypeOid: types.Int8, Typmod: -1, Args: []*meridianpb.Expr{
		expr.Column(1, i8), expr.Const(i8, int64(1000))}}
	where := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_FUNC, Name: "=", TypeOid: types.Bool, Typmod: -1, Args: []*meridianpb.Expr{
		expr.Column(0, i8), expr.Const(i8, int64(9))}}
	if _, n, err := writeExec(t, x, 2, &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Update{Update: &meridianpb.UpdateSpec{
		Target: &meridianpb.ScanSpec{Table: table, Filter: where}, SetColumns: []int32{1}, SetValues: []*meridianpb.Expr{set}}}}); err != nil || n != 5 {
		t.Fatalf("update: %d rows, %v", n, err)
	}
	for i := range rows {
		if rows[i].a == 9 {
			rows[i].b += 1000
		}
	}
	byAB = [][]types.Datum{{int64(9), int64(30)}, {int64(9), int64(1030)}, {int64(9), int64(1000)}}
	check("by a, b after the move", collect(lookup(52, 2, nil), byAB), want(byAB, func(r row, k []types.Datum) bool { return r.a == k[0].(int64) && r.b == k[1].(int64) }))
	byA = [][]types.Datum{{int64(9)}}
	check("by a after the move", collect(lookup(52, 1, nil), byA), want(byA, func(r row, k []types.Datum) bool { return r.a == k[0].(int64) }))
	byV = [][]types.Datum{{fmt.Sprint("v", 9%31)}, {fmt.Sprint("v", (9+3)%31)}}
	check("by v after the move", collect(lookup(51, 1, nil), byV), want(byV, func(r row, k []types.Datum) bool { return r.v == k[0].(string) }))
	// A scan by the primary key's values reads the rows under their prefix.
	for _, eq := range [][]int64{{9}, {9, 1030}, {9, 30}, {4}} {
		spec := &meridianpb.ScanSpec{Table: table, IndexId: 52}
		for _, v := range eq {
			spec.IndexEq = append(spec.IndexEq, expr.Const(i8, v))
		}
		var got, want []string
		_, err := x.Exec(context.Background(), &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Scan{Scan: spec}}, func(r []types.Datum) error {
			got = append(got, fmt.Sprint(r...))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.a == eq[0] && (len(eq) == 1 || r.b == eq[1]) {
				want = append(want, fmt.Sprint(r.a, r.b, r.v))
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("scan by %v: %v, want %v", eq, got, want)
		}
	}
	// The table holds each row once.
	var n int
	scan := &meridianpb.ExecRequest{Op: &meridianpb.ExecRequest_Scan{Scan: &meridianpb.ScanSpec{Table: table}}}
	if _, err := x.Exec(context.Background(), scan, func([]types.Datum) error { n++; return nil }); err != nil || n != len(rows) {
		t.Fatalf("rows after the move: %d, want %d (%v)", n, len(rows), err)
	}
}
