package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// kvRows is the number of rows COPY loads into kv.
const kvRows = 100_000

// kvRow is the client's copy of one row of kv.
type kvRow struct {
	v     *string // nil: NULL
	cents int64   // n in hundredths
	ts    time.Time
}

// kvModel is what kv must contain.
type kvModel map[int64]kvRow

var tsBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// newKVModel makes the rows: keys scattered over [-500000, 500002] (7919 is
// invertible modulo the prime 1000003, so they are distinct), some NULL
// texts, texts that need COPY escapes, negative numerics, microseconds.
func newKVModel() kvModel {
	m := make(kvModel, kvRows)
	for i := int64(1); i <= kvRows; i++ {
		k := (i*7919)%1000003 - 500000
		var v *string
		switch {
		case i%97 == 0:
		case i%1000 == 1:
			s := fmt.Sprintf("tab\there back\\slash nl\nx ünï %d", k)
			v = &s
		default:
			s := fmt.Sprintf("v%d", k)
			v = &s
		}
		m[k] = kvRow{v: v, cents: (i*7919*13)%2_000_000 - 1_000_000,
			ts: tsBase.Add(time.Duration(i)*37*time.Second + time.Duration(i%1000)*time.Microsecond)}
	}
	return m
}

func (m kvModel) sortedKeys() []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// copyText is a row in COPY's text format.
func copyText(k int64, r kvRow) string {
	v := `\N`
	if r.v != nil {
		v = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(*r.v)
	}
	return fmt.Sprintf("%d\t%s\t%s\t%s\n", k, v, centsText(r.cents), r.ts.Format("2006-01-02 15:04:05.999999"))
}

func centsText(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// copyIn loads the given keys of m through one coordinator with COPY FROM
// STDIN in text format, streamed.
func copyIn(ctx context.Context, conn *pgx.Conn, m kvModel, keys []int64) (int64, error) {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		for _, k := range keys {
			if _, err := w.WriteString(copyText(k, m[k])); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Flush())
	}()
	tag, err := conn.PgConn().CopyFrom(ctx, pr, "COPY kv (k, v, n, ts) FROM STDIN")
	pr.Close()
	return tag.RowsAffected(), err
}

// sums are the aggregates checked after every change and restart.
type sums struct {
	count, countV, sumK, sumCents int64
	minK, maxK                    int64
	minTS, maxTS                  time.Time
}

func (m kvModel) sums() sums {
	var s sums
	first := true
	for k, r := range m {
		s.count++
		if r.v != nil {
			s.countV++
		}
		s.sumK += k
		s.sumCents += r.cents
		if first || k < s.minK {
			s.minK = k
		}
		if first || k > s.maxK {
			s.maxK = k
		}
		if first || r.ts.Before(s.minTS) {
			s.minTS = r.ts
		}
		if first || r.ts.After(s.maxTS) {
			s.maxTS = r.ts
		}
		first = false
	}
	return s
}

// checkSums compares count, sums and extremes of kv through conn.
func checkSums(t *testing.T, conn *pgx.Conn, who string, m kvModel) {
	t.Helper()
	want := m.sums()
	var count, countV int64
	var sumK, sumN, minK, maxK any
	var minTS, maxTS time.Time
	mustQueryRow(t, conn, []any{&count, &countV, &sumK, &sumN, &minK, &maxK, &minTS, &maxTS},
		"SELECT count(*), count(v), sum(k), sum(n), min(k), max(k), min(ts), max(ts) FROM kv")
	if count != want.count || countV != want.countV {
		t.Errorf("%s: count(*), count(v) = %d, %d; want %d, %d", who, count, countV, want.count, want.countV)
	}
	checkNum(t, who+": sum(k)", sumK, big.NewRat(want.sumK, 1))
	checkNum(t, who+": sum(n)", sumN, cents(want.sumCents))
	checkNum(t, who+": min(k)", minK, big.NewRat(want.minK, 1))
	checkNum(t, who+": max(k)", maxK, big.NewRat(want.maxK, 1))
	if !minTS.Equal(want.minTS) || !maxTS.Equal(want.maxTS) {
		t.Errorf("%s: min(ts), max(ts) = %v, %v; want %v, %v", who, minTS, maxTS, want.minTS, want.maxTS)
	}
}

// probeKeys are the keys looked up one by one: present and absent ones.
func probeKeys(keys []int64) []int64 {
	var out []int64
	for i := 0; i < len(keys); i += len(keys) / 40 {
		out = append(out, keys[i])
	}
	out = append(out, keys[0], keys[len(keys)-1], -500001, 500003, 0, 1, 7919-500000)
	return out
}

