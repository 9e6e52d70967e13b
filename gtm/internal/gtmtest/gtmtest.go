package gtmtest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/meridian-db/meridian/gtm/server"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
)

// Log keeps test output to warnings and errors.
var Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Config is a replica config for tests: ports picked by the kernel, a
// lease TTL of 1 s (so a crashed leader is replaced quickly; etcdtest's
// fast ticks allow it), quiet logs.
func Config(name string) server.Config {
	cfg := server.NewConfig()
	cfg.Name = name
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.LeaseTTL = 1
	cfg.Log = Log
	return cfg
}

// StartServer starts a replica with an etcd client of its own, as a
// separate process would have; t.Cleanup closes both.
func StartServer(t testing.TB, eps []string, cfg server.Config) *server.Server {
	t.Helper()
	cli := etcdtest.NewClient(t, eps)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := server.Start(ctx, cfg, cli)
	if err != nil {
		t.Fatalf("gtmtest: start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		s.Close()
		_ = cli.Close()
	})
	return s
}

// WaitLeader waits up to 8 s for s to lead.
func WaitLeader(t testing.TB, s *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
}
