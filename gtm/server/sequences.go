package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Global sequences: the leader owns every sequence's state and hands its
// values out in runs (a coordinator caches a run and serves nextval from
// it). Each sequence has a record in etcd, gtm/seq/<id>, written only by
// the leader in transactions conditioned on its election key and on the
// record's mod revision, like gtm/hwm:
//
//	 handed out (< handed) │ reserved: may be handed out │ never yet
//	───────────────────────┼─────────────────────────────┼──────────▶ number
//	                     handed                limit (stored in etcd)
//
// A grant that would pass the stored limit first raises it to the grant's
// end plus Config.SequenceWindow, so most grants cost no etcd write. A
// term loads a record when it first needs it and continues at its limit,
// so no value is handed out twice across failover or restart; the reserved
// rest of a window is skipped. Resets (setval, ALTER SEQUENCE) write the
// new origin before answering and bump the generation, which coordinators
// watch to drop the runs they cached before.
//
// The state machine is seqAlloc (seqalloc.go); this file is its driver.
// Each sequence has a mutex held across its etcd writes, so the calls on
// one sequence are serialised and the others proceed.

// seqService is the GTMSequences service of a replica.
type seqService struct {
	meridianpb.UnimplementedGTMSequencesServer
	s *Server
	m seqMetrics

	mu   sync.Mutex
	term *term // the term the entries belong to
	seqs map[uint32]*seqEntry
}

var _ meridianpb.GTMSequencesServer = (*seqService)(nil)

// seqEntry is one sequence as the current term knows it.
type seqEntry struct {
	mu     sync.Mutex
	loaded bool // a is the stored record's state (else: read it first)
	a      seqAlloc
	rev    int64 // mod revision of gtm/seq/<id> as last read or written
}

type seqMetrics struct {
	values   prometheus.Counter
	grants   prometheus.Counter
	persists *prometheus.CounterVec
}

func newSeqService(s *Server) *seqService {
	q := &seqService{s: s, m: newSeqMetrics()}
	s.reg.MustRegister(q.m.values, q.m.grants, q.m.persists)
	return q
}

func newSeqMetrics() seqMetrics {
	return seqMetrics{
		values: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_gtm_sequence_values_total",
			Help: "Sequence values handed out by this replica (in runs to coordinators).",
		}),
		grants: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_gtm_sequence_grants_total",
			Help: "Runs of sequence values handed out by this replica (NextValues calls answered).",
		}),
		persists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_gtm_sequence_persists_total",
			Help: "Writes of sequence records to etcd, by result (ok, error).",
		}, []string{"result"}),
	}
}

// leaderTerm waits out a starting term, like getCSN, and returns the term
// being served, or the Unavailable status of a follower.
func (q *seqService) leaderTerm(ctx context.Context) (*term, error) {
	s := q.s
	for {
		if t := s.cur.Load(); t != nil {
			return t, nil
		}
		ch := s.changedChan()
		if s.starting.Load() && s.cur.Load() == nil {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, pgerr.ToStatus(ctx.Err())
			}
		}
		if t := s.cur.Load(); t != nil {
			return t, nil
		}
		return nil, s.notLeader(ctx)
	}
}

// entry returns the term's entry for a sequence, locked; a new term
// starts with none.
func (q *seqService) entry(t *term, id uint32) *seqEntry {
	q.mu.Lock()
	if q.term != t {
		q.term, q.seqs = t, map[uint32]*seqEntry{}
	}
	e := q.seqs[id]
	if e == nil {
		e = &seqEntry{}
		q.seqs[id] = e
	}
	q.mu.Unlock()
	e.mu.Lock()
	return e
}

// forget drops what the term knows of a sequence after a failed write, so
// the next call reads the record again.
func (q *seqService) forget(t *term, id uint32, e *seqEntry) {
	q.mu.Lock()
	if q.term == t && q.seqs[id] == e {
		delete(q.seqs, id)
	}
	q.mu.Unlock()
	e.loaded = false
}

func unavailable(format string, args ...any) error {
	return status.Errorf(codes.Unavailable, format, args...)
}

// load reads a sequence's record unless the entry has it; ok is false
// when there is none.
func (q *seqService) load(t *term, id uint32, e *seqEntry) (ok bool, err error) {
	if e.loaded {
		return true, nil
	}
	s := q.s
	ctx, cancel := t.etcdCtx()
	defer cancel()
	key := s.keys.GTMSequence(id)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)).
		Then(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, unavailable("gtm %s: read sequence %d: %v", s.cfg.Name, id, s.etcdError(err))
	}
	if !resp.Succeeded {
		return false, s.notLeader(ctx)
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return false, nil
	}
	st := &meridianpb.SequenceState{}
	if err := proto.Unmarshal(kvs[0].Value, st); err != nil || st.Options == nil || st.Options.Increment == 0 {
		return false, pgerr.ToStatus(pgerr.New(pgerr.DataCorrupted, "gtm: sequence record %s is corrupt: %v", key, err))
	}
	e.a, e.rev, e.loaded = loadSeq(st), kvs[0].ModRevision, true
	return true, nil
}