// checkPoints looks up keys with a $1 parameter and compares every column.
func checkPoints(t *testing.T, conn *pgx.Conn, who string, m kvModel, keys []int64) {
	t.Helper()
	for _, k := range keys {
		ctx, cancel := queryCtx()
		rows, err := queryRows(ctx, conn, "SELECT k, v, n, ts FROM kv WHERE k = $1", k)
		cancel()
		if err != nil {
			t.Fatalf("%s: point lookup k=%d: %v", who, k, describe(err))
		}
		want, exists := m[k]
		if !exists {
			if len(rows) != 0 {
				t.Errorf("%s: k=%d: got %v, want no row", who, k, rows)
			}
			continue
		}
		if len(rows) != 1 {
			t.Errorf("%s: k=%d: got %d rows, want 1", who, k, len(rows))
			continue
		}
		r := rows[0]
		if gk, _ := r[0].(int64); gk != k {
			t.Errorf("%s: k=%d: got k %v", who, k, r[0])
		}
		switch gv := r[1].(type) {
		case nil:
			if want.v != nil {
				t.Errorf("%s: k=%d: v is NULL, want %q", who, k, *want.v)
			}
		case string:
			if want.v == nil || gv != *want.v {
				t.Errorf("%s: k=%d: v = %q, want %v", who, k, gv, strPtr(want.v))
			}
		default:
			t.Errorf("%s: k=%d: v = %v (%T)", who, k, r[1], r[1])
		}
		checkNum(t, fmt.Sprintf("%s: k=%d: n", who, k), r[2], cents(want.cents))
		if ts, ok := r[3].(time.Time); !ok || !ts.Equal(want.ts) {
			t.Errorf("%s: k=%d: ts = %v, want %v", who, k, r[3], want.ts)
		}
	}
}

func strPtr(p *string) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *p)
}

var kvRanges = [][2]int64{{-500000, -400000}, {-1000, 1000}, {123456, 234567}, {499000, 600000}, {7, 7}, {10, 5}}

// checkRanges compares count, sum(k), sum(n) of BETWEEN ranges.
func checkRanges(t *testing.T, conn *pgx.Conn, who string, m kvModel) {
	t.Helper()
	for _, rg := range kvRanges {
		var wantCount, wantK, wantCents int64
		for k, r := range m {
			if k >= rg[0] && k <= rg[1] {
				wantCount++
				wantK += k
				wantCents += r.cents
			}
		}
		var count int64
		var sumK, sumN any
		mustQueryRow(t, conn, []any{&count, &sumK, &sumN},
			"SELECT count(*), sum(k), sum(n) FROM kv WHERE k BETWEEN $1 AND $2", rg[0], rg[1])
		what := fmt.Sprintf("%s: k BETWEEN %d AND %d", who, rg[0], rg[1])
		if count != wantCount {
			t.Errorf("%s: count = %d, want %d", what, count, wantCount)
		}
		if wantCount == 0 {
			if sumK != nil || sumN != nil {
				t.Errorf("%s: sums of no rows = %v, %v; want NULL", what, sumK, sumN)
			}
			continue
		}
		checkNum(t, what+": sum(k)", sumK, big.NewRat(wantK, 1))
		checkNum(t, what+": sum(n)", sumN, cents(wantCents))
	}
	// The same with literal bounds and the other comparison operators.
	var count int64
	mustQueryRow(t, conn, []any{&count}, "SELECT count(*) FROM kv WHERE k >= -250000 AND k < 250000")
	var want int64
	for k := range m {
		if k >= -250000 && k < 250000 {
			want++
		}
	}
	if count != want {
		t.Errorf("%s: count of -250000 <= k < 250000 = %d, want %d", who, count, want)
	}
}

