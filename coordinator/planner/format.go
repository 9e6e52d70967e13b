package planner

import (
	"fmt"
	"strings"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Format prints a planned query block as an indented tree of its logical
// operators, columns by name (table.column), for tests and debugging:
//
//	select: l_orderkey, sum(l_extendedprice)
//	group by: l_orderkey
//	from:
//	  join inner keys (orders.o_orderkey = lineitem.l_orderkey)
//	    scan orders filter (orders.o_orderdate < 1995-03-15)
//	    scan lineitem
func Format(s *Select) string {
	var b strings.Builder
	formatSelect(&b, s, 0)
	return b.String()
}

type formatter struct {
	b     *strings.Builder
	depth int
}

func (f formatter) line(format string, args ...any) {
	f.b.WriteString(strings.Repeat("  ", f.depth))
	fmt.Fprintf(f.b, format, args...)
	f.b.WriteByte('\n')
}

func formatSelect(b *strings.Builder, s *Select, depth int) {
	f := formatter{b, depth}
	var in []string // the FROM row's names
	switch {
	case s.From != nil:
		in = relNames(s.From)
	case s.Access.Table != nil:
		in = accessNames(s)
	}
	out := in
	if s.HasAgg {
		group := in
		out = nil
		for _, g := range s.GroupBy {
			out = append(out, fmtExpr(g, group))
		}
		for _, a := range s.Aggs {
			out = append(out, fmtAgg(a, group))
		}
	}
	var cols []string
	for i, o := range s.Output {
		c := fmtExpr(o, out)
		if i >= s.Visible {
			c += " (hidden)"
		}
		cols = append(cols, c)
	}
	sel := "select"
	if s.Distinct {
		sel = "select distinct"
	}
	f.line("%s: %s", sel, strings.Join(cols, ", "))
	if s.HasAgg {
		var gs []string
		for _, g := range out[:len(s.GroupBy)] {
			gs = append(gs, g)
		}
		if len(gs) > 0 {
			f.line("group by: %s", strings.Join(gs, ", "))
		} else {
			f.line("aggregate")
		}
	}
	if s.Having != nil {
		f.line("having: %s", fmtExpr(s.Having, out))
	}
	if len(s.Sort) > 0 {
		var ks []string
		for _, k := range s.Sort {
			d := ""
			if k.Desc {
				d = " desc"
			}
			ks = append(ks, cols[k.Col]+d)
		}
		f.line("order by: %s", strings.Join(ks, ", "))
	}
	if s.Limit != nil {
		f.line("limit: %s", fmtExpr(s.Limit, nil))
	}
	if s.Offset != nil {
		f.line("offset: %s", fmtExpr(s.Offset, nil))
	}
	switch {
	case s.From != nil:
		f.line("from:")
		formatRel(formatter{b, depth + 1}, s.From)
	case s.Access.Table != nil:
		f.line("from:")
		formatter{b, depth + 1}.line("%s", fmtAccess(s.Access))
	}
	for i, sp := range s.Subqueries {
		kind := "uncorrelated"
		if sp.Correlated {
			kind = "correlated"
		}
		f.line("subquery $%d (%s):", i, kind)
		formatSelect(b, sp.Query, depth+1)
	}
}

func fmtAgg(a AggSpec, names []string) string {
	arg := "*"
	if a.Arg != nil {
		arg = fmtExpr(a.Arg, names)
	}
	if a.Distinct {
		arg = "distinct " + arg
	}
	return a.Func + "(" + arg + ")"
}

func tableNames(t *meridianpb.TableDesc) []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = t.Name + "." + c.Name
	}
	return out
}

// accessNames are a single-table block's FROM row names: its scan
// columns when the block's expressions were narrowed to them.
func accessNames(s *Select) []string {
	all := tableNames(s.Access.Table)
	if s.ScanCols == nil {
		return all
	}
	out := make([]string, len(s.ScanCols))
	for i, c := range s.ScanCols {
		out[i] = all[c]
	}
	return out
}

