package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Server is one GTM replica: a gRPC GTM service that hands out CSNs while
// this replica holds the leadership, and answers codes.Unavailable (naming
// the leader) otherwise.
type Server struct {
	meridianpb.UnimplementedGTMServer

	cfg   Config
	log   *slog.Logger
	cli   *clientv3.Client
	keys  meta.Keys
	reg   *prometheus.Registry
	m     *metrics
	epoch time.Time // base of the monotonic lease deadlines

	ln   net.Listener
	mux  *muxListener // gRPC connections, and raw CSN ones (rawcsn.go)
	addr string       // advertised gRPC address
	grpc *grpc.Server
	http *serve.HTTP

	// cur is the leadership term being served, nil when not leading.
	cur     atomic.Pointer[term]
	crashed atomic.Bool
	// starting is set between winning the election and serving.
	starting atomic.Bool
	// lastErr is the last etcd error of the leader loop, cleared when
	// etcd answers again; /health reports it.
	lastErr atomic.Pointer[error]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when cur changes
	closing chan struct{} // closed when Close stops the gRPC server

	// Raw CSN connections (rawcsn.go), until rawStop.
	rawMu   sync.Mutex
	raw     map[net.Conn]struct{}
	rawCtx  context.Context
	rawStop context.CancelFunc

	runCancel context.CancelFunc
	regCancel context.CancelFunc
	runWG     sync.WaitGroup // the leader loop
	serveWG   sync.WaitGroup // the gRPC Serve goroutine
	closeOnce sync.Once
}

var _ meridianpb.GTMServer = (*Server)(nil)

// Start validates cfg, starts serving gRPC and HTTP, registers the replica
// under nodes/<name> and joins the leader election; it returns without
// waiting to be elected (see WaitLeader). ctx bounds the start only. cli
// stays owned by the caller and must outlive the Server.
func Start(ctx context.Context, cfg Config, cli *clientv3.Client) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cli == nil {
		return nil, fmt.Errorf("%w: nil etcd client", ErrInvalidConfig)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:     cfg,
		log:     log.With("node", cfg.Name, "component", "gtm"),
		cli:     cli,
		keys:    meta.NewKeys(cfg.Cluster),
		reg:     serve.NewRegistry(),
		epoch:   time.Now(),
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
	s.m = newMetrics(s.reg)
	s.raw = map[net.Conn]struct{}{}
	s.rawCtx, s.rawStop = context.WithCancel(context.Background())

	// Everything started so far is undone if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	s.ln, err = net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("gtm: listen on %s: %w", cfg.ListenAddr, err)
	}
	s.addr = cfg.AdvertiseAddr
	if s.addr == "" {
		s.addr = s.ln.Addr().String()
	}
	s.grpc = grpc.NewServer(
		// Reuse handler goroutines (their stacks are grown already)
		// instead of starting one per RPC.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// probing, whose pings cost syscalls on every tiny RPC.
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(1<<20),
		grpc.ChainUnaryInterceptor(serve.RecoverUnary(s.log)),
		grpc.ChainStreamInterceptor(serve.RecoverStream(s.log)),
	)
	meridianpb.RegisterGTMServer(s.grpc, s)
	meridianpb.RegisterGTMSequencesServer(s.grpc, newSeqService(s))
	s.mux = newMuxListener(s, s.ln)
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.grpc.Serve(s.mux); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc server", "err", err)
		}
	}()
	undo = append(undo, func() { s.grpc.Stop(); s.serveWG.Wait(); s.stopRaw() })

	httpAddr := ""
	if cfg.HTTPAddr != "" {
		s.http, err = serve.StartHTTP(cfg.HTTPAddr, s.reg, s.health, s.log)
		if err != nil {
			return nil, fmt.Errorf("gtm: http on %s: %w", cfg.HTTPAddr, err)
		}
		httpAddr = s.http.Addr()
		undo = append(undo, func() { _ = s.http.Close() })
	}

	// The registration lives until Close; ctx only bounds its first write.
	regCtx, regCancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, regCancel)
	err = meta.Register(regCtx, cli, s.keys, &meridianpb.NodeInfo{
		Name:     cfg.Name,
		Role:     meridianpb.Role_ROLE_GTM,
		GrpcAddr: s.addr,
		HttpAddr: httpAddr,
	}, cfg.LeaseTTL, s.log)
	stop()
	if err != nil {
		regCancel()
		return nil, fmt.Errorf("gtm: register %s: %w", cfg.Name, err)
	}
	s.regCancel = regCancel

	runCtx, runCancel := context.WithCancel(context.Background())
	s.runCancel = runCancel
	s.runWG.Add(1)
	go func() {
		defer s.runWG.Done()
		s.run(runCtx)
	}()

	s.log.Info("gtm started", "grpc", s.addr, "http", httpAddr, "window", cfg.Window)
	return s, nil
}

