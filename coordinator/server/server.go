// Package server is a coordinator process: catalog, routing watcher, GTM
// client, the SQL engine and the PostgreSQL wire server, registered in
// etcd and serving /metrics and /health.
//
// Shutdown order (Close): deregister so clients and tools stop finding
// it, stop the prepared transactions' janitor, close the wire server (sessions end, open transactions roll back),
// then the engine's datanode connections, GTM client, routing watcher and
// catalog watch, then HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/session"
	gtmclient "github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/internal/horizon"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Config configures a coordinator.
type Config struct {
	Name    string `json:"name"`
	Num     uint32 `json:"num"`
	Cluster string `json:"cluster"`
	// PGAddr is the PostgreSQL wire address.
	PGAddr   string `json:"pg"`
	HTTPAddr string `json:"http"`
	// AuthMethod is "trust" or "scram-sha-256"; Users maps user → password.
	AuthMethod     string            `json:"auth"`
	Users          map[string]string `json:"users"`
	MaxMessageSize int               `json:"max_message_size"`
	MaxConnections int               `json:"max_connections"`
	// TxnMode, if set, must equal the cluster's mode (settings/txn_mode,
	// chosen at cluster init); empty follows the cluster.
	TxnMode string       `json:"txn_mode"`
	Log     *slog.Logger `json:"-"`
	// Knobs are testing hooks (nil in production).
	Knobs *session.TestingKnobs `json:"-"`
	// RowEngine turns the vectorized operators off.
	RowEngine bool `json:"row_engine"`
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{Name: "cn1", Num: 1, Cluster: "meridian", PGAddr: "127.0.0.1:5432", HTTPAddr: "127.0.0.1:8201",
		AuthMethod: "trust", MaxMessageSize: 64 << 20}
}

// Validate checks the configuration without side effects.
func (c Config) Validate() error {
	var errs []string
	if c.Name == "" {
		errs = append(errs, "name is empty")
	}
	if c.Num == 0 || c.Num > 65535 {
		errs = append(errs, "num must be 1..65535")
	}
	if c.PGAddr == "" {
		errs = append(errs, "pg address is empty")
	}
	if _, err := session.ParseTxnMode(c.TxnMode); err != nil && c.TxnMode != "" {
		errs = append(errs, fmt.Sprintf("txn mode %q is not gtm, gtm-lite or gtm-free", c.TxnMode))
	}
	if c.AuthMethod != pgwire.AuthTrust && c.AuthMethod != pgwire.AuthSCRAM {
		errs = append(errs, fmt.Sprintf("auth %q is not trust or scram-sha-256", c.AuthMethod))
	}
	if len(errs) > 0 {
		return fmt.Errorf("coordinator config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Server is a running coordinator.
type Server struct {
	cfg    Config
	log    *slog.Logger
	cat    *catalog.Catalog
	routes *routing.Watcher
	gtm    *gtmclient.Client
	eng    *session.Engine
	pg     *pgwire.Server
	ln     net.Listener
	http   *serve.HTTP
	hz     *horizon.Publisher
	cancel context.CancelFunc
	wg     sync.WaitGroup // the prepared transactions' janitor
}

// Start starts a coordinator; cli is owned by the caller.
func Start(ctx context.Context, cfg Config, cli *clientv3.Client) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Name)
	keys := meta.NewKeys(cfg.Cluster)
	s = &Server{cfg: cfg, log: log}
	started := s // the error returns below set s to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if s.cat, err = catalog.Open(ctx, cli, keys, log); err != nil {
		return nil, err
	}
	if s.routes, err = routing.Watch(ctx, cli, keys, log); err != nil {
		return nil, err
	}
	if s.gtm, err = gtmclient.New(ctx, gtmclient.Config{Etcd: cli, Keys: keys, Log: log}); err != nil {
		return nil, err
	}
	mode, err := clusterMode(ctx, cli, keys, cfg.TxnMode, log)
	if err != nil {
		return nil, err
	}
	s.eng = session.NewEngine(session.Config{Name: cfg.Name, Num: cfg.Num, TxnMode: mode, Log: log,
		Xacts: prepared.NewStore(cli, keys), Knobs: cfg.Knobs, RowEngine: cfg.RowEngine}, s.cat, s.routes, s.gtm)
	s.eng.WatchSequences(cli, keys)
	// Published before any statement runs: see internal/horizon.
	if s.hz, err = horizon.Publish(ctx, horizon.PublisherConfig{Etcd: cli, Keys: keys, Node: cfg.Name,
		Tracker: s.eng.Horizon(), GTM: s.gtm, Log: log}); err != nil {
		return nil, err
	}
	s.eng.SetPublisher(s.hz.Now)
	reg := serve.NewRegistry()
	pcfg := pgwire.NewConfig()
	pcfg.AuthMethod = cfg.AuthMethod
	pcfg.Users = cfg.Users
	if cfg.MaxMessageSize > 0 {
		pcfg.MaxMessageSize = cfg.MaxMessageSize
	}
	pcfg.MaxConnections = cfg.MaxConnections
	pcfg.Log = log
	pcfg.Registry = reg
	if s.pg, err = pgwire.NewServer(pcfg, s.eng); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.PGAddr); err != nil {
		return nil, err
	}
	go func() {
		if err := s.pg.Serve(s.ln); err != nil {
			log.Debug("pgwire serve ended", "err", err)
		}
	}()
	if cfg.HTTPAddr != "" {
		ready := func() error {
			if !s.routes.Current().Ready() {
				return fmt.Errorf("bucket map not initialized yet")
			}
			return nil
		}
		if s.http, err = serve.StartHTTP(cfg.HTTPAddr, reg, ready, log); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	info := &meridianpb.NodeInfo{Name: cfg.Name, Role: meridianpb.Role_ROLE_COORDINATOR, Num: cfg.Num, PgAddr: s.ln.Addr().String(),
		FirstGxidCounter: s.eng.FirstGxidCounter()}
	if s.http != nil {
		info.HttpAddr = s.http.Addr()
	}
	if err = meta.Register(rctx, cli, keys, info, 5, log); err != nil {
		return nil, err
	}
	if j := s.eng.PreparedJanitor(3*time.Second, func(ctx context.Context, gxid uint64) (bool, error) {
		live, err := meta.LiveCoordinators(ctx, cli, keys)
		return err == nil && meta.Orphan(gxid, live), err
	}); j != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			j.Run(rctx, time.Second)
		}()
	}
	log.Info("coordinator started", "pg", s.ln.Addr().String())
	return s, nil
}

