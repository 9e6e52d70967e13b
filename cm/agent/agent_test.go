package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/health"
	"github.com/meridian-db/meridian/cm/internal/cmtest"
	"github.com/meridian-db/meridian/internal/meta"
)

func slogFor(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t *testing.T, nodeHTTP string) Config {
	cfg := NewConfig()
	cfg.Name = "agent-dn1"
	cfg.Cluster = "test"
	cfg.NodeName = "dn1"
	cfg.NodeHTTP = nodeHTTP
	cfg.Interval = 20 * time.Millisecond
	cfg.Timeout = 500 * time.Millisecond
	cfg.LeaseTTL = 2
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Logger = slogFor(t)
	return cfg
}

func healthValue(t *testing.T, cli *clientv3.Client) (string, bool) {
	t.Helper()
	resp, err := cli.Get(cmtest.Context(t, 5*time.Second), health.Key(meta.NewKeys("test"), "dn1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func TestValidate(t *testing.T) {
	good := testConfig(t, "http://127.0.0.1:1")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no name":    func(c *Config) { c.Name = "" },
		"no node":    func(c *Config) { c.NodeName = "" },
		"bad url":    func(c *Config) { c.NodeHTTP = "127.0.0.1:80" },
		"ftp":        func(c *Config) { c.NodeHTTP = "ftp://x:1" },
		"interval":   func(c *Config) { c.Interval = 0 },
		"ttl":        func(c *Config) { c.LeaseTTL = 0 },
		"agent http": func(c *Config) { c.HTTPAddr = "x" },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// The agent publishes ok, then down when the node's HTTP server stops,
// and the key goes with the agent.
func TestOkThenDown(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer node.Close()

	a, err := Start(cmtest.Context(t, 5*time.Second), testConfig(t, node.URL+"/"), cli)
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	defer a.Close()
	// Start publishes before it returns.
	if v, ok := healthValue(t, cli); !ok || v != health.OK {
		t.Fatalf("after Start: %q (present %v), want ok", v, ok)
	}

	node.Close()
	var v string
	cmtest.Eventually(t, 5*time.Second, "health goes down", func() bool {
		v, _ = healthValue(t, cli)
		return strings.HasPrefix(v, "down: ")
	})
	if ok, reason := health.Parse(v); ok || !strings.Contains(reason, "refused") {
		t.Fatalf("down value %q", v)
	}
	// Status is set right after the Put returns.
	cmtest.Eventually(t, 5*time.Second, "Status is the published value", func() bool { return a.Status() == v })

	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("agent /metrics: %s", resp.Status)
	}

	a.Close()
	if _, ok := healthValue(t, cli); ok {
		t.Fatal("health key left after Close")
	}
}

// A node answering non-200 is down, with the status and body as reason;
// it comes back to ok.
func TestUnhealthyStatus(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	sick := make(chan bool, 1)
	sick <- true
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := <-sick
		sick <- s
		if s {
			http.Error(w, "storage not open", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer node.Close()
	a, err := Start(cmtest.Context(t, 5*time.Second), testConfig(t, node.URL), cli)
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	defer a.Close()
	if v, _ := healthValue(t, cli); v != health.Down("HTTP 503: storage not open") {
		t.Fatalf("health %q", v)
	}
	<-sick
	sick <- false
	cmtest.Eventually(t, 5*time.Second, "health back to ok", func() bool {
		v, _ := healthValue(t, cli)
		return v == health.OK
	})
}

// When the lease is lost (here: revoked behind the agent's back), the
// agent takes a new one and publishes again.
func TestLeaseLost(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer node.Close()
	a, err := Start(cmtest.Context(t, 5*time.Second), testConfig(t, node.URL), cli)
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	defer a.Close()
	key := health.Key(meta.NewKeys("test"), "dn1")
	resp, err := cli.Get(cmtest.Context(t, 5*time.Second), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get: %v %v", resp, err)
	}
	old := resp.Kvs[0].Lease
	if _, err := cli.Revoke(cmtest.Context(t, 5*time.Second), clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	cmtest.Eventually(t, 10*time.Second, "published under a new lease", func() bool {
		resp, err := cli.Get(cmtest.Context(t, 5*time.Second), key)
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != old && string(resp.Kvs[0].Value) == health.OK
	})
}

// Start fails, leaving nothing running, when etcd is unreachable.
func TestStartCanceled(t *testing.T) {
	e := cmtest.Start(t)
	restore := e.Cut()
	defer restore()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	defer cmtest.CheckLeaks(t)()
	if _, err := Start(ctx, testConfig(t, "http://127.0.0.1:1"), e.Client); err == nil {
		t.Fatal("Start succeeded without etcd")
	}
}
