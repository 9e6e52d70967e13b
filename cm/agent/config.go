package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the configuration of one agent.
type Config struct {
	// Name is the agent's name, for logs.
	Name string `json:"name"`
	// Cluster selects the etcd prefix /meridian/<cluster>/.
	Cluster string `json:"cluster"`
	// NodeName is the node watched: the key is health/<NodeName>.
	NodeName string `json:"node"`
	// NodeHTTP is the base URL of the node's HTTP server
	// (http://host:port); the agent probes NodeHTTP/health.
	NodeHTTP string `json:"node-http"`
	// Interval between probes.
	Interval time.Duration `json:"-"`
	// Timeout of one probe.
	Timeout time.Duration `json:"-"`
	// LeaseTTL is the TTL in seconds of the lease the health key lives
	// under.
	LeaseTTL int `json:"lease-ttl"`
	// HTTPAddr, if set, serves the agent's own /metrics and /health.
	HTTPAddr string `json:"http,omitempty"`

	// Logger defaults to slog.Default(); the agent adds its tags.
	Logger *slog.Logger `json:"-"`
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{
		Cluster:  "meridian",
		Interval: time.Second,
		Timeout:  time.Second,
		LeaseTTL: 5,
	}
}

// Validate checks cfg without side effects.
func (cfg Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct{ what, v string }{{"name", cfg.Name}, {"cluster", cfg.Cluster}, {"node", cfg.NodeName}} {
		if f.v == "" || strings.Contains(f.v, "/") {
			return bad("%s %q must be non-empty and contain no '/'", f.what, f.v)
		}
	}
	u, err := url.Parse(cfg.NodeHTTP)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("node http %q must be an http(s)://host:port URL", cfg.NodeHTTP)
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		return bad("interval %v and timeout %v must be positive", cfg.Interval, cfg.Timeout)
	}
	if cfg.LeaseTTL < 1 {
		return bad("lease TTL = %d s, want ≥ 1", cfg.LeaseTTL)
	}
	if cfg.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
			return bad("http address %q: %v", cfg.HTTPAddr, err)
		}
	}
	return nil
}