// store writes a record over the one the entry read or wrote last.
func (q *seqService) store(t *term, id uint32, e *seqEntry, st *meridianpb.SequenceState) error {
	s := q.s
	ctx, cancel := t.etcdCtx()
	defer cancel()
	key := s.keys.GTMSequence(id)
	val, err := proto.Marshal(st)
	if err != nil {
		return err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev),
			clientv3.Compare(clientv3.ModRevision(key), "=", e.rev)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		q.m.persists.WithLabelValues("error").Inc()
		q.forget(t, id, e)
		return unavailable("gtm %s: persist sequence %d: %v", s.cfg.Name, id, s.etcdError(err))
	}
	if !resp.Succeeded {
		// Deposed, or the record changed under us (a later term wrote it):
		// either way, read it again and let the client retry.
		q.m.persists.WithLabelValues("error").Inc()
		q.forget(t, id, e)
		return unavailable("gtm %s: sequence %d changed or leadership lost; retry", s.cfg.Name, id)
	}
	q.m.persists.WithLabelValues("ok").Inc()
	e.rev = resp.Header.Revision
	return nil
}

// answer re-checks leadership before a reply leaves, as getCSN does:
// nothing is answered past the term's lease deadline. Uniqueness does not
// rest on it (a successor continues above every limit this term stored),
// but a deposed leader should not go on serving from its reservations.
func answer[T any](q *seqService, ctx context.Context, t *term, reply T) (T, error) {
	if !t.serving() {
		var zero T
		return zero, q.s.notLeader(ctx)
	}
	return reply, nil
}

func (q *seqService) notFound(id uint32, name string) error {
	if name == "" {
		name = fmt.Sprintf("sequence %d", id)
	}
	return pgerr.ToStatus(pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name))
}

// existing returns the term and the locked entry of a sequence that
// exists (42P01 naming it otherwise).
func (q *seqService) existing(ctx context.Context, id uint32, name string) (*term, *seqEntry, error) {
	t, err := q.leaderTerm(ctx)
	if err != nil {
		return nil, nil, err
	}
	e := q.entry(t, id)
	ok, err := q.load(t, id, e)
	if err == nil && !ok {
		err = q.notFound(id, name)
	}
	if err != nil {
		e.mu.Unlock()
		return nil, nil, err
	}
	return t, e, nil
}

// NextValues hands out a run of up to req.Count values.
func (q *seqService) NextValues(ctx context.Context, req *meridianpb.NextValuesRequest) (*meridianpb.NextValuesReply, error) {
	t, e, err := q.existing(ctx, req.Id, req.Name)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	n := min(max(req.Count, 1), maxGrant)
	g, need, err := e.a.plan(n, q.window(), req.Name)
	if err != nil {
		return nil, pgerr.ToStatus(err)
	}
	if need != 0 {
		if err := q.store(t, req.Id, e, e.a.record(need)); err != nil {
			return nil, err
		}
		e.a.limit = need
	}
	e.a.take(g)
	q.m.grants.Inc()
	q.m.values.Add(float64(g.count))
	return answer(q, ctx, t, &meridianpb.NextValuesReply{First: g.first, Count: g.count,
		Increment: e.a.opts.Increment, Generation: e.a.gen})
}

func (q *seqService) window() uint64 {
	if w := q.s.cfg.SequenceWindow; w > 0 {
		return w
	}
	return DefaultSequenceWindow
}

// maxGrant bounds one run: a coordinator asks for its cache size, which
// adapts to its rate; this keeps one request from reserving too much.
const maxGrant = 1 << 20

// SetValue is setval.
func (q *seqService) SetValue(ctx context.Context, req *meridianpb.SetValueRequest) (*meridianpb.SequenceReply, error) {
	t, e, err := q.existing(ctx, req.Id, req.Name)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	o := e.a.opts
	if req.Value < o.MinValue || req.Value > o.MaxValue {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.NumericValueOutOfRange, "setval: value %d is out of bounds for sequence %q (%d..%d)",
			req.Value, req.Name, o.MinValue, o.MaxValue))
	}
	return q.reset(ctx, t, req.Id, e, e.a.reset(o, req.Value, req.IsCalled))
}

// reset persists a reset state (with a first window) and makes it the
// entry's.
func (q *seqService) reset(ctx context.Context, t *term, id uint32, e *seqEntry, a seqAlloc) (*meridianpb.SequenceReply, error) {
	w := q.window()
	if err := q.store(t, id, e, a.record(w)); err != nil {
		return nil, err
	}
	a.limit = w
	e.a = a
	return answer(q, ctx, t, &meridianpb.SequenceReply{Generation: a.gen})
}

