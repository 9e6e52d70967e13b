package planner

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func opName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

func (s *scope) aExpr(a *pg_query.A_Expr) (*Expr, error) {
	op := opName(a.Name)
	switch a.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if a.Lexpr == nil {
			r, err := s.analyze(a.Rexpr)
			if err != nil {
				return nil, err
			}
			switch op {
			case "-":
				if r.TypeOid == types.Unknown {
					if r, err = s.cast(r, types.T(types.Numeric), false); err != nil {
						return nil, err
					}
				}
				if c := types.InfoOf(r.TypeOid).Category; c != types.CatNumeric && c != types.CatInterval {
					return nil, undefinedOp(op, nil, r)
				}
				return &Expr{Kind: kFunc, Name: "u-", TypeOid: r.TypeOid, Typmod: -1, Args: []*Expr{r}}, nil
			case "+":
				return r, nil
			}
			return nil, pgerr.Unsupported("prefix operator " + op)
		}
		l, err := s.analyze(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := s.analyze(a.Rexpr)
		if err != nil {
			return nil, err
		}
		return s.binop(op, l, r)
	case pg_query.A_Expr_Kind_AEXPR_IN:
		l, err := s.analyze(a.Lexpr)
		if err != nil {
			return nil, err
		}
		list := a.Rexpr.GetList()
		if list == nil {
			return nil, pgerr.Unsupported("IN (subquery)")
		}
		items, err := s.analyzeList(list.Items)
		if err != nil {
			return nil, err
		}
		all, _, err := s.unify(append([]*Expr{l}, items...), "IN")
		if err != nil {
			return nil, err
		}
		in := boolExpr(meridianpb.ExprKind_EXPR_IN, all...)
		if op == "<>" {
			return boolExpr(meridianpb.ExprKind_EXPR_NOT, in), nil
		}
		return in, nil
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		l, err := s.analyze(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := s.analyze(a.Rexpr)
		if err != nil {
			return nil, err
		}
		name := "like"
		if a.Kind == pg_query.A_Expr_Kind_AEXPR_ILIKE {
			name = "ilike"
		}
		if strings.HasPrefix(op, "!") {
			name = "not " + name
		}
		if l, err = s.coerce(l, types.T(types.Text), "argument of LIKE"); err != nil {
			return nil, err
		}
		if r, err = s.coerce(r, types.T(types.Text), "pattern of LIKE"); err != nil {
			return nil, err
		}
		return &Expr{Kind: kFunc, Name: name, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{l, r}}, nil
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		l, err := s.analyze(a.Lexpr)
		if err != nil {
			return nil, err
		}
		bounds := a.Rexpr.GetList().GetItems()
		if len(bounds) != 2 {
			return nil, pgerr.New(pgerr.SyntaxError, "malformed BETWEEN")
		}
		lo, err := s.analyze(bounds[0])
		if err != nil {
			return nil, err
		}
		hi, err := s.analyze(bounds[1])
		if err != nil {
			return nil, err
		}
		ge, err := s.binop(">=", l, lo)
		if err != nil {
			return nil, err
		}
		le, err := s.binop("<=", l, hi)
		if err != nil {
			return nil, err
		}
		out := boolExpr(meridianpb.ExprKind_EXPR_AND, ge, le)
		if a.Kind == pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM || a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
			ge2, err := s.binop(">=", l, hi)
			if err != nil {
				return nil, err
			}
			le2, err := s.binop("<=", l, lo)
			if err != nil {
				return nil, err
			}
			out = boolExpr(meridianpb.ExprKind_EXPR_OR, out, boolExpr(meridianpb.ExprKind_EXPR_AND, ge2, le2))
		}
		if a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN || a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
			out = boolExpr(meridianpb.ExprKind_EXPR_NOT, out)
		}
		return out, nil
	case pg_query.A_Expr_Kind_AEXPR_NULLIF:
		args, err := s.analyzeList([]*pg_query.Node{a.Lexpr, a.Rexpr})
		if err != nil {
			return nil, err
		}
		args, t, err := s.unify(args, "NULLIF")
		if err != nil {
			return nil, err
		}
		return &Expr{Kind: meridianpb.ExprKind_EXPR_NULLIF, TypeOid: t.OID, Typmod: t.Typmod, Args: args}, nil
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		l, err := s.analyze(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := s.analyze(a.Rexpr)
		if err != nil {
			return nil, err
		}
		eq, err := s.binop("=", l, r)
		if err != nil {
			return nil, err
		}
		// a IS NOT DISTINCT FROM b: (a = b) is true, or both are NULL
		both := boolExpr(meridianpb.ExprKind_EXPR_AND, boolExpr(meridianpb.ExprKind_EXPR_IS_NULL, l), boolExpr(meridianpb.ExprKind_EXPR_IS_NULL, r))
		same := boolExpr(meridianpb.ExprKind_EXPR_OR,
			&Expr{Kind: meridianpb.ExprKind_EXPR_COALESCE, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{eq, expr.Const(types.T(types.Bool), false)}}, both)
		if a.Kind == pg_query.A_Expr_Kind_AEXPR_DISTINCT {
			return boolExpr(meridianpb.ExprKind_EXPR_NOT, same), nil
		}
		return same, nil
	}
	return nil, pgerr.Unsupported("operator form " + a.Kind.String())
}

