package planner

import (
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Rewrites of a block's conditions before the FROM tree is built
// (normalize): constant folding and boolean simplification, OR
// factorization, ORs of equalities on one column as IN lists, and the
// transitive closure of equalities (closure.go). Each keeps PostgreSQL's
// results, including its errors: a constant sub-expression whose
// evaluation fails is left to fail when (and if) it runs.

// normalize rewrites a list of conjuncts (a WHERE clause, inner joins' ON
// conditions, an outer join's ON condition) into an equivalent list.
func normalize(conds []*Expr) []*Expr {
	var out []*Expr
	for _, c := range conds {
		c = Fold(c)
		c = factorOr(c)
		out = append(out, conjuncts(c)...)
	}
	// x AND true is x; a false (or NULL) conjunct makes the rest moot.
	var kept []*Expr
	for _, c := range out {
		if v, ok := boolConst(c); ok {
			if v == nil || !*v {
				return []*Expr{c}
			}
			continue
		}
		if !containsExpr(kept, c) {
			kept = append(kept, c)
		}
	}
	return withClosure(kept)
}

func containsExpr(list []*Expr, e *Expr) bool {
	for _, x := range list {
		if exprEqual(x, e) {
			return true
		}
	}
	return false
}

// boolConst reports a boolean constant: its value, nil for NULL.
func boolConst(e *Expr) (*bool, bool) {
	if e.Kind != kConst || (e.TypeOid != types.Bool && !(e.IsNull && e.TypeOid == types.Unknown)) {
		return nil, false
	}
	if e.IsNull {
		return nil, true
	}
	v, err := expr.ConstValue(e)
	if err != nil {
		return nil, false
	}
	b := v.(bool)
	return &b, true
}

func boolConstExpr(v bool) *Expr { return expr.Const(types.T(types.Bool), v) }

// foldable reports whether e can be computed at plan time: no columns,
// parameters, outer references, subqueries, or functions whose value is
// the session's (now(), current_user, ...: bound per statement).
func foldable(e *Expr) bool {
	switch e.Kind {
	case kColumn, kParam, kOuter, kSubq:
		return false
	case kFunc:
		if sessionFuncs[e.Name] {
			return false
		}
	}
	for _, a := range e.Args {
		if !foldable(a) {
			return false
		}
	}
	return true
}

// Fold returns e with its constant sub-expressions computed and its
// boolean structure simplified (x AND true is x, x OR true is true, NOT
// NOT x is x, a strict function of a NULL constant is NULL, CASE WHEN
// true/false branches resolved). A sub-expression whose evaluation fails
// (1/0) is kept, so that the error comes when it runs, as before.
func Fold(e *Expr) *Expr {
	if e == nil {
		return nil
	}
	if e.Kind == kSubq && (e.Name == "any" || e.Name == "all") {
		// The comparison template is over the operands and the
		// subquery's row: fold the operands only.
		c := cloneShallow(e)
		n := len(e.Args) - 1
		for i, a := range e.Args[:n] {
			c.Args[i] = Fold(a)
		}
		return c
	}
	c := cloneShallow(e)
	for i, a := range e.Args {
		c.Args[i] = Fold(a)
	}
	if d := dateCompare(c); d != nil {
		c = d
	}
	if s := simplify(c); s != nil {
		return s
	}
	if c.Kind != kConst && foldable(c) {
		if v, ok := evalConst(c); ok {
			return v
		}
	}
	return c
}

// dateCompare rewrites a comparison of a date cast to timestamp with a
// timestamp constant (date_col < date '1995-01-01' + interval '1' year)
// into a comparison of the date with a date constant, so that no row's
// date is converted, and the column's statistics apply: with D the
// constant's day and mid whether it is D's midnight,
//
//	d::ts <  T  →  d < D (mid), d <= D
//	d::ts <= T  →  d <= D
//	d::ts >  T  →  d > D
//	d::ts >= T  →  d >= D (mid), d > D
//	d::ts =  T  →  d = D (mid only)
//
// nil when it does not apply.
func dateCompare(e *Expr) *Expr {
	if e.Kind != kFunc || len(e.Args) != 2 {
		return nil
	}
	op, ok := flippedCompare[e.Name]
	if !ok {
		return nil
	}
	cast, k := e.Args[0], e.Args[1]
	if cast.Kind == kConst {
		cast, k = k, cast
	} else {
		op = e.Name
	}
	if cast.Kind != kCast || cast.TypeOid != types.Timestamp || len(cast.Args) != 1 || cast.Args[0].TypeOid != types.Date ||
		k.Kind != kConst || k.TypeOid != types.Timestamp || k.IsNull {
		return nil
	}
	v, err := expr.ConstValue(k)
	t, isTime := v.(time.Time)
	if err != nil || !isTime {
		return nil
	}
	sec := t.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day-- // floor for days before 1970
	}
	d := types.DateVal(day)
	mid := t.Equal(d.Time())
	switch {
	case op == "<" && !mid:
		op = "<="
	case op == ">=" && !mid:
		op = ">"
	case op == "=" && !mid:
		return nil
	}
	return &Expr{Kind: kFunc, Name: op, TypeOid: types.Bool, Typmod: -1,
		Args: []*Expr{cast.Args[0], expr.Const(types.T(types.Date), d)}}
}

