package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/om/cluster"
)

// binDir holds the binaries built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "meridian-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = filepath.Join(tmp, "bin")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
		"./coordinator", "./datanode", "./gtm", "./cm", "./om")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("e2e: built binaries in %v\n", time.Since(start).Round(time.Millisecond))
	}
	// A test that hits go test's -timeout panics without running its
	// cleanups; kill the cluster processes shortly before that so none
	// outlives the test binary, and remove the binaries.
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > time.Minute {
			t := time.AfterFunc(d-30*time.Second, func() {
				fmt.Fprintln(os.Stderr, "e2e: test timeout is near; killing the cluster processes")
				killChildren()
				os.RemoveAll(tmp)
			})
			defer t.Stop()
		}
	}
	defer killChildren() // a safety net: every test closes its own cluster
	return m.Run()
}

// moduleRoot finds the directory of go.mod from the test's working
// directory (the e2e folder).
func moduleRoot() (string, error) {
	dir, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	if !bytes.Contains(b, []byte("module github.com/meridian-db/meridian\n")) {
		return "", fmt.Errorf("module root: %s is not Meridian's go.mod", filepath.Join(dir, "go.mod"))
	}
	return dir, nil
}

// killChildren SIGKILLs the processes whose parent is this test binary
// (the cluster nodes; go build has exited by then). It reads /proc and does
// nothing where there is none.
func killChildren() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// testCluster is a running cluster of real processes.
type testCluster struct {
	*cluster.Cluster
	dir string
}

// startCluster starts GTM, CM, agents, dns datanodes and cns coordinators
// as processes in a fresh directory. Cleanup stops them all; when the test
// failed it first logs the tail of every node's log. The ports are free
// ones picked before the processes bind them, so a start that lost a port
// to another program on the machine is tried again.
func startCluster(t *testing.T, cns, dns int) *testCluster {
	t.Helper()
	return startClusterWith(t, cluster.Options{CNs: cns, DNs: dns})
}

// startClusterWith is startCluster with more options (Dir, BinDir and Log
// are set here).
func startClusterWith(t *testing.T, opts cluster.Options) *testCluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		tc, err := tryStartCluster(t, opts)
		if err == nil {
			t.Logf("cluster of %d CNs and %d DNs up in %v", opts.CNs, opts.DNs, time.Since(start).Round(time.Millisecond))
			return tc
		}
		const taken = "address already in use"
		if attempt < 3 && (strings.Contains(err.Error(), taken) || tc.logsContain(taken)) {
			t.Logf("start cluster: %v (a port was taken meanwhile; trying again)", err)
			continue
		}
		t.Fatalf("start cluster (%d CNs, %d DNs): %v", opts.CNs, opts.DNs, err)
	}
}

func tryStartCluster(t *testing.T, opts cluster.Options) (*testCluster, error) {
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts.Dir, opts.BinDir, opts.Log = dir, binDir, log
	c, err := cluster.Start(ctx, opts)
	tc := &testCluster{Cluster: c, dir: dir}
	t.Cleanup(func() {
		if c != nil {
			c.Close()
		}
		if t.Failed() {
			tc.dumpLogs(t)
		}
		logf.Close()
	})
	return tc, err
}

// logsContain reports whether a log file of the cluster contains s.
func (tc *testCluster) logsContain(s string) bool {
	files, _ := filepath.Glob(filepath.Join(tc.dir, "*.log"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// dumpLogs logs the last lines of each log file in the cluster's
// directory (etcd.log and one per node, also after a failed start).
func (tc *testCluster) dumpLogs(t *testing.T) {
	const tail = 40
	files, _ := filepath.Glob(filepath.Join(tc.dir, "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Logf("---- %s: %v", filepath.Base(f), err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		t.Logf("---- tail of %s (%d bytes)\n%s", filepath.Base(f), len(b), strings.Join(lines, "\n"))
	}
}

// dsn is a libpq-style URL for coordinator i (0-based).
func (tc *testCluster) dsn(i int) string {
	return "postgres://meridian@" + tc.PGAddrs()[i] + "/meridian?sslmode=disable&connect_timeout=10"
}

// connect opens a pgx connection to coordinator i, closed at cleanup.
func (tc *testCluster) connect(t *testing.T, i int) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, tc.dsn(i))
	if err != nil {
		t.Fatalf("connect to cn%d: %v", i+1, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// kill SIGKILLs a node.
func (tc *testCluster) kill(t *testing.T, name string) {
	t.Helper()
	if err := tc.Kill(name); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
}

// restart starts a killed node again and waits until it is healthy.
func (tc *testCluster) restart(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := tc.Restart(ctx, name); err != nil {
		t.Fatalf("restart %s: %v", name, err)
	}
}

// healthy reports whether a node's /health answers 200.
func (tc *testCluster) healthy(name string) bool {
	n := tc.Node(name)
	if n == nil || n.HTTP == "" {
		return false
	}
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + n.HTTP + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// eventually calls f until it returns nil or the deadline passes, and then
// fails the test with f's last error.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	if err := poll(timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll calls f, each time with a 15s context, until it returns nil or
// timeout has passed; it returns f's last error then.
func poll(timeout time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v (%d attempts): %w", timeout, attempt, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// queryCtx is a context for one statement: a stuck statement fails the test
// instead of hanging it.
func queryCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// scrape reads the unlabelled samples of a Prometheus text endpoint.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}