func undefinedOp(op string, l, r *Expr) error {
	if l == nil {
		return pgerr.New(pgerr.UndefinedFunction, "operator does not exist: %s %s", op, types.InfoOf(r.TypeOid).Name).
			WithHint("No operator matches the given name and argument type. You might need to add an explicit type cast.")
	}
	return pgerr.New(pgerr.UndefinedFunction, "operator does not exist: %s %s %s", types.InfoOf(l.TypeOid).Name, op, types.InfoOf(r.TypeOid).Name).
		WithHint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

// binop types a binary operator as PostgreSQL's operator resolution does
// for the supported types.
func (s *scope) binop(op string, l, r *Expr) (*Expr, error) {
	switch op {
	case "~~", "!~~", "~~*", "!~~*":
		name := map[string]string{"~~": "like", "!~~": "not like", "~~*": "ilike", "!~~*": "not ilike"}[op]
		return &Expr{Kind: kFunc, Name: name, TypeOid: types.Bool, Typmod: -1, Args: []*Expr{l, r}}, nil
	case "||":
		var err error
		if l, err = s.cast(l, types.T(types.Text), false); err != nil {
			return nil, err
		}
		if r, err = s.cast(r, types.T(types.Text), false); err != nil {
			return nil, err
		}
		return &Expr{Kind: kFunc, Name: "||", TypeOid: types.Text, Typmod: -1, Args: []*Expr{l, r}}, nil
	case "!=":
		op = "<>"
	case "^":
		// numeric ^ numeric when either side is numeric, else float8.
		t := types.T(types.Float8)
		if (l.TypeOid == types.Numeric || r.TypeOid == types.Numeric) && !types.IsFloat(l.TypeOid) && !types.IsFloat(r.TypeOid) {
			t = types.T(types.Numeric)
		}
		var err error
		if l, err = s.coerce(l, t, "operand of ^"); err != nil {
			return nil, err
		}
		if r, err = s.coerce(r, t, "operand of ^"); err != nil {
			return nil, err
		}
		return &Expr{Kind: kFunc, Name: "^", TypeOid: t.OID, Typmod: -1, Args: []*Expr{l, r}}, nil
	}
	comparison := op == "=" || op == "<>" || op == "<" || op == "<=" || op == ">" || op == ">="
	arith := op == "+" || op == "-" || op == "*" || op == "/" || op == "%"
	if !comparison && !arith {
		return nil, pgerr.Unsupported("operator " + op)
	}
	lt, rt := l.TypeOid, r.TypeOid
	// Unknown literals and parameters take the other side's type.
	if lt == types.Unknown && rt == types.Unknown {
		lt, rt = types.Text, types.Text
		if arith {
			lt, rt = types.Numeric, types.Numeric
		}
	} else if lt == types.Unknown {
		lt = rt
	} else if rt == types.Unknown {
		rt = lt
	}
	if arith {
		if res, ok := dateArithType(op, lt, rt); ok {
			if res == types.Interval && (op == "*" || op == "/") {
				if lt != types.Interval {
					lt = types.Float8
				} else {
					rt = types.Float8
				}
			}
			var err error
			if l, err = s.cast(l, types.T(lt), false); err != nil {
				return nil, err
			}
			if r, err = s.cast(r, types.T(rt), false); err != nil {
				return nil, err
			}
			return &Expr{Kind: kFunc, Name: op, TypeOid: res, Typmod: -1, Args: []*Expr{l, r}}, nil
		}
	}
	common, ok := types.CommonType(lt, rt)
	if !ok {
		return nil, undefinedOp(op, l, r)
	}
	if arith && types.InfoOf(common).Category != types.CatNumeric && !(common == types.Interval && (op == "+" || op == "-")) {
		return nil, undefinedOp(op, l, r)
	}
	if common == types.Bpchar && (lt != types.Bpchar || rt != types.Bpchar) {
		common = types.Text
	}
	if comparison && lt == types.Bpchar && rt == types.Bpchar && (isValue(l) || isValue(r)) {
		// char(n) against a value compares as bpchar (the evaluator
		// ignores trailing spaces), so that the column stays a plain
		// column: routing and index lookups use the value, padded to the
		// column's length. Two char columns compare as text (rtrim), which
		// hashes alike whatever their lengths.
		common = types.Bpchar
	}
	t := types.T(common)
	var err error
	if l, err = s.castOperand(l, t, lt); err != nil {
		return nil, err
	}
	if r, err = s.castOperand(r, t, rt); err != nil {
		return nil, err
	}
	res := common
	if comparison {
		res = types.Bool
	}
	return &Expr{Kind: kFunc, Name: op, TypeOid: res, Typmod: -1, Args: []*Expr{l, r}}, nil
}

// castOperand converts an operand to the operator's type, dropping the
// typmod (bpchar compare keeps its padding semantics in the evaluator).
func (s *scope) castOperand(e *Expr, t types.Type, resolved uint32) (*Expr, error) {
	if e.TypeOid == t.OID {
		return e, nil
	}
	if e.TypeOid == types.Unknown && resolved != t.OID {
		var err error
		if e, err = s.cast(e, types.T(resolved), false); err != nil {
			return nil, err
		}
	}
	if e.TypeOid == types.Bpchar && types.IsString(t.OID) {
		// char(n) compared as text ignores trailing spaces
		return &Expr{Kind: kFunc, Name: "rtrim", TypeOid: types.Text, Typmod: -1, Args: []*Expr{e}}, nil
	}
	return s.cast(e, t, false)
}

func dateArithType(op string, l, r uint32) (uint32, bool) {
	isTS := func(t uint32) bool { return t == types.Timestamp || t == types.TimestampTZ }
	isNum := func(t uint32) bool { return types.InfoOf(t).Category == types.CatNumeric }
	switch {
	case l == types.Date && types.IsInteger(r) && (op == "+" || op == "-"):
		return types.Date, true
	case types.IsInteger(l) && r == types.Date && op == "+":
		return types.Date, true
	case l == types.Date && r == types.Date && op == "-":
		return types.Int4, true
	case (isTS(l) || l == types.Date) && r == types.Interval && (op == "+" || op == "-"):
		if l == types.Date {
			return types.Timestamp, true
		}
		return l, true
	case l == types.Interval && (isTS(r) || r == types.Date) && op == "+":
		if r == types.Date {
			return types.Timestamp, true
		}
		return r, true
	case isTS(l) && l == r && op == "-":
		return types.Interval, true
	case l == types.Interval && r == types.Interval && (op == "+" || op == "-"):
		return types.Interval, true
	case l == types.Interval && isNum(r) && (op == "*" || op == "/"),
		isNum(l) && r == types.Interval && op == "*":
		return types.Interval, true // interval * float8 (the number is cast)
	}
	return 0, false
}

func (s *scope) caseExpr(c *pg_query.CaseExpr) (*Expr, error) {
	var arg *Expr
	if c.Arg != nil {
		a, err := s.analyze(c.Arg)
		if err != nil {
			return nil, err
		}
		arg = a
	}
	var conds, results []*Expr
	for _, w := range c.Args {
		cw := w.GetCaseWhen()
		var cond *Expr
		var err error
		if arg != nil {
			v, err := s.analyze(cw.Expr)
			if err != nil {
				return nil, err
			}
			if cond, err = s.binop("=", arg, v); err != nil {
				return nil, err
			}
		} else if cond, err = s.analyzeBool(cw.Expr, "CASE/WHEN"); err != nil {
			return nil, err
		}
		res, err := s.analyze(cw.Result)
		if err != nil {
			return nil, err
		}
		conds = append(conds, cond)
		results = append(results, res)
	}
	def := nullConst()
	if c.Defresult != nil {
		d, err := s.analyze(c.Defresult)
		if err != nil {
			return nil, err
		}
		def = d
	}
	all, t, err := s.unify(append(results, def), "CASE")
	if err != nil {
		return nil, err
	}
	out := &Expr{Kind: meridianpb.ExprKind_EXPR_CASE, TypeOid: t.OID, Typmod: -1}
	for i := range conds {
		out.Args = append(out.Args, conds[i], all[i])
	}
	out.Args = append(out.Args, all[len(all)-1])
	return out, nil
}

var aggNames = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true}