// Addr is the gRPC address clients dial (the advertised address).
func (s *Server) Addr() string { return s.addr }

// HTTPAddr is the address of /metrics and /health, "" when disabled.
func (s *Server) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// Registry is the replica's Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// IsLeader reports whether this replica currently hands out CSNs.
func (s *Server) IsLeader() bool {
	t := s.cur.Load()
	return t != nil && t.serving()
}

// WaitLeader blocks until this replica leads or ctx is done.
func (s *Server) WaitLeader(ctx context.Context) error {
	for {
		ch := s.changedChan()
		if s.IsLeader() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("gtm %s: waiting for leadership: %w", s.cfg.Name, ctx.Err())
		}
	}
}

// setTerm publishes t (nil: not leading) to the RPC handlers.
func (s *Server) setTerm(t *term) {
	s.cur.Store(t)
	if t != nil {
		s.m.isLeader.Set(1)
	} else {
		s.m.isLeader.Set(0)
	}
	s.broadcast()
}

// setStarting marks the time between winning the election and serving.
func (s *Server) setStarting(v bool) {
	s.starting.Store(v)
	s.broadcast()
}

// broadcast wakes everyone waiting on s.changed.
func (s *Server) broadcast() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// changedChan returns the channel closed at the next state change.
func (s *Server) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Close shuts the replica down in this order, so that no CSN is handed out
// after the successor may have started and the successor starts at once:
//
//  1. end the term: RPCs answer Unavailable from now on;
//  2. resign: delete the election key, so a follower is elected now
//     rather than after the lease TTL;
//  3. revoke the election lease;
//  4. stop the gRPC server (in-flight RPCs finish; streams end after
//     the answer being sent, if any) and close the raw CSN connections;
//  5. delete the node key (nodes/<name>);
//  6. stop /metrics and /health.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.runCancel() // 1-3: the leader loop ends the term, resigns, revokes
		s.runWG.Wait()
		close(s.closing) // 4
		s.stopGRPC()
		s.stopRaw()
		s.deregister() // 5
		if s.http != nil {
			_ = s.http.Close() // 6
		}
		s.log.Info("gtm closed")
	})
}

// Crash stops the replica the way a killed process stops: connections are
// cut and it neither resigns nor revokes its election lease, so a
// successor is elected only after the lease TTL. It is for fault
// injection in tests and `om demo`. Close after Crash does nothing.
func (s *Server) Crash() {
	s.closeOnce.Do(func() {
		s.crashed.Store(true)
		s.grpc.Stop()
		s.serveWG.Wait()
		s.stopRaw()
		s.runCancel()
		s.runWG.Wait()
		s.regCancel()
		if s.http != nil {
			_ = s.http.Close()
		}
		s.log.Info("gtm crashed (fault injection)")
	})
}

// stopGRPC stops the gRPC server gracefully, cutting RPCs that take more
// than a couple of seconds, and waits for the server's goroutines.
func (s *Server) stopGRPC() {
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		s.grpc.Stop()
		<-done
	}
	s.serveWG.Wait()
}

// stopRaw closes the raw CSN connections and waits for the listener's
// goroutines (the gRPC server has closed the listener).
func (s *Server) stopRaw() {
	s.mux.Close()
	s.closeRaw()
	s.mux.wg.Wait()
}

// deregister ends the node registration and waits (briefly) until the
// node key is gone, so that it does not outlive a Close followed by closing
// the etcd client. meta.Register revokes the key's lease in the background
// once its ctx ends; if that does not show within a second or two, the key
// is deleted here, provided it is still the one this replica wrote.
func (s *Server) deregister() {
	key := s.keys.Node(s.cfg.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	s.regCancel()
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	kv := resp.Kvs[0]
	var info meridianpb.NodeInfo
	if proto.Unmarshal(kv.Value, &info) != nil || info.GrpcAddr != s.addr {
		return // another process registered under our name since
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	for wr := range s.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		if len(wr.Events) > 0 {
			return // deleted by the revoke, or replaced by a newer replica
		}
	}
	_, err = s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		s.log.Warn("delete node key", "key", key, "err", err)
	}
}

