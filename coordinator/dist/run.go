package dist

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Request is a plan to run.
type Request struct {
	Plan    *meridianpb.Plan
	QueryID uint64
	Txn     *meridianpb.TxnContext
	// Addrs maps each datanode group the plan names to its address.
	Addrs map[uint32]string
	// BucketRuns is the bucket map the plan was cut against (pairs of
	// first bucket and owner group).
	BucketRuns   []uint32
	CollectStats bool
	WorkMem      int64
	// Unary: the plan's datanode fragments run on one datanode and return
	// few rows (a point lookup): one unary call instead of a stream.
	Unary bool
}

// Client returns the Flow client of a datanode address.
type Client func(addr string) (meridianpb.FlowClient, error)

// Run is a plan running on the datanodes.
type Run struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	errs   []error // the failures
	stats  []*meridianpb.OperatorStats
	queues map[qkey]*queue
	frags  map[int32]*meridianpb.Fragment
	done   int // streams that ended with done
	total  int
}

type qkey struct {
	fragment int32
	group    uint32 // 0: every group's rows (non-merging receive)
}

// msg is one item of a queue.
type msg struct {
	rows [][]byte
	eos  bool
	err  error
}

// Start sends the plan's fragments to the datanodes that run them.
func Start(ctx context.Context, client Client, req *Request) (*Run, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &Run{ctx: ctx, cancel: cancel, queues: map[qkey]*queue{}, frags: map[int32]*meridianpb.Fragment{}}
	groups := map[uint32]bool{}
	gathers := 0
	for _, fr := range req.Plan.Fragments {
		r.frags[fr.Id] = fr
		for _, g := range fr.Groups {
			groups[g] = true
		}
		if fr.Output != nil && fr.Output.Kind == meridianpb.StreamKind_STREAM_GATHER {
			gathers++
		}
	}
	unary := req.Unary && len(groups) == 1
	bound := 16
	if gathers > 1 || unary {
		bound = 0
	}
	// Queues of the root's receives.
	if err := r.setupQueues(req.Plan.Fragments[0].Root, bound); err != nil {
		cancel(err)
		return nil, err
	}
	r.total = len(groups)
	for g := range groups {
		addr, ok := req.Addrs[g]
		if !ok {
			return nil, r.abort(pgerr.New(pgerr.ConnectionFailure, "datanode group %d has no live leader", g))
		}
		c, err := client(addr)
		if err != nil {
			return nil, r.abort(pgerr.Wrap(err, pgerr.ConnectionFailure, "datanode group %d", g))
		}
		fr := &meridianpb.FlowRequest{QueryId: req.QueryID, Txn: req.Txn, Plan: req.Plan, Group: g, GroupAddrs: req.Addrs,
			BucketRuns: req.BucketRuns, CollectStats: req.CollectStats, WorkMem: req.WorkMem}
		if unary {
			res, err := c.RunFlow(ctx, fr)
			if err != nil {
				err = pgerr.FromStatus(err)
				cancel(err)
				return nil, err
			}
			for _, m := range res.Messages {
				if !r.handle(g, m) {
					break
				}
			}
			return r, nil
		}
		stream, err := c.SetupFlow(ctx, fr)
		if err != nil {
			return nil, r.abort(pgerr.FromStatus(err))
		}
		r.wg.Add(1)
		go r.read(g, stream)
	}
	return r, nil
}

func (r *Run) setupQueues(n *meridianpb.PlanNode, bound int) error {
	if rv := n.GetRecv(); rv != nil {
		p := r.frags[rv.Fragment]
		if p == nil || p.Output == nil || p.Output.Kind != meridianpb.StreamKind_STREAM_GATHER {
			return pgerr.New(pgerr.InternalError, "the coordinator receives fragment %d, which it does not gather", rv.Fragment)
		}
		if len(rv.Merge) > 0 {
			for _, g := range p.Groups {
				r.queues[qkey{rv.Fragment, g}] = newQueue(bound)
			}
		} else {
			r.queues[qkey{rv.Fragment, 0}] = newQueue(bound * max(1, len(p.Groups)))
		}
	}
	for _, in := range n.Inputs {
		if err := r.setupQueues(in, bound); err != nil {
			return err
		}
	}
	return nil
}

func (r *Run) queueOf(fragment int32, group uint32) *queue {
	if q, ok := r.queues[qkey{fragment, group}]; ok {
		return q
	}
	return r.queues[qkey{fragment, 0}]
}

// read moves one datanode's stream into the queues.
func (r *Run) read(group uint32, stream meridianpb.Flow_SetupFlowClient) {
	defer r.wg.Done()
	for {
		m, err := stream.Recv()
		if err != nil {
			r.fail(pgerr.FromStatus(err))
			return
		}
		if !r.handle(group, m) {
			return
		}
	}
}