func funcName(f *pg_query.FuncCall) string {
	var names []string
	for _, n := range f.Funcname {
		names = append(names, n.GetString_().GetSval())
	}
	if len(names) == 2 && names[0] == "pg_catalog" {
		names = names[1:]
	}
	return strings.Join(names, ".")
}

func (s *scope) funcCall(f *pg_query.FuncCall) (*Expr, error) {
	name := funcName(f)
	if f.Over != nil {
		return s.window(f)
	}
	if aggNames[name] {
		return nil, pgerr.New(pgerr.GroupingError, "aggregate functions are not allowed here")
	}
	if seqFuncs[name] {
		return s.seqCall(name, f)
	}
	args, err := s.analyzeList(f.Args)
	if err != nil {
		return nil, err
	}
	return s.call(name, args)
}

// call types a scalar function call.
func (s *scope) call(name string, args []*Expr) (*Expr, error) {
	mk := func(t uint32, args ...*Expr) *Expr {
		return &Expr{Kind: kFunc, Name: name, TypeOid: t, Typmod: -1, Args: args}
	}
	text := types.T(types.Text)
	argc := func(lo, hi int) error {
		if len(args) < lo || len(args) > hi {
			return pgerr.New(pgerr.UndefinedFunction, "function %s with %d arguments does not exist", name, len(args))
		}
		return nil
	}
	switch name {
	case "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp":
		if err := argc(0, 0); err != nil {
			return nil, err
		}
		return &Expr{Kind: kFunc, Name: "now", TypeOid: types.TimestampTZ, Typmod: -1}, nil
	case "version", "current_database", "current_user", "session_user", "current_schema", "pg_backend_pid":
		if err := argc(0, 0); err != nil {
			return nil, err
		}
		t := uint32(types.Text)
		if name == "pg_backend_pid" {
			t = types.Int4
		}
		return mk(t), nil
	case "lower", "upper", "btrim", "ltrim", "rtrim":
		if err := argc(1, 1); err != nil {
			return nil, err
		}
		a, err := s.coerce(args[0], text, "argument of "+name)
		if err != nil {
			return nil, err
		}
		return mk(types.Text, a), nil
	case "like_escape":
		if err := argc(2, 2); err != nil {
			return nil, err
		}
		for i := range args {
			c, err := s.coerce(args[i], text, "argument of ESCAPE")
			if err != nil {
				return nil, err
			}
			args[i] = c
		}
		return mk(types.Text, args...), nil
	case "length", "char_length", "character_length", "octet_length":
		if err := argc(1, 1); err != nil {
			return nil, err
		}
		a := args[0]
		if a.TypeOid != types.Bytea && !types.IsString(a.TypeOid) {
			var err error
			if a, err = s.coerce(a, text, "argument of "+name); err != nil {
				return nil, err
			}
		}
		if name == "character_length" {
			name = "char_length"
		}
		return mk(types.Int4, a), nil
	case "repeat", "lpad", "rpad":
		lo, hi := 2, 3
		if name == "repeat" {
			hi = 2
		}
		if err := argc(lo, hi); err != nil {
			return nil, err
		}
		out := mk(types.Text)
		for i, x := range args {
			t := text
			if i == 1 {
				t = types.T(types.Int8)
			}
			c, err := s.coerce(x, t, "argument of "+name)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, c)
		}
		return out, nil
	case "substr", "substring":
		if err := argc(2, 3); err != nil {
			return nil, err
		}
		out := mk(types.Text)
		a, err := s.coerce(args[0], text, "argument of "+name)
		if err != nil {
			return nil, err
		}
		out.Args = append(out.Args, a)
		for _, x := range args[1:] {
			c, err := s.coerce(x, types.T(types.Int8), "argument of "+name)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, c)
		}
		return out, nil
	case "abs", "floor", "ceil", "ceiling", "round", "mod", "sqrt":
		if len(args) == 0 {
			return nil, argc(1, 1)
		}
		a := args[0]
		if a.TypeOid == types.Unknown {
			var err error
			if a, err = s.cast(a, types.T(types.Float8), false); err != nil {
				return nil, err
			}
		}
		if types.InfoOf(a.TypeOid).Category != types.CatNumeric {
			return nil, pgerr.New(pgerr.UndefinedFunction, "function %s(%s) does not exist", name, types.InfoOf(a.TypeOid).Name)
		}
		switch name {
		case "sqrt":
			t := types.T(types.Float8)
			if a.TypeOid == types.Numeric {
				t = types.T(types.Numeric)
			}
			c, err := s.cast(a, t, false)
			if err != nil {
				return nil, err
			}
			return mk(t.OID, c), nil
		case "mod":
			if err := argc(2, 2); err != nil {
				return nil, err
			}
			return s.binop("%", a, args[1])
		case "round":
			if err := argc(1, 2); err != nil {
				return nil, err
			}
			if len(args) == 2 {
				c, err := s.cast(a, types.T(types.Numeric), false)
				if err != nil {
					return nil, err
				}
				p, err := s.coerce(args[1], types.T(types.Int8), "argument of round")
				if err != nil {
					return nil, err
				}
				return mk(types.Numeric, c, p), nil
			}
		}
		if err := argc(1, 1); err != nil {
			return nil, err
		}
		t := a.TypeOid
		if types.IsInteger(t) && name != "abs" {
			return a, nil
		}
		if name == "ceiling" {
			name = "ceil"
		}
		return mk(t, a), nil
	case "coalesce":
		args, t, err := s.unify(args, "COALESCE")
		if err != nil {
			return nil, err
		}
		return &Expr{Kind: meridianpb.ExprKind_EXPR_COALESCE, TypeOid: t.OID, Typmod: -1, Args: args}, nil
	case "nullif":
		if err := argc(2, 2); err != nil {
			return nil, err
		}
		args, t, err := s.unify(args, "NULLIF")
		if err != nil {
			return nil, err
		}
		return &Expr{Kind: meridianpb.ExprKind_EXPR_NULLIF, TypeOid: t.OID, Typmod: -1, Args: args}, nil
	case "extract", "date_part":
		return s.datePart(name, args)
	case "pg_get_serial_sequence":
		return s.serialSequence(args)
	case "current_setting":
		if err := argc(1, 2); err != nil {
			return nil, err
		}
		a, err := s.coerce(args[0], text, "argument of current_setting")
		if err != nil {
			return nil, err
		}
		return mk(types.Text, a), nil
	}
	return nil, pgerr.New(pgerr.UndefinedFunction, "function %s does not exist", name).
		WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

