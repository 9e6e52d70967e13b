package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/gtm/internal/leakcheck"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// testLog keeps test output to warnings and errors.
var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func testConfig(name string) Config {
	cfg := NewConfig()
	cfg.Name = name
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.LeaseTTL = 1
	cfg.Log = testLog
	return cfg
}

// startServer starts a replica with an etcd client of its own, as a
// separate process would have; t.Cleanup closes both.
func startServer(t *testing.T, eps []string, cfg Config) *Server {
	t.Helper()
	cli := etcdtest.NewClient(t, eps)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg, cli)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		s.Close()
		_ = cli.Close()
	})
	return s
}

func waitLeader(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gtmConn is a raw gRPC client of one replica.
type gtmConn struct {
	t  *testing.T
	cc *grpc.ClientConn
	pb meridianpb.GTMClient
}

func dial(t *testing.T, addr string) *gtmConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return &gtmConn{t: t, cc: cc, pb: meridianpb.NewGTMClient(cc)}
}

func (g *gtmConn) try(k uint32) (*meridianpb.CSNResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.pb.GetCSN(ctx, &meridianpb.CSNRequest{CommitCount: k})
}

func (g *gtmConn) get(k uint32) (first, snap uint64) {
	g.t.Helper()
	resp, err := g.try(k)
	if err != nil {
		g.t.Fatalf("GetCSN(%d): %v", k, err)
	}
	if k > 0 && (resp.FirstCommitCsn < 1 || resp.SnapshotCsn != resp.FirstCommitCsn+uint64(k)) {
		g.t.Fatalf("GetCSN(%d) = first %d snapshot %d; want snapshot = first + k", k, resp.FirstCommitCsn, resp.SnapshotCsn)
	}
	return resp.FirstCommitCsn, resp.SnapshotCsn
}

