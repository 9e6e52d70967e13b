package planner

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// params collects parameter types while a statement is analyzed.
type params struct {
	types []uint32
}

func (p *params) get(n int) uint32 {
	if n <= len(p.types) {
		return p.types[n-1]
	}
	return 0
}

func (p *params) set(n int, oid uint32) {
	for len(p.types) < n {
		p.types = append(p.types, 0)
	}
	if p.types[n-1] == 0 || p.types[n-1] == types.Unknown {
		p.types[n-1] = oid
	}
}

// scope resolves names while analyzing expressions. Its row is the
// concatenation of its range entries' columns (the FROM row).
type scope struct {
	entries []*rangeEntry
	// star is what SELECT * expands to, in FROM order.
	star   []starCol
	outer  *scope // the enclosing query's scope (correlated references)
	params *params
	agg    *aggCtx // non-nil: analyzing after GROUP BY / aggregation
	q      *query  // the query block being planned (subqueries, CTEs)
	// correlated is set when an expression references an enclosing query.
	correlated bool
}

// rangeEntry is one FROM item visible by name: a table, a derived table,
// a CTE reference, or the merged columns of a JOIN ... USING.
type rangeEntry struct {
	name   string                // qualifier (alias, or the table name)
	table  *meridianpb.TableDesc // base table; nil for derived tables
	cols   []colInfo
	offset int // first column's index in the scope's row
	// exprs, when set, give the columns as expressions (USING merges).
	exprs []*Expr
	// hidden: names an unqualified reference skips (merged by USING).
	hidden map[string]bool
}

type colInfo struct {
	name string
	typ  types.Type
}

type starCol struct {
	name string
	e    *Expr
}

func (r *rangeEntry) colExpr(i int) *Expr {
	if r.exprs != nil {
		return cloneExpr(r.exprs[i])
	}
	return expr.Column(r.offset+i, r.cols[i].typ)
}

// tableScope is the scope of a single-table statement.
func tableScope(t *meridianpb.TableDesc, alias string, ps *params) *scope {
	s := &scope{params: ps}
	s.addEntry(tableEntry(t, alias, 0))
	return s
}

func tableEntry(t *meridianpb.TableDesc, alias string, offset int) *rangeEntry {
	r := &rangeEntry{name: t.Name, table: t, offset: offset}
	if alias != "" {
		r.name = alias
	}
	for _, c := range t.Columns {
		r.cols = append(r.cols, colInfo{c.Name, colType(c)})
	}
	return r
}

func (s *scope) addEntry(r *rangeEntry) {
	s.entries = append(s.entries, r)
	for i, c := range r.cols {
		s.star = append(s.star, starCol{c.name, r.colExpr(i)})
	}
}

// table is the single base table of a one-table scope, or nil.
func (s *scope) table() *meridianpb.TableDesc {
	if len(s.entries) == 1 {
		return s.entries[0].table
	}
	return nil
}

// width is the length of the scope's row.
func (s *scope) width() int {
	w := 0
	for _, r := range s.entries {
		if r.exprs == nil {
			w = max(w, r.offset+len(r.cols))
		}
	}
	return w
}

type aggCtx struct {
	input  *scope
	groups []*Expr
	aggs   []AggSpec
}

var (
	kConst   = meridianpb.ExprKind_EXPR_CONST
	kColumn  = meridianpb.ExprKind_EXPR_COLUMN
	kFunc    = meridianpb.ExprKind_EXPR_FUNC
	kParam   = meridianpb.ExprKind_EXPR_PARAM
	kCast    = meridianpb.ExprKind_EXPR_CAST
	kOuter   = meridianpb.ExprKind_EXPR_OUTER
	kAnd     = meridianpb.ExprKind_EXPR_AND
	kSubq    = meridianpb.ExprKind_EXPR_SUBQUERY
	kOr      = meridianpb.ExprKind_EXPR_OR
	kNot     = meridianpb.ExprKind_EXPR_NOT
	kIn      = meridianpb.ExprKind_EXPR_IN
	kCase    = meridianpb.ExprKind_EXPR_CASE
	kCoal    = meridianpb.ExprKind_EXPR_COALESCE
	kIsNul   = meridianpb.ExprKind_EXPR_IS_NULL
	unknownT = types.T(types.Unknown)
)