// clusterMode reads the cluster's transaction mode (waiting for cluster
// init, bounded by ctx); a configured mode that differs is an error.
func clusterMode(ctx context.Context, cli *clientv3.Client, keys meta.Keys, want string, log *slog.Logger) (session.TxnMode, error) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	v, err := meta.WaitSetting(wctx, cli, keys, meta.SettingTxnMode)
	cancel()
	if err != nil && ctx.Err() == nil {
		log.Info("waiting for cluster init (settings/txn_mode)")
		v, err = meta.WaitSetting(ctx, cli, keys, meta.SettingTxnMode)
	}
	if err != nil {
		return "", err
	}
	mode, err := session.ParseTxnMode(v)
	if err != nil {
		return "", fmt.Errorf("cluster setting %s: %w", keys.Setting(meta.SettingTxnMode), err)
	}
	if want != "" && session.TxnMode(want) != mode {
		return "", fmt.Errorf("%w: --txn-mode %s, but the cluster was initialized with txn_mode %s (%s); "+
			"the mode is chosen once, at cluster init", ErrTxnModeMismatch, want, mode, keys.Setting(meta.SettingTxnMode))
	}
	return mode, nil
}

// ErrTxnModeMismatch: the configured transaction mode is not the cluster's.
var ErrTxnModeMismatch = errors.New("coordinator: transaction mode differs from the cluster's")

// PGAddr is the PostgreSQL wire address.
func (s *Server) PGAddr() string { return s.ln.Addr().String() }

// HTTPAddr is the metrics/health address.
func (s *Server) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// Close stops the coordinator.
func (s *Server) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.pg != nil {
		s.pg.Close()
	}
	if s.hz != nil {
		s.hz.Close() // the sessions are gone, and their snapshots
	}
	if s.eng != nil {
		s.eng.Close()
	}
	if s.gtm != nil {
		s.gtm.Close()
	}
	if s.routes != nil {
		s.routes.Close()
	}
	if s.cat != nil {
		s.cat.Close()
	}
	if s.http != nil {
		_ = s.http.Close()
	}
}
