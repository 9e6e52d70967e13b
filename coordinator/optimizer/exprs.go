package optimizer

import (
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Expr is the typed expression tree of plans.
type Expr = meridianpb.Expr

const (
	kColumn = meridianpb.ExprKind_EXPR_COLUMN
	kConst  = meridianpb.ExprKind_EXPR_CONST
	kFunc   = meridianpb.ExprKind_EXPR_FUNC
	kSubq   = meridianpb.ExprKind_EXPR_SUBQUERY
	kCast   = meridianpb.ExprKind_EXPR_CAST
	kAnd    = meridianpb.ExprKind_EXPR_AND
	kIn     = meridianpb.ExprKind_EXPR_IN
)

// isTemplate reports whether argument i of e is a quantified subquery's
// comparison template (over its own operands, not the input row).
func isTemplate(e *Expr, i int) bool {
	return e.Kind == kSubq && (e.Name == "any" || e.Name == "all") && i == len(e.Args)-1
}

// refs calls f for every input column e references.
func refs(e *Expr, f func(int)) {
	if e == nil {
		return
	}
	if e.Kind == kColumn {
		f(int(e.Index))
	}
	for i, a := range e.Args {
		if !isTemplate(e, i) {
			refs(a, f)
		}
	}
}

// mark sets need[c] for every column e references.
func mark(need []bool, es ...*Expr) {
	for _, e := range es {
		refs(e, func(c int) {
			if c >= 0 && c < len(need) {
				need[c] = true
			}
		})
	}
}

// rewrite returns a copy of e with each input column c replaced by
// col(c) and each subquery index i by sub(i) (nil: unchanged).
func rewrite(e *Expr, col func(int32) int32, sub func(int32) int32) *Expr {
	if e == nil {
		return nil
	}
	c := &meridianpb.Expr{Kind: e.Kind, TypeOid: e.TypeOid, Typmod: e.Typmod, Value: e.Value, IsNull: e.IsNull,
		Index: e.Index, Name: e.Name, LevelsUp: e.LevelsUp}
	switch {
	case e.Kind == kColumn && col != nil:
		c.Index = col(e.Index)
	case e.Kind == kSubq && sub != nil:
		c.Index = sub(e.Index)
	}
	for i, a := range e.Args {
		if isTemplate(e, i) {
			c.Args = append(c.Args, rewrite(a, nil, sub))
			continue
		}
		c.Args = append(c.Args, rewrite(a, col, sub))
	}
	return c
}

// columnExpr is a column reference.
func columnExpr(i int, oid uint32, typmod int32) *Expr {
	return expr.Column(i, types.Type{OID: oid, Typmod: typmod})
}

// walk calls f on e and every sub-expression.
func walk(e *Expr, f func(*Expr)) {
	if e == nil {
		return
	}
	f(e)
	for _, a := range e.Args {
		walk(a, f)
	}
}

// hashClass groups types whose equal values have equal key encodings
// (codec.AppendKey), so that rows hashed on a column of one match rows
// hashed on a column of another.
func hashClass(e *Expr) (uint32, bool) {
	t := e.TypeOid
	switch {
	case types.IsInteger(t):
		return types.Int8, true
	case t == types.Bpchar:
		return 0, false // padding depends on the length
	case types.IsString(t):
		return types.Text, true
	case t == types.Timestamp || t == types.TimestampTZ:
		return types.Timestamp, true
	case t == types.Unknown:
		return 0, false
	}
	return t, true
}

// baseColumn returns the input column an expression reads, looking
// through casts that keep the value's key encoding.
func baseColumn(e *Expr) (int, bool) {
	for e.Kind == kCast && len(e.Args) == 1 {
		a := e.Args[0]
		ca, ok1 := hashClass(a)
		ce, ok2 := hashClass(e)
		if !ok1 || !ok2 || ca != ce {
			return 0, false
		}
		e = a
	}
	if e.Kind != kColumn {
		return 0, false
	}
	return int(e.Index), true
}

// correlated reports whether e holds a correlated subquery, which only
// the coordinator can evaluate.
func correlated(e *Expr, subs []*planner.SubPlan) bool {
	found := false
	walk(e, func(x *Expr) {
		if x.Kind == kSubq && int(x.Index) < len(subs) && subs[x.Index].Correlated {
			found = true
		}
	})
	return found
}

func conjuncts(e *Expr) []*Expr {
	if e == nil {
		return nil
	}
	if e.Kind == kAnd {
		var out []*Expr
		for _, a := range e.Args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*Expr{e}
}