// handle takes one message of a datanode's flow; false when the flow
// ended (done) or the run failed.
func (r *Run) handle(group uint32, m *meridianpb.FlowMessage) bool {
	if m.Done {
		r.mu.Lock()
		r.stats = append(r.stats, m.Stats...)
		r.done++
		r.mu.Unlock()
		return false
	}
	q := r.queueOf(m.Fragment, group)
	if q == nil {
		r.fail(pgerr.New(pgerr.InternalError, "datanode group %d sent rows of fragment %d, which nobody receives", group, m.Fragment))
		return false
	}
	if len(m.Rows) > 0 && !q.push(r.ctx, msg{rows: m.Rows}) {
		return false
	}
	if m.Eos && !q.push(r.ctx, msg{eos: true}) {
		return false
	}
	return true
}

// fail records a failure of the run and cancels everything. One failure
// makes others (the flows it cancels report cancellations, their peers
// broken streams): the run keeps them all and reports the most telling.
func (r *Run) fail(err error) {
	r.mu.Lock()
	canceledByUs := r.ctx.Err() != nil && len(r.errs) == 0
	if !canceledByUs {
		r.errs = append(r.errs, err)
	}
	r.mu.Unlock()
	if !canceledByUs {
		r.cancel(err)
	}
}

// abort fails a run that could not start everywhere: err joins the
// failures of the flows already started (the first of which may be the
// cause: a flow that failed at once cancels the setup of the next ones,
// which then fails with a cancellation), and the most telling is returned
// once they all ended.
func (r *Run) abort(err error) error {
	r.fail(err)
	r.cancel(err)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return Best(append(r.errs, err)...)
}

// rank orders failures by how much they say: an error of the statement
// itself first, then a datanode that could not be reached, then a
// cancellation (what the other flows see once one failed).
func rank(err error) int {
	switch pgerr.Code(err) {
	case pgerr.QueryCanceled:
		return 0
	case pgerr.ConnectionFailure:
		return 1
	}
	return 2
}

// Best returns the most telling of errs (nil when all are nil).
func Best(errs ...error) error {
	var best error
	for _, e := range errs {
		if e != nil && (best == nil || rank(e) > rank(best)) {
			best = e
		}
	}
	return best
}

// Err returns the error that failed the run, if any. Once the run failed
// it waits for every flow to end, so that the error reported is the cause
// rather than one of the cancellations it brought.
func (r *Run) Err() error {
	r.mu.Lock()
	failed := len(r.errs) > 0
	r.mu.Unlock()
	if !failed {
		return nil
	}
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return Best(r.errs...)
}

// Recv returns the operator of one of the root fragment's receive nodes.
func (r *Run) Recv(n *meridianpb.PlanNode) (sqlexec.Operator, error) {
	ins, cols, desc, nullsFirst, err := r.recvs(n)
	if err != nil {
		return nil, err
	}
	if cols == nil {
		return ins[0], nil
	}
	ops := make([]sqlexec.Operator, len(ins))
	for i, in := range ins {
		ops[i] = in
	}
	return sqlexec.MergeKeys(ops, cols, desc, nullsFirst), nil
}

// recvs returns the readers of a receive node's queues: one for a
// non-merging receive (cols nil), else one per producer, with the merge
// keys' columns and orders.
func (r *Run) recvs(n *meridianpb.PlanNode) (ins []*recvOp, cols []int, desc, nullsFirst []bool, err error) {
	rv := n.GetRecv()
	p := r.frags[rv.Fragment]
	if p == nil {
		return nil, nil, nil, nil, pgerr.New(pgerr.InternalError, "receive from unknown fragment %d", rv.Fragment)
	}
	if len(rv.Merge) == 0 {
		return []*recvOp{{r: r, q: r.queues[qkey{rv.Fragment, 0}], producers: len(p.Groups), types: n.Types}}, nil, nil, nil, nil
	}
	ins = make([]*recvOp, len(p.Groups))
	for i, g := range p.Groups {
		ins[i] = &recvOp{r: r, q: r.queues[qkey{rv.Fragment, g}], producers: 1, types: n.Types}
	}
	cols = make([]int, len(rv.Merge))
	desc = make([]bool, len(rv.Merge))
	nullsFirst = make([]bool, len(rv.Merge))
	for i, k := range rv.Merge {
		if k.Expr.GetKind() != meridianpb.ExprKind_EXPR_COLUMN {
			return nil, nil, nil, nil, pgerr.New(pgerr.InternalError, "merge key is not a column")
		}
		cols[i], desc[i], nullsFirst[i] = int(k.Expr.Index), k.Desc, k.NullsFirst
	}
	return ins, cols, desc, nullsFirst, nil
}

// Wait waits until every datanode's flow ended and returns the first
// error and the collected operator statistics. Call it after the root
// fragment read all its input.
func (r *Run) Wait() ([]*meridianpb.OperatorStats, error) {
	r.wg.Wait()
	if err := r.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done < r.total {
		return nil, pgerr.FromContext(r.ctx)
	}
	return r.stats, nil
}