func (s *Server) health() error {
	if p := s.lastErr.Load(); p != nil {
		return fmt.Errorf("gtm %s: etcd: %w", s.cfg.Name, *p)
	}
	return nil
}

// GetCSN hands out req.CommitCount consecutive commit CSNs and a snapshot.
func (s *Server) GetCSN(ctx context.Context, req *meridianpb.CSNRequest) (*meridianpb.CSNResponse, error) {
	first, snap, err := s.getCSN(ctx, req.GetCommitCount())
	if err != nil {
		return nil, err
	}
	return &meridianpb.CSNResponse{FirstCommitCsn: first, SnapshotCsn: snap}, nil
}

// StreamCSN answers a stream of GetCSN requests, in order, until the
// client ends it or a request fails. One goroutine receives and answers;
// the handler waits for it, or for Close, so that an idle stream does not
// hold Close up. At Close the handler returns once no answer is being
// sent; gRPC then cancels the stream, which ends the goroutine's receive.
func (s *Server) StreamCSN(stream meridianpb.GTM_StreamCSNServer) error {
	var (
		mu      sync.Mutex // held while answering a request
		stopped bool       // the handler returned; answer nothing more
	)
	done := make(chan error, 1)
	go func() {
		var req meridianpb.CSNRequest
		for {
			if err := stream.RecvMsg(&req); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
			mu.Lock()
			if stopped {
				mu.Unlock()
				return
			}
			first, snap, err := s.getCSN(stream.Context(), req.GetCommitCount())
			if err == nil {
				err = stream.Send(&meridianpb.CSNResponse{FirstCommitCsn: first, SnapshotCsn: snap})
			}
			mu.Unlock()
			if err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-s.closing:
		mu.Lock()
		stopped = true
		mu.Unlock()
		return status.Errorf(codes.Unavailable, "%v: %s", ErrClosed, s.cfg.Name)
	}
}

// getCSN hands out k consecutive commit CSNs and a snapshot, or fails
// with the status error the client gets.
func (s *Server) getCSN(ctx context.Context, k uint32) (first, snap uint64, err error) {
	for {
		t := s.cur.Load()
		if t == nil {
			ch := s.changedChan()
			if s.starting.Load() && s.cur.Load() == nil {
				// Elected, reading the hwm and persisting a first
				// window: milliseconds; better than sending the client
				// away.
				select {
				case <-ch:
					continue
				case <-ctx.Done():
					s.m.rpcErr.Inc()
					return 0, 0, pgerr.ToStatus(ctx.Err())
				}
			}
			if t = s.cur.Load(); t == nil {
				s.m.rpcNotLead.Inc()
				return 0, 0, s.notLeader(ctx)
			}
		}
		first, snap, wait, err := t.allocate(k)
		if err != nil {
			s.m.rpcErr.Inc()
			return 0, 0, pgerr.ToStatus(pgerr.Wrap(err, pgerr.ProgramLimitExceeded, ""))
		}
		if wait != nil {
			s.m.windowWaits.Inc()
			select {
			case <-wait:
			case <-t.ctx.Done():
			case <-ctx.Done():
				s.m.rpcErr.Inc()
				return 0, 0, pgerr.ToStatus(ctx.Err())
			}
			continue
		}
		// Re-check leadership before answering: the CSNs are below the
		// persisted hwm, but once our lease may have expired a successor
		// may already hand out larger ones, and answering now would let a
		// commit CSN appear after a snapshot that does not cover it.
		if !t.serving() {
			s.m.rpcNotLead.Inc()
			return 0, 0, s.notLeader(ctx)
		}
		s.m.rpcOK.Inc()
		s.m.csns.Add(float64(k))
		s.m.batch.Observe(float64(k))
		return first, snap, nil
	}
}

// notLeader is the Unavailable status a non-leader answers, naming the
// leader when etcd says who it is.
func (s *Server) notLeader(ctx context.Context) error {
	leader := "unknown (election in progress)"
	lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	resp, err := s.cli.Get(lctx, s.keys.GTMLeader()+"/", clientv3.WithFirstCreate()...)
	if err == nil && len(resp.Kvs) > 0 {
		leader = string(resp.Kvs[0].Value)
	}
	return status.Errorf(codes.Unavailable, "%v: %s; leader is %s", ErrNotLeader, s.cfg.Name, leader)
}
