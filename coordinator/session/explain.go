package session

import (
	"context"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/types"
)

func planTables(p *planner.Plan) []*meridianpb.TableDesc {
	switch {
	case p.Select != nil && p.Select.Access.Table != nil:
		return []*meridianpb.TableDesc{p.Select.Access.Table}
	case p.Insert != nil:
		return []*meridianpb.TableDesc{p.Insert.Table}
	case p.Update != nil:
		return []*meridianpb.TableDesc{p.Update.Access.Table}
	case p.Delete != nil:
		return []*meridianpb.TableDesc{p.Delete.Access.Table}
	}
	return nil
}

// runExplain shows the distributed plan: which datanodes the statement
// reaches (after binding its constants), how it reads them, and what the
// coordinator does on top.
func (s *Session) runExplain(ctx context.Context, ex *pg_query.ExplainStmt, paramOIDs []uint32, params []types.Datum) (rowIter, string, error) {
	for _, o := range ex.Options {
		if d := o.GetDefElem(); d != nil && d.Defname == "analyze" {
			return nil, "", unsupportedAnalyze()
		}
	}
	st, err := s.prepare(ctx, parsedOf(ex.Query), paramOIDs)
	if err != nil {
		return nil, "", err
	}
	if st.plan == nil {
		return nil, "", fmt.Errorf("EXPLAIN needs SELECT, INSERT, UPDATE or DELETE")
	}
	env := s.bindEnv(params)
	var lines []string
	add := func(indent int, f string, args ...any) {
		lines = append(lines, strings.Repeat("  ", indent)+fmt.Sprintf(f, args...))
	}
	p := st.plan
	access := func(a planner.Access, write bool, verb string) error {
		b, _, err := bindAccess(a, env)
		if err != nil {
			return err
		}
		snap := s.e.routes.Current()
		targets, err := route(snap, &b, write, s.pick+1)
		if err != nil {
			return err
		}
		var names []string
		for _, t := range targets {
			names = append(names, fmt.Sprintf("dn group %d", t.group))
		}
		kind := "all datanodes"
		switch {
		case b.Table.Dist == meridianpb.DistKind_DIST_REPLICATION && !write:
			kind = "one datanode (replicated table)"
		case b.Table.Dist == meridianpb.DistKind_DIST_REPLICATION:
			kind = "every datanode (replicated table)"
		case b.Route.DistValues != nil:
			kind = "pruned by distribution key"
		}
		add(1, "-> %s on %s.%s", verb, b.Table.Schema, b.Table.Name)
		add(2, "Datanodes: %s (%s)", strings.Join(names, ", "), kind)
		if b.IndexID != 0 {
			for _, ix := range b.Table.Indexes {
				if ix.Id == b.IndexID {
					add(2, "Index Lookup: %s", ix.Name)
				}
			}
		} else {
			add(2, "Sequential Scan")
		}
		if b.Filter != nil {
			add(2, "Filter: pushed down to datanodes")
		}
		return nil
	}
	switch {
	case p.Select != nil:
		sel := p.Select
		add(0, "Gather (coordinator)")
		if sel.HasAgg {
			add(1, "Aggregate on coordinator (%d group keys, %d aggregates)", len(sel.GroupBy), len(sel.Aggs))
		}
		if len(sel.Sort) > 0 {
			add(1, "Sort on coordinator (%d keys)", len(sel.Sort))
		}
		if sel.Distinct {
			add(1, "Distinct on coordinator")
		}
		if sel.Limit != nil {
			add(1, "Limit (pushed to datanodes: %v)", sel.PushLimit)
		}
		if sel.Access.Table == nil {
			add(1, "-> Result (no table)")
		} else if err := access(sel.Access, false, "Data Node Scan"); err != nil {
			return nil, "", err
		}
	case p.Insert != nil:
		add(0, "Insert on %s.%s (%d rows routed by distribution key)", p.Insert.Table.Schema, p.Insert.Table.Name, len(p.Insert.Rows))
	case p.Update != nil:
		add(0, "Update")
		if err := access(p.Update.Access, true, "Data Node Update"); err != nil {
			return nil, "", err
		}
	case p.Delete != nil:
		add(0, "Delete")
		if err := access(p.Delete.Access, true, "Data Node Delete"); err != nil {
			return nil, "", err
		}
	}
	rows := make([][]types.Datum, len(lines))
	for i, l := range lines {
		rows[i] = []types.Datum{l}
	}
	return &sliceIter{rows: rows}, "EXPLAIN", nil
}
