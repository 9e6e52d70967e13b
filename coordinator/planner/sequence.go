package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/sequence"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Sequence functions. nextval, currval, setval and lastval become
// EXPR_SEQUENCE nodes, which only a coordinator evaluates (the session
// holds currval's state and the coordinator the cache of values). They
// are volatile: evaluated for every row, never bound once per statement
// like now(). Where the expression is evaluated decides the form:
//
//   - in a query block (SELECT, INSERT ... SELECT's query) the node is
//     wrapped in a per-row coordinator subquery (EXPR_SUBQUERY "volatile",
//     a SubPlan marked Correlated without a query): the optimizer then
//     evaluates it on the coordinator for each row, as it does a
//     correlated subquery, and never ships it to a datanode;
//   - in INSERT ... VALUES and column DEFAULTs, which the coordinator
//     evaluates row by row itself, it stays as is;
//   - in UPDATE and DELETE (SET, WHERE) and RETURNING, which datanodes
//     evaluate, it is refused (0A000).
//
// A sequence named by a constant ('s', 's'::regclass) is resolved now, so
// a DEFAULT keeps naming the same sequence; one named by an expression is
// resolved when evaluated.

// seqMode says how the block being analyzed evaluates sequence functions.
type seqMode int

const (
	seqPerRow  seqMode = iota // a query block: wrap for the coordinator
	seqDirect                 // evaluated by the coordinator as is
	seqRefused                // evaluated on datanodes: not supported
)

// VolatileSubquery is the EXPR_SUBQUERY name of an expression the
// coordinator evaluates for each row: args[0].
const VolatileSubquery = "volatile"

var seqFuncs = map[string]bool{"nextval": true, "currval": true, "setval": true, "lastval": true}

// seqCall analyzes a sequence function call.
func (s *scope) seqCall(name string, f *pg_query.FuncCall) (*Expr, error) {
	mode, p := seqRefused, (*Planner)(nil)
	if s.q != nil {
		mode, p = s.q.seq, s.q.p
	}
	if mode == seqRefused {
		return nil, pgerr.Unsupported(name + "() in UPDATE, DELETE or RETURNING")
	}
	lo, hi := 1, 1
	switch name {
	case "lastval":
		lo, hi = 0, 0
	case "setval":
		lo, hi = 2, 3
	}
	if len(f.Args) < lo || len(f.Args) > hi {
		return nil, pgerr.New(pgerr.UndefinedFunction, "function %s with %d arguments does not exist", name, len(f.Args)).
			WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
	}
	e := &Expr{Kind: meridianpb.ExprKind_EXPR_SEQUENCE, Name: name, TypeOid: types.Int8, Typmod: -1}
	if name != "lastval" {
		arg := f.Args[0]
		if tc := arg.GetTypeCast(); tc != nil && isRegclass(tc.TypeName) {
			arg = tc.Arg
		}
		a, err := s.analyze(arg)
		if err != nil {
			return nil, err
		}
		switch {
		case a.Kind == kConst && a.IsNull:
			return expr.Const(types.T(types.Int8), nil), nil // strict: NULL in, NULL out
		case a.Kind == kConst && (a.TypeOid == types.Unknown || types.IsString(a.TypeOid)):
			v, err := expr.ConstValue(a)
			if err != nil {
				return nil, err
			}
			if p == nil {
				return nil, pgerr.New(pgerr.InternalError, "no catalog to resolve sequence %q", v)
			}
			sd, err := p.ResolveSequence(v.(string))
			if err != nil {
				return nil, err
			}
			e.Index = int32(sd.Id)
		case a.TypeOid == types.Unknown || types.IsString(a.TypeOid):
			if a, err = s.cast(a, types.T(types.Text), false); err != nil {
				return nil, err
			}
			e.Args = append(e.Args, a)
		default:
			return nil, pgerr.New(pgerr.UndefinedFunction, "function %s(%s) does not exist", name, types.InfoOf(a.TypeOid).Name).
				WithHint("No function matches the given name and argument types. You might need to add explicit type casts.")
		}
	}
	if name == "setval" {
		v, err := s.analyze(f.Args[1])
		if err != nil {
			return nil, err
		}
		if v, err = s.coerce(v, types.T(types.Int8), "argument of setval"); err != nil {
			return nil, err
		}
		e.Args = append(e.Args, v)
		if len(f.Args) == 3 {
			c, err := s.analyzeBool(f.Args[2], "setval")
			if err != nil {
				return nil, err
			}
			e.Args = append(e.Args, c)
		}
	}
	if mode == seqDirect {
		return e, nil
	}
	s.q.subs = append(s.q.subs, &SubPlan{Correlated: true})
	return &Expr{Kind: kSubq, Name: VolatileSubquery, Index: int32(len(s.q.subs) - 1), TypeOid: e.TypeOid, Typmod: e.Typmod,
		Args: []*Expr{e}}, nil
}

func isRegclass(tn *pg_query.TypeName) bool {
	if tn == nil || len(tn.Names) == 0 || len(tn.ArrayBounds) > 0 {
		return false
	}
	return tn.Names[len(tn.Names)-1].GetString_().GetSval() == "regclass"
}

// ResolveSequence finds the sequence a text names (nextval('s')), with
// PostgreSQL's errors: 42P01 for no relation of that name, 42809 for one
// that is not a sequence, 3F000 for an unknown schema.
func (p *Planner) ResolveSequence(text string) (*meridianpb.SequenceDesc, error) {
	schema, name, err := sequence.ParseName(text)
	if err != nil {
		return nil, err
	}
	if schema == "" {
		schema = "public"
	}
	if sd, ok := p.Cat.Sequence(schema, name); ok {
		return sd, nil
	}
	if p.Cat.RelationExists(schema, name) {
		return nil, pgerr.New(pgerr.WrongObjectType, "%q is not a sequence", name)
	}
	if !p.Cat.SchemaExists(schema) {
		return nil, pgerr.New(pgerr.UndefinedSchema, "schema %q does not exist", schema)
	}
	return nil, pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name)
}

