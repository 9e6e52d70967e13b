package logictest

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/om/cluster"
)

var (
	pgDSN = flag.String("pg", "", "run the suites against the PostgreSQL server at this DSN instead of a Meridian "+
		"cluster, each file in a fresh database, to check the expectations")
	rewriteFlag = flag.Bool("rewrite", false, "with -pg: replace the expected query results in testdata/*.test with "+
		"PostgreSQL's (review the diff)")
	globFlag   = flag.String("glob", "testdata/*.test", "TestLogic: the test files to run")
	fileFilter = flag.String("files", "", "regexp: run only the test files whose path matches")
)

// corpusDir is SQLite's sqllogictest corpus in ../shared beside the repo.
const corpusDir = "../../../shared/sqllogictest"

// corpusSubset are the corpus files run with -short (one per family), and
// on the one-datanode cluster. The whole corpus (21 files, 212,502
// records, every one of which passes) takes about 5 minutes on two
// cores; it runs by default, MERIDIAN_SLT=all runs it even with -short.
var corpusSubset = []string{
	"index/between/10/slt_good_1.test",
	"index/commute/10/slt_good_0.test",
	"index/delete/10/slt_good_0.test",
	"index/in/10/slt_good_3.test",
	"index/orderby/10/slt_good_0.test",
}

func testFiles(t *testing.T, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return filterFiles(t, paths)
}

func filterFiles(t *testing.T, paths []string) []string {
	t.Helper()
	if *fileFilter == "" {
		return paths
	}
	re, err := regexp.Compile(*fileFilter)
	if err != nil {
		t.Fatalf("-files: %v", err)
	}
	var out []string
	for _, p := range paths {
		if re.MatchString(p) {
			out = append(out, p)
		}
	}
	return out
}

// startCluster starts an in-process cluster with one coordinator.
func startCluster(t *testing.T, dns int) string { return startClusterOf(t, dns, false) }

// startClusterOf is startCluster, with the datanodes' vectorized
// operators off when rowEngine.
func startClusterOf(t *testing.T, dns int, rowEngine bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), CNs: 1, DNs: dns, Log: log, RowEngine: rowEngine})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Close)
	t.Logf("cluster with %d datanode(s) started in %v", dns, time.Since(start).Round(time.Millisecond))
	return "postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable"
}

// pgDatabase makes a fresh database on the -pg server and returns a
// connect function for it.
func pgDatabase(t *testing.T, name string) func(context.Context) (*pgx.Conn, error) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(*pgDSN)
	if err != nil {
		t.Fatalf("-pg: %v", err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("-pg: %v", err)
	}
	db := "slt_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(name))
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		admin.Close(ctx)
	})
	return func(ctx context.Context) (*pgx.Conn, error) {
		c := cfg.Copy()
		c.Database = db
		c.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		return pgx.ConnectConfig(ctx, c)
	}
}

func reportFile(t *testing.T, res *Result) {
	t.Helper()
	t.Log(res)
	for _, f := range res.Failures {
		t.Errorf("%s", f)
	}
}

// TestLogic runs Meridian's own suites (testdata/*.test) against an
// in-process cluster with one datanode and with three, or with -pg
// against PostgreSQL.
func TestLogic(t *testing.T) {
	paths := testFiles(t, *globFlag)
	if len(paths) == 0 {
		t.Skip("no test files selected")
	}
	ctx := context.Background()
	if *rewriteFlag && *pgDSN == "" {
		t.Fatal("-rewrite needs -pg: expectations come from PostgreSQL, never from Meridian")
	}
	if *pgDSN != "" {
		r := NewRunner(Config{StripDistribute: true, Rewrite: *rewriteFlag}, nil)
		for _, p := range paths {
			t.Run(filepath.Base(p), func(t *testing.T) {
				r.connect = pgDatabase(t, filepath.Base(p))
				res, err := r.RunFile(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				reportFile(t, res)
			})
		}
		return
	}
	// The suites run on one and three datanodes, and on three with the
	// vectorized operators off (the row engine's scans and aggregations
	// must give the same answers).
	for _, cfg := range []struct {
		dns       int
		rowEngine bool
	}{{1, false}, {3, false}, {3, true}} {
		name := fmt.Sprintf("dn=%d", cfg.dns)
		if cfg.rowEngine {
			name += "/row-engine"
		}
		t.Run(name, func(t *testing.T) {
			dsn := startClusterOf(t, cfg.dns, cfg.rowEngine)
			r := NewRunner(Config{Engines: []string{"postgresql", "meridian"}}, Connector(dsn))
			for _, p := range paths {
				t.Run(filepath.Base(p), func(t *testing.T) {
					res, err := r.RunFile(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					reportFile(t, res)
				})
			}
		})
	}
}

// TestSQLLogicTestCorpus runs SQLite's corpus from ../shared against a
// cluster of three datanodes (every file) and of one datanode (one file
// per family, every file with MERIDIAN_SLT=all): every record must pass,
// with the corpus's own expected results.
func TestSQLLogicTestCorpus(t *testing.T) {
	dir, err := filepath.Abs(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("sqllogictest corpus not found at %s (../shared is optional): %v", dir, err)
	}
	var paths []string
	if !testing.Short() || os.Getenv("MERIDIAN_SLT") == "all" || *pgDSN != "" {
		err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".test") {
				paths = append(paths, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(paths)
		t.Logf("running all %d corpus files", len(paths))
	} else {
		for _, f := range corpusSubset {
			paths = append(paths, filepath.Join(dir, f))
		}
		t.Logf("-short: running a fixed subset of %d corpus files (one per family); MERIDIAN_SLT=all runs them all", len(paths))
	}
	paths = filterFiles(t, paths)
	if *pgDSN != "" {
		runCorpus(t, dir, paths, NewRunner(Config{}, nil))
		return
	}
	for _, dn := range []int{3, 1} {
		t.Run(fmt.Sprintf("dn=%d", dn), func(t *testing.T) {
			ps := paths
			if dn == 1 && os.Getenv("MERIDIAN_SLT") != "all" {
				// One file per family: the whole corpus again would add
				// minutes to every run; MERIDIAN_SLT=all runs it.
				ps = nil
				for _, f := range corpusSubset {
					ps = append(ps, filepath.Join(dir, f))
				}
				ps = filterFiles(t, ps)
			}
			runCorpus(t, dir, ps, NewRunner(Config{Engines: []string{"postgresql", "meridian"}}, Connector(startCluster(t, dn))))
		})
	}
}

// runCorpus runs corpus files with r and logs the totals.
func runCorpus(t *testing.T, dir string, paths []string, r *Runner) {
	ctx := context.Background()
	total := &Result{File: "total"}
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		t.Run(rel, func(t *testing.T) {
			if *pgDSN != "" {
				r.connect = pgDatabase(t, rel)
			}
			res, err := r.RunFile(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			res.File = rel
			total.Add(res)
			t.Log(res)
			for i, f := range res.Failures {
				if i == 20 {
					t.Errorf("... and %d more failures", len(res.Failures)-i)
					break
				}
				t.Errorf("%s", f)
			}
		})
	}
	t.Log(total)
	reasons := make([]string, 0, len(total.Reasons))
	for k := range total.Reasons {
		reasons = append(reasons, k)
	}
	sort.Slice(reasons, func(i, j int) bool { return total.Reasons[reasons[i]] > total.Reasons[reasons[j]] })
	for _, k := range reasons {
		t.Logf("unsupported %7d  %s", total.Reasons[k], k)
	}
}
