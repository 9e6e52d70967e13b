package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// WindowFunc is a window function call. Its arguments, partition and
// order keys are over the block's row after aggregation (the FROM row
// when the block does not aggregate); its value is appended to that row.
type WindowFunc struct {
	Func        string
	Args        []*Expr
	PartitionBy []*Expr
	OrderBy     []WindowOrder
	Frame       Frame
	Type        types.Type
	// Agg: an aggregate (sum, count, ...) computed over the frame.
	Agg *AggSpec
}

// WindowOrder is a window's ORDER BY key.
type WindowOrder struct {
	Expr       *Expr
	Desc       bool
	NullsFirst bool
}

// FrameBound is one end of a window frame.
type FrameBound int

const (
	UnboundedPreceding FrameBound = iota
	OffsetPreceding
	CurrentRow
	OffsetFollowing
	UnboundedFollowing
)

// Frame is a window frame. Rows = false is RANGE mode, where CURRENT
// ROW includes the row's peers (equal ORDER BY keys).
type Frame struct {
	Rows                 bool
	Start, End           FrameBound
	StartOffset, EndOffs *Expr // constant row counts (ROWS mode)
}

// PostgreSQL's frameOptions bits.
const (
	frameRange              = 0x2
	frameRows               = 0x4
	frameGroups             = 0x8
	frameStartUnbPreceding  = 0x20
	frameEndUnbPreceding    = 0x40
	frameStartUnbFollowing  = 0x80
	frameEndUnbFollowing    = 0x100
	frameStartCurrent       = 0x200
	frameEndCurrent         = 0x400
	frameStartOffPreceding  = 0x800
	frameEndOffPreceding    = 0x1000
	frameStartOffFollowing  = 0x2000
	frameEndOffFollowing    = 0x4000
	frameExcludeAnyMask     = 0x8000 | 0x10000 | 0x20000
	frameDefaultOptionsMask = 0x1
)

var windowOnly = map[string]bool{"row_number": true, "rank": true, "dense_rank": true, "percent_rank": true,
	"cume_dist": true, "ntile": true, "lag": true, "lead": true, "first_value": true, "last_value": true, "nth_value": true}

// window plans a window function call; the result is a placeholder
// column (negative index) that finishWindows resolves.
func (s *scope) window(f *pg_query.FuncCall) (*Expr, error) {
	if s.q == nil || !s.q.windowsAllowed {
		return nil, pgerr.New(pgerr.WindowingError, "window functions are not allowed here")
	}
	name := funcName(f)
	def := f.Over
	if def.Refname != "" || (def.Name != "" && def.PartitionClause == nil && def.OrderClause == nil) {
		ref := def.Refname
		if ref == "" {
			ref = def.Name
		}
		named, ok := s.q.windowDefs[ref]
		if !ok {
			return nil, pgerr.New(pgerr.UndefinedObject, "window %q does not exist", ref)
		}
		merged := proto.Clone(named).(*pg_query.WindowDef)
		if len(def.OrderClause) > 0 {
			merged.OrderClause = def.OrderClause
		}
		if def.FrameOptions&frameDefaultOptionsMask != 0 {
			merged.FrameOptions, merged.StartOffset, merged.EndOffset = def.FrameOptions, def.StartOffset, def.EndOffset
		}
		def = merged
	}
	w := &WindowFunc{Func: name}
	// Arguments are analyzed like the select list (aggregates allowed
	// when the block aggregates), but window calls may not nest.
	s.q.windowsAllowed = false
	defer func() { s.q.windowsAllowed = true }()
	if f.AggFilter != nil || f.AggDistinct || len(f.AggOrder) > 0 {
		return nil, pgerr.Unsupported("DISTINCT, ORDER BY or FILTER in window aggregates")
	}
	if !f.AggStar {
		args, err := s.analyzeList(f.Args)
		if err != nil {
			return nil, err
		}
		w.Args = args
	}
	for _, p := range def.PartitionClause {
		e, err := s.analyze(p)
		if err != nil {
			return nil, err
		}
		w.PartitionBy = append(w.PartitionBy, e)
	}
	for _, o := range def.OrderClause {
		sb := o.GetSortBy()
		e, err := s.analyze(sb.Node)
		if err != nil {
			return nil, err
		}
		desc, nullsFirst := sortDir(sb)
		w.OrderBy = append(w.OrderBy, WindowOrder{Expr: e, Desc: desc, NullsFirst: nullsFirst})
	}
	if err := s.frame(def, w); err != nil {
		return nil, err
	}
	if err := s.windowType(w, f); err != nil {
		return nil, err
	}
	for i, x := range s.q.windows {
		if proto.Equal(wfKey(x), wfKey(w)) && x.Func == w.Func && x.Frame.Rows == w.Frame.Rows &&
			x.Frame.Start == w.Frame.Start && x.Frame.End == w.Frame.End &&
			proto.Equal(orNull(x.Frame.StartOffset), orNull(w.Frame.StartOffset)) && proto.Equal(orNull(x.Frame.EndOffs), orNull(w.Frame.EndOffs)) {
			return &Expr{Kind: kColumn, Index: int32(-1 - i), TypeOid: x.Type.OID, Typmod: x.Type.Typmod}, nil
		}
	}
	s.q.windows = append(s.q.windows, w)
	return &Expr{Kind: kColumn, Index: int32(-len(s.q.windows)), TypeOid: w.Type.OID, Typmod: w.Type.Typmod}, nil
}

