package e2e

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/meridian-db/meridian/om/cluster"
)

// TestQueryMemory: datanodes with a small query memory (--query-mem
// 4 MiB, far under each operator's 64 MB work_mem) answer a GROUP BY of
// many groups right — its aggregation spills once the shared memory is
// used up — a row_number over one partition of 100,000 rows (it holds a
// row at a time, its sort spills) and a lead over that partition (its rows
// spill, their lead arguments stay), join in blocks a nested loop whose
// inner side passes work_mem, and fail a lead whose arguments, which stay
// in memory, pass the query memory, with 53200 while staying up; the
// metrics show the memory reserved, and given back once the queries end.
func TestQueryMemory(t *testing.T) {
	tc := startClusterWith(t, cluster.Options{CNs: 1, DNs: 2, QueryMem: 4 << 20})
	conn := tc.connect(t, 0)
	mustExec(t, conn, "CREATE TABLE digits (d int PRIMARY KEY) DISTRIBUTE BY REPLICATION")
	mustExec(t, conn, "INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
	mustExec(t, conn, "CREATE TABLE qm (id int PRIMARY KEY, g int, pad text) DISTRIBUTE BY HASH(id)")
	mustExec(t, conn, `INSERT INTO qm SELECT n, n % 3, 'padding padding padding padding padding padding padding padding'
		FROM (SELECT a.d*10000 + b.d*1000 + c.d*100 + e.d*10 + f.d AS n FROM digits a, digits b, digits c, digits e, digits f) s`)

	ctx, cancel := queryCtx()
	defer cancel()
	// Grouped by a column that is not the distribution key: the groups
	// are redistributed and aggregated on the datanodes, 100,000 of them.
	const grouped = "SELECT count(*), sum(c), min(c), max(c) FROM (SELECT g*100000 + id AS k, count(*) AS c FROM qm GROUP BY g*100000 + id) s"
	var n, sum, lo, hi int64
	if err := conn.QueryRow(ctx, grouped).Scan(&n, &sum, &lo, &hi); err != nil {
		t.Fatalf("GROUP BY under a small query memory: %v", describe(err))
	}
	if n != 100000 || sum != 100000 || lo != 1 || hi != 1 {
		t.Fatalf("GROUP BY: %d groups, sum %d, min %d, max %d; want 100000, 100000, 1, 1", n, sum, lo, hi)
	}
	if plan := explainAnalyze(t, conn, grouped); !strings.Contains(plan, "spilled=") {
		t.Errorf("no operator spilled with the query memory used up:\n%s", plan)
	}

	// One partition of every row, on one datanode: row_number holds one
	// row at a time (its sort spills); lead needs the whole partition,
	// whose rows spill.
	var rn int64
	if err := conn.QueryRow(ctx, "SELECT count(*), max(r) FROM (SELECT row_number() OVER (PARTITION BY g % 1 ORDER BY id) r FROM qm) s").Scan(&n, &rn); err != nil || n != 100000 || rn != 100000 {
		t.Fatalf("row_number over 100,000 rows under a small query memory: %d rows, max %d, %v", n, rn, describe(err))
	}
	var diff, leads int64
	if err := conn.QueryRow(ctx, "SELECT count(*), sum(l - id), count(l) FROM (SELECT id, lead(id) OVER (PARTITION BY g % 1 ORDER BY id) l FROM qm) s").Scan(&n, &diff, &leads); err != nil || n != 100000 || diff != 99999 || leads != 99999 {
		t.Fatalf("lead over 100,000 rows under a small query memory: %d rows, sum of differences %d, %d leads, %v; want 100000, 99999, 99999", n, diff, leads, describe(err))
	}
	// A join without equality keys (a nested loop) whose inner side
	// passes work_mem joins in blocks.
	const nl = "SELECT count(*), sum(a.id - b.id) FROM (SELECT id, pad FROM qm WHERE id % 100 = 0) a JOIN (SELECT id, pad FROM qm WHERE id < 4000) b ON a.id > b.id + 90000 AND a.pad <= b.pad"
	mustExec(t, conn, "SET work_mem = '64kB'")
	if err := conn.QueryRow(ctx, nl).Scan(&n, &sum); err != nil || n != 318000 || sum != 29910859000 {
		t.Fatalf("nested loop past work_mem: %d rows, sum %d, %v; want 318000, 29910859000", n, sum, describe(err))
	}
	if plan := explainAnalyze(t, conn, nl); !strings.Contains(plan, "Nested Loop") || !strings.Contains(plan, "spilled=") {
		t.Errorf("the nested loop did not spill:\n%s", plan)
	}
	mustExec(t, conn, "RESET work_mem")
	// A window function's arguments stay in memory for its partition's
	// rows: past the query memory, 53200.
	_, err := conn.Exec(ctx, "SELECT count(l) FROM (SELECT lead(pad || id) OVER (PARTITION BY g % 1 ORDER BY id) l FROM qm) s")
	if sqlState(err) != "53200" {
		t.Fatalf("window arguments past the query memory: %v, want 53200", errText(err))
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM qm").Scan(&n); err != nil || n != 100000 {
		t.Fatalf("count after the 53200: %d, %v", n, describe(err))
	}

	for _, node := range tc.Nodes {
		if node.Role != "datanode" {
			continue
		}
		m := scrape(t, "http://"+node.HTTP+"/metrics")
		if m["meridian_dn_query_memory_limit_bytes"] != 4<<20 {
			t.Errorf("%s: query memory limit %v, want %d", node.Name, m["meridian_dn_query_memory_limit_bytes"], 4<<20)
		}
		if m["meridian_dn_query_memory_peak_bytes"] <= 4<<20 {
			t.Errorf("%s: query memory peak %v, not past the 4 MiB limit", node.Name, m["meridian_dn_query_memory_peak_bytes"])
		}
		if m["meridian_dn_query_memory_bytes"] != 0 {
			t.Errorf("%s: %v bytes of query memory still reserved after the queries", node.Name, m["meridian_dn_query_memory_bytes"])
		}
	}
}

// explainAnalyze returns the EXPLAIN ANALYZE output of a query.
func explainAnalyze(t *testing.T, conn *pgx.Conn, query string) string {
	t.Helper()
	ctx, cancel := queryCtx()
	defer cancel()
	rows, err := conn.Query(ctx, "EXPLAIN ANALYZE "+query)
	if err != nil {
		t.Fatal(describe(err))
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(describe(rows.Err()))
	}
	return plan.String()
}