// flippedCompare is the comparison with its operands swapped.
var flippedCompare = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}

// cloneShallow copies e's node with its own argument slice.
func cloneShallow(e *Expr) *Expr {
	c := &meridianpb.Expr{Kind: e.Kind, TypeOid: e.TypeOid, Typmod: e.Typmod, Value: e.Value, IsNull: e.IsNull,
		Index: e.Index, Name: e.Name, LevelsUp: e.LevelsUp}
	if len(e.Args) > 0 {
		c.Args = append([]*Expr(nil), e.Args...)
	}
	return c
}

// evalConst computes a foldable expression; ok = false when that fails.
func evalConst(e *Expr) (*Expr, bool) {
	ev, err := expr.Compile(e)
	if err != nil {
		return nil, false
	}
	d, err := ev(nil)
	if err != nil {
		return nil, false
	}
	return expr.Const(typeOf(e), d), true
}

// simplify applies the boolean and NULL rules to a node whose arguments
// are folded; nil when none applies.
func simplify(e *Expr) *Expr {
	switch e.Kind {
	case kAnd, kOr:
		isAnd := e.Kind == kAnd
		var args []*Expr
		sawNull := false
		for _, a := range e.Args {
			// flatten nested ANDs (ORs)
			var parts []*Expr
			if a.Kind == e.Kind {
				parts = a.Args
			} else {
				parts = []*Expr{a}
			}
			for _, p := range parts {
				v, isConst := boolConst(p)
				switch {
				case !isConst:
					if !containsExpr(args, p) {
						args = append(args, p)
					}
				case v == nil:
					sawNull = true
				case *v != isAnd:
					// false AND ..., true OR ...: PostgreSQL drops the
					// rest (and the errors it would raise)
					return boolConstExpr(!isAnd)
				}
			}
		}
		if sawNull {
			args = append(args, &Expr{Kind: kConst, TypeOid: types.Bool, Typmod: -1, IsNull: true})
		}
		switch len(args) {
		case 0:
			return boolConstExpr(isAnd)
		case 1:
			return args[0]
		}
		return &Expr{Kind: e.Kind, TypeOid: types.Bool, Typmod: -1, Args: args}
	case kNot:
		if a := e.Args[0]; a.Kind == kNot {
			return a.Args[0]
		}
	case kFunc:
		// Every function and operator is strict: NULL in, NULL out.
		if sessionFuncs[e.Name] {
			return nil
		}
		for _, a := range e.Args {
			if a.Kind == kConst && a.IsNull {
				return &Expr{Kind: kConst, TypeOid: e.TypeOid, Typmod: e.Typmod, IsNull: true}
			}
		}
	case kCase:
		// Drop WHEN false/NULL branches; a WHEN true branch ends it.
		var args []*Expr
		for i := 0; i+1 < len(e.Args); i += 2 {
			v, isConst := boolConst(e.Args[i])
			switch {
			case !isConst:
				args = append(args, e.Args[i], e.Args[i+1])
				continue
			case v == nil || !*v:
				continue
			}
			if len(args) == 0 {
				return e.Args[i+1]
			}
			args = append(args, e.Args[i+1]) // becomes the ELSE
			return &Expr{Kind: kCase, TypeOid: e.TypeOid, Typmod: e.Typmod, Args: args}
		}
		if len(args) == 0 {
			return e.Args[len(e.Args)-1]
		}
		if len(args) < len(e.Args)-1 {
			args = append(args, e.Args[len(e.Args)-1])
			return &Expr{Kind: kCase, TypeOid: e.TypeOid, Typmod: e.Typmod, Args: args}
		}
	case kCoal:
		// NULL arguments go; a non-NULL constant ends the list.
		var args []*Expr
		for _, a := range e.Args {
			if a.Kind == kConst {
				if a.IsNull {
					continue
				}
				if len(args) == 0 {
					return a
				}
				args = append(args, a)
				break
			}
			args = append(args, a)
		}
		switch {
		case len(args) == 0:
			return &Expr{Kind: kConst, TypeOid: e.TypeOid, Typmod: e.Typmod, IsNull: true}
		case len(args) < len(e.Args):
			return &Expr{Kind: kCoal, TypeOid: e.TypeOid, Typmod: e.Typmod, Args: args}
		}
	}
	return nil
}

