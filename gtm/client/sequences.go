package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Sequence calls (GTMSequences) are unary RPCs to the leader on a
// connection of their own, tried again — at the leader of the moment —
// while the GTM is unreachable or answers that it does not lead, until the
// caller's ctx ends (08006 then). A retried NextValues may skip the run
// the lost answer held; the other calls are idempotent.

// seqConn is the connection sequence calls use, redialed when the leader
// moves.
type seqConn struct {
	mu     sync.Mutex
	addr   string
	cc     *grpc.ClientConn
	closed bool
}

func (sc *seqConn) stub(addr string) (meridianpb.GTMSequencesClient, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return nil, pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, "")
	}
	if sc.addr != addr || sc.cc == nil {
		if sc.cc != nil {
			_ = sc.cc.Close()
			sc.cc, sc.addr = nil, ""
		}
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		sc.cc, sc.addr = cc, addr
	}
	return meridianpb.NewGTMSequencesClient(sc.cc), nil
}

// drop closes the connection if it still goes to addr (after a failure,
// so that the next attempt does not inherit gRPC's reconnect backoff).
func (sc *seqConn) drop(addr string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cc != nil && sc.addr == addr {
		_ = sc.cc.Close()
		sc.cc, sc.addr = nil, ""
	}
}

// close closes the connection for good (Client.Close).
func (sc *seqConn) close() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.closed = true
	if sc.cc != nil {
		_ = sc.cc.Close()
		sc.cc, sc.addr = nil, ""
	}
}

// seqCall runs call at the leader until it answers, fails with an error
// of its own (a SQLSTATE other than a connection failure), or ctx ends.
func (c *Client) seqCall(ctx context.Context, call func(ctx context.Context, stub meridianpb.GTMSequencesClient) error) error {
	backoff := minBackoff
	var last error
	for {
		if c.ctx.Err() != nil {
			return pgerr.Wrap(ErrClosed, pgerr.ConnectionFailure, "")
		}
		addr, changed := c.leader()
		var err error
		if addr == "" {
			err = ErrNoLeader
		} else {
			var stub meridianpb.GTMSequencesClient
			if stub, err = c.seq.stub(addr); err == nil {
				actx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
				err = pgerr.FromStatus(call(actx, stub))
				cancel()
				if err == nil {
					return nil
				}
				if ctx.Err() == nil && !retryable(err) {
					return err
				}
				c.seq.drop(addr)
			}
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return pgerr.Wrap(fmt.Errorf("%w; last error: %w", ctx.Err(), last), pgerr.ConnectionFailure, "GTM unreachable")
		case <-changed:
		case <-t.C:
		case <-c.ctx.Done():
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
}

// NextValues asks for a run of up to n values of sequence id (name is for
// error messages).
func (c *Client) NextValues(ctx context.Context, id uint32, name string, n uint64) (*meridianpb.NextValuesReply, error) {
	var out *meridianpb.NextValuesReply
	err := c.seqCall(ctx, func(ctx context.Context, stub meridianpb.GTMSequencesClient) error {
		r, err := stub.NextValues(ctx, &meridianpb.NextValuesRequest{Id: id, Name: name, Count: n})
		out = r
		return err
	})
	return out, err
}

// SetValue is setval; it returns the sequence's new generation.
func (c *Client) SetValue(ctx context.Context, id uint32, name string, v int64, isCalled bool) (uint64, error) {
	var gen uint64
	err := c.seqCall(ctx, func(ctx context.Context, stub meridianpb.GTMSequencesClient) error {
		r, err := stub.SetValue(ctx, &meridianpb.SetValueRequest{Id: id, Name: name, Value: v, IsCalled: isCalled})
		gen = r.GetGeneration()
		return err
	})
	return gen, err
}

// CreateSequence creates a sequence's state at the GTM.
func (c *Client) CreateSequence(ctx context.Context, id uint32, o *meridianpb.SequenceOptions) error {
	return c.seqCall(ctx, func(ctx context.Context, stub meridianpb.GTMSequencesClient) error {
		_, err := stub.CreateSequence(ctx, &meridianpb.CreateSequenceRequest{Id: id, Options: o})
		return err
	})
}

// AlterSequence changes a sequence's options (req.Id, req.Options, restart)
// and returns its new generation.
func (c *Client) AlterSequence(ctx context.Context, req *meridianpb.AlterSequenceRequest) (uint64, error) {
	var gen uint64
	err := c.seqCall(ctx, func(ctx context.Context, stub meridianpb.GTMSequencesClient) error {
		r, err := stub.AlterSequence(ctx, req)
		gen = r.GetGeneration()
		return err
	})
	return gen, err
}

// DropSequence deletes a sequence's state at the GTM.
func (c *Client) DropSequence(ctx context.Context, id uint32) error {
	return c.seqCall(ctx, func(ctx context.Context, stub meridianpb.GTMSequencesClient) error {
		_, err := stub.DropSequence(ctx, &meridianpb.DropSequenceRequest{Id: id})
		return err
	})
}