func orNull(e *Expr) *Expr {
	if e == nil {
		return nullConst()
	}
	return e
}

// wfKey packs a window call's expressions for comparison.
func wfKey(w *WindowFunc) *Expr {
	k := &Expr{Kind: kFunc, Name: w.Func}
	k.Args = append(k.Args, &Expr{Kind: kFunc, Name: "args", Args: w.Args})
	k.Args = append(k.Args, &Expr{Kind: kFunc, Name: "partition", Args: w.PartitionBy})
	for _, o := range w.OrderBy {
		n := "asc"
		if o.Desc {
			n = "desc"
		}
		if o.NullsFirst {
			n += " nulls first"
		}
		k.Args = append(k.Args, &Expr{Kind: kFunc, Name: n, Args: []*Expr{o.Expr}})
	}
	return k
}

func sortDir(sb *pg_query.SortBy) (desc, nullsFirst bool) {
	desc = sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC
	nullsFirst = desc
	switch sb.SortbyNulls {
	case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
		nullsFirst = true
	case pg_query.SortByNulls_SORTBY_NULLS_LAST:
		nullsFirst = false
	}
	return desc, nullsFirst
}

func (s *scope) frame(def *pg_query.WindowDef, w *WindowFunc) error {
	o := def.FrameOptions
	f := Frame{Start: UnboundedPreceding, End: CurrentRow}
	if len(w.OrderBy) == 0 {
		f.End = UnboundedFollowing
	}
	if o&frameDefaultOptionsMask != 0 {
		if o&frameGroups != 0 {
			return pgerr.Unsupported("GROUPS frames")
		}
		if o&frameExcludeAnyMask != 0 {
			return pgerr.Unsupported("frame EXCLUDE")
		}
		f.Rows = o&frameRows != 0
		switch {
		case o&frameStartUnbPreceding != 0:
			f.Start = UnboundedPreceding
		case o&frameStartCurrent != 0:
			f.Start = CurrentRow
		case o&frameStartOffPreceding != 0:
			f.Start = OffsetPreceding
		case o&frameStartOffFollowing != 0:
			f.Start = OffsetFollowing
		case o&frameStartUnbFollowing != 0:
			return pgerr.New(pgerr.WindowingError, "frame start cannot be UNBOUNDED FOLLOWING")
		}
		switch {
		case o&frameEndUnbFollowing != 0:
			f.End = UnboundedFollowing
		case o&frameEndCurrent != 0:
			f.End = CurrentRow
		case o&frameEndOffPreceding != 0:
			f.End = OffsetPreceding
		case o&frameEndOffFollowing != 0:
			f.End = OffsetFollowing
		case o&frameEndUnbPreceding != 0:
			return pgerr.New(pgerr.WindowingError, "frame end cannot be UNBOUNDED PRECEDING")
		default:
			f.End = CurrentRow // BETWEEN omitted: the frame ends at the current row
		}
		if f.Start > f.End || (f.Start == CurrentRow && f.End == OffsetPreceding) {
			return pgerr.New(pgerr.WindowingError, "frame starting from current row cannot have preceding rows")
		}
		if !f.Rows && (f.Start == OffsetPreceding || f.Start == OffsetFollowing || f.End == OffsetPreceding || f.End == OffsetFollowing) {
			return pgerr.Unsupported("RANGE frames with offsets")
		}
		for _, b := range []struct {
			n   *pg_query.Node
			dst **Expr
		}{{def.StartOffset, &f.StartOffset}, {def.EndOffset, &f.EndOffs}} {
			if b.n == nil {
				continue
			}
			e, err := s.analyze(b.n)
			if err != nil {
				return err
			}
			if !isValue(e) {
				return pgerr.New(pgerr.WindowingError, "argument of ROWS must not contain variables")
			}
			if *b.dst, err = s.coerce(e, types.T(types.Int8), "argument of ROWS"); err != nil {
				return err
			}
		}
	}
	w.Frame = f
	return nil
}

