package optimizer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// ExplainOptions selects what Explain shows.
type ExplainOptions struct {
	// Costs shows estimated rows and cost.
	Costs bool
	// Stats, when set, holds EXPLAIN ANALYZE's per-operator statistics
	// (by node id, then datanode group; group 0 is the coordinator).
	Stats map[int32]map[uint32]*meridianpb.OperatorStats
}

// Explain renders a placed plan, one fragment after the other: its
// datanodes, its output stream, then its operator tree.
func Explain(p *meridianpb.Plan, opt ExplainOptions) []string {
	var lines []string
	for _, f := range p.Fragments {
		head := fmt.Sprintf("Fragment %d", f.Id)
		if len(f.Groups) == 0 {
			head += " [coordinator]"
		} else {
			gs := make([]string, len(f.Groups))
			for i, g := range f.Groups {
				gs[i] = strconv.Itoa(int(g))
			}
			head += " [datanodes " + strings.Join(gs, ",") + "]"
		}
		if o := f.Output; o != nil {
			head += " -> " + streamName(o, f.Root)
		}
		lines = append(lines, head)
		explainNode(f.Root, 1, opt, &lines)
	}
	return lines
}

func streamName(o *meridianpb.Stream, root *meridianpb.PlanNode) string {
	switch o.Kind {
	case meridianpb.StreamKind_STREAM_REDISTRIBUTE:
		cols := make([]string, len(o.HashColumns))
		for i, c := range o.HashColumns {
			cols[i] = colName(int(c), root.Names)
		}
		return fmt.Sprintf("Stream REDISTRIBUTE(%s) to fragment %d", strings.Join(cols, ", "), o.Target)
	case meridianpb.StreamKind_STREAM_BROADCAST:
		return fmt.Sprintf("Stream BROADCAST to fragment %d", o.Target)
	}
	return fmt.Sprintf("Stream GATHER to fragment %d", o.Target)
}

func colName(c int, names []string) string {
	if c >= 0 && c < len(names) && names[c] != "" {
		return names[c]
	}
	return "$" + strconv.Itoa(c+1)
}

func explainNode(n *meridianpb.PlanNode, depth int, opt ExplainOptions, lines *[]string) {
	ind := strings.Repeat("  ", depth)
	var in []string // the input row's column names
	if n.GetRecv() != nil {
		in = n.Names // merge keys are over the received rows
	} else if len(n.Inputs) == 1 {
		in = n.Inputs[0].Names
	} else if len(n.Inputs) == 2 {
		in = append(append([]string(nil), n.Inputs[0].Names...), n.Inputs[1].Names...)
	}
	f := func(e *Expr) string { return FormatExpr(e, in) }
	title, details := describe(n, f)
	if opt.Costs {
		title += fmt.Sprintf("  (rows=%.0f cost=%.2f)", n.EstRows, n.EstCost)
	}
	if opt.Stats != nil {
		title += analyzed(opt.Stats[n.Id])
	}
	*lines = append(*lines, ind+"-> "+title)
	for _, d := range details {
		*lines = append(*lines, ind+"     "+d)
	}
	for _, c := range n.Inputs {
		explainNode(c, depth+1, opt, lines)
	}
}

// analyzed formats one operator's actual figures: rows and time summed
// over its instances, and per datanode.
func analyzed(per map[uint32]*meridianpb.OperatorStats) string {
	if len(per) == 0 {
		return "  (never executed)"
	}
	var rows, nanos, sent, spilled, peak int64
	vectorized := false
	groups := make([]uint32, 0, len(per))
	for g, s := range per {
		vectorized = vectorized || s.Vectorized
		rows += s.Rows
		nanos = max(nanos, s.Nanos)
		sent += s.BytesSent
		spilled += s.SpilledBytes
		peak = max(peak, s.PeakMemory)
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	out := fmt.Sprintf("  (actual rows=%d time=%s", rows, fmtDur(nanos))
	if sent > 0 {
		out += fmt.Sprintf(" sent=%s", fmtBytes(sent))
	}
	if spilled > 0 {
		out += fmt.Sprintf(" spilled=%s", fmtBytes(spilled))
	}
	if peak > 0 {
		out += fmt.Sprintf(" memory=%s", fmtBytes(peak))
	}
	if vectorized {
		out += " vectorized"
	}
	out += ")"
	if len(groups) > 1 || (len(groups) == 1 && groups[0] != 0) {
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = fmt.Sprintf("dn%d: %d rows %s", g, per[g].Rows, fmtDur(per[g].Nanos))
		}
		out += " [" + strings.Join(parts, ", ") + "]"
	}
	return out
}