// checkOrder compares ORDER BY k LIMIT 10 OFFSET 5, both directions.
func checkOrder(t *testing.T, conn *pgx.Conn, who string, keys []int64) {
	t.Helper()
	for _, q := range []struct {
		sql  string
		want []int64
	}{
		{"SELECT k FROM kv ORDER BY k LIMIT 10 OFFSET 5", keys[5:15]},
		{"SELECT k FROM kv ORDER BY k DESC LIMIT 10 OFFSET 5", reversed(keys[len(keys)-15 : len(keys)-5])},
	} {
		ctx, cancel := queryCtx()
		rows, err := conn.Query(ctx, q.sql)
		if err != nil {
			cancel()
			t.Fatalf("%s: %s: %v", who, q.sql, describe(err))
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		cancel()
		if err != nil {
			t.Fatalf("%s: %s: %v", who, q.sql, describe(err))
		}
		if !slices.Equal(got, q.want) {
			t.Errorf("%s: %s = %v, want %v", who, q.sql, got, q.want)
		}
	}
}

func reversed(s []int64) []int64 {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// repRows is the content of the replicated table.
func repRows() map[int32]string {
	m := map[int32]string{}
	for i := int32(1); i <= 50; i++ {
		m[i] = fmt.Sprintf("name %d", i)
	}
	return m
}

// checkRep reads the replicated table several times through conn (reads
// rotate over the datanodes' copies) and compares every row.
func checkRep(t *testing.T, conn *pgx.Conn, who string, want map[int32]string) {
	t.Helper()
	for read := 0; read < 4; read++ {
		ctx, cancel := queryCtx()
		rows, err := conn.Query(ctx, "SELECT id, name FROM rep ORDER BY id")
		if err != nil {
			cancel()
			t.Fatalf("%s: read rep: %v", who, describe(err))
		}
		got := map[int32]string{}
		var id int32
		var name string
		_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error { got[id] = name; return nil })
		cancel()
		if err != nil {
			t.Fatalf("%s: read rep: %v", who, describe(err))
		}
		if len(got) != len(want) {
			t.Errorf("%s: read %d of rep: %d rows, want %d", who, read, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: read %d of rep: id %d = %q, want %q", who, read, k, got[k], v)
			}
		}
	}
}

// checkAll compares everything through every connection.
func checkAll(t *testing.T, conns []*pgx.Conn, m kvModel, rep map[int32]string) {
	t.Helper()
	keys := m.sortedKeys()
	probes := probeKeys(keys)
	for i, conn := range conns {
		who := fmt.Sprintf("cn%d", i+1)
		checkSums(t, conn, who, m)
		checkPoints(t, conn, who, m, probes)
		checkRanges(t, conn, who, m)
		checkOrder(t, conn, who, keys)
		checkRep(t, conn, who, rep)
	}
}

// checkQuick is the short check after each single restart.
func checkQuick(t *testing.T, conns []*pgx.Conn, m kvModel, rep map[int32]string) {
	t.Helper()
	keys := m.sortedKeys()
	probes := probeKeys(keys)[:10]
	for i, conn := range conns {
		who := fmt.Sprintf("cn%d", i+1)
		checkSums(t, conn, who, m)
		checkPoints(t, conn, who, m, probes)
	}
	checkRep(t, conns[0], "cn1", rep)
}

var (
	dnGroupRE     = regexp.MustCompile(`dn group (\d+)`)
	fragmentDNsRE = regexp.MustCompile(`\[datanodes ([\d,]+)\]`)
)

// explainGroups runs EXPLAIN and returns the distinct "dn group N" it
// names, and the plan; nil after an error (reported).
func explainGroups(t *testing.T, conn *pgx.Conn, sql string, args ...any) ([]string, string) {
	t.Helper()
	ctx, cancel := queryCtx()
	defer cancel()
	rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Errorf("EXPLAIN %s %v: %v", sql, args, describe(err))
		return nil, ""
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("EXPLAIN %s %v: %v", sql, args, describe(err))
		return nil, ""
	}
	var groups []string
	add := func(g string) {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, l := range lines {
		for _, m := range dnGroupRE.FindAllStringSubmatch(l, -1) {
			add(m[1])
		}
		// Distributed plans name each fragment's datanodes: [datanodes 1,3].
		for _, m := range fragmentDNsRE.FindAllStringSubmatch(l, -1) {
			for _, g := range strings.Split(m[1], ",") {
				add(g)
			}
		}
	}
	return groups, strings.Join(lines, "\n")
}

// waitSQL waits until a fresh connection to every coordinator reads kv
// (after a restart) and returns those connections.
func waitSQL(t *testing.T, tc *testCluster, why string) []*pgx.Conn {
	t.Helper()
	conns := make([]*pgx.Conn, len(tc.PGAddrs()))
	for i := range conns {
		eventually(t, 90*time.Second, fmt.Sprintf("%s: cn%d serves kv", why, i+1), func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, tc.dsn(i))
			if err != nil {
				return err
			}
			var n int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil {
				conn.Close(ctx)
				return err
			}
			conns[i] = conn
			return nil
		})
		conn := conns[i]
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = conn.Close(ctx)
		})
	}
	return conns
}

