package optimizer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/om/cluster"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// TestPlans checks distributed plans against the golden files in
// testdata/ (datadriven; -rewrite updates them). The files run against an
// in-process cluster of one coordinator and three datanodes:
//
//	exec            run SQL statements (one per line or ;-separated)
//	stats table=t   store statistics for t, as if ANALYZE had found them:
//	rows=N          the input has one line per column:
//	                <column> distinct=D [nullfrac=F]
//	plan [costs]    EXPLAIN the query (with estimated rows and costs)
//	query           run the query; one row per line
//
// A reviewer reads the plans, not code: each file says what the plans
// in it must show.
func TestPlans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: 1, DNs: 3, Log: log})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	defer c.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Etcd(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cat, err := catalog.Open(ctx, cli, meta.NewKeys("meridian"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	url := "postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable"

	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			// Each file starts with no tables.
			rows, _ := conn.Query(ctx, "SELECT 1")
			rows.Close()
			if err := cat.Sync(ctx); err == nil {
				for _, td := range cat.Tables() {
					if _, err := conn.Exec(ctx, "DROP TABLE "+td.Name); err != nil {
						t.Errorf("drop %s: %v", td.Name, err)
					}
				}
			}
			conn.Close(ctx)
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "exec":
				for _, stmt := range statements(d.Input) {
					if _, err := conn.Exec(ctx, stmt); err != nil {
						return fmt.Sprintf("error: %v\n", err)
					}
				}
				return "ok\n"
			case "stats":
				return injectStats(ctx, t, d, cat, conn)
			case "plan":
				opts := "COSTS OFF"
				if d.HasArg("costs") {
					opts = "COSTS ON"
				}
				rows, err := conn.Query(ctx, "EXPLAIN ("+opts+") "+d.Input)
				if err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				return strings.Join(lines, "\n") + "\n"
			case "query":
				rows, err := conn.Query(ctx, d.Input, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				var out strings.Builder
				for rows.Next() {
					vals, err := rows.Values()
					if err != nil {
						return fmt.Sprintf("error: %v\n", err)
					}
					parts := make([]string, len(vals))
					for i, v := range vals {
						parts[i] = fmt.Sprint(v)
					}
					out.WriteString(strings.Join(parts, " ") + "\n")
				}
				if err := rows.Err(); err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				return out.String()
			}
			t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			return ""
		})
	})
}

// statements splits input into statements: at semicolons, else one per
// line.
func statements(in string) []string {
	var out []string
	for _, s := range strings.Split(in, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// injectStats stores statistics for a table, as if ANALYZE had found them.
func injectStats(ctx context.Context, t *testing.T, d *datadriven.TestData, cat *catalog.Catalog, conn *pgx.Conn) string {
	var table string
	var rows float64
	d.ScanArgs(t, "table", &table)
	d.ScanArgs(t, "rows", &rows)
	if err := cat.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	td, ok := cat.Table("public", table)
	if !ok {
		return fmt.Sprintf("error: no table %s\n", table)
	}
	st := &meridianpb.TableStatistics{TableId: td.Id, Rows: rows, TableVersion: td.Version}
	for range td.Columns {
		st.Columns = append(st.Columns, &meridianpb.ColumnStatistics{})
	}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		idx := -1
		for i, c := range td.Columns {
			if c.Name == f[0] {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Sprintf("error: no column %s\n", f[0])
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.Pos, kv, err)
			}
			switch k {
			case "distinct":
				st.Columns[idx].Distinct = x
			case "nullfrac":
				st.Columns[idx].NullFrac = x
			default:
				t.Fatalf("%s: unknown column statistic %q", d.Pos, k)
			}
		}
	}
	if err := cat.PutStats(ctx, st); err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	// Wait until the coordinator plans with them (it learns of new
	// statistics through its catalog watch).
	want := fmt.Sprintf("rows=%.0f ", rows)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var plan []string
		r, err := conn.Query(ctx, "EXPLAIN (COSTS ON) SELECT * FROM "+table)
		if err == nil {
			plan, err = pgx.CollectRows(r, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		if strings.Contains(strings.Join(plan, "\n"), want) {
			return "ok\n"
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the coordinator does not plan %s with the new statistics:\n%s", d.Pos, table, strings.Join(plan, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