func typeOf(e *Expr) types.Type { return expr.TypeOf(e) }

func constText(s string) *Expr {
	return expr.Const(unknownT, s)
}

func nullConst() *Expr {
	return &Expr{Kind: kConst, TypeOid: types.Unknown, Typmod: -1, IsNull: true}
}

func boolExpr(kind meridianpb.ExprKind, args ...*Expr) *Expr {
	return &Expr{Kind: kind, TypeOid: types.Bool, Typmod: -1, Args: args}
}

// column resolves a column reference in the scope, then in enclosing
// queries' scopes (a correlated reference).
func (s *scope) column(fields []*pg_query.Node) (*Expr, error) {
	var names []string
	for _, f := range fields {
		if f.GetAStar() != nil {
			return nil, pgerr.New(pgerr.SyntaxError, "* is not allowed here")
		}
		names = append(names, f.GetString_().GetSval())
	}
	if len(names) > 2 {
		return nil, pgerr.Unsupported("schema-qualified column references")
	}
	level := 0
	for cur := s; cur != nil; cur = cur.outer {
		e, found, err := cur.lookup(names)
		if err != nil {
			return nil, err
		}
		if found {
			if level == 0 {
				return e, nil
			}
			if cur.agg != nil {
				return nil, pgerr.Unsupported("correlated references to a grouped query")
			}
			for in := s; in != cur; in = in.outer {
				in.correlated = true
			}
			return &Expr{Kind: kOuter, Index: e.Index, TypeOid: e.TypeOid, Typmod: e.Typmod, LevelsUp: int32(level)}, nil
		}
		level++
	}
	col := names[len(names)-1]
	if len(names) > 1 {
		q := names[0]
		for _, r := range s.entries {
			if r.table != nil && r.table.Name == q && r.name != q {
				return nil, pgerr.New(pgerr.UndefinedTable, "invalid reference to FROM-clause entry for table %q", q).
					WithHint("Perhaps you meant to reference the table alias %q.", r.name)
			}
		}
		if !s.hasEntry(q) {
			return nil, pgerr.New(pgerr.UndefinedTable, "missing FROM-clause entry for table %q", q)
		}
		return nil, pgerr.New(pgerr.UndefinedColumn, "column %s.%s does not exist", q, col)
	}
	return nil, pgerr.New(pgerr.UndefinedColumn, "column %q does not exist", col)
}

func (s *scope) hasEntry(name string) bool {
	for cur := s; cur != nil; cur = cur.outer {
		for _, r := range cur.entries {
			if r.name == name {
				return true
			}
		}
	}
	return false
}

// lookup finds a column among the scope's own entries. A column an
// aggregation hides is reported as found (a grouping error follows).
func (s *scope) lookup(names []string) (*Expr, bool, error) {
	in := s
	if s.agg != nil {
		in = s.agg.input
	}
	col := names[len(names)-1]
	var found *Expr
	for _, r := range in.entries {
		if len(names) == 2 && r.name != names[0] {
			continue
		}
		if len(names) == 1 && r.hidden[col] {
			continue
		}
		for i, c := range r.cols {
			if c.name != col {
				continue
			}
			if found != nil {
				return nil, false, pgerr.New(pgerr.AmbiguousColumn, "column reference %q is ambiguous", col)
			}
			found = r.colExpr(i)
		}
	}
	return found, found != nil, nil
}

