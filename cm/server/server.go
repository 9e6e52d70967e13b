package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/internal/etcdwatch"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Server is a running CM server.
type Server struct {
	cfg  Config
	cli  *clientv3.Client
	keys meta.Keys
	log  *slog.Logger
	m    *metrics
	view *membership
	http *serve.HTTP

	leader      atomic.Bool
	initialized atomic.Bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start starts a CM server of cfg on cli. ctx bounds the start only; the
// server runs until Close. cli stays the caller's: close it after Close.
func Start(ctx context.Context, cfg Config, cli *clientv3.Client) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "cm", "node", cfg.Name)
	reg := serve.NewRegistry()
	s := &Server{cfg: cfg, cli: cli, keys: meta.NewKeys(cfg.Cluster), log: log, m: newMetrics(reg)}
	s.view = newMembership(s.keys, s.m, log)

	// The server's goroutines outlive ctx, but ctx may still cancel the
	// start.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	detach := context.AfterFunc(ctx, cancel)
	defer detach()
	fail := func(err error) (*Server, error) {
		cancel()
		if s.http != nil {
			_ = s.http.Close()
		}
		return nil, err
	}

	src := s.view.source(cli)
	rev, err := src.Load(runCtx)
	if err != nil {
		return fail(fmt.Errorf("cm server %s: load %s: %w", cfg.Name, s.keys.Nodes(), err))
	}
	if s.http, err = serve.StartHTTP(cfg.HTTPAddr, reg, s.health, log); err != nil {
		return fail(fmt.Errorf("cm server %s: http: %w", cfg.Name, err))
	}
	adv := cfg.AdvertiseHTTP
	if adv == "" {
		adv = s.http.Addr()
	}
	info := &meridianpb.NodeInfo{Name: cfg.Name, Role: meridianpb.Role_ROLE_CM, HttpAddr: adv}
	if err := meta.Register(runCtx, cli, s.keys, info, int64(cfg.LeaseTTL), log); err != nil {
		return fail(fmt.Errorf("cm server %s: register: %w", cfg.Name, err))
	}
	if !detach() {
		return fail(ctx.Err())
	}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		etcdwatch.Run(runCtx, cli, src, rev)
	}()
	go func() {
		defer s.wg.Done()
		s.campaignLoop(runCtx)
	}()
	log.Info("cm server started", "cluster", cfg.Cluster, "http", s.http.Addr(), "datanodes", cfg.Datanodes)
	return s, nil
}

// Close stops the server: it resigns leadership and revokes its election
// session (a standby takes over at once), stops watching, deregisters,
// and stops HTTP. It returns when every goroutine it started has ended.
// Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		// meta.Register revokes its lease in the background; delete the
		// key now so that Close returns deregistered.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = s.cli.Delete(ctx, s.keys.Node(s.cfg.Name))
		cancel()
		_ = s.http.Close()
		s.log.Info("cm server stopped")
	})
}

// health is /health: failing while the membership view is not current.
func (s *Server) health() error {
	if !s.view.isSynced() {
		return errors.New("membership view is not current: the etcd watch broke and has not been reloaded")
	}
	return nil
}

// IsLeader says whether this server is the CM leader now.
func (s *Server) IsLeader() bool { return s.leader.Load() }

// Initialized says whether this server has seen the cluster layout
// written (by itself or another CM server). Standbys learn it when they
// become leader.
func (s *Server) Initialized() bool { return s.initialized.Load() }

// HTTPAddr is the address /metrics and /health listen on.
func (s *Server) HTTPAddr() string { return s.http.Addr() }

// Nodes returns the registered nodes, sorted by name, as the server's
// membership view has them.
func (s *Server) Nodes() []*meridianpb.NodeInfo {
	nodes, _ := s.view.snapshot()
	out := make([]*meridianpb.NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = proto.CloneOf(n)
	}
	return out
}
