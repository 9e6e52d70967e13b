package session

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// A coordinator's small calls to a datanode — ExecUnary, Prepare, Commit,
// Abort, RunFlow: all of a TPC-B transaction's — go over pooled Call streams
// instead of one unary RPC each. A unary gRPC call opens an HTTP/2 stream
// (headers both ways, trailers, per-stream state and goroutine hand-offs);
// a message each way on an open stream costs about a third of its CPU
// (BenchmarkCall in calls_test.go). The semantics stay the unary ones:
//
//   - a stream carries one call at a time; a caller takes an idle stream
//     or opens one, and puts it back after the response;
//   - the call's deadline travels in the request (relative, as gRPC's
//     grpc-timeout), and cancelling the call's context cancels the stream,
//     which cancels the call on the datanode; that stream is dropped;
//   - errors come back as the google.rpc.Status a unary call would have
//     returned, so pgerr.FromStatus reads them the same;
//   - an idle stream is not reused once its connection changed state (the
//     datanode went away: the stream went with its transport); a watcher
//     per connection counts the changes. A stream found broken when the
//     request is sent (the request never left) is dropped with every other
//     idle one, and the call is sent once more on a new stream. A call
//     whose request was sent and whose stream then broke fails, as a unary
//     call would.

// maxIdleCalls bounds the idle streams kept per datanode; more concurrent
// calls than that open streams that are closed after their call.
const maxIdleCalls = 64

// callPool keeps the idle Call streams to one datanode.
type callPool struct {
	stub meridianpb.DataNodeCallsClient
	// gen counts the connection's state changes.
	gen  atomic.Uint64
	mu   sync.Mutex
	idle []*callStream
}

type callStream struct {
	st     meridianpb.DataNodeCalls_CallClient
	cancel context.CancelFunc
	gen    uint64 // the pool's gen when the stream was opened
}

// newCallPool returns the pool of cc's streams; it watches cc until cc
// is closed.
func newCallPool(cc *grpc.ClientConn) *callPool {
	p := &callPool{stub: meridianpb.NewDataNodeCallsClient(cc)}
	go func() {
		for {
			st := cc.GetState()
			if st == connectivity.Shutdown || !cc.WaitForStateChange(context.Background(), st) {
				return
			}
			p.gen.Add(1)
		}
	}()
	return p
}

// get returns an idle stream (reused) or a new one.
func (p *callPool) get(ctx context.Context, fresh bool) (cs *callStream, reused bool, err error) {
	gen := p.gen.Load()
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n > 0 {
			cs = p.idle[n-1]
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		if cs == nil {
			break
		}
		if cs.gen == gen {
			return cs, true, nil
		}
		cs.cancel()
		cs = nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	// Opening the stream waits for a connection: as long as the call may.
	stop := context.AfterFunc(ctx, cancel)
	st, err := p.stub.Call(sctx)
	if !stop() || err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, false, status.FromContextError(ctx.Err()).Err()
		}
		return nil, false, err
	}
	// The generation after the stream is open: a change while it was
	// opening (the connection coming up) does not make it stale.
	return &callStream{st: st, cancel: cancel, gen: p.gen.Load()}, false, nil
}

func (p *callPool) put(cs *callStream) {
	p.mu.Lock()
	if len(p.idle) < maxIdleCalls {
		p.idle = append(p.idle, cs)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	cs.cancel()
}

// dropIdle closes the idle streams (their connection broke, or the pool
// closes); the pool stays usable.
func (p *callPool) dropIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, cs := range idle {
		cs.cancel()
	}
}

// do runs one call.
func (p *callPool) do(ctx context.Context, req *meridianpb.CallRequest) (*meridianpb.CallResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return nil, status.FromContextError(context.DeadlineExceeded).Err()
		}
		req.TimeoutNanos = int64(d)
	}
	fresh := false
	for {
		cs, reused, err := p.get(ctx, fresh)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, cs.cancel)
		if err := cs.st.Send(req); err != nil {
			stop()
			if reused && errors.Is(err, io.EOF) && ctx.Err() == nil {
				// The stream had ended before the request went out.
				cs.cancel()
				p.dropIdle()
				fresh = true
				continue
			}
			// The stream's own status, read before cancelling it
			// makes that status "canceled".
			err = callError(ctx, cs, err)
			cs.cancel()
			return nil, err
		}
		resp, err := cs.st.Recv()
		if !stop() {
			// The context ended during the call: the stream is
			// cancelled (or about to be), and a call still running
			// with it. A response that came first stands.
			cs.cancel()
			if err != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		} else if err != nil {
			err = callError(ctx, cs, err)
			cs.cancel()
			return nil, err
		} else {
			p.put(cs)
		}
		if len(resp.Status) > 0 {
			var sp spb.Status
			if err := proto.Unmarshal(resp.Status, &sp); err != nil {
				return nil, status.Errorf(codes.Internal, "undecodable status of a datanode call: %v", err)
			}
			return nil, status.FromProto(&sp).Err()
		}
		return resp, nil
	}
}

// callError is the error of a call whose stream failed with err.
func callError(ctx context.Context, cs *callStream, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if errors.Is(err, io.EOF) {
		// Send reports a finished stream as io.EOF; Recv has its status.
		if _, rerr := cs.st.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
			return rerr
		}
		return status.Error(codes.Unavailable, "datanode closed the call stream")
	}
	return err
}

// dnClient is a datanode's client whose small calls use the Call streams.
type dnClient struct {
	meridianpb.DataNodeClient
	calls *callPool
}

func (c dnClient) ExecUnary(ctx context.Context, req *meridianpb.ExecRequest, _ ...grpc.CallOption) (*meridianpb.ExecResponse, error) {
	resp, err := c.calls.do(ctx, &meridianpb.CallRequest{Op: &meridianpb.CallRequest_ExecUnary{ExecUnary: req}})
	if err != nil {
		return nil, err
	}
	return resp.GetExec(), nil
}

func (c dnClient) Prepare(ctx context.Context, req *meridianpb.TxnRequest, _ ...grpc.CallOption) (*meridianpb.TxnResponse, error) {
	return c.txnCall(ctx, &meridianpb.CallRequest{Op: &meridianpb.CallRequest_Prepare{Prepare: req}})
}

func (c dnClient) Commit(ctx context.Context, req *meridianpb.TxnRequest, _ ...grpc.CallOption) (*meridianpb.TxnResponse, error) {
	return c.txnCall(ctx, &meridianpb.CallRequest{Op: &meridianpb.CallRequest_Commit{Commit: req}})
}

func (c dnClient) Abort(ctx context.Context, req *meridianpb.TxnRequest, _ ...grpc.CallOption) (*meridianpb.TxnResponse, error) {
	return c.txnCall(ctx, &meridianpb.CallRequest{Op: &meridianpb.CallRequest_Abort{Abort: req}})
}

func (c dnClient) txnCall(ctx context.Context, req *meridianpb.CallRequest) (*meridianpb.TxnResponse, error) {
	resp, err := c.calls.do(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.GetTxn(), nil
}

// flowClient is a datanode's Flow client whose RunFlow uses the Call
// streams.
type flowClient struct {
	meridianpb.FlowClient
	calls *callPool
}

func (c flowClient) RunFlow(ctx context.Context, req *meridianpb.FlowRequest, _ ...grpc.CallOption) (*meridianpb.FlowResult, error) {
	resp, err := c.calls.do(ctx, &meridianpb.CallRequest{Op: &meridianpb.CallRequest_RunFlow{RunFlow: req}})
	if err != nil {
		return nil, err
	}
	return resp.GetFlow(), nil
}