// postAgg analyzes n above an aggregation: a whole GROUP BY expression
// becomes a reference to its group column, an aggregate call a reference
// to its result. ok = false: analyze n normally (its parts will be
// checked).
func (s *scope) postAgg(n *pg_query.Node) (*Expr, bool, error) {
	ac := s.agg
	if f := n.GetFuncCall(); f != nil && aggNames[funcName(f)] && f.Over == nil {
		e, err := s.aggregate(f)
		return e, true, err
	}
	if _, isConst := n.Node.(*pg_query.Node_AConst); isConst || containsSubLink(n) {
		return nil, false, nil
	}
	if e, err := ac.input.analyze(n); err == nil {
		for i, g := range ac.groups {
			if proto.Equal(g, e) {
				return expr.Column(i, typeOf(g)), true, nil
			}
		}
	}
	return nil, false, nil
}

func (s *scope) aggregate(f *pg_query.FuncCall) (*Expr, error) {
	ac := s.agg
	name := funcName(f)
	if f.AggFilter != nil || len(f.AggOrder) > 0 || f.AggWithinGroup {
		return nil, pgerr.Unsupported("aggregate FILTER / ORDER BY")
	}
	spec := AggSpec{Func: name, Distinct: f.AggDistinct}
	if f.AggStar {
		if name != "count" {
			return nil, pgerr.New(pgerr.SyntaxError, "%s(*) is not allowed", name)
		}
		spec.Type = types.T(types.Int8)
	} else {
		if len(f.Args) != 1 {
			return nil, pgerr.New(pgerr.UndefinedFunction, "function %s with %d arguments does not exist", name, len(f.Args))
		}
		arg, err := ac.input.analyze(f.Args[0])
		if err != nil {
			return nil, err
		}
		if arg.TypeOid == types.Unknown {
			if arg, err = s.cast(arg, types.T(types.Text), false); err != nil {
				return nil, err
			}
		}
		spec.Arg = arg
		t, err := aggType(name, arg.TypeOid)
		if err != nil {
			return nil, err
		}
		spec.Type = t
	}
	for i, a := range ac.aggs {
		if a.Func == spec.Func && a.Distinct == spec.Distinct && proto.Equal(a.Arg, spec.Arg) {
			return expr.Column(len(ac.groups)+i, a.Type), nil
		}
	}
	ac.aggs = append(ac.aggs, spec)
	return expr.Column(len(ac.groups)+len(ac.aggs)-1, spec.Type), nil
}