func storedHWM(t *testing.T, cli *clientv3.Client, keys meta.Keys) uint64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), keys.GTMHWM())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	h, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestConfigValidate(t *testing.T) {
	cfg := NewConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cfg.Name = "a/b"
	cfg.Cluster = ""
	cfg.ListenAddr = "nohost"
	cfg.HTTPAddr = "127.0.0.1:99999"
	cfg.Window = 0
	cfg.LeaseTTL = 0
	cfg.EtcdEndpoints = nil
	err := cfg.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"name", "cluster", "listen", "http", "window", "lease", "etcd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %s: %v", want, err)
		}
	}
	cfg = NewConfig()
	cfg.HTTPAddr = "" // disabled is fine
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestServeCSNs(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	cfg := testConfig("gtm-1")
	cfg.Window = 10 // several persists in this test
	s := startServer(t, eps, cfg)
	waitLeader(t, s)
	g := dial(t, s.Addr())

	_, snap0 := g.get(0)
	if snap0 < 1 {
		t.Fatalf("first snapshot %d, want >= 1", snap0)
	}
	var last uint64
	for i := range 200 {
		k := uint32(i % 8) // includes snapshot-only calls
		first, snap := g.get(k)
		if snap < snap0 {
			t.Fatalf("snapshot went back: %d after %d", snap, snap0)
		}
		snap0 = snap
		if k == 0 {
			continue
		}
		if first <= last {
			t.Fatalf("CSN %d not above the previous %d", first, last)
		}
		last = first + uint64(k) - 1
	}
	// A batch larger than the window waits for a bigger hwm.
	first, _ := g.get(25)
	if first <= last {
		t.Fatalf("CSN %d not above the previous %d", first, last)
	}
	last = first + 24
	if h := storedHWM(t, cli, meta.NewKeys(cfg.Cluster)); h <= last {
		t.Fatalf("stored hwm %d not above the last CSN handed out %d", h, last)
	}

	// The node is registered, and /metrics and /health answer.
	resp, err := cli.Get(context.Background(), meta.NewKeys(cfg.Cluster).Node(cfg.Name))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("node key: %v %v", resp, err)
	}
	var info meridianpb.NodeInfo
	if err := proto.Unmarshal(resp.Kvs[0].Value, &info); err != nil {
		t.Fatal(err)
	}
	if info.Role != meridianpb.Role_ROLE_GTM || info.GrpcAddr != s.Addr() || info.HttpAddr != s.HTTPAddr() {
		t.Fatalf("node info %v; want role GTM at %s, http %s", &info, s.Addr(), s.HTTPAddr())
	}
	body := httpGet(t, "http://"+s.HTTPAddr()+"/metrics")
	for _, want := range []string{"meridian_gtm_is_leader 1", "meridian_gtm_commit_csns_total", "meridian_gtm_batch_commits_bucket", `meridian_gtm_rpcs_total{result="ok"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := httpGet(t, "http://"+s.HTTPAddr()+"/health"); got != "ok\n" {
		t.Errorf("/health = %q", got)
	}

	// Close resigns at once and deregisters.
	s.Close()
	if s.IsLeader() {
		t.Fatal("leader after Close")
	}
	keys := meta.NewKeys(cfg.Cluster)
	if r, err := cli.Get(context.Background(), keys.GTMLeader()+"/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 0 {
		t.Fatalf("election keys after Close: %v %v", r.Kvs, err)
	}
	waitFor(t, "node key removal", func() bool {
		r, err := cli.Get(context.Background(), keys.Node(cfg.Name))
		return err == nil && len(r.Kvs) == 0
	})
}

func httpGet(t *testing.T, url string) string {
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
	return string(b)
}

func TestFollowerAnswersUnavailable(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	a := startServer(t, eps, testConfig("gtm-a"))
	waitLeader(t, a)
	b := startServer(t, eps, testConfig("gtm-b"))
	if b.IsLeader() {
		t.Fatal("two leaders")
	}
	_, err := dial(t, b.Addr()).try(1)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("follower answered %v; want Unavailable", err)
	}
	if !strings.Contains(status.Convert(err).Message(), a.Addr()) {
		t.Fatalf("follower's answer %q does not name the leader %s", status.Convert(err).Message(), a.Addr())
	}
}

// CSNs after a restart are above every CSN before it, whether the old
// leader closed cleanly or crashed without resigning.
func TestRestartIsMonotonic(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	var max uint64
	serve := func(s *Server) {
		waitLeader(t, s)
		g := dial(t, s.Addr())
		first, _ := g.get(1)
		if first <= max {
			t.Fatalf("%s: first CSN %d not above %d handed out before", s.cfg.Name, first, max)
		}
		for range 50 {
			first, _ := g.get(3)
			max = first + 2
		}
		g.cc.Close()
	}

	a := startServer(t, eps, testConfig("gtm-1"))
	serve(a)
	a.Crash() // no resign, no lease revoke: the successor waits for the TTL

	b := startServer(t, eps, testConfig("gtm-1")) // the same replica, restarted
	serve(b)
	b.Close()

	c := startServer(t, eps, testConfig("gtm-1"))
	serve(c)
}

// A leader whose election key disappears stops serving, campaigns again
// and resumes above everything it handed out.
func TestDeposedLeaderStopsServing(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	s := startServer(t, eps, testConfig("gtm-1"))
	waitLeader(t, s)
	g := dial(t, s.Addr())
	before, _ := g.get(5)

	t0 := s.cur.Load()
	if _, err := cli.Delete(context.Background(), t0.key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the term to end", func() bool { return s.cur.Load() != t0 })
	if !errors.Is(context.Cause(t0.ctx), ErrNotLeader) {
		t.Fatalf("term ended with %v, want ErrNotLeader", context.Cause(t0.ctx))
	}
	// The old term can no longer write the hwm.
	if err := t0.store(1 << 40); err == nil {
		t.Fatal("a deposed term persisted the hwm")
	}
	waitLeader(t, s)
	after, _ := g.get(1)
	if after <= before+4 {
		t.Fatalf("CSN %d after re-election not above %d", after, before+4)
	}
}

// StreamCSN answers requests sent back to back in order, each range
// following the previous one, and Close ends an idle stream at once
// instead of waiting for the client.
func TestStreamCSN(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	s := startServer(t, eps, testConfig("gtm-1"))
	waitLeader(t, s)
	g := dial(t, s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := g.pb.StreamCSN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := []uint32{3, 0, 1, 5, 0}
	for _, k := range counts {
		if err := st.Send(&meridianpb.CSNRequest{CommitCount: k}); err != nil {
			t.Fatal(err)
		}
	}
	var prev uint64 // the previous snapshot
	for i, k := range counts {
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		first, snap := resp.FirstCommitCsn, resp.SnapshotCsn
		switch {
		case k == 0 && (first != 0 || snap < prev):
			t.Fatalf("answer %d (snapshot only): first %d, snapshot %d after %d", i, first, snap, prev)
		case k > 0 && (first < max(prev, 1) || snap != first+uint64(k)):
			t.Fatalf("answer %d (%d commits): first %d, snapshot %d after %d", i, k, first, snap, prev)
		}
		prev = snap
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
	}()
	start := time.Now()
	_, err = st.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("idle stream at Close: %v; want Unavailable", err)
	}
	// Without ending its streams, Close would wait 2 s for them.
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("idle stream ended %v after Close began", d)
	}
	<-closed
}
