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
	case p.Select != nil:
		return p.Select.Tables()
	case p.Insert != nil:
		return append([]*meridianpb.TableDesc{p.Insert.Table}, p.Insert.Source.Tables()...)
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
	ex2 := &explainer{s: s, env: env, add: add}
	switch {
	case p.Select != nil:
		add(0, "Gather (coordinator)")
		if err := ex2.selectBlock(p.Select, 1); err != nil {
			return nil, "", err
		}
	case p.Insert != nil:
		add(0, "Insert on %s.%s (%d rows routed by distribution key)", p.Insert.Table.Schema, p.Insert.Table.Name, len(p.Insert.Rows))
	case p.Update != nil:
		add(0, "Update")
		if err := ex2.access(p.Update.Access, 1, true, "Data Node Update"); err != nil {
			return nil, "", err
		}
	case p.Delete != nil:
		add(0, "Delete")
		if err := ex2.access(p.Delete.Access, 1, true, "Data Node Delete"); err != nil {
			return nil, "", err
		}
	}
	rows := make([][]types.Datum, len(lines))
	for i, l := range lines {
		rows[i] = []types.Datum{l}
	}
	return &sliceIter{rows: rows}, "EXPLAIN", nil
}

// explainer renders a plan as EXPLAIN lines.
type explainer struct {
	s   *Session
	env *planner.BindEnv
	add func(indent int, f string, args ...any)
	// ctes already shown
	ctes map[*planner.CTE]bool
}

func (x *explainer) access(a planner.Access, indent int, write bool, verb string) error {
	add := x.add
	add(indent, "-> %s on %s.%s", verb, a.Table.Schema, a.Table.Name)
	b, _, err := bindAccess(a, x.env)
	if err != nil {
		// correlated: the values come from each row of the enclosing query
		add(indent+1, "Datanodes: chosen for each outer row")
		return nil
	}
	snap := x.s.e.routes.Current()
	targets, err := route(snap, &b, write, x.s.pick+1)
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
	add(indent+1, "Datanodes: %s (%s)", strings.Join(names, ", "), kind)
	if b.IndexID != 0 {
		for _, ix := range b.Table.Indexes {
			if ix.Id == b.IndexID {
				add(indent+1, "Index Lookup: %s", ix.Name)
			}
		}
	} else {
		add(indent+1, "Sequential Scan")
	}
	if b.Filter != nil {
		add(indent+1, "Filter: pushed down to datanodes")
	}
	return nil
}

func (x *explainer) selectBlock(sel *planner.Select, indent int) error {
	add := x.add
	if sel.HasAgg {
		where := "on coordinator"
		if sel.PushAgg {
			where = "partial on datanodes, final on coordinator"
		}
		add(indent, "Aggregate %s (%d group keys, %d aggregates)", where, len(sel.GroupBy), len(sel.Aggs))
	}
	if len(sel.Sort) > 0 {
		add(indent, "Sort on coordinator (%d keys)", len(sel.Sort))
	}
	if sel.Distinct {
		add(indent, "Distinct on coordinator")
	}
	if sel.Limit != nil {
		add(indent, "Limit (pushed to datanodes: %v)", sel.PushLimit || len(sel.DNOrderBy) > 0)
	}
	if sel.Lock != nil {
		add(indent, "%s", lockRowsLine(sel.Lock))
	}
	var err error
	switch {
	case sel.From != nil:
		err = x.rel(sel.From, indent)
	case sel.Access.Table != nil:
		err = x.access(sel.Access, indent, false, "Data Node Scan")
	default:
		add(indent, "-> Result (no table)")
	}
	if err != nil {
		return err
	}
	for i, sp := range sel.Subqueries {
		how := "once"
		if sp.Correlated {
			how = "per row"
		}
		add(indent, "SubPlan %d (runs %s)", i+1, how)
		if err := x.selectBlock(sp.Query, indent+1); err != nil {
			return err
		}
	}
	return nil
}

func (x *explainer) rel(r planner.Rel, indent int) error {
	add := x.add
	switch r := r.(type) {
	case *planner.ScanRel:
		return x.access(r.Access, indent, false, "Data Node Scan")
	case *planner.FilterRel:
		add(indent, "-> Filter on coordinator")
		return x.rel(r.Input, indent+1)
	case *planner.ProjectRel:
		return x.rel(r.Input, indent)
	case *planner.JoinRel:
		algo := "Hash Join"
		if len(r.LeftKeys) == 0 {
			algo = "Nested Loop"
		}
		add(indent, "-> %s (%s) on coordinator, %d hash keys", algo, r.Kind, len(r.LeftKeys))
		if err := x.rel(r.Left, indent+1); err != nil {
			return err
		}
		return x.rel(r.Right, indent+1)
	case *planner.QueryRel:
		add(indent, "-> Subquery")
		return x.selectBlock(r.Query, indent+1)
	case *planner.ValuesRel:
		add(indent, "-> Values (%d rows)", len(r.Rows))
	case *planner.SetOpRel:
		op := strings.ToUpper(r.Op)
		if r.All {
			op += " ALL"
		}
		add(indent, "-> %s on coordinator", op)
		if err := x.selectBlock(r.Left, indent+1); err != nil {
			return err
		}
		return x.selectBlock(r.Right, indent+1)
	case *planner.CTERel:
		add(indent, "-> CTE Scan on %s", r.CTE.Name)
		if x.ctes == nil {
			x.ctes = map[*planner.CTE]bool{}
		}
		if !x.ctes[r.CTE] {
			x.ctes[r.CTE] = true
			if err := x.selectBlock(r.CTE.Query, indent+1); err != nil {
				return err
			}
			if r.CTE.Step != nil {
				add(indent+1, "Recursive term")
				return x.selectBlock(r.CTE.Step, indent+2)
			}
		}
	case *planner.WorkTableRel:
		add(indent, "-> WorkTable Scan on %s", r.CTE.Name)
	}
	return nil
}