// AlterSequence changes a sequence's options; its last value stays
// unless it restarts, and must fit the new bounds (PostgreSQL's RESTART
// cross-check).
func (q *seqService) AlterSequence(ctx context.Context, req *meridianpb.AlterSequenceRequest) (*meridianpb.SequenceReply, error) {
	o := req.Options
	if o == nil || o.Increment == 0 || o.MinValue >= o.MaxValue || o.Start < o.MinValue || o.Start > o.MaxValue {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.InvalidParameterValue, "invalid sequence options %v", o))
	}
	t, e, err := q.existing(ctx, req.Id, req.Name)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	b := e.a // the unused values given back are only for finding the last
	b.giveBack(req.UnusedFirst, req.UnusedCount, req.UnusedGeneration)
	v, called := b.last()
	if req.Restart {
		v, called = o.Start, false
		if req.RestartWith {
			v = req.RestartValue
		}
	}
	if v < o.MinValue {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.InvalidParameterValue, "RESTART value (%d) cannot be less than MINVALUE (%d)", v, o.MinValue))
	}
	if v > o.MaxValue {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.InvalidParameterValue, "RESTART value (%d) cannot be greater than MAXVALUE (%d)", v, o.MaxValue))
	}
	return q.reset(ctx, t, req.Id, e, e.a.reset(o, v, called))
}

// CreateSequence writes a new sequence's record, starting at its START.
// A retried create of the same sequence succeeds.
func (q *seqService) CreateSequence(ctx context.Context, req *meridianpb.CreateSequenceRequest) (*meridianpb.SequenceReply, error) {
	o := req.Options
	if o == nil || o.Increment == 0 || o.MinValue >= o.MaxValue || o.Start < o.MinValue || o.Start > o.MaxValue || req.Id == 0 {
		return nil, pgerr.ToStatus(pgerr.New(pgerr.InvalidParameterValue, "invalid sequence %d options %v", req.Id, o))
	}
	t, err := q.leaderTerm(ctx)
	if err != nil {
		return nil, err
	}
	e := q.entry(t, req.Id)
	defer e.mu.Unlock()
	if e.loaded { // a retried create, answered already by this term
		if !proto.Equal(e.a.opts, o) {
			return nil, pgerr.ToStatus(pgerr.New(pgerr.DuplicateObject, "sequence %d exists already with other options", req.Id))
		}
		return answer(q, ctx, t, &meridianpb.SequenceReply{Generation: e.a.gen})
	}
	s := q.s
	a := seqAlloc{opts: o, origin: o.Start, gen: 1}
	w := q.window()
	val, err := proto.Marshal(a.record(w))
	if err != nil {
		return nil, err
	}
	key := s.keys.GTMSequence(req.Id)
	ectx, cancel := t.etcdCtx()
	defer cancel()
	resp, err := s.cli.Txn(ectx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev),
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		q.forget(t, req.Id, e)
		return nil, unavailable("gtm %s: create sequence %d: %v", s.cfg.Name, req.Id, s.etcdError(err))
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return nil, s.notLeader(ctx) // the election key is not ours
		}
		q.forget(t, req.Id, e)
		st := &meridianpb.SequenceState{}
		if err := proto.Unmarshal(kvs[0].Value, st); err != nil || !proto.Equal(st.Options, o) {
			return nil, pgerr.ToStatus(pgerr.New(pgerr.DuplicateObject, "sequence %d exists already with other options", req.Id))
		}
		return answer(q, ctx, t, &meridianpb.SequenceReply{Generation: st.Generation})
	}
	a.limit = w
	e.a, e.rev, e.loaded = a, resp.Header.Revision, true
	q.m.persists.WithLabelValues("ok").Inc()
	return answer(q, ctx, t, &meridianpb.SequenceReply{Generation: a.gen})
}

// DropSequence deletes a sequence's record; dropping one that is gone
// succeeds.
func (q *seqService) DropSequence(ctx context.Context, req *meridianpb.DropSequenceRequest) (*meridianpb.SequenceReply, error) {
	t, err := q.leaderTerm(ctx)
	if err != nil {
		return nil, err
	}
	e := q.entry(t, req.Id)
	defer e.mu.Unlock()
	s := q.s
	ectx, cancel := t.etcdCtx()
	defer cancel()
	resp, err := s.cli.Txn(ectx).
		If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)).
		Then(clientv3.OpDelete(s.keys.GTMSequence(req.Id))).
		Commit()
	q.forget(t, req.Id, e)
	if err != nil {
		return nil, unavailable("gtm %s: drop sequence %d: %v", s.cfg.Name, req.Id, s.etcdError(err))
	}
	if !resp.Succeeded {
		return nil, s.notLeader(ctx)
	}
	return answer(q, ctx, t, &meridianpb.SequenceReply{})
}
