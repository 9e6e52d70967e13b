package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config describes a single-member embedded etcd.
type Config struct {
	// Dir is the data directory; it is created when missing.
	Dir string
	// ClientURL is where clients connect, e.g. http://127.0.0.1:2379.
	ClientURL string
	// PeerURL is the raft peer URL, e.g. http://127.0.0.1:2380.
	PeerURL string
	// Name is the member name (default "etcd").
	Name string
	// Log receives etcd's error-level log lines (default: discarded).
	Log *slog.Logger
	// TickMs and ElectionMs override etcd's heartbeat interval and
	// election timeout when not zero. Small values shorten the minimum
	// lease TTL (1.5 election timeouts), which tests of lease expiry use.
	TickMs, ElectionMs uint
}

// Etcd is a running embedded etcd.
type Etcd struct {
	e         *embed.Etcd
	endpoints []string
	quiet     *atomic.Bool // set during Close: etcd logs its listeners closing as errors
}

// Start starts etcd and returns once it serves clients, ctx is done, or
// it failed to start.
func Start(ctx context.Context, cfg Config) (*Etcd, error) {
	if cfg.Dir == "" {
		return nil, errors.New("etcdembed: Dir is required")
	}
	curl, err := url.Parse(cfg.ClientURL)
	if err != nil || curl.Host == "" {
		return nil, fmt.Errorf("etcdembed: bad client URL %q", cfg.ClientURL)
	}
	purl, err := url.Parse(cfg.PeerURL)
	if err != nil || purl.Host == "" {
		return nil, fmt.Errorf("etcdembed: bad peer URL %q", cfg.PeerURL)
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "etcd"
	}
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*purl}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.TickMs != 0 {
		ec.TickMs = cfg.TickMs
	}
	if cfg.ElectionMs != 0 {
		ec.ElectionMs = cfg.ElectionMs
	}
	// Meridian speaks gRPC to etcd; the HTTP/JSON gateway would only add a
	// loopback gRPC connection that etcd opens after it reports ready.
	ec.EnableGRPCGateway = false
	ec.LogLevel = "error"
	core := &slogCore{log: cfg.Log, level: zapcore.ErrorLevel, quiet: new(atomic.Bool)}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(core))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: start etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdembed: etcd failed while starting: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcdembed: waiting for etcd to be ready: %w", ctx.Err())
	}
	return &Etcd{e: e, endpoints: []string{curl.String()}, quiet: core.quiet}, nil
}

// Endpoints are the client URLs, for clientv3.Config.Endpoints.
func (e *Etcd) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close stops etcd and waits for it to finish; the data stays in Dir.
func (e *Etcd) Close() {
	e.quiet.Store(true)
	e.e.Close()
}
