package etcdtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/meridian-db/meridian/internal/etcdembed"
)

// attempts bounds the retries when a port picked as free was taken by
// someone else before etcd bound it.
const attempts = 5

// Start starts a single-member etcd on free 127.0.0.1 ports in a
// t.TempDir() and returns a client of it. Both are closed by t.Cleanup.
func Start(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, _ := StartWithEndpoints(t)
	return cli
}

// StartWithEndpoints is Start that also returns the client endpoints, for
// tests that make clients of their own (one per simulated process).
func StartWithEndpoints(t testing.TB) (*clientv3.Client, []string) {
	t.Helper()
	e := StartEtcd(t)
	cli := NewClient(t, e.Endpoints())
	return cli, e.Endpoints()
}

// StartEtcd starts the etcd only; t.Cleanup closes it.
func StartEtcd(t testing.TB) *etcdembed.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var lastErr error
	for i := range attempts {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		e, err := etcdembed.Start(ctx, etcdembed.Config{
			Dir:       filepath.Join(t.TempDir(), fmt.Sprintf("etcd-%d", i)),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
			Name:      "test",
			Log:       log,
			// Fast ticks bring the minimum lease TTL down to 1 s so
			// tests of lease expiry stay short.
			TickMs:     10,
			ElectionMs: 100,
		})
		if err == nil {
			t.Cleanup(e.Close)
			return e
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	t.Fatalf("etcdtest: start etcd: %v", lastErr)
	return nil
}

// NewClient returns a client of endpoints, connected, closed by t.Cleanup
// (closing it earlier is fine).
func NewClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      etcdembed.NewZapLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)), zapcore.ErrorLevel),
	})
	if err != nil {
		t.Fatalf("etcdtest: etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	// Connect now rather than at the first request, so that the client's
	// connection exists before the test starts counting goroutines.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "etcdtest-ping"); err != nil {
		t.Fatalf("etcdtest: etcd at %v: %v", endpoints, err)
	}
	return cli
}

// freePorts returns n distinct ports that were free a moment ago: it
// listens on 127.0.0.1:0 n times and closes the listeners.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
