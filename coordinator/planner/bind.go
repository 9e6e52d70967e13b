package planner

import (
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// BindEnv supplies what Bind substitutes: parameter values (already
// decoded in their resolved types) and the session functions that must
// be one value per statement on every node.
type BindEnv struct {
	Params   []types.Datum
	Now      time.Time
	User     string
	Database string
	Version  string
	PID      int64
	Setting  func(name string) (string, error)
	// Outer holds the rows of the queries enclosing a correlated subquery
	// being run, innermost last (EXPR_OUTER's values).
	Outer [][]types.Datum
	// Inline, when set, replaces an uncorrelated subquery (its operands
	// bound) by an equivalent expression without one: UPDATE, DELETE and
	// INSERT ... VALUES compute their subqueries first, so that the
	// datanodes get plain values.
	Inline func(e *Expr) (*Expr, error)
	// Memo is the executor's per-statement state (materialized WITH
	// queries, the statement's snapshot).
	Memo map[any]any
}

// WithOuter returns a copy of env for running a subquery for one row of
// its enclosing query.
func (env *BindEnv) WithOuter(row []types.Datum) *BindEnv {
	c := *env
	c.Outer = append(append(make([][]types.Datum, 0, len(env.Outer)+1), env.Outer...), row)
	return &c
}

// Bind returns e with parameters and session functions replaced by
// constants; e itself when it has none.
func Bind(e *Expr, env *BindEnv) (*Expr, error) {
	if e == nil || !needsBind(e) {
		return e, nil
	}
	return bind(e, env)
}

// BindAll binds a list.
func BindAll(es []*Expr, env *BindEnv) ([]*Expr, error) {
	out := es
	for i, e := range es {
		b, err := Bind(e, env)
		if err != nil {
			return nil, err
		}
		if b != e {
			if &out[0] == &es[0] {
				out = append([]*Expr(nil), es...)
			}
			out[i] = b
		}
	}
	return out, nil
}

var sessionFuncs = map[string]bool{"now": true, "version": true, "current_database": true, "current_user": true,
	"session_user": true, "current_schema": true, "pg_backend_pid": true, "current_setting": true}

func needsBind(e *Expr) bool {
	if e.Kind == kParam || e.Kind == kOuter || e.Kind == kSubq || (e.Kind == kFunc && sessionFuncs[e.Name]) {
		return true
	}
	for _, a := range e.Args {
		if needsBind(a) {
			return true
		}
	}
	return false
}

func bind(e *Expr, env *BindEnv) (*Expr, error) {
	switch {
	case e.Kind == kParam:
		i := int(e.Index) - 1
		if i < 0 || i >= len(env.Params) {
			return nil, pgerr.New(pgerr.ProtocolViolation, "no value for parameter $%d", e.Index)
		}
		return expr.Const(typeOf(e), env.Params[i]), nil
	case e.Kind == kFunc && sessionFuncs[e.Name]:
		return sessionFunc(e, env)
	case e.Kind == kOuter:
		lvl := len(env.Outer) - int(e.LevelsUp)
		if lvl < 0 || int(e.Index) >= len(env.Outer[lvl]) {
			return nil, pgerr.New(pgerr.InternalError, "outer reference out of range")
		}
		return expr.Const(typeOf(e), env.Outer[lvl][e.Index]), nil
	}
	c := &meridianpb.Expr{Kind: e.Kind, TypeOid: e.TypeOid, Typmod: e.Typmod, Value: e.Value, IsNull: e.IsNull, Index: e.Index, Name: e.Name}
	for i, a := range e.Args {
		if e.Kind == kSubq && (e.Name == "any" || e.Name == "all") && i == len(e.Args)-1 {
			c.Args = append(c.Args, a) // the comparison template has no values to bind
			break
		}
		b, err := bind(a, env)
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, b)
	}
	if c.Kind == kSubq && env.Inline != nil {
		return env.Inline(c)
	}
	return c, nil
}

func sessionFunc(e *Expr, env *BindEnv) (*Expr, error) {
	t := typeOf(e)
	switch e.Name {
	case "now":
		now := env.Now.UTC().Truncate(time.Microsecond)
		switch t.OID {
		case types.Date:
			return expr.Const(t, types.DateOf(now)), nil
		}
		return expr.Const(t, now), nil
	case "version":
		return expr.Const(t, env.Version), nil
	case "current_database":
		return expr.Const(t, env.Database), nil
	case "current_user", "session_user":
		return expr.Const(t, env.User), nil
	case "current_schema":
		return expr.Const(t, "public"), nil
	case "pg_backend_pid":
		return expr.Const(t, env.PID), nil
	case "current_setting":
		arg, err := bind(e.Args[0], env)
		if err != nil {
			return nil, err
		}
		if arg.Kind != kConst || arg.IsNull {
			return nil, pgerr.Unsupported("current_setting of a non-constant")
		}
		name, err := expr.ConstValue(arg)
		if err != nil {
			return nil, err
		}
		v, err := env.Setting(name.(string))
		if err != nil {
			return nil, err
		}
		return expr.Const(t, v), nil
	}
	return e, nil
}
