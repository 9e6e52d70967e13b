package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

func callStatus(t *testing.T, resp *meridianpb.CallResponse) error {
	t.Helper()
	if len(resp.Status) == 0 {
		return nil
	}
	var sp spb.Status
	if err := proto.Unmarshal(resp.Status, &sp); err != nil {
		t.Fatal(err)
	}
	return status.FromProto(&sp).Err()
}

// A call that panics is answered with an internal error (XX000) and the
// stream goes on; a call without a known operation is refused.
func TestCallErrors(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// s has no executor or metrics: ExecUnary panics.
	resp := s.call(context.Background(), &meridianpb.CallRequest{Op: &meridianpb.CallRequest_ExecUnary{ExecUnary: &meridianpb.ExecRequest{}}})
	err := callStatus(t, resp)
	if err == nil || resp.Result != nil {
		t.Fatalf("panicking call answered %v", resp)
	}
	if got := pgerr.Code(pgerr.FromStatus(err)); got != pgerr.InternalError {
		t.Fatalf("panicking call: SQLSTATE %s (%v), want %s", got, err, pgerr.InternalError)
	}
	resp = s.call(context.Background(), &meridianpb.CallRequest{})
	if err := callStatus(t, resp); status.Code(err) != codes.Unimplemented {
		t.Fatalf("call without an operation: %v", err)
	}
}