// analyze types a parse node.
func (s *scope) analyze(n *pg_query.Node) (*Expr, error) {
	if n == nil {
		return nil, pgerr.New(pgerr.InternalError, "missing expression")
	}
	if s.agg != nil {
		if e, ok, err := s.postAgg(n); ok || err != nil {
			return e, err
		}
	}
	switch v := n.Node.(type) {
	case *pg_query.Node_AConst:
		return aConst(v.AConst)
	case *pg_query.Node_ColumnRef:
		e, err := s.column(v.ColumnRef.Fields)
		if err == nil && s.agg != nil && e.Kind != kOuter {
			return nil, groupingErr(v.ColumnRef)
		}
		return e, err
	case *pg_query.Node_ParamRef:
		num := int(v.ParamRef.Number)
		if num < 1 || num > 65535 {
			return nil, pgerr.New(pgerr.UndefinedParameter, "there is no parameter $%d", num)
		}
		oid := s.params.get(num)
		if oid == 0 {
			oid = types.Unknown
			s.params.set(num, types.Unknown)
		}
		return &Expr{Kind: kParam, Index: int32(num), TypeOid: oid, Typmod: -1}, nil
	case *pg_query.Node_TypeCast:
		arg, err := s.analyze(v.TypeCast.Arg)
		if err != nil {
			return nil, err
		}
		t, err := TypeFromName(v.TypeCast.TypeName)
		if err != nil {
			return nil, err
		}
		return s.cast(arg, t, true)
	case *pg_query.Node_AExpr:
		return s.aExpr(v.AExpr)
	case *pg_query.Node_BoolExpr:
		kind := map[pg_query.BoolExprType]meridianpb.ExprKind{
			pg_query.BoolExprType_AND_EXPR: meridianpb.ExprKind_EXPR_AND,
			pg_query.BoolExprType_OR_EXPR:  meridianpb.ExprKind_EXPR_OR,
			pg_query.BoolExprType_NOT_EXPR: meridianpb.ExprKind_EXPR_NOT,
		}[v.BoolExpr.Boolop]
		out := boolExpr(kind)
		for _, a := range v.BoolExpr.Args {
			e, err := s.analyzeBool(a, strings.ToUpper(strings.TrimSuffix(v.BoolExpr.Boolop.String(), "_EXPR")))
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, e)
		}
		return out, nil
	case *pg_query.Node_NullTest:
		arg, err := s.analyze(v.NullTest.Arg)
		if err != nil {
			return nil, err
		}
		k := meridianpb.ExprKind_EXPR_IS_NULL
		if v.NullTest.Nulltesttype == pg_query.NullTestType_IS_NOT_NULL {
			k = meridianpb.ExprKind_EXPR_IS_NOT_NULL
		}
		return boolExpr(k, arg), nil
	case *pg_query.Node_BooleanTest:
		arg, err := s.analyzeBool(v.BooleanTest.Arg, "IS")
		if err != nil {
			return nil, err
		}
		return booleanTest(arg, v.BooleanTest.Booltesttype), nil
	case *pg_query.Node_CaseExpr:
		return s.caseExpr(v.CaseExpr)
	case *pg_query.Node_CoalesceExpr:
		args, err := s.analyzeList(v.CoalesceExpr.Args)
		if err != nil {
			return nil, err
		}
		args, t, err := s.unify(args, "COALESCE")
		if err != nil {
			return nil, err
		}
		return &Expr{Kind: meridianpb.ExprKind_EXPR_COALESCE, TypeOid: t.OID, Typmod: t.Typmod, Args: args}, nil
	case *pg_query.Node_FuncCall:
		return s.funcCall(v.FuncCall)
	case *pg_query.Node_SqlvalueFunction:
		return sqlValueFunc(v.SqlvalueFunction)
	case *pg_query.Node_SubLink:
		return s.subLink(v.SubLink)
	case *pg_query.Node_AArrayExpr:
		return nil, pgerr.Unsupported("arrays")
	case *pg_query.Node_RowExpr:
		return nil, pgerr.Unsupported("row constructors")
	case *pg_query.Node_CollateClause:
		return nil, pgerr.Unsupported("COLLATE")
	}
	return nil, pgerr.Unsupported("expression " + nodeName(n))
}

func nodeName(n *pg_query.Node) string {
	if m := n.ProtoReflect().WhichOneof(n.ProtoReflect().Descriptor().Oneofs().Get(0)); m != nil {
		return string(m.Name())
	}
	return "node"
}

