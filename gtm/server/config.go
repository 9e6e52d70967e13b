package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
)

// Config configures one GTM replica. Start it from NewConfig, change
// fields, then Validate.
type Config struct {
	// Name identifies the replica: its node key (nodes/<name>) and log tag.
	Name string `json:"name"`
	// Cluster names the cluster: etcd keys live under /meridian/<cluster>/.
	Cluster string `json:"cluster"`
	// ListenAddr is the gRPC listen address (port 0 picks a free port).
	ListenAddr string `json:"listen"`
	// AdvertiseAddr is the gRPC address other nodes dial, published as
	// the election value and in the node key. Empty: the address the
	// listener got (right unless listening on 0.0.0.0 or behind NAT).
	AdvertiseAddr string `json:"advertise"`
	// HTTPAddr serves /metrics and /health; empty disables it.
	HTTPAddr string `json:"http"`
	// Window is the step by which the leader raises the persisted
	// high-water mark: one etcd write per Window/2 CSNs. A failover
	// skips at most Window CSNs.
	Window uint64 `json:"window"`
	// SequenceWindow is how many values of a sequence the leader reserves
	// in etcd beyond the run it hands out: one etcd write per about that
	// many values, and a failover skips at most that many (plus a run).
	// 0 means DefaultSequenceWindow.
	SequenceWindow uint64 `json:"sequence_window"`
	// LeaseTTL is the TTL in seconds of the leader's etcd lease: a crashed
	// leader is replaced after about this long. etcd may raise it to its
	// minimum (1.5 election timeouts).
	LeaseTTL int64 `json:"lease_ttl_seconds"`
	// EtcdEndpoints are the etcd client URLs main dials. Start ignores
	// them: it takes a client.
	EtcdEndpoints []string `json:"etcd"`
	// Log is the logger (default slog.Default()); Start tags it with the
	// node name.
	Log *slog.Logger `json:"-"`
}

// Defaults.
const (
	DefaultCluster    = "meridian"
	DefaultListenAddr = "127.0.0.1:6600"
	DefaultHTTPAddr   = "127.0.0.1:6601"
	DefaultWindow     = 1_000_000
	DefaultLeaseTTL   = 3
	DefaultEtcd       = "http://127.0.0.1:2379"

	maxWindow   = 1 << 40
	maxLeaseTTL = 600
)

// DefaultSequenceWindow is the SequenceWindow used when it is 0.
const DefaultSequenceWindow = 10_000

// NewConfig returns the default configuration.
func NewConfig() Config {
	return Config{
		Name:          "gtm",
		Cluster:       DefaultCluster,
		ListenAddr:    DefaultListenAddr,
		HTTPAddr:      DefaultHTTPAddr,
		Window:        DefaultWindow,
		LeaseTTL:      DefaultLeaseTTL,
		EtcdEndpoints: []string{DefaultEtcd},
	}
}

// Validate reports every problem of c in one error marked ErrInvalidConfig.
// It has no side effects.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validName(c.Name) {
		bad("name %q: want 1-64 letters, digits, '.', '_' or '-'", c.Name)
	}
	if !validName(c.Cluster) {
		bad("cluster %q: want 1-64 letters, digits, '.', '_' or '-'", c.Cluster)
	}
	if err := checkAddr(c.ListenAddr); err != nil {
		bad("listen address: %w", err)
	}
	if c.AdvertiseAddr != "" {
		if err := checkAddr(c.AdvertiseAddr); err != nil {
			bad("advertise address: %w", err)
		}
	}
	if c.HTTPAddr != "" {
		if err := checkAddr(c.HTTPAddr); err != nil {
			bad("http address: %w", err)
		}
	}
	if c.Window < 1 || c.Window > maxWindow {
		bad("window %d: want 1..%d", c.Window, uint64(maxWindow))
	}
	if c.SequenceWindow > maxWindow {
		bad("sequence window %d: want 0..%d", c.SequenceWindow, uint64(maxWindow))
	}
	if c.LeaseTTL < 1 || c.LeaseTTL > maxLeaseTTL {
		bad("lease TTL %ds: want 1..%d", c.LeaseTTL, maxLeaseTTL)
	}
	if len(c.EtcdEndpoints) == 0 {
		bad("no etcd endpoints")
	}
	for _, ep := range c.EtcdEndpoints {
		if ep == "" {
			bad("empty etcd endpoint")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: bad port", addr)
	}
	return nil
}
