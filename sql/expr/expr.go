package expr

import (
	"strings"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Eval evaluates a compiled expression over a row.
type Eval func(row []types.Datum) (types.Datum, error)

// Const builds a constant expression of type t.
func Const(t types.Type, d types.Datum) *meridianpb.Expr {
	e := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_CONST, TypeOid: t.OID, Typmod: t.Typmod}
	if d == nil {
		e.IsNull = true
	} else {
		e.Value = codec.AppendDatum(nil, d)
	}
	return e
}

// Column builds a column reference.
func Column(i int, t types.Type) *meridianpb.Expr {
	return &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_COLUMN, Index: int32(i), TypeOid: t.OID, Typmod: t.Typmod}
}

// ConstValue decodes a constant expression's datum.
func ConstValue(e *meridianpb.Expr) (types.Datum, error) {
	if e.IsNull {
		return nil, nil
	}
	d, _, err := codec.DecodeDatum(e.TypeOid, e.Value)
	return d, err
}

// TypeOf returns an expression's result type.
func TypeOf(e *meridianpb.Expr) types.Type { return types.Type{OID: e.TypeOid, Typmod: e.Typmod} }

// Compile turns e into an evaluator.
func Compile(e *meridianpb.Expr) (Eval, error) { return compiler{}.compile(e) }

// Extension compiles the expression kinds only a coordinator evaluates
// (subqueries, references to an enclosing query's row).
type Extension func(e *meridianpb.Expr) (Eval, error)

// CompileWith is Compile with an extension for coordinator-only kinds.
func CompileWith(e *meridianpb.Expr, ext Extension) (Eval, error) { return compiler{ext}.compile(e) }

type compiler struct{ ext Extension }

