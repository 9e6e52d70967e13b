package session

import (
	"context"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"golang.org/x/sync/errgroup"

	"github.com/meridian-db/meridian/coordinator/stats"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// runVacuum runs VACUUM and ANALYZE. ANALYZE (alone or as VACUUM
// ANALYZE) collects the statistics the optimizer plans with.
func (s *Session) runVacuum(ctx context.Context, vs *pg_query.VacuumStmt) (string, error) {
	tag := "ANALYZE"
	analyze := !vs.IsVacuumcmd
	if vs.IsVacuumcmd {
		tag = "VACUUM"
		for _, o := range vs.Options {
			if d := o.GetDefElem(); d != nil && d.Defname == "analyze" {
				analyze = true
			}
		}
	}
	if !analyze {
		return tag, nil
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