func fmtDur(ns int64) string {
	return fmt.Sprintf("%.3fms", float64(ns)/float64(time.Millisecond))
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

var joinNames = map[meridianpb.JoinType]string{
	meridianpb.JoinType_JOIN_INNER: "Inner", meridianpb.JoinType_JOIN_LEFT: "Left", meridianpb.JoinType_JOIN_RIGHT: "Right",
	meridianpb.JoinType_JOIN_FULL: "Full", meridianpb.JoinType_JOIN_SEMI: "Semi", meridianpb.JoinType_JOIN_ANTI: "Anti",
}

func describe(n *meridianpb.PlanNode, f func(*Expr) string) (string, []string) {
	var d []string
	list := func(es []*Expr) string {
		s := make([]string, len(es))
		for i, e := range es {
			s[i] = f(e)
		}
		return strings.Join(s, ", ")
	}
	keys := func(ks []*meridianpb.SortKey) string {
		s := make([]string, len(ks))
		for i, k := range ks {
			s[i] = f(k.Expr)
			if k.Desc {
				s[i] += " DESC"
			}
			if k.NullsFirst != k.Desc {
				if k.NullsFirst {
					s[i] += " NULLS FIRST"
				} else {
					s[i] += " NULLS LAST"
				}
			}
		}
		return strings.Join(s, ", ")
	}
	switch op := n.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		s := op.Scan
		title := "Seq Scan on " + s.Table.Name
		if s.IndexId != 0 {
			name := fmt.Sprint(s.IndexId)
			for _, ix := range s.Table.Indexes {
				if ix.Id == s.IndexId {
					name = ix.Name
				}
			}
			title = "Index Scan using " + name + " on " + s.Table.Name
			tn := tableNames(s.Table)
			ix := indexOf(s.Table, s.IndexId)
			var conds []string
			for i, v := range s.IndexEq {
				if ix != nil && i < len(ix.Columns) {
					conds = append(conds, tn[ix.Columns[i]]+" = "+FormatExpr(v, nil))
				}
			}
			d = append(d, "Index Cond: "+strings.Join(conds, " AND "))
			if codec.ClusterLookup(s.Table, ix, len(s.IndexEq)) != nil {
				d = append(d, "Rows: read under the key (the table is clustered by "+name+")")
			}
		}
		if s.Table.Dist == meridianpb.DistKind_DIST_REPLICATION {
			title += " (replicated)"
		}
		if s.Filter != nil {
			d = append(d, "Filter: "+FormatExpr(s.Filter, tableNames(s.Table)))
		}
		if len(s.Buckets) > 0 {
			d = append(d, fmt.Sprintf("Buckets: %d of %d (pruned)", len(s.Buckets), 16384))
		}
		if s.Limit > 0 {
			d = append(d, fmt.Sprintf("Limit: %d", s.Limit))
		}
		return title, d
	case *meridianpb.PlanNode_IndexJoin:
		j := op.IndexJoin
		tn := tableNames(j.Table)
		ixName, ix := fmt.Sprint(j.IndexId), indexOf(j.Table, j.IndexId)
		if ix != nil {
			ixName = ix.Name
		}
		var outer []string
		if len(n.Inputs) == 1 {
			outer = n.Inputs[0].Names
		}
		var conds []string
		for i, k := range j.LookupKeys {
			if ix != nil && i < len(ix.Columns) {
				conds = append(conds, j.Table.Name+"."+tn[ix.Columns[i]]+" = "+FormatExpr(k, outer))
			}
		}
		d = append(d, "Index Cond: "+strings.Join(conds, " AND "))
		if codec.ClusterLookup(j.Table, ix, len(j.LookupKeys)) != nil {
			d = append(d, "Rows: read under the key (the table is clustered by "+ixName+")")
		}
		if j.Filter != nil {
			d = append(d, "Filter: "+FormatExpr(j.Filter, tn))
		}
		if j.Residual != nil {
			names := append([]string(nil), outer...)
			for _, c := range j.Columns {
				if c == codec.RowKeyColumn {
					names = append(names, j.Table.Name+".rowkey")
					continue
				}
				names = append(names, j.Table.Name+"."+tn[c])
			}
			d = append(d, "Join Filter: "+FormatExpr(j.Residual, names))
		}
		return fmt.Sprintf("Index Nested Loop (%s) using %s on %s", joinNames[j.Type], ixName, j.Table.Name), d
	case *meridianpb.PlanNode_Filter:
		return "Filter", []string{"Cond: " + f(op.Filter.Cond)}
	case *meridianpb.PlanNode_Project:
		return "Project", []string{"Output: " + list(op.Project.Exprs)}
	case *meridianpb.PlanNode_Join:
		j := op.Join
		algo := "Hash Join"
		switch j.Algo {
		case meridianpb.JoinAlgo_JOIN_NESTED_LOOP:
			algo = "Nested Loop"
		case meridianpb.JoinAlgo_JOIN_MERGE:
			algo = "Merge Join"
		}
		title := fmt.Sprintf("%s (%s)", algo, joinNames[j.Type])
		if len(j.LeftKeys) > 0 {
			var conds []string
			for i := range j.LeftKeys {
				conds = append(conds, f(j.LeftKeys[i])+" = "+FormatExpr(j.RightKeys[i], n.Inputs[1].Names))
			}
			label := "Hash Cond: "
			if j.Algo == meridianpb.JoinAlgo_JOIN_MERGE {
				label = "Merge Cond: "
			}
			d = append(d, label+strings.Join(conds, " AND "))
		}
		if j.Residual != nil {
			d = append(d, "Join Filter: "+f(j.Residual))
		}
		if j.BuildLeft {
			d = append(d, "Hash Table: left input")
		}
		return title, d
	case *meridianpb.PlanNode_Agg:
		a := op.Agg
		title := map[meridianpb.AggPhase]string{meridianpb.AggPhase_AGG_FULL: "HashAggregate",
			meridianpb.AggPhase_AGG_PARTIAL: "Partial HashAggregate", meridianpb.AggPhase_AGG_FINAL: "Final HashAggregate"}[a.Phase]
		if a.Sorted {
			title = strings.Replace(title, "HashAggregate", "GroupAggregate", 1)
		}
		if len(a.GroupBy) > 0 {
			d = append(d, "Group Key: "+list(a.GroupBy))
		}
		if len(a.Sets) > 0 {
			d = append(d, fmt.Sprintf("Grouping Sets: %d", len(a.Sets)))
		}
		if a.Sorted && len(n.Inputs) == 1 && n.Inputs[0].GetScan() != nil {
			d = append(d, "Input: not sorted: each group's rows come together, the table being clustered by its primary key")
		}
		if len(a.Aggs) > 0 {
			var s []string
			for _, g := range a.Aggs {
				arg := "*"
				if g.Arg != nil {
					arg = f(g.Arg)
				} else if a.Phase == meridianpb.AggPhase_AGG_FINAL {
					arg = "partial"
				}
				if g.Distinct {
					arg = "DISTINCT " + arg
				}
				s = append(s, g.Func+"("+arg+")")
			}
			d = append(d, "Aggregates: "+strings.Join(s, ", "))
		}
		return title, d
	case *meridianpb.PlanNode_Sort:
		title := "Sort"
		if op.Sort.Limit != nil {
			title = "Top-N Sort"
			d = append(d, "Limit: "+FormatExpr(op.Sort.Limit, nil))
		}
		return title, append([]string{"Sort Key: " + keys(op.Sort.Keys)}, d...)
	case *meridianpb.PlanNode_Limit:
		if op.Limit.Limit != nil {
			d = append(d, "Count: "+FormatExpr(op.Limit.Limit, nil))
		}
		if op.Limit.Offset != nil {
			d = append(d, "Offset: "+FormatExpr(op.Limit.Offset, nil))
		}
		return "Limit", d
	case *meridianpb.PlanNode_Window:
		for _, w := range op.Window.Funcs {
			s := w.Func + "(" + list(w.Args) + ") OVER ("
			var parts []string
			if len(w.PartitionBy) > 0 {
				parts = append(parts, "PARTITION BY "+list(w.PartitionBy))
			}
			if len(w.OrderBy) > 0 {
				parts = append(parts, "ORDER BY "+keys(w.OrderBy))
			}
			d = append(d, s+strings.Join(parts, " ")+")")
		}
		if op.Window.InputGrouped {
			d = append(d, "Input: not sorted: each partition comes in the primary key's order ("+keys(op.Window.InputOrder)+"), the table being clustered by it")
		}
		return "WindowAgg", d
	case *meridianpb.PlanNode_SetOp:
		t := strings.ToUpper(op.SetOp.Op)
		if op.SetOp.All {
			t += " ALL"
		}
		return "HashSetOp " + t, nil
	case *meridianpb.PlanNode_Values:
		return fmt.Sprintf("Values (%d rows)", len(op.Values.Rows)), nil
	case *meridianpb.PlanNode_Series:
		return "Function Scan on generate_series", nil
	case *meridianpb.PlanNode_Recv:
		t := fmt.Sprintf("Receive from fragment %d", op.Recv.Fragment)
		if len(op.Recv.Merge) > 0 {
			t = fmt.Sprintf("Merge Receive from fragment %d", op.Recv.Fragment)
			d = append(d, "Merge Key: "+keys(op.Recv.Merge))
		}
		return t, d
	case *meridianpb.PlanNode_Append:
		return "Append", nil
	case *meridianpb.PlanNode_RowsRef:
		return "Scan of " + op.RowsRef.Label, nil
	}
	return fmt.Sprintf("%T", n.Op), nil
}