// Close cancels whatever still runs and waits for the stream readers.
func (r *Run) Close() {
	r.cancel(nil)
	r.wg.Wait()
}

// recvOp reads a queue until its producers all ended.
type recvOp struct {
	r         *Run
	q         *queue
	producers int
	eos       int
	types     []uint32
	dec       *codec.RowDecoder
}

func (o *recvOp) decoder() *codec.RowDecoder {
	if o.dec == nil {
		o.dec = codec.NewRowDecoder(o.types, nil, nil)
	}
	return o.dec
}

func (o *recvOp) Open(context.Context) error { return nil }

// next returns the rows of the queue's next message, nil at the end of
// every producer's stream.
func (o *recvOp) next(ctx context.Context) ([][]byte, error) {
	for o.eos < o.producers {
		m, ok := o.q.pop(ctx, o.r.ctx)
		if !ok {
			if err := o.r.Err(); err != nil {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, pgerr.FromContext(ctx)
			}
			return nil, pgerr.FromContext(o.r.ctx)
		}
		if m.eos {
			o.eos++
			continue
		}
		return m.rows, nil
	}
	return nil, nil
}

func (o *recvOp) Next(ctx context.Context) (*sqlexec.Batch, error) {
	if m, err := o.next(ctx); m != nil || err != nil {
		if err != nil {
			return nil, err
		}
		rows := make([]sqlexec.Row, len(m))
		for i, b := range m {
			row, err := o.decoder().Decode(b)
			if err != nil {
				return nil, pgerr.Wrap(err, pgerr.ProtocolViolation, "decode gathered row")
			}
			rows[i] = row
		}
		return &sqlexec.Batch{Rows: rows}, nil
	}
	return nil, nil
}

func (o *recvOp) Close() {}

// RecvCols builds the reader of a stream as a source of column batches:
// the datanodes' rows are decoded straight into the vectors; a merging
// receive merges its producers' batches (ColMerge).
func (r *Run) RecvCols(n *meridianpb.PlanNode) (sqlexec.ColSource, error) {
	ins, cols, desc, nullsFirst, err := r.recvs(n)
	if err != nil {
		return nil, err
	}
	if cols == nil {
		return &recvCols{in: ins[0]}, nil
	}
	srcs := make([]sqlexec.ColSource, len(ins))
	for i, in := range ins {
		srcs[i] = &recvCols{in: in}
	}
	return sqlexec.NewColMerge(srcs, cols, desc, nullsFirst), nil
}

// recvCols reads a queue into column batches of up to BatchSize rows; a
// batch already holding rows is returned rather than waiting for the next
// message.
type recvCols struct {
	in  *recvOp
	dec sqlexec.RowDecoder
	b   *coldata.Batch
	enc [][]byte // the rows of the message being read, not yet in a batch
}

var _ sqlexec.ColSource = (*recvCols)(nil)

func (c *recvCols) Types() []uint32 { return c.in.types }

func (c *recvCols) Open(context.Context) error {
	c.dec = sqlexec.NewRowDecoder(c.in.types)
	c.b = coldata.NewBatch(c.in.types)
	return nil
}

func (c *recvCols) Next(ctx context.Context) (*coldata.Batch, error) {
	b := c.b
	b.Reset()
	for b.N < coldata.BatchSize {
		if len(c.enc) > 0 {
			var err error
			if c.enc, err = c.dec.Fill(b, c.enc); err != nil {
				return nil, err
			}
			continue
		}
		if b.N > 0 {
			break
		}
		m, err := c.in.next(ctx)
		if err != nil || m == nil {
			return nil, err
		}
		c.enc = m
	}
	b.SelectAll(b.N)
	return b, nil
}

func (c *recvCols) Close() {}

// queue is a FIFO of messages, bounded (push waits while full) or not.
type queue struct {
	mu    sync.Mutex
	items []msg
	bound int
	avail chan struct{} // has an item when items may be non-empty
	space chan struct{} // has an item when there may be room
}

func newQueue(bound int) *queue {
	return &queue{bound: bound, avail: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends m; false when ctx ended first.
func (q *queue) push(ctx context.Context, m msg) bool {
	for {
		q.mu.Lock()
		if q.bound == 0 || len(q.items) < q.bound {
			q.items = append(q.items, m)
			q.mu.Unlock()
			signal(q.avail)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			return false
		}
	}
}

// pop removes the first message; false when ctx or run ended first.
func (q *queue) pop(ctx, run context.Context) (msg, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = msg{}
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			signal(q.space)
			if more {
				signal(q.avail)
			}
			return m, true
		}
		q.mu.Unlock()
		select {
		case <-q.avail:
		case <-ctx.Done():
			return msg{}, false
		case <-run.Done():
			return msg{}, false
		}
	}
}
