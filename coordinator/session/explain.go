package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/optimizer"
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
		return append([]*meridianpb.TableDesc{p.Update.Access.Table}, sourceTables(p.Update.Source)...)
	case p.Delete != nil:
		return append([]*meridianpb.TableDesc{p.Delete.Access.Table}, sourceTables(p.Delete.Source)...)
	}
	return nil
}

func sourceTables(src *planner.RowSource) []*meridianpb.TableDesc {
	if src == nil {
		return nil
	}
	return src.Query.Tables()
}

// runExplain shows the distributed plan: which datanodes the statement
// reaches (after binding its constants), how it reads them, and what the
// coordinator does on top.
func (s *Session) runExplain(ctx context.Context, ex *pg_query.ExplainStmt, paramOIDs []uint32, params []types.Datum) (rowIter, string, error) {
	analyze, costs := false, true
	for _, o := range ex.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		on := true
		if d.Arg != nil {
			switch v := strings.ToLower(defString(d.Arg)); v {
			case "false", "off", "0":
				on = false
			}
		}
		switch d.Defname {
		case "analyze":
			analyze = on
		case "costs":
			costs = on
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
	if st.plan.Select != nil {
		lines, err := s.explainQuery(ctx, st.plan.Select, env, analyze, costs)
		if err != nil {
			return nil, "", err
		}
		return textRows(lines), "EXPLAIN", nil
	}
	if analyze {
		return nil, "", unsupportedAnalyze()
	}
	var lines []string
	add := func(indent int, f string, args ...any) {
		lines = append(lines, strings.Repeat("  ", indent)+fmt.Sprintf(f, args...))
	}
	p := st.plan
	ex2 := &explainer{s: s, env: env, add: add}
	switch {
	case p.Insert != nil:
		add(0, "Insert on %s.%s (%d rows routed by distribution key)", p.Insert.Table.Schema, p.Insert.Table.Name, len(p.Insert.Rows))
	case p.Update != nil && p.Update.Source != nil:
		if lines, err = s.explainFromQuery(ctx, "Update", p.Update.Access, p.Update.Source, env, costs); err != nil {
			return nil, "", err
		}
	case p.Delete != nil && p.Delete.Source != nil:
		if lines, err = s.explainFromQuery(ctx, "Delete", p.Delete.Access, p.Delete.Source, env, costs); err != nil {
			return nil, "", err
		}
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
	return textRows(lines), "EXPLAIN", nil
}

// explainFromQuery shows an UPDATE or DELETE planned as a query: how the
// datanodes change the rows, then the query that finds them.
func (s *Session) explainFromQuery(ctx context.Context, verb string, a planner.Access, src *planner.RowSource, env *planner.BindEnv, costs bool) ([]string, error) {
	by := "by row key"
	if src.ByImage {
		by = "by value (replicated table)"
	}
	lines := []string{fmt.Sprintf("%s on %s.%s %s", verb, a.Table.Schema, a.Table.Name, by)}
	if a.Filter != nil {
		lines = append(lines, "  Recheck: "+optimizer.FormatExpr(a.Filter, src.Names))
	}
	q, err := s.explainQuery(ctx, src.Query, env, false, costs)
	if err != nil {
		return nil, err
	}
	for _, l := range q {
		lines = append(lines, "  "+l)
	}
	return lines, nil
}

func textRows(lines []string) rowIter {
	rows := make([][]types.Datum, len(lines))
	for i, l := range lines {
		rows[i] = []types.Datum{l}
	}
	return &sliceIter{rows: rows}
}

func defString(n *pg_query.Node) string {
	switch {
	case n.GetString_() != nil:
		return n.GetString_().Sval
	case n.GetBoolean() != nil:
		if n.GetBoolean().Boolval {
			return "true"
		}
		return "false"
	case n.GetInteger() != nil:
		return fmt.Sprint(n.GetInteger().Ival)
	}
	return ""
}

// explainQuery shows a query's distributed plan; with analyze it runs the
// query first and adds each operator's actual rows and time per datanode.
func (s *Session) explainQuery(ctx context.Context, sel *planner.Select, env *planner.BindEnv, analyze, costs bool) ([]string, error) {
	if sel.Lock != nil {
		if analyze {
			return nil, unsupportedAnalyze()
		}
		lines := []string{lockRowsLine(sel.Lock)}
		b, _, err := planner.BindAccess(sel.Access, env)
		if err != nil {
			return nil, err
		}
		targets, err := route(s.e.routes.Current(), &b, false, s.pick+1)
		if err != nil {
			return nil, err
		}
		for _, t := range targets {
			lines = append(lines, fmt.Sprintf("  -> Scan and lock %s on dn group %d", sel.Access.Table.Name, t.group))
		}
		return lines, nil
	}
	p, err := s.queryPlan(sel)
	if err != nil {
		return nil, err
	}
	if !analyze {
		benv := *env
		benv.Inline = func(e *planner.Expr) (*planner.Expr, error) { return e, nil }
		plan, err := p.Instantiate(&optimizer.Binding{Env: &benv, Pick: s.pick + 1, ExplainOnly: true}, s.e.routes.Current())
		if err != nil {
			return nil, err
		}
		return optimizer.Explain(plan, optimizer.ExplainOptions{Costs: costs}), nil
	}
	q := &queryRun{s: s, p: p, env: env, collect: true}
	start := time.Now()
	if err := q.start(ctx); err != nil {
		return nil, err
	}
	rows := 0
	for {
		r, err := q.iter.next(ctx)
		if err != nil {
			if q.run != nil {
				q.run.Close()
			}
			return nil, err
		}
		if r == nil {
			break
		}
		rows++
	}
	stats := map[int32]map[uint32]*meridianpb.OperatorStats{}
	for id, st := range q.cnStats {
		stats[id] = map[uint32]*meridianpb.OperatorStats{0: {NodeId: id, Rows: st.Rows, Nanos: st.Nanos, SpilledBytes: st.SpilledBytes, PeakMemory: st.PeakMemory, Vectorized: st.Vectorized}}
	}
	if q.run != nil {
		dn, err := q.run.Wait()
		q.run.Close()
		if err != nil {
			return nil, err
		}
		for _, st := range dn {
			if stats[st.NodeId] == nil {
				stats[st.NodeId] = map[uint32]*meridianpb.OperatorStats{}
			}
			stats[st.NodeId][st.Group] = st
		}
	}
	lines := optimizer.Explain(q.plan, optimizer.ExplainOptions{Costs: costs, Stats: stats})
	lines = append(lines, fmt.Sprintf("Execution Time: %.3f ms (%d rows)", float64(time.Since(start).Microseconds())/1000, rows))
	return lines, nil
}

// explainer renders a plan as EXPLAIN lines.
type explainer struct {
	s   *Session
	env *planner.BindEnv
	add func(indent int, f string, args ...any)
}

func (x *explainer) access(a planner.Access, indent int, write bool, verb string) error {
	add := x.add
	add(indent, "-> %s on %s.%s", verb, a.Table.Schema, a.Table.Name)
	b, _, err := planner.BindAccess(a, x.env)
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