func tableNames(t *meridianpb.TableDesc) []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

func indexOf(t *meridianpb.TableDesc, id uint32) *meridianpb.IndexDesc {
	for _, ix := range t.Indexes {
		if ix.Id == id {
			return ix
		}
	}
	return nil
}

var infix = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true, "+": true, "-": true,
	"*": true, "/": true, "%": true, "||": true, "like": true, "ilike": true, "not like": true, "not ilike": true, "^": true}

// FormatExpr renders an expression in SQL-like text; names are the input
// row's column names.
func FormatExpr(e *Expr, names []string) string {
	if e == nil {
		return ""
	}
	sub := func(a *Expr) string {
		s := FormatExpr(a, names)
		if a.Kind == kFunc && infix[a.Name] || a.Kind == kAnd || a.Kind == meridianpb.ExprKind_EXPR_OR {
			return "(" + s + ")"
		}
		return s
	}
	args := func(es []*Expr) []string {
		out := make([]string, len(es))
		for i, a := range es {
			out[i] = FormatExpr(a, names)
		}
		return out
	}
	switch e.Kind {
	case kColumn:
		return colName(int(e.Index), names)
	case kConst:
		if e.IsNull {
			return "NULL"
		}
		v, err := expr.ConstValue(e)
		if err != nil {
			return "?"
		}
		s := types.FormatText(types.Type{OID: e.TypeOid, Typmod: e.Typmod}, v)
		switch {
		case types.IsString(e.TypeOid) || e.TypeOid == types.Date || e.TypeOid == types.Timestamp ||
			e.TypeOid == types.TimestampTZ || e.TypeOid == types.Interval || e.TypeOid == types.Bytea:
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
		return s
	case meridianpb.ExprKind_EXPR_PARAM:
		return "$" + strconv.Itoa(int(e.Index))
	case meridianpb.ExprKind_EXPR_OUTER:
		return fmt.Sprintf("outer%d.$%d", e.LevelsUp, e.Index+1)
	case kAnd, meridianpb.ExprKind_EXPR_OR:
		op := " AND "
		if e.Kind == meridianpb.ExprKind_EXPR_OR {
			op = " OR "
		}
		parts := make([]string, len(e.Args))
		for i, a := range e.Args {
			parts[i] = sub(a)
		}
		return strings.Join(parts, op)
	case meridianpb.ExprKind_EXPR_NOT:
		return "NOT " + sub(e.Args[0])
	case meridianpb.ExprKind_EXPR_IS_NULL:
		return sub(e.Args[0]) + " IS NULL"
	case meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		return sub(e.Args[0]) + " IS NOT NULL"
	case kCast:
		return sub(e.Args[0]) + "::" + types.Type{OID: e.TypeOid, Typmod: e.Typmod}.String()
	case meridianpb.ExprKind_EXPR_CASE:
		var b strings.Builder
		b.WriteString("CASE")
		a := args(e.Args)
		for i := 0; i+1 < len(a); i += 2 {
			b.WriteString(" WHEN " + a[i] + " THEN " + a[i+1])
		}
		if len(a)%2 == 1 {
			b.WriteString(" ELSE " + a[len(a)-1])
		}
		b.WriteString(" END")
		return b.String()
	case meridianpb.ExprKind_EXPR_COALESCE:
		return "COALESCE(" + strings.Join(args(e.Args), ", ") + ")"
	case meridianpb.ExprKind_EXPR_NULLIF:
		return "NULLIF(" + strings.Join(args(e.Args), ", ") + ")"
	case kIn:
		return sub(e.Args[0]) + " IN (" + strings.Join(args(e.Args[1:]), ", ") + ")"
	case kSubq:
		return fmt.Sprintf("(SubPlan %d)", e.Index+1)
	case kFunc:
		if infix[e.Name] && len(e.Args) == 2 {
			return sub(e.Args[0]) + " " + strings.ToUpper(e.Name) + " " + sub(e.Args[1])
		}
		if (e.Name == "-" || e.Name == "+") && len(e.Args) == 1 {
			return e.Name + sub(e.Args[0])
		}
		return e.Name + "(" + strings.Join(args(e.Args), ", ") + ")"
	}
	return "?"
}