// aggType is PostgreSQL's result type of an aggregate.
func aggType(name string, arg uint32) (types.Type, error) {
	cat := types.InfoOf(arg).Category
	bad := func() (types.Type, error) {
		return types.Type{}, pgerr.New(pgerr.UndefinedFunction, "function %s(%s) does not exist", name, types.InfoOf(arg).Name)
	}
	switch name {
	case "count":
		return types.T(types.Int8), nil
	case "min", "max":
		if arg == types.Bool || arg == types.Bytea {
			return bad()
		}
		if types.IsString(arg) {
			return types.T(types.Text), nil
		}
		return types.T(arg), nil
	case "sum":
		switch {
		case arg == types.Int2 || arg == types.Int4:
			return types.T(types.Int8), nil
		case arg == types.Int8 || arg == types.Numeric:
			return types.T(types.Numeric), nil
		case arg == types.Float4 || arg == types.Float8:
			return types.T(arg), nil
		case arg == types.Interval:
			return types.T(types.Interval), nil
		}
		return bad()
	case "avg":
		switch {
		case types.IsInteger(arg) || arg == types.Numeric:
			return types.T(types.Numeric), nil
		case types.IsFloat(arg):
			return types.T(types.Float8), nil
		case arg == types.Interval:
			return types.T(types.Interval), nil
		}
		_ = cat
		return bad()
	}
	return bad()
}

