package pgwire

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runPG runs a PostgreSQL client binary against ts and returns its combined
// output and exit code.
func runPG(t *testing.T, ts *testServer, password, bin string, args ...string) (string, int) {
	t.Helper()
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port, "-U", "alice"}, args...)...)
	// Only our PG* variables: none from the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGPASSWORD="+password, "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=5",
		"PGPASSFILE="+filepath.Join(t.TempDir(), "nopass"))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out; output:\n%s", bin, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out), code
}

func TestPsql(t *testing.T) {
	const psql = "/usr/bin/psql"
	if _, err := os.Stat(psql); err != nil {
		t.Skip("psql is not installed at /usr/bin/psql; skipping the psql run")
	}
	ts := scramServer(t)

	out, code := runPG(t, ts, "secret", psql, "-X", "-A", "-t", "-d", "db", "-c", "select 1, 'two'")
	if code != 0 || out != "1|two\n" {
		t.Fatalf("psql -c: exit %d, output %q", code, out)
	}

	// A script with COPY FROM STDIN data inline (sent by psql in the
	// simple protocol), COPY TO STDOUT and an error that stops it.
	script := filepath.Join(t.TempDir(), "script.sql")
	err := os.WriteFile(script, []byte(`copy t from stdin;
alpha
beta
\.
copy t to stdout;
series 3;
fail 42P01 relation "nope" does not exist;
select 'not reached';
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out, code = runPG(t, ts, "secret", psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "db", "-f", script)
	want := "alpha\nbeta\n1\n2\n3\n"
	if code != 3 || !strings.HasPrefix(out, want) || !strings.Contains(out, `ERROR:  relation "nope" does not exist`) ||
		strings.Contains(out, "not reached") {
		t.Fatalf("psql -f: exit %d, output:\n%s", code, out)
	}

	out, code = runPG(t, ts, "wrong", psql, "-X", "-d", "db", "-c", "select 1")
	if code != 2 || !strings.Contains(out, `password authentication failed for user "alice"`) {
		t.Fatalf("wrong password: exit %d, output %q", code, out)
	}
}

// pgbench -S runs unmodified in its three query modes (the fake engine
// answers pgbench's own queries).
func TestPgbenchSelectOnly(t *testing.T) {
	const pgbench = "/usr/bin/pgbench"
	if _, err := os.Stat(pgbench); err != nil {
		t.Skip("pgbench is not installed at /usr/bin/pgbench; skipping")
	}
	ts := startServer(t, nil)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		out, code := runPG(t, ts, "", pgbench, "-n", "-S", "-c", "2", "-t", "300", "-M", mode, "db")
		if code != 0 || !strings.Contains(out, "number of transactions actually processed: 600/600") {
			t.Fatalf("pgbench -M %s: exit %d, output:\n%s", mode, code, out)
		}
	}
}
