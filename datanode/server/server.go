package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/cm/routing"

	"github.com/meridian-db/meridian/datanode/exec"
	"github.com/meridian-db/meridian/datanode/flow"
	"github.com/meridian-db/meridian/datanode/storage"
	gtmclient "github.com/meridian-db/meridian/gtm/client"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/internal/rpcconn"
	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Config configures a datanode.
type Config struct {
	Name       string
	Num        uint32 // datanode number = its group id; unique, 1..4095
	Cluster    string
	ListenAddr string // gRPC
	HTTPAddr   string
	DataDir    string
	CacheBytes int64
	// InDoubtAfter: a transaction left prepared this long is resolved
	// (see exec.Resolver).
	InDoubtAfter time.Duration
	// WorkMem is the memory budget of each query operator that holds rows
	// (hash tables, sorts) before it spills to DataDir/tmp.
	WorkMem int64
	// QueryMem is the memory all the queries running on the datanode share
	// for rows operators hold (sql/exec.MemPool): beyond it operators
	// spill, and those that cannot fail with 53200. 0 means
	// DefaultQueryMem.
	QueryMem int64
	// RowEngine turns the vectorized operators off: every query runs on
	// batches of rows (for comparisons; see docs/architecture.md).
	RowEngine bool
	// CleanInterval is how often the old versions cleaner passes over all
	// the data at the cluster's snapshot horizon (cleaner.go); 0 means
	// DefaultCleanInterval, negative turns it off (VACUUM still cleans).
	CleanInterval time.Duration
	Log           *slog.Logger
}

// DefaultQueryMem is the default Config.QueryMem.
const DefaultQueryMem = 1 << 30

// DefaultCleanInterval is the default Config.CleanInterval.
const DefaultCleanInterval = 10 * time.Second

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{Name: "dn1", Num: 1, Cluster: "meridian", ListenAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8101", DataDir: "data/dn1", CacheBytes: 256 << 20, InDoubtAfter: 3 * time.Second, WorkMem: 64 << 20, QueryMem: DefaultQueryMem}
}

