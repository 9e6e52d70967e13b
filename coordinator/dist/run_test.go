package dist

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// failingStream is a flow that failed with a statement error at once.
type failingStream struct {
	grpc.ClientStream
	err error
}

func (s failingStream) Recv() (*meridianpb.FlowMessage, error) { return nil, s.err }

// setupClient answers the first SetupFlow with a flow that fails with
// err, and every later one, as gRPC does for a call whose context ended,
// only once the run's context is cancelled.
type setupClient struct {
	meridianpb.FlowClient
	calls *atomic.Int32
	err   error
}

func (c setupClient) SetupFlow(ctx context.Context, _ *meridianpb.FlowRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[meridianpb.FlowMessage], error) {
	if c.calls.Add(1) == 1 {
		return failingStream{err: c.err}, nil
	}
	<-ctx.Done()
	return nil, status.Error(codes.Canceled, "context canceled while waiting for connections to become ready")
}

// A flow that fails before the coordinator set up the next datanode's
// cancels that setup; Start reports the flow's error, not the
// cancellation it caused (a logic test once saw 57014 for LIMIT -1).
func TestStartReportsCauseNotCancellation(t *testing.T) {
	cause := pgerr.ToStatus(pgerr.New("2201W", "LIMIT must not be negative"))
	var calls atomic.Int32
	client := func(string) (meridianpb.FlowClient, error) {
		return setupClient{calls: &calls, err: cause}, nil
	}
	plan := &meridianpb.Plan{Fragments: []*meridianpb.Fragment{
		{Id: 0, Root: &meridianpb.PlanNode{Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{Fragment: 1}}}},
		{Id: 1, Groups: []uint32{1, 2, 3}, Output: &meridianpb.Stream{Kind: meridianpb.StreamKind_STREAM_GATHER}},
	}}
	req := &Request{Plan: plan, Addrs: map[uint32]string{1: "a", 2: "b", 3: "c"}}
	for i := 0; i < 20; i++ {
		calls.Store(0)
		run, err := Start(context.Background(), client, req)
		if err == nil {
			run.Close()
			t.Fatal("Start succeeded; want the flow's error")
		}
		if got := pgerr.Code(err); got != "2201W" {
			t.Fatalf("Start failed with %s (%v); want 2201W", got, err)
		}
	}
}