func fmtAccess(a Access) string {
	t := a.Table
	names := tableNames(t)
	s := "scan " + t.Name
	if a.Filter != nil {
		s += " filter (" + fmtExpr(a.Filter, names) + ")"
	}
	if a.IndexID != 0 {
		var vs []string
		for _, v := range a.IndexEq {
			vs = append(vs, fmtExpr(v, nil))
		}
		s += fmt.Sprintf(" index %s = (%s)", IndexOf(t, a.IndexID).Name, strings.Join(vs, ", "))
	}
	if a.Route.DistValues != nil {
		var cs []string
		for i, vals := range a.Route.DistValues {
			var vs []string
			for _, v := range vals {
				vs = append(vs, fmtExpr(v, nil))
			}
			cs = append(cs, fmt.Sprintf("%s in (%s)", t.Columns[t.DistColumns[i]].Name, strings.Join(vs, ", ")))
		}
		s += " route " + strings.Join(cs, " and ")
	}
	return s
}

// relNames names the columns of a Rel's rows.
func relNames(r Rel) []string {
	switch r := r.(type) {
	case *ScanRel:
		if r.RowKey {
			return append(tableNames(r.Access.Table), r.Access.Table.Name+".rowkey")
		}
		return tableNames(r.Access.Table)
	case *FilterRel:
		return relNames(r.Input)
	case *ProjectRel:
		in := relNames(r.Input)
		out := make([]string, len(r.Exprs))
		for i, e := range r.Exprs {
			out[i] = fmtExpr(e, in)
		}
		return out
	case *JoinRel:
		l := relNames(r.Left)
		if r.Kind == JoinSemi || r.Kind == JoinAnti {
			return l
		}
		return append(append([]string(nil), l...), relNames(r.Right)...)
	case *QueryRel:
		return queryNames(r.Query)
	case *CTERel:
		return numbered(r.CTE.Name, r.CTE.Cols)
	case *WorkTableRel:
		return numbered(r.CTE.Name, r.CTE.Cols)
	}
	return numbered("col", r.Width())
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.#%d", prefix, i+1)
	}
	return out
}

// queryNames names a derived table's visible columns by what they are.
func queryNames(s *Select) []string {
	var b strings.Builder
	formatSelect(&b, s, 0)
	first := strings.TrimPrefix(strings.SplitN(b.String(), "\n", 2)[0], "select distinct: ")
	first = strings.TrimPrefix(first, "select: ")
	names := splitTop(first)
	if len(names) > s.Visible {
		names = names[:s.Visible]
	}
	for len(names) < s.Visible {
		names = append(names, fmt.Sprintf("q.#%d", len(names)+1))
	}
	return names
}

// splitTop splits a comma-separated list outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func formatRel(f formatter, r Rel) {
	switch r := r.(type) {
	case *ScanRel:
		f.line("%s", fmtAccess(r.Access))
	case *FilterRel:
		f.line("filter %s", fmtExpr(r.Cond, relNames(r.Input)))
		formatRel(formatter{f.b, f.depth + 1}, r.Input)
	case *ProjectRel:
		f.line("project %s", strings.Join(relNames(r), ", "))
		formatRel(formatter{f.b, f.depth + 1}, r.Input)
	case *JoinRel:
		ln, rn := relNames(r.Left), relNames(r.Right)
		s := "join " + strings.ToLower(r.Kind.String())
		if len(r.LeftKeys) > 0 {
			var ks []string
			for i := range r.LeftKeys {
				ks = append(ks, fmtExpr(r.LeftKeys[i], ln)+" = "+fmtExpr(r.RightKeys[i], rn))
			}
			s += " keys (" + strings.Join(ks, ", ") + ")"
		}
		if r.Cond != nil {
			s += " cond (" + fmtExpr(r.Cond, append(append([]string(nil), ln...), rn...)) + ")"
		}
		f.line("%s", s)
		formatRel(formatter{f.b, f.depth + 1}, r.Left)
		formatRel(formatter{f.b, f.depth + 1}, r.Right)
	case *QueryRel:
		f.line("derived table:")
		formatSelect(f.b, r.Query, f.depth+1)
	case *ValuesRel:
		f.line("values (%d rows)", len(r.Rows))
	case *SeriesRel:
		f.line("generate_series(%s, %s, %s)", fmtExpr(r.Start, nil), fmtExpr(r.Stop, nil), fmtExpr(r.Step, nil))
	case *SetOpRel:
		all := ""
		if r.All {
			all = " all"
		}
		f.line("%s%s:", r.Op, all)
		formatSelect(f.b, r.Left, f.depth+1)
		formatSelect(f.b, r.Right, f.depth+1)
	case *CTERel:
		f.line("cte %s", r.CTE.Name)
	case *WorkTableRel:
		f.line("worktable %s", r.CTE.Name)
	default:
		f.line("%T", r)
	}
}

