package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgClient runs psql or pgbench against coordinator i and returns its
// standard output and standard error; a non-zero exit fails the test with
// both.
func (tc *testCluster) pgClient(t *testing.T, i int, timeout time.Duration, prog string, args ...string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(tc.PGAddrs()[i])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"-h", host, "-p", port, "-U", "meridian"}, args...)
	full = append(full, "meridian")
	cmd := exec.CommandContext(ctx, prog, full...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PGSSLMODE=disable", "PGOPTIONS=", "PSQLRC=/dev/null")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout:\n%s\nstderr:\n%s", prog, strings.Join(full, " "), err,
			time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// psql runs one statement with psql -At and returns its output, trimmed.
func (tc *testCluster) psql(t *testing.T, sql string) string {
	t.Helper()
	out, _ := tc.pgClient(t, 0, time.Minute, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	return strings.TrimSpace(out)
}

var (
	processedRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	failedRE    = regexp.MustCompile(`number of failed transactions: (\d+)`)
	tpsRE       = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
)

// pgbenchResult parses pgbench's summary: transactions processed, failed
// transactions, and TPS.
func pgbenchResult(t *testing.T, out string) (processed, failed int64, tps string) {
	t.Helper()
	m := processedRE.FindStringSubmatch(out)
	f := failedRE.FindStringSubmatch(out)
	s := tpsRE.FindStringSubmatch(out)
	if m == nil || f == nil || s == nil {
		t.Fatalf("pgbench summary not understood:\n%s", out)
	}
	processed, _ = strconv.ParseInt(m[1], 10, 64)
	failed, _ = strconv.ParseInt(f[1], 10, 64)
	return processed, failed, s[1]
}

// TestPgbench initializes pgbench's tables with pgbench -i, runs the
// select-only and the TPC-B-like scripts with 4 clients, and checks that
// no transaction failed and that the money adds up, through psql.
func TestPgbench(t *testing.T) {
	for _, prog := range []string{"pgbench", "psql"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s is not on PATH (install postgresql-client, as .ci/run does): %v", prog, err)
		}
	}
	tc := startCluster(t, 1, 3)

	start := time.Now()
	stdout, stderr := tc.pgClient(t, 0, 3*time.Minute, "pgbench", "-i", "-s", "1")
	if !strings.Contains(stderr, "done in") {
		t.Fatalf("pgbench -i did not finish:\n%s%s", stdout, stderr)
	}
	t.Logf("pgbench -i -s 1: %v", time.Since(start).Round(time.Millisecond))
	counts := map[string]string{"pgbench_branches": "1", "pgbench_tellers": "10", "pgbench_accounts": "100000", "pgbench_history": "0"}
	for table, want := range counts {
		if got := tc.psql(t, "SELECT count(*) FROM "+table); got != want {
			t.Errorf("after pgbench -i: count(*) of %s = %q, want %s", table, got, want)
		}
	}

	for _, run := range []struct {
		name string
		args []string
	}{
		{"select-only", []string{"-S", "-c", "4", "-j", "2", "-T", "10"}},
		{"tpcb-like", []string{"-c", "4", "-j", "2", "-T", "10"}},
	} {
		stdout, stderr := tc.pgClient(t, 0, 2*time.Minute, "pgbench", run.args...)
		out := stdout + stderr
		processed, failed, tps := pgbenchResult(t, out)
		t.Logf("pgbench %s (%s): %d transactions, %d failed, tps = %s", run.name, strings.Join(run.args, " "), processed, failed, tps)
		if failed != 0 || !strings.Contains(out, "number of failed transactions: 0") {
			t.Errorf("pgbench %s: %d failed transactions:\n%s", run.name, failed, out)
		}
		if processed <= 0 {
			t.Errorf("pgbench %s: no transaction processed:\n%s", run.name, out)
		}
	}

	// The TPC-B-like script adds the same delta to an account, a teller,
	// a branch and a history row: all four sums agree.
	sums := map[string]string{}
	for table, col := range map[string]string{"pgbench_accounts": "abalance", "pgbench_tellers": "tbalance",
		"pgbench_branches": "bbalance", "pgbench_history": "delta"} {
		sums[table] = tc.psql(t, fmt.Sprintf("SELECT coalesce(sum(%s), 0) FROM %s", col, table))
	}
	t.Logf("balances: %v", sums)
	if sums["pgbench_accounts"] != sums["pgbench_tellers"] || sums["pgbench_tellers"] != sums["pgbench_branches"] ||
		sums["pgbench_branches"] != sums["pgbench_history"] {
		t.Errorf("balances differ: %v", sums)
	}
	history := tc.psql(t, "SELECT count(*) FROM pgbench_history")
	if n, err := strconv.ParseInt(history, 10, 64); err != nil || n == 0 {
		t.Errorf("pgbench_history has %q rows after the TPC-B-like run, want some", history)
	}

	// psql -f: a script of several statements, run with ON_ERROR_STOP,
	// and its whole output.
	script := filepath.Join(t.TempDir(), "check.sql")
	if err := os.WriteFile(script, []byte(`-- consistency of pgbench's tables, by psql -f
SELECT 'branches', count(*) FROM pgbench_branches;
SELECT 'tellers', count(*) FROM pgbench_tellers;
SELECT 'accounts', count(*) FROM pgbench_accounts;
CREATE TABLE psql_script (id int PRIMARY KEY, note text);
INSERT INTO psql_script VALUES (1, 'from psql -f'), (2, 'second');
UPDATE psql_script SET note = note || '!' WHERE id = 2;
SELECT id, note FROM psql_script ORDER BY id;
SELECT sum(abalance) = sum(abalance), count(DISTINCT bid) FROM pgbench_accounts;
DROP TABLE psql_script;
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = tc.pgClient(t, 0, time.Minute, "psql", "-X", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-f", script)
	want := "branches|1\ntellers|10\naccounts|100000\nCREATE TABLE\nINSERT 0 2\nUPDATE 1\n1|from psql -f\n2|second!\nt|1\nDROP TABLE\n"
	if stdout != want {
		t.Errorf("psql -f output:\n%s\nstderr:\n%s\nwant:\n%s", stdout, stderr, want)
	}
}