// TestClusterLifecycle loads, reads and changes data through both
// coordinators, then kills every process with SIGKILL, one at a time and
// all at once, and reads exactly the same data after each restart.
func TestClusterLifecycle(t *testing.T) {
	const dns = 3
	tc := startCluster(t, 2, dns)
	cn1, cn2 := tc.connect(t, 0), tc.connect(t, 1)
	conns := []*pgx.Conn{cn1, cn2}

	mustExec(t, cn1, `CREATE TABLE kv (k bigint PRIMARY KEY, v text, n numeric(12,2), ts timestamp) DISTRIBUTE BY HASH(k)`)
	// The replicated table is created through cn1 and written through cn2
	// in the very next statement.
	mustExec(t, cn1, `CREATE TABLE rep (id int PRIMARY KEY, name text) DISTRIBUTE BY REPLICATION`)
	rep := repRows()
	var b strings.Builder
	b.WriteString("INSERT INTO rep (id, name) VALUES ")
	for i := int32(1); i <= 50; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, '%s')", i, rep[i])
	}
	if tag := mustExec(t, cn2, b.String()); tag.RowsAffected() != 50 {
		t.Fatalf("INSERT INTO rep: %d rows, want 50", tag.RowsAffected())
	}
	checkRep(t, cn1, "cn1", rep)
	checkRep(t, cn2, "cn2", rep)

	// COPY: half the rows through each coordinator, at the same time.
	m := newKVModel()
	keys := m.sortedKeys()
	var halves [2][]int64
	for i, k := range keys {
		halves[i%2] = append(halves[i%2], k)
	}
	start := time.Now()
	var wg sync.WaitGroup
	copyErr := make([]error, 2)
	copied := make([]int64, 2)
	for i := range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			copied[i], copyErr[i] = copyIn(ctx, conns[i], m, halves[i])
		})
	}
	wg.Wait()
	for i := range 2 {
		if copyErr[i] != nil {
			t.Fatalf("COPY through cn%d: %v", i+1, describe(copyErr[i]))
		}
		if copied[i] != int64(len(halves[i])) {
			t.Fatalf("COPY through cn%d: %d rows, want %d", i+1, copied[i], len(halves[i]))
		}
	}
	t.Logf("COPY of %d rows through 2 coordinators: %v", kvRows, time.Since(start).Round(time.Millisecond))
	check(t, "after COPY", func(t *testing.T) { checkAll(t, conns, m, rep) })

	// EXPLAIN: a point lookup reaches one datanode group, a scan all.
	t.Run("explain", func(t *testing.T) {
		for i, conn := range conns {
			for _, q := range []struct {
				sql    string
				args   []any
				groups int
			}{
				{"SELECT v FROM kv WHERE k = 42", nil, 1},
				{"SELECT v FROM kv WHERE k = $1", []any{int64(-7)}, 1},
				{"SELECT count(*) FROM kv", nil, dns},
				{"SELECT v FROM kv WHERE n > 0", nil, dns},
				{"DELETE FROM kv WHERE k = 42", nil, 1},
				{"UPDATE kv SET v = 'x' WHERE k BETWEEN 1 AND 2", nil, dns},
				{"SELECT name FROM rep WHERE id = 3", nil, 1},
			} {
				g, plan := explainGroups(t, conn, q.sql, q.args...)
				if plan != "" && len(g) != q.groups {
					t.Errorf("cn%d: EXPLAIN %s names %v, want %d distinct dn groups; plan:\n%s", i+1, q.sql, g, q.groups, plan)
				}
			}
		}
	})

	// A table created through cn1 is usable through cn2 at once, and its
	// rows through cn1 again.
	for i := range 3 {
		name := fmt.Sprintf("fresh%d", i)
		mustExec(t, cn1, fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, x int)", name))
		tag := mustExec(t, cn2, fmt.Sprintf("INSERT INTO %s VALUES (1, 10), (2, 20), (3, 30), ($1, 40)", name), int64(1000+i))
		if tag.RowsAffected() != 4 {
			t.Fatalf("INSERT INTO %s through cn2: %d rows, want 4", name, tag.RowsAffected())
		}
		var n, sum int64
		mustQueryRow(t, cn1, []any{&n, &sum}, fmt.Sprintf("SELECT count(*), sum(x)::bigint FROM %s", name))
		if n != 4 || sum != 100 {
			t.Fatalf("%s through cn1: count %d, sum %d; want 4, 100", name, n, sum)
		}
		mustExec(t, cn2, "DROP TABLE "+name)
	}

	// UPDATE a range through cn2, DELETE a range and single keys through cn1.
	var want int64
	for k, r := range m {
		if k >= -100000 && k <= 0 {
			r.cents += 150
			s := "upd"
			r.v = &s
			m[k] = r
			want++
		}
	}
	if tag := mustExec(t, cn2, "UPDATE kv SET n = n + 1.50, v = 'upd' WHERE k BETWEEN $1 AND $2", int64(-100000), int64(0)); tag.RowsAffected() != want {
		t.Errorf("UPDATE of a range: %d rows, want %d", tag.RowsAffected(), want)
	}
	want = 0
	for k := range m {
		if k > 400000 {
			delete(m, k)
			want++
		}
	}
	if tag := mustExec(t, cn1, "DELETE FROM kv WHERE k > 400000"); tag.RowsAffected() != want {
		t.Errorf("DELETE of a range: %d rows, want %d", tag.RowsAffected(), want)
	}
	keys = m.sortedKeys()
	for i := 3; i < len(keys); i += len(keys) / 25 {
		k := keys[i]
		if tag := mustExec(t, cn1, "DELETE FROM kv WHERE k = $1", k); tag.RowsAffected() != 1 {
			t.Errorf("DELETE k=%d: %d rows, want 1", k, tag.RowsAffected())
		}
		delete(m, k)
	}
	check(t, "after UPDATE and DELETE", func(t *testing.T) { checkAll(t, conns, m, rep) })

	// Kill -9 and restart each process, one at a time, each right after
	// an acknowledged write on every datanode.
	for i, name := range []string{"dn1", "dn2", "dn3", "gtm1", "cm1", "cn1", "cn2"} {
		writeAcked(t, conns[i%2], m, int64(700000+1000*i))
		start := time.Now()
		tc.kill(t, name)
		tc.restart(t, name)
		conns = waitSQL(t, tc, "after restarting "+name)
		t.Logf("kill -9 and restart of %s: serving again after %v", name, time.Since(start).Round(time.Millisecond))
		check(t, "after restarting "+name, func(t *testing.T) { checkQuick(t, conns, m, rep) })
	}
	check(t, "after restarting each process", func(t *testing.T) { checkAll(t, conns, m, rep) })

	// Kill -9 every process at once (agents too), then start them all.
	var all []string
	for _, n := range tc.Nodes {
		all = append(all, n.Name)
	}
	writeAcked(t, conns[1], m, 800000)
	start = time.Now()
	for _, name := range all {
		tc.kill(t, name)
	}
	for _, role := range []string{"gtm", "cm", "datanode", "coordinator", "agent"} {
		for _, n := range tc.Nodes {
			if n.Role == role {
				tc.restart(t, n.Name)
			}
		}
	}
	conns = waitSQL(t, tc, "after restarting every process")
	t.Logf("kill -9 of all %d processes and restart: serving again after %v", len(all), time.Since(start).Round(time.Millisecond))
	check(t, "after restarting every process at once", func(t *testing.T) { checkAll(t, conns, m, rep) })

	// Still writable: a last change through each coordinator.
	for i, conn := range conns {
		k := int64(600000 + i)
		s := "after restart"
		m[k] = kvRow{v: &s, cents: -1, ts: tsBase}
		mustExec(t, conn, "INSERT INTO kv VALUES ($1, $2, -0.01, '2024-01-01 00:00:00')", k, s)
	}
	check(t, "after the last writes", func(t *testing.T) { checkQuick(t, conns, m, rep) })
}

// writeAcked inserts 30 rows (on every datanode) from key base in one
// statement and adds them to m: acknowledged, they must survive any crash.
func writeAcked(t *testing.T, conn *pgx.Conn, m kvModel, base int64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("INSERT INTO kv (k, v, n, ts) VALUES ")
	for j := range int64(30) {
		k := base + j
		s := fmt.Sprintf("acked %d", k)
		r := kvRow{v: &s, cents: 101 * j, ts: tsBase.Add(-time.Duration(k) * time.Millisecond)}
		m[k] = r
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, '%s', %s, '%s')", k, s, centsText(r.cents), r.ts.Format("2006-01-02 15:04:05.999999"))
	}
	if tag := mustExec(t, conn, b.String()); tag.RowsAffected() != 30 {
		t.Fatalf("INSERT of 30 acknowledged rows: %d rows", tag.RowsAffected())
	}
}

// check runs a verification phase as a subtest and stops the test when it
// fails: later phases build on the data it verified.
func check(t *testing.T, phase string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(phase, f) {
		t.FailNow()
	}
}
