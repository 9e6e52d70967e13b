package server

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/serve"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// callServer serves DataNodeCalls.
type callServer struct {
	meridianpb.UnimplementedDataNodeCallsServer
	s *Server
}

// Call serves ExecUnary, Prepare, Commit, Abort and RunFlow over one
// stream (DataNodeCalls in plan.proto): each request in turn, answered before the next is read, in a
// context that is the stream's — a coordinator cancels a call by
// cancelling its stream — bounded by the request's timeout.
func (c callServer) Call(st meridianpb.DataNodeCalls_CallServer) error {
	s := c.s
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(s.call(st.Context(), req)); err != nil {
			return err
		}
	}
}

// call runs one request of a Call stream, as its unary RPC would.
func (s *Server) call(ctx context.Context, req *meridianpb.CallRequest) (resp *meridianpb.CallResponse) {
	// Each call's own context, ended when the call returns, as a unary
	// call's is: what a handler ties to it ends with the call, not with
	// the stream.
	var cancel context.CancelFunc
	if t := req.TimeoutNanos; t > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			resp = &meridianpb.CallResponse{Status: encodeStatus(pgerr.ToStatus(serve.Recovered(s.log, "/meridian.DataNodeCalls/Call", v)))}
		}
	}()
	var err error
	resp = &meridianpb.CallResponse{}
	switch op := req.Op.(type) {
	case *meridianpb.CallRequest_ExecUnary:
		var r *meridianpb.ExecResponse
		r, err = s.ExecUnary(ctx, op.ExecUnary)
		resp.Result = &meridianpb.CallResponse_Exec{Exec: r}
	case *meridianpb.CallRequest_Prepare:
		var r *meridianpb.TxnResponse
		r, err = s.Prepare(ctx, op.Prepare)
		resp.Result = &meridianpb.CallResponse_Txn{Txn: r}
	case *meridianpb.CallRequest_Commit:
		var r *meridianpb.TxnResponse
		r, err = s.Commit(ctx, op.Commit)
		resp.Result = &meridianpb.CallResponse_Txn{Txn: r}
	case *meridianpb.CallRequest_Abort:
		var r *meridianpb.TxnResponse
		r, err = s.Abort(ctx, op.Abort)
		resp.Result = &meridianpb.CallResponse_Txn{Txn: r}
	case *meridianpb.CallRequest_RunFlow:
		var r *meridianpb.FlowResult
		r, err = s.flows.RunFlow(ctx, op.RunFlow)
		resp.Result = &meridianpb.CallResponse_Flow{Flow: r}
	default:
		err = status.Error(codes.Unimplemented, "call without a known operation")
	}
	if err != nil {
		return &meridianpb.CallResponse{Status: encodeStatus(err)}
	}
	return resp
}

// encodeStatus is err as a google.rpc.Status in its wire encoding.
func encodeStatus(err error) []byte {
	b, merr := proto.Marshal(status.Convert(err).Proto())
	if merr != nil || len(b) == 0 {
		// An error must not read as success.
		b, _ = proto.Marshal(status.New(codes.Internal, "unencodable error status").Proto())
	}
	return b
}
