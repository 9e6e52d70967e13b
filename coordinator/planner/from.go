package planner

import (
	"strings"

	"github.com/cockroachdb/apd/v3"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// query is the state of one query block while it is planned.
type query struct {
	p    *Planner
	subs []*SubPlan
	ctes *cteEnv
	// Window functions: those called, the WINDOW clause's definitions,
	// and whether the expression being analyzed may call them.
	windows        []*WindowFunc
	windowDefs     map[string]*pg_query.WindowDef
	windowsAllowed bool
	// seq says how sequence functions are evaluated here (sequence.go).
	seq seqMode
	// views counts the views being expanded around this block.
	views int
}

// cteEnv holds the WITH queries visible to a query block.
type cteEnv struct {
	byName map[string]*cteDef
	parent *cteEnv
}

type cteDef struct {
	cte  *CTE
	cols []colInfo
	// self: the reference is the recursive term's own (a WorkTableRel).
	self bool
}

func (e *cteEnv) find(name string) *cteDef {
	for ; e != nil; e = e.parent {
		if d, ok := e.byName[name]; ok {
			return d
		}
	}
	return nil
}

// fromItem is one element of a flattened FROM list; it produces the FROM
// row's columns [lo, hi).
type fromItem struct {
	rel    Rel
	lo, hi int
	types  []types.Type
}

// fromBuilder flattens a FROM clause: inner and cross joins become items
// joined by their conditions (so the join order is free); outer joins are
// items of their own, built from their sides.
type fromBuilder struct {
	in    *scope
	items []*fromItem
	conds []*Expr // inner joins' ON conditions, over the FROM row
}

func (b *fromBuilder) addItem(rel Rel, r *rangeEntry) {
	b.in.addEntry(r)
	it := &fromItem{rel: rel, lo: r.offset, hi: r.offset + len(r.cols)}
	for _, c := range r.cols {
		it.types = append(it.types, c.typ)
	}
	b.items = append(b.items, it)
}

func (b *fromBuilder) add(n *pg_query.Node) error {
	switch v := n.Node.(type) {
	case *pg_query.Node_RangeVar:
		return b.rangeVar(v.RangeVar)
	case *pg_query.Node_RangeSubselect:
		return b.subselect(v.RangeSubselect)
	case *pg_query.Node_JoinExpr:
		return b.join(v.JoinExpr)
	case *pg_query.Node_RangeFunction:
		return b.rangeFunction(v.RangeFunction)
	}
	return pgerr.Unsupported("FROM item " + nodeName(n))
}

func (b *fromBuilder) rangeVar(rv *pg_query.RangeVar) error {
	alias := ""
	var colAliases []*pg_query.Node
	if rv.Alias != nil {
		alias, colAliases = rv.Alias.Aliasname, rv.Alias.Colnames
	}
	off := b.in.width()
	if rv.Schemaname == "" {
		if d := b.in.q.ctes.find(rv.Relname); d != nil {
			r := &rangeEntry{name: rv.Relname, offset: off, cols: append([]colInfo(nil), d.cols...)}
			if alias != "" {
				r.name = alias
			}
			if err := renameCols(r, colAliases); err != nil {
				return err
			}
			var rel Rel = &CTERel{CTE: d.cte}
			if d.self {
				rel = &WorkTableRel{CTE: d.cte}
			} else {
				d.cte.Refs++
			}
			b.addItem(rel, r)
			return nil
		}
	}
	if vd, ok := b.in.q.p.resolveView(rv); ok {
		return b.view(vd, rv, alias, colAliases)
	}
	t, err := b.in.q.p.ResolveTable(rv)
	if err != nil {
		return err
	}
	r := tableEntry(t, alias, off)
	if err := renameCols(r, colAliases); err != nil {
		return err
	}
	b.addItem(&ScanRel{Access: Access{Table: t}}, r)
	return nil
}

// rangeFunction plans a function in FROM: generate_series(start, stop
// [, step]) is the one supported (a SeriesRel). As in PostgreSQL, the
// column is named by the function, or by the alias of a one-column
// function (FROM generate_series(1, 3) g), or by the alias's column list.
func (b *fromBuilder) rangeFunction(rf *pg_query.RangeFunction) error {
	switch {
	case rf.Lateral:
		return pgerr.Unsupported("LATERAL")
	case rf.Ordinality:
		return pgerr.Unsupported("WITH ORDINALITY")
	case rf.IsRowsfrom || len(rf.Functions) != 1:
		return pgerr.Unsupported("ROWS FROM")
	case len(rf.Coldeflist) > 0:
		return pgerr.Unsupported("column definition lists of functions in FROM")
	}
	items := rf.Functions[0].GetList().GetItems()
	if len(items) == 0 || items[0].GetFuncCall() == nil {
		return pgerr.Unsupported("this function in FROM")
	}
	if len(items) > 1 && items[1] != nil && len(items[1].GetList().GetItems()) > 0 {
		return pgerr.Unsupported("column definition lists of functions in FROM")
	}
	fc := items[0].GetFuncCall()
	name := funcName(fc)
	if name != "generate_series" {
		return pgerr.Unsupported("function " + name + " in FROM (only generate_series)")
	}
	if fc.AggStar || fc.AggDistinct || fc.FuncVariadic || fc.AggFilter != nil || len(fc.AggOrder) > 0 || fc.Over != nil {
		return pgerr.New(pgerr.WrongObjectType, "generate_series is not an aggregate or window function")
	}
	// The arguments see the enclosing queries, not the FROM list's other
	// items (no LATERAL).
	sc := &scope{params: b.in.params, outer: b.in.outer, q: &query{p: b.in.q.p, ctes: b.in.q.ctes, views: b.in.q.views}}
	args, err := sc.analyzeList(fc.Args)
	if err != nil {
		return err
	}
	if len(sc.q.subs) > 0 {
		return pgerr.Unsupported("subqueries in the arguments of a function in FROM")
	}
	if sc.correlated {
		return pgerr.Unsupported("outer references in the arguments of a function in FROM")
	}
	rel, err := seriesRel(sc, args)
	if err != nil {
		return err
	}
	r := &rangeEntry{name: name, offset: b.in.width(), cols: []colInfo{{name, types.T(rel.Type)}}}
	if rf.Alias != nil {
		r.name = rf.Alias.Aliasname
		r.cols[0].name = rf.Alias.Aliasname
		if err := renameCols(r, rf.Alias.Colnames); err != nil {
			return err
		}
	}
	b.addItem(rel, r)
	return nil
}

// seriesRel resolves generate_series's argument types as PostgreSQL does:
// timestamps (a date is taken as timestamptz) with an interval step; else
// numeric if an argument is; else bigint if one is; else integer.
func seriesRel(sc *scope, args []*Expr) (*SeriesRel, error) {
	noSuch := func() error {
		var names []string
		for _, a := range args {
			names = append(names, types.InfoOf(a.TypeOid).Name)
		}
		return pgerr.New(pgerr.UndefinedFunction, "function generate_series(%s) does not exist", strings.Join(names, ", ")).
			WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
	}
	if len(args) < 2 || len(args) > 3 {
		return nil, noSuch()
	}
	var t uint32
	for _, a := range args[:2] {
		switch o := a.TypeOid; {
		case o == types.Unknown:
		case o == types.TimestampTZ || o == types.Date:
			t = types.TimestampTZ
		case o == types.Timestamp:
			if t != types.TimestampTZ {
				t = types.Timestamp
			}
		default:
			var ok bool
			if t, ok = widenSeries(t, o); !ok {
				return nil, noSuch()
			}
		}
	}
	timestamps := t == types.Timestamp || t == types.TimestampTZ
	if len(args) == 3 {
		switch o := args[2].TypeOid; {
		case o == types.Unknown:
		case o == types.Interval:
			if t == 0 {
				t = types.TimestampTZ
			}
			timestamps = true
		case timestamps:
			return nil, noSuch()
		default:
			var ok bool
			if t, ok = widenSeries(t, o); !ok {
				return nil, noSuch()
			}
		}
	}
	if t == 0 {
		return nil, pgerr.New(pgerr.AmbiguousFunction, "function generate_series(unknown, unknown) is not unique").
			WithHint("Could not choose a best candidate function. You might need to add explicit type casts.")
	}
	if timestamps && (t != types.Timestamp && t != types.TimestampTZ || len(args) != 3) {
		return nil, noSuch()
	}
	rel := &SeriesRel{Type: t}
	var err error
	if rel.Start, err = sc.coerce(args[0], types.T(t), "generate_series start"); err != nil {
		return nil, err
	}
	if rel.Stop, err = sc.coerce(args[1], types.T(t), "generate_series stop"); err != nil {
		return nil, err
	}
	stepType := types.T(t)
	if timestamps {
		stepType = types.T(types.Interval)
	}
	if len(args) == 3 {
		if rel.Step, err = sc.coerce(args[2], stepType, "generate_series step"); err != nil {
			return nil, err
		}
	} else {
		one := types.Datum(int64(1))
		if t == types.Numeric {
			one = apd.New(1, 0)
		}
		rel.Step = expr.Const(stepType, one)
	}
	return rel, nil
}

// widenSeries is the numeric generate_series type of arguments so far of
// type t (0: none yet) and one of type o: integer, then bigint, then
// numeric; false when o is not one of them (or t is a timestamp).
func widenSeries(t, o uint32) (uint32, bool) {
	// By rank: 0 none, 1 integer, 2 bigint, 3 numeric.
	rank := func(x uint32) int {
		switch x {
		case 0:
			return 0
		case types.Int2, types.Int4:
			return 1
		case types.Int8:
			return 2
		case types.Numeric:
			return 3
		}
		return -1
	}
	rt, ro := rank(t), rank(o)
	if rt < 0 || ro < 0 {
		return t, false
	}
	if ro <= rt {
		return t, true
	}
	return [...]uint32{0, types.Int4, types.Int8, types.Numeric}[ro], true
}

func renameCols(r *rangeEntry, names []*pg_query.Node) error {
	if len(names) > len(r.cols) {
		return pgerr.New(pgerr.InvalidColumnReference, "table %q has %d columns available but %d columns specified", r.name, len(r.cols), len(names))
	}
	for i, n := range names {
		r.cols[i].name = n.GetString_().GetSval()
	}
	return nil
}

func (b *fromBuilder) subselect(rs *pg_query.RangeSubselect) error {
	if rs.Lateral {
		return pgerr.Unsupported("LATERAL")
	}
	if rs.Alias == nil {
		return pgerr.New(pgerr.SyntaxError, "subquery in FROM must have an alias").
			WithHint("For example, FROM (SELECT ...) [AS] foo.")
	}
	sel := rs.Subquery.GetSelectStmt()
	if sel == nil {
		return pgerr.Unsupported("this subquery in FROM")
	}
	// A derived table sees the enclosing queries, not its siblings.
	sub, cols, _, err := b.in.q.p.planQuery(sel, qctx{ps: b.in.params, outer: b.in.outer, ctes: b.in.q.ctes, views: b.in.q.views})
	if err != nil {
		return err
	}
	r := &rangeEntry{name: rs.Alias.Aliasname, offset: b.in.width()}
	for _, c := range cols {
		r.cols = append(r.cols, colInfo{c.Name, types.Type{OID: c.TypeOID, Typmod: c.TypeModifier}})
	}
	if err := renameCols(r, rs.Alias.Colnames); err != nil {
		return err
	}
	b.addItem(&QueryRel{Query: sub}, r)
	return nil
}

func (b *fromBuilder) join(j *pg_query.JoinExpr) error {
	if j.Alias != nil || j.JoinUsingAlias != nil {
		return pgerr.Unsupported("aliases of JOIN expressions")
	}
	kind := map[pg_query.JoinType]JoinKind{pg_query.JoinType_JOIN_INNER: JoinInner, pg_query.JoinType_JOIN_LEFT: JoinLeft,
		pg_query.JoinType_JOIN_RIGHT: JoinRight, pg_query.JoinType_JOIN_FULL: JoinFull}
	k, ok := kind[j.Jointype]
	if !ok {
		return pgerr.Unsupported("join type " + j.Jointype.String())
	}
	in := b.in
	e0, s0 := len(in.entries), len(in.star)
	var left, right *fromBuilder
	if k == JoinInner {
		if err := b.add(j.Larg); err != nil {
			return err
		}
	} else {
		left = &fromBuilder{in: in}
		if err := left.add(j.Larg); err != nil {
			return err
		}
	}
	e1, s1 := len(in.entries), len(in.star)
	if k == JoinInner {
		if err := b.add(j.Rarg); err != nil {
			return err
		}
	} else {
		right = &fromBuilder{in: in}
		if err := right.add(j.Rarg); err != nil {
			return err
		}
	}
	conds, err := b.using(j, k, e0, e1, s0, s1)
	if err != nil {
		return err
	}
	if j.Quals != nil {
		on, err := in.analyzeBool(j.Quals, "JOIN/ON")
		if err != nil {
			return err
		}
		conds = append(conds, conjuncts(on)...)
	}
	if k == JoinInner {
		b.conds = append(b.conds, conds...)
		return nil
	}
	conds = normalize(conds)
	l, err := buildJoins(left.items, left.conds)
	if err != nil {
		return err
	}
	r, err := buildJoins(right.items, right.conds)
	if err != nil {
		return err
	}
	lo, mid, hi := left.items[0].lo, right.items[0].lo, right.items[len(right.items)-1].hi
	it := &fromItem{lo: lo, hi: hi}
	for _, x := range append(left.items, right.items...) {
		it.types = append(it.types, x.types...)
	}
	jr := &JoinRel{Kind: k, Left: l, Right: r}
	w := mid - lo
	for _, c := range conds {
		c = shiftCols(c, -lo)
		if coordinatorOnly(c) {
			return pgerr.Unsupported("subqueries in the ON condition of an outer join")
		}
		// A condition on the nullable side alone filters that side.
		switch side := sideOf(c, w); {
		case side == sideRight && k == JoinLeft:
			jr.Right = pushFilter(jr.Right, shiftCols(c, -w))
			continue
		case side == sideLeft && k == JoinRight:
			jr.Left = pushFilter(jr.Left, c)
			continue
		}
		addJoinCond(jr, c, w)
	}
	it.rel = jr
	b.items = append(b.items, it)
	return nil
}

// using handles JOIN ... USING and NATURAL JOIN: the equalities, and the
// merged columns that unqualified names and SELECT * then refer to.
func (b *fromBuilder) using(j *pg_query.JoinExpr, k JoinKind, e0, e1, s0, s1 int) ([]*Expr, error) {
	in := b.in
	var names []string
	for _, n := range j.UsingClause {
		names = append(names, n.GetString_().GetSval())
	}
	if j.IsNatural {
		rightNames := map[string]bool{}
		for _, c := range in.star[s1:] {
			rightNames[c.name] = true
		}
		for _, c := range in.star[s0:s1] {
			if rightNames[c.name] {
				names = append(names, c.name)
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	find := func(entries []*rangeEntry, name, side string) (*Expr, error) {
		sc := &scope{entries: entries, params: in.params}
		e, ok, err := sc.lookup([]string{name})
		if err == nil && !ok {
			err = pgerr.New(pgerr.UndefinedColumn, "column %q specified in USING clause does not exist in %s table", name, side)
		}
		return e, err
	}
	leftEntries := append([]*rangeEntry(nil), in.entries[e0:e1]...)
	rightEntries := append([]*rangeEntry(nil), in.entries[e1:]...)
	merged := &rangeEntry{}
	var conds []*Expr
	using := map[string]bool{}
	for _, name := range names {
		if using[name] {
			return nil, pgerr.New(pgerr.DuplicateColumn, "column name %q appears more than once in USING clause", name)
		}
		using[name] = true
		l, err := find(leftEntries, name, "left")
		if err != nil {
			return nil, err
		}
		r, err := find(rightEntries, name, "right")
		if err != nil {
			return nil, err
		}
		eq, err := in.binop("=", l, r)
		if err != nil {
			return nil, err
		}
		conds = append(conds, eq)
		m := l
		switch k {
		case JoinRight:
			m = r
		case JoinFull:
			args, t, err := in.unify([]*Expr{l, r}, "JOIN/USING")
			if err != nil {
				return nil, err
			}
			m = &Expr{Kind: meridianpb.ExprKind_EXPR_COALESCE, TypeOid: t.OID, Typmod: t.Typmod, Args: args}
		}
		merged.cols = append(merged.cols, colInfo{name, typeOf(m)})
		merged.exprs = append(merged.exprs, m)
	}
	for _, r := range append(leftEntries, rightEntries...) {
		if r.hidden == nil {
			r.hidden = map[string]bool{}
		}
		for n := range using {
			r.hidden[n] = true
		}
	}
	in.entries = append(in.entries, merged)
	// SELECT *: the merged columns, then each side's others.
	star := make([]starCol, 0, len(in.star)-s0)
	for i, c := range merged.cols {
		star = append(star, starCol{c.name, merged.exprs[i]})
	}
	for _, part := range [][]starCol{in.star[s0:s1], in.star[s1:]} {
		dropped := map[string]bool{}
		for _, c := range part {
			if using[c.name] && !dropped[c.name] {
				dropped[c.name] = true
				continue
			}
			star = append(star, c)
		}
	}
	in.star = append(in.star[:s0], star...)
	return conds, nil
}

type side int

const (
	sideNone side = iota
	sideLeft
	sideRight
	sideBoth
)

// sideOf says which part of a (left ++ right) row, left w columns wide,
// e references.
func sideOf(e *Expr, w int) side {
	s := sideNone
	colRefs(e, func(i int32) {
		c := sideLeft
		if int(i) >= w {
			c = sideRight
		}
		if s == sideNone {
			s = c
		} else if s != c {
			s = sideBoth
		}
	})
	return s
}

func shiftCols(e *Expr, by int) *Expr {
	if by == 0 {
		return e
	}
	return mapColumns(e, func(i int32) int32 { return i + int32(by) })
}

// addJoinCond adds a condition over (left ++ right) to a join: an
// equality of a left-only and a right-only operand of one type family
// becomes a hash key, anything else the residual condition.
func addJoinCond(j *JoinRel, c *Expr, w int) {
	if c.Kind == kFunc && c.Name == "=" && len(c.Args) == 2 && Hashable(c.Args[0], c.Args[1]) {
		l, r := c.Args[0], c.Args[1]
		if sideOf(l, w) == sideRight && sideOf(r, w) == sideLeft {
			l, r = r, l
		}
		if sideOf(l, w) == sideLeft && sideOf(r, w) == sideRight {
			j.LeftKeys = append(j.LeftKeys, l)
			j.RightKeys = append(j.RightKeys, shiftCols(r, -w))
			return
		}
	}
	if j.Cond == nil {
		j.Cond = c
	} else {
		j.Cond = andAll(append(conjuncts(j.Cond), c))
	}
}

// Hashable reports whether equal values of a and b always have equal
// key encodings (so a hash table can match them).
func Hashable(a, b *Expr) bool {
	ta, tb := a.TypeOid, b.TypeOid
	switch {
	case ta == types.Bpchar || tb == types.Bpchar:
		return ta == tb && a.Typmod == b.Typmod
	case types.IsInteger(ta) && types.IsInteger(tb):
		return true
	case types.IsString(ta) && types.IsString(tb):
		return true
	}
	return ta == tb && ta != types.Unknown
}

// pushFilter applies a condition (over rel's row) as deep in rel as its
// semantics allow.
func pushFilter(rel Rel, c *Expr) Rel {
	switch r := rel.(type) {
	case *ScanRel:
		f := c
		if r.Access.Filter != nil {
			f = andAll(append(conjuncts(r.Access.Filter), c))
		}
		return &ScanRel{Access: planAccess(r.Access.Table, f), RowKey: r.RowKey}
	case *FilterRel:
		if coordinatorOnly(r.Cond) && !coordinatorOnly(c) {
			// below the coordinator's filter (subqueries), where the
			// rows are
			return &FilterRel{Input: pushFilter(r.Input, c), Cond: r.Cond}
		}
		return &FilterRel{Input: r.Input, Cond: andAll(append(conjuncts(r.Cond), c))}
	case *QueryRel:
		if q, ok := pushIntoQuery(r.Query, c); ok {
			return &QueryRel{Query: q}
		}
	case *JoinRel:
		w := r.Left.Width()
		side := sideOf(c, w)
		cp := *r
		cp.LeftKeys = append([]*Expr(nil), r.LeftKeys...)
		cp.RightKeys = append([]*Expr(nil), r.RightKeys...)
		switch {
		case side == sideLeft && r.Kind != JoinRight && r.Kind != JoinFull:
			cp.Left = pushFilter(r.Left, c)
			// A value pinning a left key pins the right key it equals:
			// the right rows that can match have it (any join kind that
			// filters the left side keeps the same left rows).
			if d := throughKeys(c, r.LeftKeys, r.RightKeys); d != nil {
				cp.Right = pushFilter(r.Right, d)
			}
			return &cp
		case side == sideRight && (r.Kind == JoinInner || r.Kind == JoinRight):
			rc := shiftCols(c, -w)
			cp.Right = pushFilter(r.Right, rc)
			if d := throughKeys(rc, r.RightKeys, r.LeftKeys); d != nil {
				cp.Left = pushFilter(r.Left, d)
			}
			return &cp
		case r.Kind == JoinInner && side == sideBoth:
			addJoinCond(&cp, c, w)
			return &cp
		}
	}
	return &FilterRel{Input: rel, Cond: c}
}

// buildJoins joins a flattened FROM list's items under their conditions
// (over the FROM row) and returns a Rel producing the items' columns in
// FROM order. Items are joined greedily: each next one is the first that
// a condition connects to those already joined (cross products last).
func buildJoins(items []*fromItem, conds []*Expr) (Rel, error) {
	items = append([]*fromItem(nil), items...)
	for i, it := range items {
		c := *it
		items[i] = &c
	}
	lo := items[0].lo
	itemOf := func(col int32) int {
		for i, it := range items {
			if int(col) >= it.lo && int(col) < it.hi {
				return i
			}
		}
		return -1
	}
	type pending struct {
		e    *Expr
		refs map[int]bool
	}
	var top []*Expr
	var multi []pending
	for _, c := range conds {
		refs := map[int]bool{}
		colRefs(c, func(i int32) { refs[itemOf(i)] = true })
		switch {
		case coordinatorOnly(c) || len(refs) == 0 || refs[-1]:
			top = append(top, c)
		case len(refs) == 1:
			for k := range refs {
				items[k].rel = pushFilter(items[k].rel, shiftCols(c, -items[k].lo))
			}
		default:
			multi = append(multi, pending{c, refs})
			for k, r := range orRestrictions(c, refs, itemOf) {
				items[k].rel = pushFilter(items[k].rel, shiftCols(r, -items[k].lo))
			}
		}
	}
	joined := map[int]bool{0: true}
	covered := func(refs map[int]bool, extra int) bool {
		for k := range refs {
			if !joined[k] && k != extra {
				return false
			}
		}
		return true
	}
	cur := items[0].rel
	pos := map[int32]int32{}
	for c := items[0].lo; c < items[0].hi; c++ {
		pos[int32(c)] = int32(c - items[0].lo)
	}
	used := make([]bool, len(multi))
	for len(joined) < len(items) {
		next := -1
		for j := range items {
			if joined[j] {
				continue
			}
			for k, m := range multi {
				if !used[k] && m.refs[j] && covered(m.refs, j) {
					next = j
					break
				}
			}
			if next >= 0 {
				break
			}
		}
		if next < 0 {
			for j := range items {
				if !joined[j] {
					next = j
					break
				}
			}
		}
		it := items[next]
		w := cur.Width()
		for c := it.lo; c < it.hi; c++ {
			pos[int32(c)] = int32(w + c - it.lo)
		}
		jr := &JoinRel{Kind: JoinInner, Left: cur, Right: it.rel}
		for k, m := range multi {
			if !used[k] && covered(m.refs, next) {
				used[k] = true
				addJoinCond(jr, mapColumns(m.e, func(i int32) int32 { return pos[i] }), w)
			}
		}
		joined[next] = true
		cur = jr
	}
	identity := true
	for c, p := range pos {
		identity = identity && int(c)-lo == int(p)
	}
	if !identity {
		var ts []types.Type
		for _, it := range items {
			ts = append(ts, it.types...)
		}
		exprs := make([]*Expr, len(ts))
		for i := range ts {
			exprs[i] = expr.Column(int(pos[int32(lo+i)]), ts[i])
		}
		cur = &ProjectRel{Input: cur, Exprs: exprs}
	}
	if len(top) > 0 {
		var cs []*Expr
		for _, c := range top {
			cs = append(cs, shiftCols(c, -lo))
		}
		cur = &FilterRel{Input: cur, Cond: andAll(cs)}
	}
	return cur, nil
}

// orRestrictions derives single-item filters from an OR that spans
// several items (as PostgreSQL's extract_restriction_or_clauses): when
// every branch has conditions on item k alone, the OR of those is
// implied, and filters k's rows before the join (the OR itself stays).
// TPC-H Q19's (brand, container, size) ranges filter part this way.
func orRestrictions(c *Expr, refs map[int]bool, itemOf func(int32) int) map[int]*Expr {
	if c.Kind != kOr {
		return nil
	}
	out := map[int]*Expr{}
	for k := range refs {
		var alts []*Expr
		for _, b := range c.Args {
			var mine []*Expr
			for _, x := range conjuncts(b) {
				only := !coordinatorOnly(x)
				n := 0
				colRefs(x, func(i int32) {
					n++
					only = only && itemOf(i) == k
				})
				if only && n > 0 {
					mine = append(mine, x)
				}
			}
			if len(mine) == 0 {
				alts = nil
				break
			}
			alts = append(alts, andAll(mine))
		}
		if alts != nil {
			out[k] = &Expr{Kind: kOr, TypeOid: types.Bool, Typmod: -1, Args: alts}
		}
	}
	return out
}

// throughKeys derives, from a condition pinning a column of one side of
// a join (col = v, col IN (...)) that is a join key equal to a plain
// column of the other side (same type), the same condition on that
// column; nil when there is none.
func throughKeys(c *Expr, keys, other []*Expr) *Expr {
	col, vals, ok := colPinned(c)
	if !ok {
		return nil
	}
	for i, k := range keys {
		o := other[i]
		if k.Kind == kColumn && k.Index == col.Index && o.Kind == kColumn && o.TypeOid == k.TypeOid {
			return pinExpr(o.Index, typeOf(o), vals)
		}
	}
	return nil
}
