// Package server is a coordinator process: catalog, routing watcher, GTM
// client, the SQL engine and the PostgreSQL wire server, registered in
// etcd and serving /metrics and /health.
//
// Shutdown order (Close): deregister so clients and tools stop finding
// it, close the wire server (sessions end, open transactions roll back),
// then the engine's datanode connections, GTM client, routing watcher and
// catalog watch, then HTTP.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/session"
	gtmclient "github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/internal/meta"
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
	TxnMode        string            `json:"txn_mode"`
	Log            *slog.Logger      `json:"-"`
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{Name: "cn1", Num: 1, Cluster: "meridian", PGAddr: "127.0.0.1:5432", HTTPAddr: "127.0.0.1:8201",
		AuthMethod: "trust", MaxMessageSize: 64 << 20, TxnMode: string(session.ModeGTMLite)}
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
	switch session.TxnMode(c.TxnMode) {
	case session.ModeGTM, session.ModeGTMLite, session.ModeGTMFree:
	default:
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
	cancel context.CancelFunc
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
	defer func() {
		if err != nil {
			s.Close()
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
	s.eng = session.NewEngine(session.Config{Name: cfg.Name, Num: cfg.Num, TxnMode: session.TxnMode(cfg.TxnMode), Log: log}, s.cat, s.routes, s.gtm)
	s.eng.WatchSequences(cli, keys)
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
	log.Info("coordinator started", "pg", s.ln.Addr().String())
	return s, nil
}

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
	if s.pg != nil {
		s.pg.Close()
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
