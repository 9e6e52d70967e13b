package server

import (
	"context"
	"time"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/internal/horizon"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// cleanLoop passes the old versions cleaner over all the data every
// interval, at the cluster's snapshot horizon (internal/horizon), until
// ctx ends. A pass that fails is logged and tried again next time.
func (s *Server) cleanLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h, st, err := s.clean(ctx, nil)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("old versions cleaner", "err", err)
		case err == nil && (st.Removed > 0 || st.PrunedXids > 0):
			s.log.Debug("old versions cleaned", "horizon", h, "keys", st.Keys, "removed", st.Removed,
				"frozen", st.Frozen, "pruned_xids", st.PrunedXids)
		}
	}
}

// clean computes the horizon and cleans under prefixes (none: all).
func (s *Server) clean(ctx context.Context, prefixes [][]byte) (uint64, storage.CleanStats, error) {
	h, err := horizon.Compute(ctx, s.etcd, s.keys, s.gtm)
	if err != nil {
		return 0, storage.CleanStats{}, pgerr.Wrap(err, pgerr.ConnectionFailure, "computing the snapshot horizon")
	}
	st, err := s.x.Vacuum(ctx, h, prefixes)
	return h, st, err
}

// Vacuum cleans old row versions now (VACUUM).
func (s *Server) Vacuum(ctx context.Context, req *meridianpb.VacuumRequest) (*meridianpb.VacuumResponse, error) {
	h, st, err := s.clean(ctx, req.Prefixes)
	if err != nil {
		return nil, pgerr.ToStatus(err)
	}
	return &meridianpb.VacuumResponse{Horizon: h, Keys: st.Keys, Removed: st.Removed, Frozen: st.Frozen, PrunedXids: st.PrunedXids}, nil
}