// factorOr rewrites (a AND x) OR (a AND y) as a AND (x OR y), so that
// the common conditions (join keys, a single table's filters) are
// conjuncts the planner can use; a branch left with nothing makes the OR
// true: a OR (a AND y) is a. It then turns an OR of equalities of one
// column with values into an IN list, which routing and index lookups
// use.
func factorOr(e *Expr) *Expr {
	if e.Kind == kAnd {
		c := cloneShallow(e)
		for i, a := range e.Args {
			c.Args[i] = factorOr(a)
		}
		if s := simplify(c); s != nil {
			return s
		}
		return c
	}
	if e.Kind != kOr {
		return e
	}
	branches := make([][]*Expr, len(e.Args))
	for i, a := range e.Args {
		branches[i] = conjuncts(factorOr(a))
	}
	var common []*Expr
	for _, c := range branches[0] {
		inAll := true
		for _, b := range branches[1:] {
			inAll = inAll && containsExpr(b, c)
		}
		if inAll && !containsExpr(common, c) {
			common = append(common, c)
		}
	}
	var rest []*Expr
	emptyBranch := false
	for _, b := range branches {
		var left []*Expr
		for _, c := range b {
			if !containsExpr(common, c) {
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			emptyBranch = true
			break
		}
		rest = append(rest, andAll(left))
	}
	out := common
	if !emptyBranch {
		or := &Expr{Kind: kOr, TypeOid: types.Bool, Typmod: -1, Args: rest}
		if s := simplify(or); s != nil {
			or = s
		}
		out = append(out, inList(or))
	}
	if len(out) == 1 {
		return out[0]
	}
	return andAll(out)
}

// inList turns col = v1 OR col = v2 OR ... (one plain column, values of
// its type) into col IN (v1, v2, ...).
func inList(e *Expr) *Expr {
	if e.Kind != kOr {
		return e
	}
	var col *Expr
	vals := []*Expr{}
	for _, a := range e.Args {
		c, v, ok := colEqValue(a)
		if !ok {
			if a.Kind != kIn || a.Args[0].Kind != kColumn {
				return e
			}
			c, v = a.Args[0], nil
			for _, x := range a.Args[1:] {
				if x.TypeOid != c.TypeOid || !isValue(x) || coordinatorOnly(x) {
					return e
				}
			}
			vals = append(vals, a.Args[1:]...)
		} else {
			vals = append(vals, v)
		}
		if col != nil && !exprEqual(col, c) {
			return e
		}
		col = c
	}
	return boolExpr(kIn, append([]*Expr{col}, vals...)...)
}

// colEqValue matches col = value (either order): a plain column and a
// value of exactly its type (no column references, no subquery).
func colEqValue(e *Expr) (col, val *Expr, ok bool) {
	if e.Kind != kFunc || e.Name != "=" || len(e.Args) != 2 {
		return nil, nil, false
	}
	l, r := e.Args[0], e.Args[1]
	if r.Kind == kColumn && l.Kind != kColumn {
		l, r = r, l
	}
	if l.Kind != kColumn || !isValue(r) || coordinatorOnly(r) || r.TypeOid != l.TypeOid || maxLevel(r) > 0 {
		return nil, nil, false
	}
	return l, r, true
}