func groupingErr(c *pg_query.ColumnRef) error {
	var names []string
	for _, f := range c.Fields {
		names = append(names, f.GetString_().GetSval())
	}
	return pgerr.New(pgerr.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", strings.Join(names, "."))
}

// analyzeBool analyzes an operand that must be boolean.
func (s *scope) analyzeBool(n *pg_query.Node, ctx string) (*Expr, error) {
	e, err := s.analyze(n)
	if err != nil {
		return nil, err
	}
	return s.coerce(e, types.T(types.Bool), "argument of "+ctx)
}

func (s *scope) analyzeList(ns []*pg_query.Node) ([]*Expr, error) {
	out := make([]*Expr, len(ns))
	for i, n := range ns {
		e, err := s.analyze(n)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func aConst(c *pg_query.A_Const) (*Expr, error) {
	if c.Isnull {
		return nullConst(), nil
	}
	switch v := c.Val.(type) {
	case *pg_query.A_Const_Ival:
		return expr.Const(types.T(types.Int4), int64(v.Ival.Ival)), nil
	case *pg_query.A_Const_Fval:
		s := v.Fval.Fval
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			// PostgreSQL's make_const: an integer that fits int4 is int4
			// (-2147483648 reaches here as a float token).
			if i >= -2147483648 && i <= 2147483647 {
				return expr.Const(types.T(types.Int4), i), nil
			}
			return expr.Const(types.T(types.Int8), i), nil
		}
		d, err := types.ParseText(types.T(types.Numeric), s)
		if err != nil {
			return nil, err
		}
		return expr.Const(types.T(types.Numeric), d), nil
	case *pg_query.A_Const_Sval:
		return constText(v.Sval.Sval), nil
	case *pg_query.A_Const_Boolval:
		return expr.Const(types.T(types.Bool), v.Boolval.Boolval), nil
	case *pg_query.A_Const_Bsval:
		return constText(v.Bsval.Bsval), nil
	}
	return nil, pgerr.Unsupported("constant kind")
}

func booleanTest(arg *Expr, t pg_query.BoolTestType) *Expr {
	isNull := boolExpr(meridianpb.ExprKind_EXPR_IS_NULL, arg)
	eq := func(b bool) *Expr {
		return &Expr{Kind: kFunc, Name: "=", TypeOid: types.Bool, Typmod: -1, Args: []*Expr{arg, expr.Const(types.T(types.Bool), b)}}
	}
	coalesce := func(e *Expr, dflt bool) *Expr {
		return &Expr{Kind: meridianpb.ExprKind_EXPR_COALESCE, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{e, expr.Const(types.T(types.Bool), dflt)}}
	}
	switch t {
	case pg_query.BoolTestType_IS_TRUE:
		return coalesce(eq(true), false)
	case pg_query.BoolTestType_IS_NOT_TRUE:
		return coalesce(boolExpr(meridianpb.ExprKind_EXPR_NOT, eq(true)), true)
	case pg_query.BoolTestType_IS_FALSE:
		return coalesce(eq(false), false)
	case pg_query.BoolTestType_IS_NOT_FALSE:
		return coalesce(boolExpr(meridianpb.ExprKind_EXPR_NOT, eq(false)), true)
	case pg_query.BoolTestType_IS_UNKNOWN:
		return isNull
	}
	return boolExpr(meridianpb.ExprKind_EXPR_IS_NOT_NULL, arg)
}

func sqlValueFunc(f *pg_query.SQLValueFunction) (*Expr, error) {
	switch f.Op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N,
		pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		t := types.TimestampTZ
		if f.Op == pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP || f.Op == pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N {
			t = types.Timestamp
		}
		return &Expr{Kind: kFunc, Name: "now", TypeOid: t, Typmod: -1}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return &Expr{Kind: kFunc, Name: "now", TypeOid: types.Date, Typmod: -1}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER,
		pg_query.SQLValueFunctionOp_SVFOP_USER, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return &Expr{Kind: kFunc, Name: "current_user", TypeOid: types.Name, Typmod: -1}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return &Expr{Kind: kFunc, Name: "current_database", TypeOid: types.Name, Typmod: -1}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return expr.Const(types.T(types.Name), "public"), nil
	}
	return nil, pgerr.Unsupported("SQL value function " + f.Op.String())
}

// TypeFromName resolves a TypeName with its typmods.
func TypeFromName(tn *pg_query.TypeName) (types.Type, error) {
	if len(tn.ArrayBounds) > 0 {
		return types.Type{}, pgerr.Unsupported("array types")
	}
	var names []string
	for _, n := range tn.Names {
		names = append(names, n.GetString_().GetSval())
	}
	name := names[len(names)-1]
	if len(names) == 2 && names[0] != "pg_catalog" {
		return types.Type{}, pgerr.New(pgerr.UndefinedObject, "type %q does not exist", strings.Join(names, "."))
	}
	oid, ok := types.ParseTypeName(name)
	if !ok {
		return types.Type{}, pgerr.New(pgerr.UndefinedObject, "type %q does not exist", name)
	}
	if oid == types.Float8 && name == "float" && len(tn.Typmods) == 1 {
		if p := constInt(tn.Typmods[0]); p >= 1 && p <= 24 {
			oid = types.Float4
		}
	}
	t := types.T(oid)
	var mods []int32
	for _, m := range tn.Typmods {
		v := constInt(m)
		if v < 0 {
			return types.Type{}, pgerr.New(pgerr.SyntaxError, "type modifiers must be simple constants or identifiers")
		}
		mods = append(mods, int32(v))
	}
	switch oid {
	case types.Varchar, types.Bpchar:
		if len(mods) > 1 {
			return t, pgerr.New(pgerr.SyntaxError, "invalid type modifier")
		}
		if len(mods) == 1 {
			if mods[0] < 1 || mods[0] > 10485760 {
				return t, pgerr.New(pgerr.InvalidParameterValue, "length for type %s must be at least 1", name)
			}
			t.Typmod = mods[0] + 4
		} else if oid == types.Bpchar && names[len(names)-1] != "bpchar" {
			t.Typmod = 1 + 4
		}
	case types.Numeric:
		if len(mods) >= 1 {
			p, sc := mods[0], int32(0)
			if len(mods) == 2 {
				sc = mods[1]
			}
			if p < 1 || p > 1000 {
				return t, pgerr.New(pgerr.InvalidParameterValue, "NUMERIC precision %d must be between 1 and 1000", p)
			}
			if sc < 0 || sc > p {
				return t, pgerr.New(pgerr.InvalidParameterValue, "NUMERIC scale %d must be between 0 and precision %d", sc, p)
			}
			t.Typmod = types.NumericTypmod(p, sc)
		}
	case types.Interval:
		// interval [fields] [(p)]: the grammar gives the range mask, then
		// the precision
		if len(mods) > 2 {
			return t, pgerr.New(pgerr.SyntaxError, "invalid INTERVAL type modifier")
		}
		rng, prec := types.IntervalFullRange, -1
		if len(mods) >= 1 {
			rng = int(mods[0])
		}
		if len(mods) == 2 {
			prec = int(mods[1])
		}
		tm, err := types.IntervalTypmod(rng, prec)
		if err != nil {
			return t, err
		}
		t.Typmod = tm
	case types.Timestamp, types.TimestampTZ:
		// precision modifiers are accepted; values keep microseconds
	default:
		if len(mods) > 0 && oid != types.Float8 && oid != types.Float4 {
			return t, pgerr.New(pgerr.SyntaxError, "type modifier is not allowed for type %q", name)
		}
	}
	return t, nil
}

func constInt(n *pg_query.Node) int64 {
	if c := n.GetAConst(); c != nil {
		if iv, ok := c.Val.(*pg_query.A_Const_Ival); ok {
			return int64(iv.Ival.Ival)
		}
	}
	return -1
}

// cast converts e to t: constants are converted now (so errors come at
// analysis, as in PostgreSQL), parameters take the type, others get a
// CAST node. explicit allows every conversion CanCast knows.
func (s *scope) cast(e *Expr, t types.Type, explicit bool) (*Expr, error) {
	from := e.TypeOid
	if from == t.OID && (t.Typmod < 0 || e.Typmod == t.Typmod) {
		return e, nil
	}
	switch e.Kind {
	case kConst:
		if e.IsNull {
			return &Expr{Kind: kConst, TypeOid: t.OID, Typmod: t.Typmod, IsNull: true}, nil
		}
		if !types.CanCast(from, t.OID) {
			return nil, cannotCoerce(from, t)
		}
		v, err := expr.ConstValue(e)
		if err != nil {
			return nil, err
		}
		castFn := types.Cast
		if explicit {
			castFn = types.CastExplicit
		}
		out, err := castFn(v, from, t)
		if err != nil {
			return nil, err
		}
		return expr.Const(t, out), nil
	case kParam:
		if from == types.Unknown {
			s.params.set(int(e.Index), t.OID)
			p := proto.Clone(e).(*Expr)
			p.TypeOid = t.OID
			if t.Typmod < 0 {
				return p, nil
			}
			e = p
			from = t.OID
		}
	}
	if !types.CanCast(from, t.OID) {
		return nil, cannotCoerce(from, t)
	}
	c := &Expr{Kind: kCast, TypeOid: t.OID, Typmod: t.Typmod, Args: []*Expr{e}}
	if explicit {
		c.Name = "explicit"
	}
	return c, nil
}

func cannotCoerce(from uint32, t types.Type) error {
	return pgerr.New(pgerr.DatatypeMismatch, "cannot cast type %s to %s", types.InfoOf(from).Name, t)
}

// coerce converts e to t implicitly (assignment or an operand that must
// have a type); what is not implicit is a 42804 error naming what.
func (s *scope) coerce(e *Expr, t types.Type, what string) (*Expr, error) {
	from := e.TypeOid
	if from == t.OID || from == types.Unknown || implicit(from, t.OID) {
		return s.cast(e, t, false)
	}
	return nil, pgerr.New(pgerr.DatatypeMismatch, "%s must be type %s, not type %s", what, types.InfoOf(t.OID).Name, types.InfoOf(from).Name)
}

// implicit reports PostgreSQL's implicit and assignment casts among the
// supported types.
func implicit(from, to uint32) bool {
	ci, co := types.InfoOf(from).Category, types.InfoOf(to).Category
	switch {
	case ci == types.CatNumeric && co == types.CatNumeric:
		return true
	case types.IsString(from) && types.IsString(to):
		return true
	case ci == types.CatDateTime && co == types.CatDateTime:
		return true
	case types.IsString(to):
		return true // assignment via I/O conversion
	}
	return false
}

// assign converts a value for storing in a column of type t.
func (s *scope) assign(e *Expr, col *meridianpb.ColumnDesc) (*Expr, error) {
	t := types.Type{OID: col.TypeOid, Typmod: col.Typmod}
	if e.TypeOid == t.OID || e.TypeOid == types.Unknown || implicit(e.TypeOid, t.OID) {
		return s.cast(e, t, false)
	}
	return nil, pgerr.New(pgerr.DatatypeMismatch, "column %q is of type %s but expression is of type %s", col.Name, t, types.InfoOf(e.TypeOid).Name).
		WithHint("You will need to rewrite or cast the expression.")
}

// unify gives a list of expressions one common type (CASE, COALESCE, IN).
func (s *scope) unify(es []*Expr, ctx string) ([]*Expr, types.Type, error) {
	common := uint32(types.Unknown)
	for _, e := range es {
		if e.TypeOid == types.Unknown {
			continue
		}
		c, ok := types.CommonType(common, e.TypeOid)
		if !ok {
			return nil, types.Type{}, pgerr.New(pgerr.DatatypeMismatch, "%s types %s and %s cannot be matched", ctx,
				types.InfoOf(common).Name, types.InfoOf(e.TypeOid).Name)
		}
		common = c
	}
	if common == types.Unknown {
		common = types.Text
	}
	t := types.T(common)
	out := make([]*Expr, len(es))
	for i, e := range es {
		c, err := s.cast(e, t, false)
		if err != nil {
			return nil, t, err
		}
		out[i] = c
	}
	return out, t, nil
}
