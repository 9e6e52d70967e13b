package server

import (
	"context"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// WaitEdges lists the waits for row locks in progress here, for the
// global deadlock detector.
func (s *Server) WaitEdges(ctx context.Context, req *meridianpb.WaitEdgesRequest) (*meridianpb.WaitEdgesResponse, error) {
	edges := s.st.WaitEdges(req.Ids...)
	out := &meridianpb.WaitEdgesResponse{Datanode: s.cfg.Num, Edges: make([]*meridianpb.WaitEdge, len(edges))}
	for i, e := range edges {
		out.Edges[i] = &meridianpb.WaitEdge{Id: e.ID, WaiterGxid: e.WaiterGXID, HolderGxid: e.HolderGXID,
			WaiterPid: e.WaiterPID, HolderPid: e.HolderPID,
			WaitedUs: e.Waited.Microseconds(), DeadlockTimeoutUs: e.DeadlockTimeout.Microseconds()}
	}
	return out, nil
}

// BreakWait fails a wait for a row lock with 40P01: the deadlock
// detector chose its transaction as the victim.
func (s *Server) BreakWait(ctx context.Context, req *meridianpb.BreakWaitRequest) (*meridianpb.BreakWaitResponse, error) {
	found := s.st.BreakWait(req.Id, storage.DeadlockError(req.Detail))
	if found {
		s.log.Info("deadlock victim", "wait", req.Id, "detail", req.Detail)
	}
	return &meridianpb.BreakWaitResponse{Found: found}, nil
}