// perRow reports whether e holds an expression evaluated for each row on
// the coordinator (a sequence function of a query block).
func perRow(e *Expr) bool {
	if e == nil {
		return false
	}
	if e.Kind == kSubq && e.Name == VolatileSubquery {
		return true
	}
	for _, a := range e.Args {
		if perRow(a) {
			return true
		}
	}
	return false
}

// HasSequenceCall reports whether e calls a sequence function.
func HasSequenceCall(e *Expr) bool {
	if e == nil {
		return false
	}
	if e.Kind == meridianpb.ExprKind_EXPR_SEQUENCE {
		return true
	}
	for _, a := range e.Args {
		if HasSequenceCall(a) {
			return true
		}
	}
	return false
}

// SequencesOf lists the ids of the sequences e names by constant.
func SequencesOf(e *Expr) []uint32 {
	var out []uint32
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x == nil {
			return
		}
		if x.Kind == meridianpb.ExprKind_EXPR_SEQUENCE && x.Index != 0 {
			out = append(out, uint32(x.Index))
		}
		for _, a := range x.Args {
			walk(a)
		}
	}
	walk(e)
	return out
}

// identityOverride decides what becomes of an explicit value for column
// col under an INSERT's OVERRIDING clause (PostgreSQL's rewriter): kept,
// replaced by the column's default (OVERRIDING USER VALUE on an identity
// column), or refused (GENERATED ALWAYS without OVERRIDING SYSTEM VALUE).
func identityOverride(col *meridianpb.ColumnDesc, ov pg_query.OverridingKind) (useDefault bool, err error) {
	if col.Identity == meridianpb.Identity_IDENTITY_NONE {
		return false, nil
	}
	if ov == pg_query.OverridingKind_OVERRIDING_USER_VALUE {
		return true, nil
	}
	if col.Identity == meridianpb.Identity_IDENTITY_ALWAYS && ov != pg_query.OverridingKind_OVERRIDING_SYSTEM_VALUE {
		return false, pgerr.New(pgerr.GeneratedAlways, "cannot insert a non-DEFAULT value into column %q", col.Name).
			WithDetail("Column %q is an identity column defined as GENERATED ALWAYS.", col.Name).
			WithHint("Use OVERRIDING SYSTEM VALUE to override.")
	}
	return false, nil
}

// updateIdentity checks an UPDATE's SET of column col (toDefault: SET col
// = DEFAULT).
func updateIdentity(col *meridianpb.ColumnDesc, toDefault bool) error {
	if col.Identity == meridianpb.Identity_IDENTITY_ALWAYS && !toDefault {
		return pgerr.New(pgerr.GeneratedAlways, "column %q can only be updated to DEFAULT", col.Name).
			WithDetail("Column %q is an identity column defined as GENERATED ALWAYS.", col.Name)
	}
	if toDefault && HasSequenceCall(col.DefaultExpr) {
		return pgerr.Unsupported("UPDATE ... SET " + col.Name + " = DEFAULT (a sequence's nextval, evaluated on the datanodes)")
	}
	return nil
}

// NextvalDefault is the default of a serial or identity column: nextval
// of its sequence, converted to the column's type.
func NextvalDefault(seqID uint32, col *meridianpb.ColumnDesc) *Expr {
	e := &Expr{Kind: meridianpb.ExprKind_EXPR_SEQUENCE, Name: "nextval", Index: int32(seqID), TypeOid: types.Int8, Typmod: -1}
	if col.TypeOid == types.Int8 {
		return e
	}
	return &Expr{Kind: kCast, TypeOid: col.TypeOid, Typmod: col.Typmod, Args: []*Expr{e}}
}

// serialSequence is pg_get_serial_sequence(table, column): the name of the
// sequence a column owns (serial or identity), or NULL. Both arguments
// must be constants; it is resolved now.
func (s *scope) serialSequence(args []*Expr) (*Expr, error) {
	text := types.T(types.Text)
	if len(args) != 2 {
		return nil, pgerr.New(pgerr.UndefinedFunction, "function pg_get_serial_sequence with %d arguments does not exist", len(args))
	}
	var vals [2]string
	for i, a := range args {
		if a.Kind != kConst || !(a.TypeOid == types.Unknown || types.IsString(a.TypeOid)) {
			return nil, pgerr.Unsupported("pg_get_serial_sequence of anything but constants")
		}
		if a.IsNull {
			return expr.Const(text, nil), nil
		}
		v, err := expr.ConstValue(a)
		if err != nil {
			return nil, err
		}
		vals[i] = v.(string)
	}
	if s.q == nil {
		return nil, pgerr.Unsupported("pg_get_serial_sequence here")
	}
	cat := s.q.p.Cat
	schema, name, err := sequence.ParseName(vals[0])
	if err != nil {
		return nil, err
	}
	if schema == "" {
		schema = "public"
	}
	t, ok := cat.Table(schema, name)
	if !ok {
		return nil, pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name)
	}
	if columnIndex(t, vals[1]) < 0 {
		return nil, pgerr.New(pgerr.UndefinedColumn, "column %q of relation %q does not exist", vals[1], name)
	}
	for _, sd := range cat.OwnedSequences(t.Id) {
		if sd.OwnerColumn == vals[1] {
			return expr.Const(text, sequence.QuoteIdent(sd.Schema)+"."+sequence.QuoteIdent(sd.Name)), nil
		}
	}
	return expr.Const(text, nil), nil
}