// datePart types extract(field FROM x) (numeric) and date_part('field',
// x) (double precision) over a date, timestamp, timestamptz or interval.
// date_part of a date reads it as a timestamp, as PostgreSQL's SQL
// function date_part(text, date) does.
func (s *scope) datePart(name string, args []*Expr) (*Expr, error) {
	shown := name
	if name == "extract" {
		shown = "pg_catalog.extract"
	}
	sig := func() string {
		var ts []string
		for _, a := range args {
			ts = append(ts, types.InfoOf(a.TypeOid).Name)
		}
		return shown + "(" + strings.Join(ts, ", ") + ")"
	}
	if len(args) != 2 {
		return nil, pgerr.New(pgerr.UndefinedFunction, "function %s does not exist", sig()).
			WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
	}
	field, x := args[0], args[1]
	if !types.IsString(field.TypeOid) && field.TypeOid != types.Unknown {
		return nil, pgerr.New(pgerr.UndefinedFunction, "function %s does not exist", sig()).
			WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
	}
	switch x.TypeOid {
	case types.Unknown:
		return nil, pgerr.New("42725", "function %s is not unique", sig()).
			WithHint("Could not choose a best candidate function. You might need to add explicit type casts.")
	case types.Date:
		if name == "date_part" {
			c, err := s.cast(x, types.T(types.Timestamp), false)
			if err != nil {
				return nil, err
			}
			x = c
		}
	case types.Timestamp, types.TimestampTZ, types.Interval:
	default:
		return nil, pgerr.New(pgerr.UndefinedFunction, "function %s does not exist", sig()).
			WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
	}
	f, err := s.cast(field, types.T(types.Text), false)
	if err != nil {
		return nil, err
	}
	t := uint32(types.Numeric)
	if name == "date_part" {
		t = types.Float8
	}
	return &Expr{Kind: kFunc, Name: name, TypeOid: t, Typmod: -1, Args: []*Expr{f, x}}, nil
}
