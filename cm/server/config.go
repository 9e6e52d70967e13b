package server

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/meridian-db/meridian/cm/placement"
)

// Config is the configuration of one CM server.
type Config struct {
	// Name is this CM server's node name (nodes/<name>, the election value).
	Name string `json:"name"`
	// Cluster selects the etcd prefix /meridian/<cluster>/.
	Cluster string `json:"cluster"`
	// HTTPAddr is where /metrics and /health listen.
	HTTPAddr string `json:"http"`
	// AdvertiseHTTP is the HTTP address written to nodes/<name>; empty
	// means the address the listener got.
	AdvertiseHTTP string `json:"advertise-http,omitempty"`
	// Datanodes is how many datanodes form the initial cluster.
	Datanodes int `json:"datanodes"`
	// LeaseTTL is the TTL in seconds of the registration and election
	// leases: how long a dead CM leader keeps its role.
	LeaseTTL int `json:"lease-ttl"`
	// TxnMode is the cluster's transaction mode (gtm, gtm-lite or
	// gtm-free), written to settings/txn_mode once, at cluster init; a
	// later CM with another value logs a warning and changes nothing.
	TxnMode string `json:"txn-mode"`
	// DeadlockInterval is how often the leader polls the datanodes' waits
	// for row locks for deadlocks across datanodes (deadlock.go); 0 means
	// DefaultDeadlockInterval, negative turns the detector off.
	DeadlockInterval time.Duration `json:"-"`

	// Logger defaults to slog.Default(); the server adds its node tag.
	Logger *slog.Logger `json:"-"`
	// Knobs are hooks for tests; nil in production.
	Knobs *TestingKnobs `json:"-"`
}

// TestingKnobs are hooks tests fill to observe the server.
type TestingKnobs struct {
	// OnInitWait is called by the leader each time it finds fewer
	// registered datanodes than it needs to initialize the cluster.
	OnInitWait func(have, want int)
}

// DefaultDeadlockInterval is the default Config.DeadlockInterval.
const DefaultDeadlockInterval = 200 * time.Millisecond

func (cfg Config) deadlockInterval() time.Duration {
	if cfg.DeadlockInterval == 0 {
		return DefaultDeadlockInterval
	}
	return cfg.DeadlockInterval
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{
		Cluster:  "meridian",
		HTTPAddr: "127.0.0.1:0",
		LeaseTTL: 5,
		TxnMode:  "gtm-lite",
	}
}

// Validate checks cfg without side effects.
func (cfg Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if cfg.Name == "" || strings.Contains(cfg.Name, "/") {
		return bad("name %q must be non-empty and contain no '/'", cfg.Name)
	}
	if cfg.Cluster == "" || strings.Contains(cfg.Cluster, "/") {
		return bad("cluster %q must be non-empty and contain no '/'", cfg.Cluster)
	}
	if _, _, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
		return bad("http address %q: %v", cfg.HTTPAddr, err)
	}
	if cfg.Datanodes < 1 || cfg.Datanodes > placement.NumBuckets {
		return bad("datanodes = %d, want 1..%d", cfg.Datanodes, placement.NumBuckets)
	}
	switch cfg.TxnMode {
	case "gtm", "gtm-lite", "gtm-free":
	default:
		return bad("txn mode %q is not gtm, gtm-lite or gtm-free", cfg.TxnMode)
	}
	if cfg.LeaseTTL < 1 {
		return bad("lease TTL = %d s, want ≥ 1", cfg.LeaseTTL)
	}
	return nil
}
