package pgwire

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidate(t *testing.T) {
	if cfg := NewConfig(); cfg.Validate() != nil {
		t.Fatalf("defaults do not validate: %v", cfg.Validate())
	}
	def := NewConfig()
	if def.MaxMessageSize != 64<<20 || def.AuthMethod != AuthTrust || def.ServerVersion != "15.0 (Meridian)" {
		t.Errorf("unexpected defaults %+v", def)
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string // substring of the error
	}{
		{"bad address", func(c *Config) { c.ListenAddr = "nohostport" }, "ListenAddr"},
		{"small messages", func(c *Config) { c.MaxMessageSize = 100 }, "MaxMessageSize"},
		{"huge messages", func(c *Config) { c.MaxMessageSize = 1 << 30 }, "MaxMessageSize"},
		{"auth method", func(c *Config) { c.AuthMethod = "md5" }, "AuthMethod"},
		{"scram without users", func(c *Config) { c.AuthMethod = AuthSCRAM }, "Users"},
		{"empty password", func(c *Config) { c.AuthMethod = AuthSCRAM; c.Users = map[string]string{"u": ""} }, "empty password"},
		{"empty user", func(c *Config) { c.AuthMethod = AuthSCRAM; c.Users = map[string]string{"": "p"} }, "empty user"},
		{"version", func(c *Config) { c.ServerVersion = "Meridian" }, "ServerVersion"},
		{"auth timeout", func(c *Config) { c.AuthTimeout = -1 }, "AuthTimeout"},
		{"max connections", func(c *Config) { c.MaxConnections = -1 }, "MaxConnections"},
		{"no logger", func(c *Config) { c.Log = nil }, "Log"},
	} {
		cfg := NewConfig()
		tc.mut(&cfg)
		before := cfg
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %s", tc.name, err, tc.want)
		}
		if _, nerr := NewServer(cfg, newFakeEngine()); nerr == nil {
			t.Errorf("%s: NewServer accepted the config", tc.name)
		}
		if cfg.ListenAddr != before.ListenAddr || cfg.MaxMessageSize != before.MaxMessageSize {
			t.Errorf("%s: Validate changed the config", tc.name)
		}
	}
	if _, err := NewServer(NewConfig(), nil); err == nil {
		t.Error("NewServer accepted a nil engine")
	}
}

// Metrics live in the server's registry: two servers cannot share one
// until the first is closed.
func TestMetricsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := NewConfig()
	cfg.Registry = reg
	cfg.Log = slog.New(slog.DiscardHandler)
	s1, err := NewServer(cfg, newFakeEngine())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(cfg, newFakeEngine()); err == nil {
		t.Fatal("a second server registered the same metrics")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if got := strings.Join(names, " "); got != "meridian_pgwire_connections meridian_pgwire_errors_total meridian_pgwire_messages_total meridian_pgwire_panics_total" {
		t.Errorf("metrics %q", got)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := NewServer(cfg, newFakeEngine())
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	_ = s2.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Serve(ln); err != ErrServerClosed {
		t.Errorf("Serve after Close: %v", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Serve after Close left the listener open")
	}
}

func TestListenAndServe(t *testing.T) {
	checkNoLeaks(t)
	cfg := NewConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	s, err := NewServer(cfg, newFakeEngine())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe() }()
	waitFor(t, "the listener", func() bool { return s.Addr() != nil })
	ts := &testServer{Server: s, engine: newFakeEngine(), addr: s.Addr().String()}
	c := ts.dialRaw(t)
	c.send(&pgproto3.Query{String: "select 1"})
	wantReply(t, "query", c.untilReady(), `T:?column?/23/0 | D:"1" | C:SELECT 1 | Z:I`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("ListenAndServe returned %v", err)
	}
}
