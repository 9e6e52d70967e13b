package server

import (
	"context"
	"time"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/internal/horizon"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// cleanLoop passes the old versions cleaner over all the data at the
// cluster's snapshot horizon (internal/horizon), until ctx ends. It looks
// every interval, and passes when the versions written since the last
// pass are at least half the keys that pass saw (so that a pass, which
// reads everything, costs at most about twice what was written), or any
// were written and the last pass is ten minutes old. A pass that fails
// is logged and tried again next time.
func (s *Server) cleanLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var (
		lastWritten uint64
		lastKeys    int64
		lastPass    = time.Now()
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w := s.x.VersionsWritten()
		since := w - lastWritten
		if since == 0 || (since < uint64(max(lastKeys/2, 1024)) && time.Since(lastPass) < 10*time.Minute) {
			continue
		}
		h, st, err := s.clean(ctx, nil, false)
		if err == nil {
			lastWritten, lastKeys, lastPass = w, st.Keys, time.Now()
		}
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
func (s *Server) clean(ctx context.Context, prefixes [][]byte, freezeAll bool) (uint64, storage.CleanStats, error) {
	h, err := horizon.Compute(ctx, s.etcd, s.keys, s.gtm)
	if err != nil {
		return 0, storage.CleanStats{}, pgerr.Wrap(err, pgerr.ConnectionFailure, "computing the snapshot horizon")
	}
	st, err := s.x.Vacuum(ctx, h, prefixes, freezeAll)
	return h, st, err
}

// Vacuum cleans old row versions now (VACUUM), then with Full compacts
// the cleaned keys (VACUUM FULL).
func (s *Server) Vacuum(ctx context.Context, req *meridianpb.VacuumRequest) (*meridianpb.VacuumResponse, error) {
	h, st, err := s.clean(ctx, req.Prefixes, true)
	if err != nil {
		return nil, pgerr.ToStatus(err)
	}
	if req.Full {
		if err := s.x.Compact(ctx, req.Prefixes); err != nil {
			return nil, pgerr.ToStatus(err)
		}
	}
	return &meridianpb.VacuumResponse{Horizon: h, Keys: st.Keys, Removed: st.Removed, Frozen: st.Frozen, PrunedXids: st.PrunedXids}, nil
}
