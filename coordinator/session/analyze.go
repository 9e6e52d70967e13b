package session

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"golang.org/x/sync/errgroup"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/stats"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// runVacuum runs VACUUM and ANALYZE. ANALYZE (alone or as VACUUM
// ANALYZE) collects the statistics the optimizer plans with.
func (s *Session) runVacuum(ctx context.Context, vs *pg_query.VacuumStmt, w pgwire.ResultWriter) (string, error) {
	tag := "ANALYZE"
	analyze := !vs.IsVacuumcmd
	verbose, full := false, false
	if vs.IsVacuumcmd {
		tag = "VACUUM"
		for _, o := range vs.Options {
			if d := o.GetDefElem(); d != nil {
				switch d.Defname {
				case "analyze":
					analyze = true
				case "verbose":
					verbose = true
				case "full":
					full = true
				}
			}
		}
	}
	var tables []*meridianpb.TableDesc
	for _, r := range vs.Rels {
		vr := r.GetVacuumRelation()
		if vr == nil || vr.Relation == nil {
			continue
		}
		t, err := s.e.plan.ResolveTable(vr.Relation)
		if err != nil {
			return "", err
		}
		tables = append(tables, t)
	}
	if vs.IsVacuumcmd {
		if s.txn != nil {
			return "", pgerr.New(pgerr.ActiveSQLTransaction, "VACUUM cannot run inside a transaction block")
		}
		res, err := s.vacuum(ctx, tables, full)
		if err != nil {
			return "", err
		}
		if verbose {
			_ = w.Notice("INFO", "00000", fmt.Sprintf("removed %d dead row versions, froze %d, forgot %d transaction ids "+
				"(%d keys on %d datanodes; oldest snapshot %d)", res.Removed, res.Frozen, res.PrunedXids, res.Keys, res.nodes, res.Horizon))
		}
	}
	if !analyze {
		return tag, nil
	}
	if len(vs.Rels) == 0 {
		tables = s.e.cat.Tables()
	}
	for _, t := range tables {
		if err := s.analyzeTable(ctx, t); err != nil {
			return "", err
		}
	}
	return tag, nil
}

// vacuum has every datanode clean the old row versions of tables (their
// rows and indexes; none: all the data) at the cluster's snapshot horizon,
// and with full compact them (VACUUM FULL), and returns when they are done.
func (s *Session) vacuum(ctx context.Context, tables []*meridianpb.TableDesc, full bool) (vacuumResult, error) {
	var prefixes [][]byte
	for _, t := range tables {
		prefixes = append(prefixes, codec.RowKeyPrefix(t.Id))
		for _, ix := range t.Indexes {
			prefixes = append(prefixes, codec.IndexPrefix(ix.Id))
		}
	}
	if s.e.publish != nil {
		// This session's snapshots are released: say so before the
		// datanodes compute the horizon.
		if err := s.e.publish(ctx); err != nil {
			return vacuumResult{}, pgerr.Wrap(err, pgerr.ConnectionFailure, "publishing the snapshot horizon")
		}
	}
	snap := s.e.routes.Current()
	groups := snap.Groups()
	res := vacuumResult{nodes: len(groups), VacuumResponse: &meridianpb.VacuumResponse{Horizon: math.MaxUint64}}
	if len(groups) == 0 {
		return res, pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	var mu sync.Mutex
	err := parallel(groups, func(g uint32) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return err
		}
		r, err := c.Vacuum(ctx, &meridianpb.VacuumRequest{Prefixes: prefixes, Full: full})
		if err != nil {
			return pgerr.FromStatus(err)
		}
		mu.Lock()
		res.Keys += r.Keys
		res.Removed += r.Removed
		res.Frozen += r.Frozen
		res.PrunedXids += r.PrunedXids
		res.Horizon = min(res.Horizon, r.Horizon)
		mu.Unlock()
		return nil
	})
	return res, errTimeout(ctx, err)
}

// vacuumResult adds up the datanodes' VACUUM results (the horizon: the
// smallest).
type vacuumResult struct {
	*meridianpb.VacuumResponse
	nodes int
}

// analyzeTable samples a table on its datanodes and stores its
// statistics.
func (s *Session) analyzeTable(ctx context.Context, t *meridianpb.TableDesc) error {
	snap := s.e.routes.Current()
	groups := snap.Groups()
	if len(groups) == 0 {
		return pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	if t.Dist == meridianpb.DistKind_DIST_REPLICATION {
		groups = groups[:1] // one copy
	}
	parts := make([]stats.Part, len(groups))
	g, gctx := errgroup.WithContext(ctx)
	for i, grp := range groups {
		g.Go(func() error {
			addr, ok := snap.Addr(grp)
			if !ok {
				return pgerr.New(pgerr.ConnectionFailure, "datanode group %d has no live leader", grp)
			}
			c, err := s.e.pool.flowClient(addr)
			if err != nil {
				return err
			}
			resp, err := c.Analyze(gctx, &meridianpb.AnalyzeRequest{Table: t, SampleRows: stats.SampleRows})
			if err != nil {
				return pgerr.FromStatus(err)
			}
			parts[i] = stats.Part{Rows: resp.Rows, Sample: resp.Sample}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return errTimeout(ctx, err)
	}
	st, err := stats.Compute(t, parts)
	if err != nil {
		return err
	}
	st.AnalyzedAt = time.Now().UnixMicro()
	return s.e.cat.PutStats(ctx, st)
}