var infix = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true, "+": true, "-": true,
	"*": true, "/": true, "%": true, "||": true, "^": true, "like": true, "not like": true, "ilike": true, "not ilike": true}

// fmtExpr prints an expression; names are its row's column names.
func fmtExpr(e *Expr, names []string) string {
	if e == nil {
		return "<nil>"
	}
	args := func(sep string, es []*Expr) string {
		var out []string
		for _, a := range es {
			out = append(out, fmtExpr(a, names))
		}
		return strings.Join(out, sep)
	}
	switch e.Kind {
	case kConst:
		if e.IsNull {
			return "NULL"
		}
		d, err := expr.ConstValue(e)
		if err != nil {
			return "<bad const>"
		}
		s := types.FormatText(typeOf(e), d)
		if types.IsString(e.TypeOid) || e.TypeOid == types.Unknown {
			return "'" + s + "'"
		}
		return s
	case kColumn:
		if int(e.Index) >= 0 && int(e.Index) < len(names) {
			return names[e.Index]
		}
		return fmt.Sprintf("#%d", e.Index)
	case kParam:
		return fmt.Sprintf("$%d", e.Index)
	case kOuter:
		return fmt.Sprintf("outer%d.#%d", e.LevelsUp, e.Index)
	case kFunc:
		if infix[e.Name] && len(e.Args) == 2 {
			return fmtExpr(e.Args[0], names) + " " + e.Name + " " + fmtExpr(e.Args[1], names)
		}
		return e.Name + "(" + args(", ", e.Args) + ")"
	case kAnd:
		return "(" + args(" AND ", e.Args) + ")"
	case kOr:
		return "(" + args(" OR ", e.Args) + ")"
	case kNot:
		return "NOT " + fmtExpr(e.Args[0], names)
	case kIsNul:
		return fmtExpr(e.Args[0], names) + " IS NULL"
	case meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		return fmtExpr(e.Args[0], names) + " IS NOT NULL"
	case kCast:
		return fmtExpr(e.Args[0], names) + "::" + typeOf(e).String()
	case kIn:
		return fmtExpr(e.Args[0], names) + " IN (" + args(", ", e.Args[1:]) + ")"
	case kCase:
		var b strings.Builder
		b.WriteString("CASE")
		for i := 0; i+1 < len(e.Args); i += 2 {
			fmt.Fprintf(&b, " WHEN %s THEN %s", fmtExpr(e.Args[i], names), fmtExpr(e.Args[i+1], names))
		}
		fmt.Fprintf(&b, " ELSE %s END", fmtExpr(e.Args[len(e.Args)-1], names))
		return b.String()
	case kCoal:
		return "COALESCE(" + args(", ", e.Args) + ")"
	case meridianpb.ExprKind_EXPR_NULLIF:
		return "NULLIF(" + args(", ", e.Args) + ")"
	case kSubq:
		switch e.Name {
		case "any", "all":
			n := len(e.Args) - 1
			return fmt.Sprintf("(%s) %s $%d", args(", ", e.Args[:n]), e.Name, e.Index)
		case "exists":
			return fmt.Sprintf("exists $%d", e.Index)
		}
		return fmt.Sprintf("$%d", e.Index)
	}
	return e.Kind.String()
}