func (c compiler) compile(e *meridianpb.Expr) (Eval, error) {
	switch e.Kind {
	case meridianpb.ExprKind_EXPR_CONST:
		d, err := ConstValue(e)
		if err != nil {
			return nil, err
		}
		return func([]types.Datum) (types.Datum, error) { return d, nil }, nil
	case meridianpb.ExprKind_EXPR_COLUMN:
		i := int(e.Index)
		return func(row []types.Datum) (types.Datum, error) {
			if i < 0 || i >= len(row) {
				return nil, pgerr.New(pgerr.InternalError, "column %d out of range", i)
			}
			return row[i], nil
		}, nil
	case meridianpb.ExprKind_EXPR_AND, meridianpb.ExprKind_EXPR_OR:
		args, err := c.compileAll(e.Args)
		if err != nil {
			return nil, err
		}
		isAnd := e.Kind == meridianpb.ExprKind_EXPR_AND
		return func(row []types.Datum) (types.Datum, error) {
			sawNull := false
			for _, a := range args {
				v, err := a(row)
				if err != nil {
					return nil, err
				}
				if v == nil {
					sawNull = true
					continue
				}
				if v.(bool) != isAnd {
					return !isAnd, nil
				}
			}
			if sawNull {
				return nil, nil
			}
			return isAnd, nil
		}, nil
	case meridianpb.ExprKind_EXPR_NOT:
		a, err := c.compile1(e)
		if err != nil {
			return nil, err
		}
		return func(row []types.Datum) (types.Datum, error) {
			v, err := a(row)
			if v == nil || err != nil {
				return nil, err
			}
			return !v.(bool), nil
		}, nil
	case meridianpb.ExprKind_EXPR_IS_NULL, meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		a, err := c.compile1(e)
		if err != nil {
			return nil, err
		}
		want := e.Kind == meridianpb.ExprKind_EXPR_IS_NULL
		return func(row []types.Datum) (types.Datum, error) {
			v, err := a(row)
			if err != nil {
				return nil, err
			}
			return (v == nil) == want, nil
		}, nil
	case meridianpb.ExprKind_EXPR_CAST:
		a, err := c.compile1(e)
		if err != nil {
			return nil, err
		}
		from := e.Args[0].TypeOid
		to := TypeOf(e)
		cast := types.Cast
		if e.Name == "explicit" {
			cast = types.CastExplicit
		}
		return func(row []types.Datum) (types.Datum, error) {
			v, err := a(row)
			if v == nil || err != nil {
				return nil, err
			}
			return cast(v, from, to)
		}, nil
	case meridianpb.ExprKind_EXPR_CASE:
		args, err := c.compileAll(e.Args)
		if err != nil {
			return nil, err
		}
		if len(args)%2 != 1 {
			return nil, pgerr.New(pgerr.InternalError, "malformed CASE")
		}
		return func(row []types.Datum) (types.Datum, error) {
			for i := 0; i+1 < len(args); i += 2 {
				c, err := args[i](row)
				if err != nil {
					return nil, err
				}
				if c != nil && c.(bool) {
					return args[i+1](row)
				}
			}
			return args[len(args)-1](row)
		}, nil
	case meridianpb.ExprKind_EXPR_COALESCE:
		args, err := c.compileAll(e.Args)
		if err != nil {
			return nil, err
		}
		return func(row []types.Datum) (types.Datum, error) {
			for _, a := range args {
				v, err := a(row)
				if v != nil || err != nil {
					return v, err
				}
			}
			return nil, nil
		}, nil
	case meridianpb.ExprKind_EXPR_NULLIF:
		args, err := c.compileAll(e.Args)
		if err != nil || len(args) != 2 {
			return nil, orMalformed(err, "NULLIF")
		}
		bpchar := e.Args[0].TypeOid == types.Bpchar && e.Args[1].TypeOid == types.Bpchar
		return func(row []types.Datum) (types.Datum, error) {
			// both arguments are evaluated, as PostgreSQL does (an error in
			// the second surfaces even when the first is NULL)
			a, err := args[0](row)
			if err != nil {
				return nil, err
			}
			b, err := args[1](row)
			if err != nil {
				return nil, err
			}
			if a != nil && b != nil && equal(a, b, bpchar) {
				return nil, nil
			}
			return a, nil
		}, nil
	case meridianpb.ExprKind_EXPR_IN:
		args, err := c.compileAll(e.Args)
		if err != nil || len(args) < 1 {
			return nil, orMalformed(err, "IN")
		}
		// x IN (a, b, ...) is PostgreSQL's x = a OR x = b OR ...: items are
		// evaluated in order until one equals x (so a NULL x still
		// evaluates them all, and their errors surface). char(n) against
		// char(n) ignores trailing spaces, as its = does.
		bpchar := make([]bool, len(e.Args))
		for i, a := range e.Args[1:] {
			bpchar[i+1] = e.Args[0].TypeOid == types.Bpchar && a.TypeOid == types.Bpchar
		}
		return func(row []types.Datum) (types.Datum, error) {
			x, err := args[0](row)
			if err != nil {
				return nil, err
			}
			sawNull := x == nil
			for i, a := range args[1:] {
				v, err := a(row)
				if err != nil {
					return nil, err
				}
				if x == nil || v == nil {
					sawNull = true
					continue
				}
				if equal(x, v, bpchar[i+1]) {
					return true, nil
				}
			}
			if sawNull {
				return nil, nil
			}
			return false, nil
		}, nil
	case meridianpb.ExprKind_EXPR_FUNC:
		return c.compileFunc(e)
	case meridianpb.ExprKind_EXPR_PARAM:
		return nil, pgerr.New(pgerr.InternalError, "unbound parameter $%d", e.Index)
	}
	if c.ext != nil {
		return c.ext(e)
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown expression kind %v", e.Kind)
}

func orMalformed(err error, what string) error {
	if err != nil {
		return err
	}
	return pgerr.New(pgerr.InternalError, "malformed %s", what)
}

func (c compiler) compile1(e *meridianpb.Expr) (Eval, error) {
	if len(e.Args) != 1 {
		return nil, pgerr.New(pgerr.InternalError, "%v takes one argument", e.Kind)
	}
	return c.compile(e.Args[0])
}

func (c compiler) compileAll(es []*meridianpb.Expr) ([]Eval, error) {
	out := make([]Eval, len(es))
	for i, a := range es {
		ev, err := c.compile(a)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// equal compares two non-NULL datums of one type for equality; bpchar
// (both sides char(n)) ignores trailing spaces, as PostgreSQL's bpchareq.
func equal(a, b types.Datum, bpchar bool) bool {
	if bpchar {
		return strings.TrimRight(a.(string), " ") == strings.TrimRight(b.(string), " ")
	}
	return types.Compare(a, b) == 0
}

// IsTrue reports whether a filter result passes (true, not NULL).
func IsTrue(d types.Datum) bool {
	b, ok := d.(bool)
	return ok && b
}
