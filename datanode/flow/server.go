package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	dnexec "github.com/meridian-db/meridian/datanode/exec"
	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// RegisterWait bounds how long an Exchange stream waits for its
// consumer's flow to be set up.
const RegisterWait = 10 * time.Second

// endedTTL is how long a finished flow is remembered, so that late
// streams to it are dropped at once.
const endedTTL = time.Minute

// Config configures a datanode's flow server.
type Config struct {
	// Group is this datanode's group.
	Group uint32
	Exec  *dnexec.Executor
	// Peer returns a client of the datanode at a gRPC address.
	Peer func(addr string) (meridianpb.FlowClient, error)
	// TempDir holds spill files.
	TempDir string
	// WorkMem is the default memory budget of an operator (bytes).
	WorkMem int64
	// Pool is the memory the datanode's queries share (nil: no bound).
	Pool *sqlexec.MemPool
	Log  *slog.Logger
	// RowEngine turns the vectorized operators off.
	RowEngine bool
}

// Server serves the Flow service.
type Server struct {
	meridianpb.UnimplementedFlowServer
	cfg Config

	mu      sync.Mutex
	flows   map[uint64]*flow
	waiting map[uint64]chan struct{}
	ended   map[uint64]time.Time
	// endedOrder lists ended's entries oldest first (times only grow:
	// they are taken under mu), so expiring them costs O(expired).
	endedOrder []endedFlow
}

type endedFlow struct {
	id uint64
	at time.Time
}

// NewServer returns a flow server.
func NewServer(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Server{cfg: cfg, flows: map[uint64]*flow{}, waiting: map[uint64]chan struct{}{}, ended: map[uint64]time.Time{}}
}

func (s *Server) peer(addr string) (meridianpb.FlowClient, error) {
	c, err := s.cfg.Peer(addr)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.ConnectionFailure, "datanode %s", addr)
	}
	return c, nil
}

// flow is one query's fragment instances on this datanode.
type flow struct {
	s       *Server
	req     *meridianpb.FlowRequest
	group   uint32
	runs    []uint32 // bucket runs: first bucket, owner, ...
	inboxes map[int32]*inbox
	frags   map[int32]*meridianpb.Fragment
}

// owner returns the group that owns bucket b.
func (f *flow) owner(b uint32) uint32 {
	// runs is (first bucket, group)* ascending: find the last run whose
	// first bucket is <= b.
	n := len(f.runs) / 2
	i := sort.Search(n, func(i int) bool { return f.runs[2*i] > b }) - 1
	if i < 0 {
		return 0
	}
	return f.runs[2*i+1]
}

func (f *flow) owns(b uint32) bool { return f.owner(b) == f.group }

func hasGroup(groups []uint32, g uint32) bool {
	for _, x := range groups {
		if x == g {
			return true
		}
	}
	return false
}