func (s *scope) windowType(w *WindowFunc, f *pg_query.FuncCall) error {
	argc := func(lo, hi int) error {
		if len(w.Args) < lo || len(w.Args) > hi {
			return pgerr.New(pgerr.UndefinedFunction, "function %s with %d arguments does not exist", w.Func, len(w.Args))
		}
		return nil
	}
	switch w.Func {
	case "row_number", "rank", "dense_rank":
		w.Type = types.T(types.Int8)
		return argc(0, 0)
	case "percent_rank", "cume_dist":
		w.Type = types.T(types.Float8)
		return argc(0, 0)
	case "ntile":
		w.Type = types.T(types.Int4)
		if err := argc(1, 1); err != nil {
			return err
		}
		a, err := s.coerce(w.Args[0], types.T(types.Int4), "argument of ntile")
		w.Args[0] = a
		return err
	case "lag", "lead":
		if err := argc(1, 3); err != nil {
			return err
		}
		if len(w.Args) >= 2 {
			off, err := s.coerce(w.Args[1], types.T(types.Int4), "offset of "+w.Func)
			if err != nil {
				return err
			}
			w.Args[1] = off
		}
		if len(w.Args) == 3 {
			args, t, err := s.unify([]*Expr{w.Args[0], w.Args[2]}, w.Func)
			if err != nil {
				return err
			}
			w.Args[0], w.Args[2] = args[0], args[1]
			w.Type = t
			return nil
		}
		w.Type = typeOf(w.Args[0])
	case "first_value", "last_value":
		w.Type = typeOf(w.Args[0])
		return argc(1, 1)
	case "nth_value":
		if err := argc(2, 2); err != nil {
			return err
		}
		n, err := s.coerce(w.Args[1], types.T(types.Int4), "argument of nth_value")
		w.Args[1] = n
		w.Type = typeOf(w.Args[0])
		return err
	default:
		if !aggNames[w.Func] {
			return pgerr.New(pgerr.WrongObjectType, "function %s is not a window function nor an aggregate", w.Func)
		}
		spec := AggSpec{Func: w.Func}
		if f.AggStar {
			if w.Func != "count" {
				return pgerr.New(pgerr.SyntaxError, "%s(*) is not allowed", w.Func)
			}
			spec.Type = types.T(types.Int8)
		} else {
			if err := argc(1, 1); err != nil {
				return err
			}
			if w.Args[0].TypeOid == types.Unknown {
				a, err := s.cast(w.Args[0], types.T(types.Text), false)
				if err != nil {
					return err
				}
				w.Args[0] = a
			}
			t, err := aggType(w.Func, w.Args[0].TypeOid)
			if err != nil {
				return err
			}
			spec.Arg, spec.Type = w.Args[0], t
		}
		w.Agg, w.Type = &spec, spec.Type
	}
	if w.Type.OID == types.Unknown {
		w.Type = types.T(types.Text)
	}
	return nil
}

// finishWindows gives the window placeholders in the select list their
// column: after the row the windows read (base columns wide).
func (s *Select) finishWindows(ws []*WindowFunc, base int) {
	s.Windows = ws
	if len(ws) == 0 {
		return
	}
	for i, o := range s.Output {
		s.Output[i] = mapColumns(o, func(c int32) int32 {
			if c < 0 {
				return int32(base) - 1 - c
			}
			return c
		})
	}
}