// Validate checks the configuration without side effects.
func (c Config) Validate() error {
	var errs []string
	if c.Name == "" {
		errs = append(errs, "name is empty")
	}
	if c.Num == 0 || c.Num > 4095 {
		errs = append(errs, "num must be 1..4095")
	}
	if c.Cluster == "" {
		errs = append(errs, "cluster is empty")
	}
	if c.QueryMem < 0 {
		errs = append(errs, "query memory is negative")
	}
	if c.DataDir == "" {
		errs = append(errs, "data dir is empty")
	}
	if c.ListenAddr == "" {
		errs = append(errs, "listen address is empty")
	}
	if len(errs) > 0 {
		return fmt.Errorf("datanode config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Server is a running datanode.
type Server struct {
	meridianpb.UnimplementedDataNodeServer
	cfg    Config
	log    *slog.Logger
	st     *storage.Engine
	gtm    *gtmclient.Client
	x      *exec.Executor
	grpc   *grpc.Server
	ln     net.Listener
	http   *serve.HTTP
	cancel context.CancelFunc
	done   chan struct{}
	m      *metrics
	routes *routing.Watcher
	wg     sync.WaitGroup
	peers  sync.Map // address → *grpc.ClientConn
	flows  *flow.Server
	etcd   *clientv3.Client
	keys   meta.Keys
}

// peerConn returns the shared connection to another datanode.
func (s *Server) peerConn(addr string) (*grpc.ClientConn, error) {
	if c, ok := s.peers.Load(addr); ok {
		return c.(*grpc.ClientConn), nil
	}
	c, err := grpc.NewClient(addr, rpcconn.Options(
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))...)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.peers.LoadOrStore(addr, c); loaded {
		_ = c.Close()
		return prev.(*grpc.ClientConn), nil
	}
	return c, nil
}

// askPrimary asks a transaction's primary datanode what became of it.
func (s *Server) askPrimary(ctx context.Context, primary uint32, gxid uint64) (meridianpb.TxnState, uint64, error) {
	addr, ok := s.routes.Current().Addr(primary)
	if !ok {
		return 0, 0, fmt.Errorf("datanode group %d has no live leader", primary)
	}
	conn, err := s.peerConn(addr)
	if err != nil {
		return 0, 0, err
	}
	resp, err := meridianpb.NewDataNodeClient(conn).TxnStatus(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	if err != nil {
		return 0, 0, err
	}
	return resp.State, resp.Csn, nil
}

// abortAt aborts a transaction on another datanode group (the resolver:
// a primary whose commit never came).
func (s *Server) abortAt(ctx context.Context, group uint32, gxid uint64) error {
	c, err := participants{s}.peer(group)
	if err != nil {
		return err
	}
	_, err = c.Abort(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	return pgerr.FromStatus(err)
}

// participants reaches the datanodes of an explicitly prepared
// transaction for the resolver (prepared.Finish): this one directly, the
// others by RPC.
type participants struct{ s *Server }

var _ prepared.Participants = participants{}

func (p participants) peer(group uint32) (meridianpb.DataNodeClient, error) {
	addr, ok := p.s.routes.Current().Addr(group)
	if !ok {
		return nil, pgerr.New(pgerr.ConnectionFailure, "datanode group %d has no live leader", group)
	}
	conn, err := p.s.peerConn(addr)
	if err != nil {
		return nil, err
	}
	return meridianpb.NewDataNodeClient(conn), nil
}

func (p participants) CommitIntent(ctx context.Context, group uint32, gxid uint64) error {
	if group == p.s.cfg.Num {
		return p.s.x.CommitIntent(gxid)
	}
	c, err := p.peer(group)
	if err != nil {
		return err
	}
	_, err = c.CommitIntent(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	return pgerr.FromStatus(err)
}

func (p participants) Commit(ctx context.Context, group uint32, gxid, csn uint64) error {
	if group == p.s.cfg.Num {
		return p.s.x.CommitDecided(ctx, gxid, csn)
	}
	c, err := p.peer(group)
	if err != nil {
		return err
	}
	_, err = c.Commit(ctx, &meridianpb.TxnRequest{Gxid: gxid, Csn: csn, Decided: true})
	return pgerr.FromStatus(err)
}

func (p participants) Abort(ctx context.Context, group uint32, gxid uint64) error {
	if group == p.s.cfg.Num {
		return p.s.x.Abort(gxid)
	}
	c, err := p.peer(group)
	if err != nil {
		return err
	}
	_, err = c.Abort(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	return pgerr.FromStatus(err)
}

type metrics struct {
	execs   *prometheus.CounterVec
	errors  prometheus.Counter
	rowsOut prometheus.Counter
}

// Start opens storage and serves. cli is the etcd client (owned by the
// caller).
func Start(ctx context.Context, cfg Config, cli *clientv3.Client) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Name)
	reg := serve.NewRegistry()
	scfg := storage.NewConfig()
	scfg.Dir = filepath.Join(cfg.DataDir, "pebble")
	scfg.NodeNum = cfg.Num
	scfg.Format = codec.RowFormat
	scfg.Log = log
	if cfg.CacheBytes > 0 {
		scfg.CacheBytes = cfg.CacheBytes
	}
	scfg.Registry = reg
	st, err := storage.Open(scfg)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	keys := meta.NewKeys(cfg.Cluster)
	gc, err := gtmclient.New(ctx, gtmclient.Config{Etcd: cli, Keys: keys, Log: log})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("gtm client: %w", err)
	}
	s := &Server{cfg: cfg, log: log, st: st, gtm: gc, x: exec.New(st, gc), done: make(chan struct{}), etcd: cli, keys: keys}
	s.x.Self = cfg.Num
	s.m = &metrics{
		execs:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_dn_exec_total", Help: "Statements run, by kind."}, []string{"op"}),
		errors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_dn_exec_errors_total", Help: "Statements that failed."}),
		rowsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_dn_rows_sent_total", Help: "Rows streamed to coordinators."}),
	}
	queryMem := cfg.QueryMem
	if queryMem <= 0 {
		queryMem = DefaultQueryMem
	}
	pool := sqlexec.NewMemPool(queryMem)
	reg.MustRegister(s.m.execs, s.m.errors, s.m.rowsOut,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_dn_query_memory_bytes", Help: "Memory query operators hold reserved (of --query-mem)."},
			func() float64 { return float64(pool.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_dn_query_memory_peak_bytes", Help: "The most query operators held reserved at once."},
			func() float64 { return float64(pool.Peak()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_dn_query_memory_limit_bytes", Help: "The query memory (--query-mem)."},
			func() float64 { return float64(pool.Limit()) }))
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		s.closeStorage()
		return nil, err
	}
	s.ln = ln
	s.grpc = grpc.NewServer(append(rpcconn.ServerOptions(), grpc.MaxRecvMsgSize(256<<20), grpc.MaxSendMsgSize(256<<20),
		grpc.ChainUnaryInterceptor(serve.RecoverUnary(log)), grpc.ChainStreamInterceptor(serve.RecoverStream(log)),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))...)
	meridianpb.RegisterDataNodeServer(s.grpc, s)
	s.flows = flow.NewServer(flow.Config{Group: cfg.Num, Exec: s.x, TempDir: filepath.Join(cfg.DataDir, "tmp"), WorkMem: cfg.WorkMem, Pool: pool, Log: log, RowEngine: cfg.RowEngine,
		Peer: func(addr string) (meridianpb.FlowClient, error) {
			c, err := s.peerConn(addr)
			if err != nil {
				return nil, err
			}
			return meridianpb.NewFlowClient(c), nil
		}})
	meridianpb.RegisterFlowServer(s.grpc, s.flows)
	meridianpb.RegisterDataNodeCallsServer(s.grpc, callServer{s: s})
	go func() {
		if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("grpc serve", "err", err)
		}
	}()
	if cfg.HTTPAddr != "" {
		h, err := serve.StartHTTP(cfg.HTTPAddr, reg, nil, log)
		if err != nil {
			s.grpc.Stop()
			s.closeStorage()
			return nil, err
		}
		s.http = h
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	info := &meridianpb.NodeInfo{Name: cfg.Name, Role: meridianpb.Role_ROLE_DATANODE, Num: cfg.Num, GrpcAddr: ln.Addr().String()}
	if s.http != nil {
		info.HttpAddr = s.http.Addr()
	}
	if err := meta.Register(rctx, cli, keys, info, 5, log); err != nil {
		s.Close()
		return nil, err
	}
	if s.routes, err = routing.Watch(rctx, cli, keys, log); err != nil {
		s.Close()
		return nil, err
	}
	after := cfg.InDoubtAfter
	if after <= 0 {
		after = 3 * time.Second
	}
	res := &exec.Resolver{X: s.x, Self: cfg.Num, After: after, Log: log, Status: s.askPrimary, AbortAt: s.abortAt,
		Coordinators: func(ctx context.Context) (map[uint32]uint64, error) { return meta.LiveCoordinators(ctx, cli, keys) },
		Xacts:        prepared.NewStore(cli, keys), Participants: participants{s}, CSNs: s.gtm}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res.Run(rctx, time.Second)
	}()
	if iv := cfg.CleanInterval; iv >= 0 {
		if iv == 0 {
			iv = DefaultCleanInterval
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.cleanLoop(rctx, iv)
		}()
	}
	log.Info("datanode started", "grpc", ln.Addr().String(), "data", cfg.DataDir)
	return s, nil
}

// Addr is the gRPC address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HTTPAddr is the metrics/health address.
func (s *Server) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

func (s *Server) closeStorage() {
	s.gtm.Close()
	if err := s.st.Close(); err != nil {
		s.log.Error("close storage", "err", err)
	}
}

// Close stops the datanode (see the package comment for the order).
func (s *Server) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.routes != nil {
		s.routes.Close()
	}
	s.peers.Range(func(_, c any) bool {
		_ = c.(*grpc.ClientConn).Close()
		return true
	})
	s.grpc.Stop()
	s.closeStorage()
	if s.http != nil {
		_ = s.http.Close()
	}
}

// Exec runs a statement fragment and streams its rows.
func (s *Server) Exec(req *meridianpb.ExecRequest, stream meridianpb.DataNode_ExecServer) error {
	ctx := stream.Context()
	s.m.execs.WithLabelValues(opName(req)).Inc()
	const maxBatchBytes = 1 << 20
	batch := &meridianpb.ExecResponse{}
	size := 0
	flush := func() error {
		if len(batch.Rows) == 0 {
			return nil
		}
		s.m.rowsOut.Add(float64(len(batch.Rows)))
		err := stream.Send(batch)
		batch = &meridianpb.ExecResponse{}
		size = 0
		return err
	}
	res, err := s.x.Exec(ctx, req, func(row []any) error {
		enc := codec.EncodeRow(nil, row)
		batch.Rows = append(batch.Rows, enc)
		size += len(enc)
		if len(batch.Rows) >= 1024 || size >= maxBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		s.m.errors.Inc()
		return pgerr.ToStatus(err)
	}
	// Global index entry changes go in chunks, the last with done.
	const opsPerMessage = 8192
	ops := res.IndexOps
	for len(ops) > opsPerMessage {
		batch.IndexOps = ops[:opsPerMessage]
		ops = ops[opsPerMessage:]
		s.m.rowsOut.Add(float64(len(batch.Rows)))
		if err := stream.Send(batch); err != nil {
			return err
		}
		batch = &meridianpb.ExecResponse{}
	}
	batch.IndexOps = ops
	batch.Done = true
	batch.RowsAffected = res.RowsAffected
	batch.CommitCsn = res.CommitCSN
	s.m.rowsOut.Add(float64(len(batch.Rows)))
	return stream.Send(batch)
}

// ExecUnary runs a fragment with a small result and returns it whole.
func (s *Server) ExecUnary(ctx context.Context, req *meridianpb.ExecRequest) (*meridianpb.ExecResponse, error) {
	s.m.execs.WithLabelValues(opName(req)).Inc()
	out := &meridianpb.ExecResponse{Done: true}
	res, err := s.x.Exec(ctx, req, func(row []any) error {
		out.Rows = append(out.Rows, codec.EncodeRow(nil, row))
		return nil
	})
	if err != nil {
		s.m.errors.Inc()
		return nil, pgerr.ToStatus(err)
	}
	s.m.rowsOut.Add(float64(len(out.Rows)))
	out.RowsAffected, out.CommitCsn, out.IndexOps = res.RowsAffected, res.CommitCSN, res.IndexOps
	return out, nil
}

func opName(req *meridianpb.ExecRequest) string {
	switch req.Op.(type) {
	case *meridianpb.ExecRequest_Insert:
		return "insert"
	case *meridianpb.ExecRequest_Update:
		return "update"
	case *meridianpb.ExecRequest_Delete:
		return "delete"
	case *meridianpb.ExecRequest_GlobalIndexWrite:
		return "global_index_write"
	case *meridianpb.ExecRequest_GlobalIndexEntries:
		return "global_index_entries"
	}
	return "scan"
}

// Prepare is phase one of two-phase commit.
func (s *Server) Prepare(ctx context.Context, req *meridianpb.TxnRequest) (*meridianpb.TxnResponse, error) {
	if err := s.heldWrites(ctx, req); err != nil {
		return nil, pgerr.ToStatus(err)
	}
	return &meridianpb.TxnResponse{}, pgerr.ToStatus(s.x.Prepare(req.Gxid, req.Primary, req.Gid))
}

// heldWrites runs the writes a Prepare or one-phase Commit carries, in
// order, in the transaction they name.
func (s *Server) heldWrites(ctx context.Context, req *meridianpb.TxnRequest) error {
	for _, w := range req.Writes {
		if w.Txn.GetGxid() != req.Gxid || w.Commit {
			return pgerr.New(pgerr.ProtocolViolation, "a write carried by the end of transaction %d names another transaction or commits", req.Gxid)
		}
		s.m.execs.WithLabelValues(opName(w)).Inc()
		if _, err := s.x.Exec(ctx, w, func([]any) error { return nil }); err != nil {
			s.m.errors.Inc()
			return err
		}
	}
	return nil
}

// CommitIntent marks an explicitly prepared transaction committing.
func (s *Server) CommitIntent(ctx context.Context, req *meridianpb.TxnRequest) (*meridianpb.TxnResponse, error) {
	return &meridianpb.TxnResponse{}, pgerr.ToStatus(s.x.CommitIntent(req.Gxid))
}

// ListPrepared lists the transactions prepared here.
func (s *Server) ListPrepared(ctx context.Context, req *meridianpb.ListPreparedRequest) (*meridianpb.ListPreparedResponse, error) {
	return &meridianpb.ListPreparedResponse{Txns: s.x.Prepared()}, nil
}

// Commit commits (csn 0: one-phase with a CSN from the GTM; with primary
// set, as the primary of a two-phase commit whose other participants are
// prepared).
func (s *Server) Commit(ctx context.Context, req *meridianpb.TxnRequest) (*meridianpb.TxnResponse, error) {
	if req.Decided {
		return &meridianpb.TxnResponse{Csn: req.Csn}, pgerr.ToStatus(s.x.CommitDecided(ctx, req.Gxid, req.Csn))
	}
	if len(req.Writes) > 0 && req.Csn != 0 {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.ProtocolViolation, "writes carried by the second phase of transaction %d", req.Gxid))
	}
	if err := s.heldWrites(ctx, req); err != nil {
		return nil, pgerr.ToStatus(err)
	}
	if req.Primary != 0 {
		if req.Csn != 0 {
			return nil, pgerr.ToStatus(pgerr.New(pgerr.ProtocolViolation, "commit of transaction %d as primary names a CSN", req.Gxid))
		}
		csn, err := s.x.CommitAsPrimary(ctx, req.Gxid, req.Primary)
		return &meridianpb.TxnResponse{Csn: csn}, pgerr.ToStatus(err)
	}
	csn, err := s.x.Commit(ctx, req.Gxid, req.Csn)
	return &meridianpb.TxnResponse{Csn: csn}, pgerr.ToStatus(err)
}

// TxnStatus reports what became of a global transaction here.
func (s *Server) TxnStatus(ctx context.Context, req *meridianpb.TxnRequest) (*meridianpb.TxnStatusResponse, error) {
	st, csn := s.x.Outcome(req.Gxid)
	return &meridianpb.TxnStatusResponse{State: st, Csn: csn}, nil
}

// Abort rolls back.
func (s *Server) Abort(ctx context.Context, req *meridianpb.TxnRequest) (*meridianpb.TxnResponse, error) {
	return &meridianpb.TxnResponse{}, pgerr.ToStatus(s.x.Abort(req.Gxid))
}

// RollbackTo undoes a transaction's writes after a savepoint.
func (s *Server) RollbackTo(ctx context.Context, req *meridianpb.RollbackToRequest) (*meridianpb.RollbackToResponse, error) {
	err := s.x.RollbackTo(req.Gxid, req.FromCommandId, req.ThroughCommandId, req.MustExist)
	return &meridianpb.RollbackToResponse{}, pgerr.ToStatus(err)
}

// DDL applies a physical schema change.
func (s *Server) DDL(ctx context.Context, req *meridianpb.DDLRequest) (*meridianpb.DDLResponse, error) {
	return &meridianpb.DDLResponse{}, pgerr.ToStatus(s.x.DDL(ctx, req))
}