// recvProducers finds, for every RecvNode of this datanode's fragment
// instances, how many producer instances feed it.
func (f *flow) setupInboxes() error {
	var walk func(n *meridianpb.PlanNode) error
	walk = func(n *meridianpb.PlanNode) error {
		if r := n.GetRecv(); r != nil {
			p := f.frags[r.Fragment]
			if p == nil {
				return pgerr.New(pgerr.InternalError, "receive from unknown fragment %d", r.Fragment)
			}
			if len(r.Merge) > 0 {
				return pgerr.New(pgerr.InternalError, "merging receive on a datanode")
			}
			if _, dup := f.inboxes[r.Fragment]; dup {
				return pgerr.New(pgerr.InternalError, "fragment %d received twice", r.Fragment)
			}
			f.inboxes[r.Fragment] = newInbox(len(p.Groups))
		}
		for _, in := range n.Inputs {
			if err := walk(in); err != nil {
				return err
			}
		}
		return nil
	}
	for _, fr := range f.req.Plan.Fragments {
		if hasGroup(fr.Groups, f.group) {
			if err := walk(fr.Root); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) register(f *flow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := f.req.QueryId
	if _, dup := s.flows[id]; dup {
		return pgerr.New(pgerr.InternalError, "query %x already runs here", id)
	}
	s.flows[id] = f
	if ch, ok := s.waiting[id]; ok {
		close(ch)
		delete(s.waiting, id)
	}
	return nil
}

func (s *Server) unregister(f *flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := f.req.QueryId
	delete(s.flows, id)
	if len(f.inboxes) == 0 {
		// No other instance sends to this flow (point lookups, fragments
		// that only send): nothing late can arrive for it.
		return
	}
	now := time.Now()
	s.ended[id] = now
	s.endedOrder = append(s.endedOrder, endedFlow{id: id, at: now})
	n := 0
	for n < len(s.endedOrder) && now.Sub(s.endedOrder[n].at) > endedTTL {
		if e := s.endedOrder[n]; s.ended[e.id] == e.at {
			delete(s.ended, e.id)
		}
		n++
	}
	// Appending past the capacity copies only the live tail.
	s.endedOrder = s.endedOrder[n:]
}

// inboxFor finds the inbox of a producer fragment in a query's flow,
// waiting for the flow to be set up; nil (and no error) when the flow
// already ended.
func (s *Server) inboxFor(ctx context.Context, query uint64, fragment int32) (*inbox, error) {
	deadline := time.NewTimer(RegisterWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if f, ok := s.flows[query]; ok {
			s.mu.Unlock()
			ib := f.inboxes[fragment]
			if ib == nil {
				return nil, pgerr.New(pgerr.InternalError, "query %x has no consumer of fragment %d here", query, fragment)
			}
			return ib, nil
		}
		if _, ok := s.ended[query]; ok {
			s.mu.Unlock()
			return nil, nil
		}
		ch, ok := s.waiting[query]
		if !ok {
			ch = make(chan struct{})
			s.waiting[query] = ch
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, pgerr.FromContext(ctx)
		case <-deadline.C:
			s.mu.Lock()
			if s.waiting[query] == ch {
				delete(s.waiting, query)
			}
			s.mu.Unlock()
			return nil, pgerr.New(pgerr.ConnectionFailure, "query %x was not set up here within %v", query, RegisterWait)
		}
	}
}

// SetupFlow runs this datanode's fragment instances of a plan.
func (s *Server) SetupFlow(req *meridianpb.FlowRequest, stream meridianpb.Flow_SetupFlowServer) error {
	return pgerr.ToStatus(s.runFlow(stream.Context(), req, stream.Send))
}

// maxUnaryBytes bounds the rows RunFlow returns in one answer.
const maxUnaryBytes = 16 << 20

// RunFlow is SetupFlow with every message in one answer, for plans that
// return few rows.
func (s *Server) RunFlow(ctx context.Context, req *meridianpb.FlowRequest) (*meridianpb.FlowResult, error) {
	res := &meridianpb.FlowResult{}
	size := 0
	err := s.runFlow(ctx, req, func(m *meridianpb.FlowMessage) error {
		for _, r := range m.Rows {
			size += len(r)
		}
		if size > maxUnaryBytes {
			return pgerr.New(pgerr.ProgramLimitExceeded, "result too large for a unary flow (over %d bytes)", maxUnaryBytes)
		}
		res.Messages = append(res.Messages, m)
		return nil
	})
	if err != nil {
		return nil, pgerr.ToStatus(err)
	}
	return res, nil
}

// runFlow runs this datanode's fragment instances of a plan; send gets
// the gathered rows and the final message.
func (s *Server) runFlow(ctx context.Context, req *meridianpb.FlowRequest, send func(*meridianpb.FlowMessage) error) error {
	if req.Plan == nil || len(req.Plan.Fragments) == 0 {
		return pgerr.New(pgerr.ProtocolViolation, "empty plan")
	}
	f := &flow{s: s, req: req, group: req.Group, runs: req.BucketRuns, inboxes: map[int32]*inbox{}, frags: map[int32]*meridianpb.Fragment{}}
	if f.group == 0 {
		f.group = s.cfg.Group
	}
	for _, fr := range req.Plan.Fragments {
		f.frags[fr.Id] = fr
	}
	if err := f.setupInboxes(); err != nil {
		return err
	}
	if err := s.register(f); err != nil {
		return err
	}
	defer s.unregister(f)
	defer func() {
		for _, ib := range f.inboxes {
			ib.close()
		}
	}()

	snap := s.cfg.Exec.Snapshot(req.Txn)
	gs := &gatherSender{send: send}
	g, gctx := errgroup.WithContext(ctx)
	var statsMu sync.Mutex
	var stats []*meridianpb.OperatorStats
	for _, fr := range req.Plan.Fragments {
		if !hasGroup(fr.Groups, f.group) {
			continue
		}
		g.Go(func() error {
			st, err := f.run(gctx, fr, snap, gs)
			if err != nil {
				return err
			}
			statsMu.Lock()
			stats = append(stats, st...)
			statsMu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return gs.sendMsg(&meridianpb.FlowMessage{Done: true, Stats: stats})
}

// run runs one fragment instance to its end. A panic (a bug) fails the
// fragment with an internal error instead of the datanode.
func (f *flow) run(ctx context.Context, fr *meridianpb.Fragment, snap storage.Snapshot, gs *gatherSender) (st []*meridianpb.OperatorStats, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = serve.Recovered(f.s.cfg.Log, fmt.Sprintf("fragment %d", fr.Id), v)
		}
	}()
	if fr.Output == nil {
		return nil, pgerr.New(pgerr.InternalError, "fragment %d has no output stream", fr.Id)
	}
	env := &sqlexec.Env{
		WorkMem: f.req.WorkMem,
		Pool:    f.s.cfg.Pool,
		TempDir: f.s.cfg.TempDir,
		Scan: func(n *meridianpb.PlanNode) (sqlexec.Operator, error) {
			if !f.s.cfg.RowEngine {
				if op, err := f.s.cfg.Exec.ColScanRows(snap, n, f.owns); op != nil || err != nil {
					return op, err
				}
			}
			return f.s.cfg.Exec.ScanOperator(snap, n, f.owns)
		},
		Lookup: func(n *meridianpb.PlanNode) (sqlexec.IndexLookup, func(), error) {
			return f.s.cfg.Exec.IndexLookup(snap, n)
		},
		Recv: func(n *meridianpb.PlanNode) (sqlexec.Operator, error) {
			return &recvOp{ib: f.inboxes[n.GetRecv().Fragment], types: n.Types}, nil
		},
	}
	if !f.s.cfg.RowEngine {
		env.Vectorize = true
		env.ColScan = func(n *meridianpb.PlanNode) (sqlexec.ColSource, error) {
			return f.s.cfg.Exec.ColScan(snap, n, f.owns)
		}
		env.RecvCols = func(n *meridianpb.PlanNode) (sqlexec.ColSource, error) {
			return &recvCols{ib: f.inboxes[n.GetRecv().Fragment], types: n.Types}, nil
		}
	}
	if env.WorkMem == 0 {
		env.WorkMem = f.s.cfg.WorkMem
	}
	if f.req.CollectStats {
		env.Stats = map[int32]*sqlexec.Stats{}
	}
	var outStats *sqlexec.Stats
	if env.Stats != nil {
		outStats = &sqlexec.Stats{}
	}
	var out outbox
	switch fr.Output.Kind {
	case meridianpb.StreamKind_STREAM_GATHER:
		out = &gatherOut{s: gs, fragment: fr.Id, st: outStats}
	default:
		consumer := f.frags[fr.Output.Target]
		if consumer == nil {
			return nil, pgerr.New(pgerr.InternalError, "fragment %d streams to unknown fragment %d", fr.Id, fr.Output.Target)
		}
		o, err := f.newExchangeOut(fr, consumer, outStats)
		if err != nil {
			return nil, err
		}
		out = o
	}
	src, op, err := env.BuildRoot(fr.Root)
	if err != nil {
		out.abort()
		return nil, err
	}
	if src != nil {
		err = pumpBatches(ctx, src, out)
		src.Close()
	} else {
		err = pump(ctx, op, out)
		op.Close()
	}
	if err != nil {
		out.abort()
		return nil, err
	}
	if err := out.finish(ctx); err != nil {
		out.abort()
		return nil, err
	}
	if env.Stats == nil {
		return nil, nil
	}
	var res []*meridianpb.OperatorStats
	for id, st := range env.Stats {
		os := &meridianpb.OperatorStats{NodeId: id, Group: f.group, Rows: st.Rows, Nanos: st.Nanos,
			SpilledBytes: st.SpilledBytes, PeakMemory: st.PeakMemory, Vectorized: st.Vectorized}
		if id == fr.Root.Id {
			os.BytesSent = outStats.BytesSent
		}
		res = append(res, os)
	}
	return res, nil
}

func pump(ctx context.Context, op sqlexec.Operator, out outbox) error {
	if err := op.Open(ctx); err != nil {
		return err
	}
	for {
		b, err := op.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		if err := out.send(ctx, b.Rows); err != nil {
			return err
		}
	}
}

// pumpBatches is pump for a root that runs on column batches.
func pumpBatches(ctx context.Context, src sqlexec.ColSource, out outbox) error {
	if err := src.Open(ctx); err != nil {
		return err
	}
	for {
		b, err := src.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		if len(b.Sel) > 0 {
			if err := out.sendBatch(ctx, b); err != nil {
				return err
			}
		}
	}
}

// Exchange receives one producer instance's rows for a consumer here.
func (s *Server) Exchange(stream meridianpb.Flow_ExchangeServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ib, err := s.inboxFor(ctx, first.QueryId, first.Fragment)
	if err != nil {
		return pgerr.ToStatus(err)
	}
	m := first
	for {
		if ib != nil {
			msg := inboxMsg{enc: m.Rows, eos: m.Eos}
			ok, err := ib.put(ctx, msg)
			if err != nil {
				return pgerr.ToStatus(pgerr.FromContext(ctx))
			}
			if !ok {
				ib = nil // the consumer stopped: drop the rest
			}
		}
		if m.Eos {
			return stream.SendAndClose(&meridianpb.ExchangeAck{})
		}
		if m, err = stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				err = pgerr.New(pgerr.ProtocolViolation, "exchange stream ended without its end marker")
			}
			if ib != nil {
				// Wake the consumer: its producer is gone.
				_, _ = ib.put(ctx, inboxMsg{err: pgerr.Wrap(err, pgerr.ConnectionFailure, "exchange from datanode group %d", first.FromGroup)})
			}
			return err
		}
	}
}
