package exec

import (
	"context"
	"slices"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
	"google.golang.org/protobuf/proto"
)

// Env is what building a fragment's operators needs from the process
// that runs it.
type Env struct {
	// WorkMem is the memory budget, in bytes, of each operator that holds
	// rows (0: DefaultWorkMem).
	WorkMem int64
	// Pool, when not nil, is the memory all the queries of the process
	// share (see MemPool).
	Pool *MemPool
	// TempDir receives spill files ("": the system's temporary directory).
	TempDir string
	// Compile compiles an expression (nil: expr.Compile). The coordinator
	// passes one that evaluates subqueries.
	Compile func(*meridianpb.Expr) (expr.Eval, error)
	// Scan builds a table scan (datanodes only).
	Scan func(n *meridianpb.PlanNode) (Operator, error)
	// Vectorize runs the operators that have a vectorized form on column
	// batches (buildCols, batchesAtTop) — aggregations, joins, sorts,
	// windows, set operations, limits, projections and filters — over
	// scans and stream receivers read by column, or over rows stored by
	// column; false runs every operator on rows (--row-engine).
	Vectorize bool
	// ColScan, when set, builds a table scan into column batches, or
	// returns nil when it cannot read that scan so (datanodes only).
	ColScan func(n *meridianpb.PlanNode) (ColSource, error)
	// Recv builds the reader of a producer fragment's stream.
	Recv func(n *meridianpb.PlanNode) (Operator, error)
	// RecvCols, when set, builds it as a source of column batches instead,
	// for the vectorized operators above it (nil: vectorization is off).
	RecvCols func(n *meridianpb.PlanNode) (ColSource, error)
	// RowsRef builds the reader of rows the coordinator computed.
	RowsRef func(n *meridianpb.PlanNode) (Operator, error)
	// Lookup returns the index lookup of an index join's inner table and
	// a function that releases it (datanodes only).
	Lookup func(n *meridianpb.PlanNode) (IndexLookup, func(), error)
	// Stats, when not nil, collects each operator's statistics by node id
	// (EXPLAIN ANALYZE).
	Stats map[int32]*Stats
}

func (env *Env) compile(e *meridianpb.Expr) (expr.Eval, error) {
	if e == nil {
		return nil, nil
	}
	if env.Compile != nil {
		return env.Compile(e)
	}
	return expr.Compile(e)
}

func (env *Env) compileAll(es []*meridianpb.Expr) ([]expr.Eval, error) {
	out := make([]expr.Eval, len(es))
	for i, e := range es {
		if e == nil {
			return nil, pgerr.New(pgerr.InternalError, "missing expression in a plan")
		}
		ev, err := env.compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// constant evaluates an expression without column references.
func (env *Env) constant(e *meridianpb.Expr) (types.Datum, error) {
	ev, err := env.compile(e)
	if err != nil {
		return nil, err
	}
	return ev(nil)
}

// rowCount evaluates a LIMIT or OFFSET count: -1 when unset or NULL, an
// error when negative.
func (env *Env) rowCount(e *meridianpb.Expr, what string) (int64, error) {
	if e == nil {
		return -1, nil
	}
	v, err := env.constant(e)
	if err != nil || v == nil {
		return -1, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, pgerr.New(pgerr.InternalError, "argument of %s is a %T, not a bigint", what, v)
	}
	if n < 0 {
		code := "2201W" // invalid_row_count_in_limit_clause
		if what == "OFFSET" {
			code = "2201X" // invalid_row_count_in_result_offset_clause
		}
		return 0, pgerr.New(code, "%s must not be negative", what)
	}
	return n, nil
}

func (env *Env) stats(id int32) *Stats {
	if env.Stats == nil {
		return nil
	}
	st := env.Stats[id]
	if st == nil {
		st = &Stats{}
		env.Stats[id] = st
	}
	return st
}

// Build returns the operator tree of a plan node.
func (env *Env) Build(n *meridianpb.PlanNode) (Operator, error) {
	if n == nil {
		return nil, pgerr.New(pgerr.InternalError, "missing plan node")
	}
	op, err := env.build(n)
	if err != nil {
		return nil, err
	}
	if st := env.stats(n.Id); st != nil {
		if v, ok := op.(interface{ Vectorized() bool }); ok && v.Vectorized() {
			st.Vectorized = true
		}
		return &instrumented{op: op, st: st}, nil
	}
	return op, nil
}

func (env *Env) inputs(n *meridianpb.PlanNode, want int) ([]Operator, error) {
	if len(n.Inputs) != want {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: %d inputs, want %d", n.Id, len(n.Inputs), want)
	}
	ops := make([]Operator, 0, want)
	for _, in := range n.Inputs {
		op, err := env.Build(in)
		if err != nil {
			for _, o := range ops {
				o.Close()
			}
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (env *Env) build(n *meridianpb.PlanNode) (Operator, error) {
	st := env.stats(n.Id)
	switch op := n.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		if env.Scan == nil {
			return nil, pgerr.New(pgerr.InternalError, "table scan outside a datanode")
		}
		return env.Scan(n)
	case *meridianpb.PlanNode_Recv:
		if env.Recv == nil {
			return nil, pgerr.New(pgerr.InternalError, "stream receive without streams")
		}
		return env.Recv(n)
	case *meridianpb.PlanNode_RowsRef:
		if env.RowsRef == nil {
			return nil, pgerr.New(pgerr.InternalError, "row reference outside the coordinator")
		}
		return env.RowsRef(n)
	case *meridianpb.PlanNode_Values:
		rows := make([]Row, len(op.Values.Rows))
		for i, r := range op.Values.Rows {
			rows[i] = make(Row, len(r.Exprs))
			for j, e := range r.Exprs {
				v, err := env.constant(e)
				if err != nil {
					return nil, err
				}
				rows[i][j] = v
			}
		}
		return NewRows(rows), nil
	case *meridianpb.PlanNode_Series:
		if len(n.Types) != 1 {
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: generate_series with %d columns", n.Id, len(n.Types))
		}
		var args [3]types.Datum
		for i, e := range []*meridianpb.Expr{op.Series.Start, op.Series.Stop, op.Series.Step} {
			if e == nil {
				return nil, pgerr.New(pgerr.InternalError, "plan node %d: generate_series without argument %d", n.Id, i+1)
			}
			v, err := env.constant(e)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return NewSeries(n.Types[0], args[0], args[1], args[2])
	}
	switch op := n.Op.(type) {
	case *meridianpb.PlanNode_Filter:
		if op.Filter.Cond == nil {
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: filter without a condition", n.Id)
		}
		cond, err := env.compile(op.Filter.Cond)
		if err != nil {
			return nil, err
		}
		in, err := env.inputs(n, 1)
		if err != nil {
			return nil, err
		}
		return NewFilter(in[0], cond), nil
	case *meridianpb.PlanNode_Project:
		exprs, err := env.compileAll(op.Project.Exprs)
		if err != nil {
			return nil, err
		}
		in, err := env.inputs(n, 1)
		if err != nil {
			return nil, err
		}
		return NewProject(in[0], exprs), nil
	case *meridianpb.PlanNode_Join:
		cj, pre, err := env.buildColJoin(n, op.Join, st)
		if err != nil || cj != nil {
			if cj == nil {
				return nil, err
			}
			return &colToRows{src: cj}, nil
		}
		return env.buildJoin(n, op.Join, st, pre)
	case *meridianpb.PlanNode_IndexJoin:
		return env.buildIndexJoin(n, op.IndexJoin)
	case *meridianpb.PlanNode_Agg:
		return env.buildAgg(n, op.Agg, st)
	case *meridianpb.PlanNode_Sort:
		if env.Vectorize && len(n.Inputs) == 1 && env.batchesAtTop(n.Inputs[0]) {
			// Sorted on column batches, read as rows.
			cs, err := env.buildColSort(n, op.Sort, st)
			if err != nil {
				return nil, err
			}
			return ColRows(cs), nil
		}
		keys, err := env.sortKeys(op.Sort.Keys)
		if err != nil {
			return nil, err
		}
		in, err := env.inputs(n, 1)
		if err != nil {
			return nil, err
		}
		limit, err := env.rowCount(op.Sort.Limit, "LIMIT")
		if err != nil {
			in[0].Close()
			return nil, err
		}
		if limit < 0 {
			limit = 0
		}
		return NewSort(env, st, in[0], n.Inputs[0].Types, keys, limit), nil
	case *meridianpb.PlanNode_Limit:
		limit, err := env.rowCount(op.Limit.Limit, "LIMIT")
		if err != nil {
			return nil, err
		}
		offset, err := env.rowCount(op.Limit.Offset, "OFFSET")
		if err != nil {
			return nil, err
		}
		offset = max(offset, 0)
		in, err := env.inputs(n, 1)
		if err != nil {
			return nil, err
		}
		return NewLimit(in[0], limit, offset), nil
	case *meridianpb.PlanNode_Window:
		return env.buildWindow(n, op.Window, st)
	case *meridianpb.PlanNode_SetOp:
		// On column batches (over row inputs stored by column): the
		// vectorized set operation spills, the row one does not.
		if env.Vectorize {
			cs, err := env.buildColSetOp(n, op.SetOp, st)
			if err != nil {
				return nil, err
			}
			return ColRows(cs), nil
		}
		in, err := env.inputs(n, 2)
		if err != nil {
			return nil, err
		}
		switch op.SetOp.Op {
		case "intersect", "except":
			return NewSetOp(env, st, in[0], in[1], op.SetOp.Op == "intersect", op.SetOp.All), nil
		}
		in[0].Close()
		in[1].Close()
		return nil, pgerr.New(pgerr.InternalError, "unknown set operation %q", op.SetOp.Op)
	case *meridianpb.PlanNode_Append:
		in, err := env.inputs(n, len(n.Inputs))
		if err != nil {
			return nil, err
		}
		return NewAppend(in...), nil
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown plan node %T", n.Op)
}

func (env *Env) sortKeys(keys []*meridianpb.SortKey) ([]SortKey, error) {
	out := make([]SortKey, len(keys))
	for i, k := range keys {
		if k.GetExpr() == nil {
			return nil, pgerr.New(pgerr.InternalError, "sort key without an expression")
		}
		ev, err := env.compile(k.Expr)
		if err != nil {
			return nil, err
		}
		out[i] = SortKey{Eval: ev, Type: k.Expr.TypeOid, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	return out, nil
}

// columnsOf returns, for each expression that is a plain column, its
// index, and -1 for the others.
func columnsOf(es []*meridianpb.Expr) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = -1
		if e.GetKind() == meridianpb.ExprKind_EXPR_COLUMN {
			out[i] = int(e.Index)
		}
	}
	return out
}

// joinSpec compiles a join node's keys and residual (row by row).
func (env *Env) joinSpec(n *meridianpb.PlanNode, j *meridianpb.JoinNode) (JoinSpec, error) {
	if len(j.LeftKeys) != len(j.RightKeys) {
		return JoinSpec{}, pgerr.New(pgerr.InternalError, "plan node %d: %d left keys, %d right keys", n.Id, len(j.LeftKeys), len(j.RightKeys))
	}
	if len(n.Inputs) != 2 {
		return JoinSpec{}, pgerr.New(pgerr.InternalError, "plan node %d: %d inputs, want 2", n.Id, len(n.Inputs))
	}
	lk, err := env.compileAll(j.LeftKeys)
	if err != nil {
		return JoinSpec{}, err
	}
	rk, err := env.compileAll(j.RightKeys)
	if err != nil {
		return JoinSpec{}, err
	}
	res, err := env.compile(j.Residual)
	if err != nil {
		return JoinSpec{}, err
	}
	return JoinSpec{Type: JoinType(j.Type), LeftKeys: lk, RightKeys: rk, Residual: res,
		LeftKeyCols: columnsOf(j.LeftKeys), RightKeyCols: columnsOf(j.RightKeys),
		LeftTypes: n.Inputs[0].Types, RightTypes: n.Inputs[1].Types}, nil
}

// buildJoin returns the row operator of a join node; pre holds its
// inputs (left, right) already built, nil for those not (buildColJoin did
// not apply).
func (env *Env) buildJoin(n *meridianpb.PlanNode, j *meridianpb.JoinNode, st *Stats, pre [2]Operator) (Operator, error) {
	fail := func(err error) (Operator, error) {
		for _, op := range pre {
			if op != nil {
				op.Close()
			}
		}
		return nil, err
	}
	if JoinType(j.Type) < JoinInner || JoinType(j.Type) > JoinAnti {
		return fail(pgerr.New(pgerr.InternalError, "plan node %d: unknown join type %d", n.Id, j.Type))
	}
	spec, err := env.joinSpec(n, j)
	if err != nil {
		return fail(err)
	}
	in := pre[:]
	for i := range in {
		if in[i] == nil {
			if in[i], err = env.Build(n.Inputs[i]); err != nil {
				return fail(err)
			}
			pre[i] = in[i]
		}
	}
	if j.Algo == meridianpb.JoinAlgo_JOIN_MERGE {
		if len(spec.LeftKeys) == 0 {
			in[0].Close()
			in[1].Close()
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: merge join without keys", n.Id)
		}
		return NewMergeJoin(in[0], in[1], spec), nil
	}
	if j.BuildLeft {
		if (spec.Type != JoinLeft && spec.Type != JoinSemi && spec.Type != JoinAnti) || len(spec.LeftKeys) == 0 {
			in[0].Close()
			in[1].Close()
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: a build-left hash join must be a keyed LEFT, SEMI or ANTI join", n.Id)
		}
		return NewJoinBuildLeft(env, st, in[0], in[1], spec), nil
	}
	return NewHashJoin(env, st, in[0], in[1], spec), nil
}

// windowArgs is how many arguments a window function that is not an
// aggregate takes.
func windowArgs(fn string) (lo, hi int, ok bool) {
	switch fn {
	case "row_number", "rank", "dense_rank", "percent_rank", "cume_dist":
		return 0, 0, true
	case "ntile", "first_value", "last_value":
		return 1, 1, true
	case "nth_value":
		return 2, 2, true
	case "lag", "lead":
		return 1, 3, true
	}
	return 0, 0, false
}

// knownAgg reports whether sql/agg has the aggregate fn.
func knownAgg(fn string) bool {
	switch fn {
	case "count", "sum", "avg", "min", "max":
		return true
	}
	return false
}

func (env *Env) buildIndexJoin(n *meridianpb.PlanNode, j *meridianpb.IndexJoinNode) (Operator, error) {
	if env.Vectorize && len(n.Inputs) == 1 && env.batchesAtTop(n.Inputs[0]) {
		cj, err := env.buildColIndexJoin(n, j)
		if err != nil {
			return nil, err
		}
		return ColRows(cj), nil
	}
	res, err := env.indexJoinResidual(n, j)
	if err != nil {
		return nil, err
	}
	keys, err := env.compileAll(j.LookupKeys)
	if err != nil {
		return nil, err
	}
	in, err := env.inputs(n, 1)
	if err != nil {
		return nil, err
	}
	lookup, release, err := env.Lookup(n)
	if err != nil {
		in[0].Close()
		return nil, err
	}
	ij := NewIndexJoin(in[0], JoinType(j.Type), keys, lookup, res, len(n.Inputs[0].Types), len(j.Columns))
	ij.release = release
	return ij, nil
}

// indexJoinResidual checks an index join node and compiles its residual.
func (env *Env) indexJoinResidual(n *meridianpb.PlanNode, j *meridianpb.IndexJoinNode) (expr.Eval, error) {
	if env.Lookup == nil {
		return nil, pgerr.New(pgerr.InternalError, "index join outside a datanode")
	}
	switch j.Type {
	case meridianpb.JoinType_JOIN_INNER, meridianpb.JoinType_JOIN_LEFT, meridianpb.JoinType_JOIN_SEMI, meridianpb.JoinType_JOIN_ANTI:
	default:
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: index join of type %v", n.Id, j.Type)
	}
	return env.compile(j.Residual)
}

// AggSpecOf converts a plan's aggregate call.
func AggSpecOf(a *meridianpb.AggFunc) agg.Spec {
	s := agg.Spec{Func: a.Func, Type: types.Type{OID: a.TypeOid, Typmod: a.Typmod}, Distinct: a.Distinct, ArgType: a.ArgTypeOid}
	if a.Arg != nil {
		s.ArgType = a.Arg.TypeOid
	}
	return s
}

func (env *Env) buildAgg(n *meridianpb.PlanNode, a *meridianpb.AggNode, st *Stats) (Operator, error) {
	if op, err := env.buildColAgg(n, a, st); op != nil || err != nil {
		return op, err
	}
	groupBy, err := env.compileAll(a.GroupBy)
	if err != nil {
		return nil, err
	}
	phase := AggPhase(a.Phase)
	if phase < AggFull || phase > AggFinal {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: unknown aggregation phase %d", n.Id, a.Phase)
	}
	calls := make([]AggCall, len(a.Aggs))
	for i, f := range a.Aggs {
		if !knownAgg(f.Func) {
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: unknown aggregate %q", n.Id, f.Func)
		}
		calls[i].Spec = AggSpecOf(f)
		if phase != AggFinal && f.Arg != nil {
			if calls[i].Arg, err = env.compile(f.Arg); err != nil {
				return nil, err
			}
		}
		if f.Distinct && phase != AggFull {
			return nil, pgerr.New(pgerr.InternalError, "DISTINCT aggregate in a split aggregation")
		}
	}
	var sets [][]int
	for _, s := range a.Sets {
		cols := make([]int, len(s.Columns))
		for i, c := range s.Columns {
			if c < 0 || int(c) >= len(groupBy) {
				return nil, pgerr.New(pgerr.InternalError, "plan node %d: grouping set column %d out of range", n.Id, c)
			}
			cols[i] = int(c)
		}
		sets = append(sets, cols)
	}
	in, err := env.inputs(n, 1)
	if err != nil {
		return nil, err
	}
	if a.Sorted {
		if sets != nil {
			in[0].Close()
			return nil, pgerr.New(pgerr.InternalError, "plan node %d: sorted aggregation with grouping sets", n.Id)
		}
		return NewSortAgg(in[0], phase, groupBy, calls), nil
	}
	return NewHashAgg(env, st, in[0], n.Inputs[0].Types, phase, groupBy, calls, sets), nil
}

func (env *Env) windowFn(f *meridianpb.WindowFunc) (WindowFn, error) {
	var fn WindowFn
	var err error
	fn.Func = f.Func
	if lo, hi, ok := windowArgs(f.Func); ok && (len(f.Args) < lo || len(f.Args) > hi) {
		return fn, pgerr.New(pgerr.InternalError, "window function %s of %d arguments", f.Func, len(f.Args))
	}
	if fn.Args, err = env.compileAll(f.Args); err != nil {
		return fn, err
	}
	if fn.PartitionBy, err = env.compileAll(f.PartitionBy); err != nil {
		return fn, err
	}
	if fn.OrderBy, err = env.sortKeys(f.OrderBy); err != nil {
		return fn, err
	}
	if f.Agg != nil {
		if !knownAgg(f.Agg.Func) {
			return fn, pgerr.New(pgerr.InternalError, "unknown aggregate %q", f.Agg.Func)
		}
		s := AggSpecOf(f.Agg)
		fn.Agg = &s
	}
	fn.Frame = Frame{Start: UnboundedPreceding, End: CurrentRow}
	if fr := f.Frame; fr != nil {
		fn.Frame = Frame{Rows: fr.Rows, Start: FrameBound(fr.Start), End: FrameBound(fr.End)}
		off := func(e *meridianpb.Expr, which string) (int64, error) {
			if e == nil {
				return 0, nil
			}
			v, err := env.constant(e)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, pgerr.New("22004", "frame %s offset must not be null", which)
			}
			c, ok := v.(int64)
			if !ok {
				return 0, pgerr.New(pgerr.InternalError, "frame %s offset is a %T", which, v)
			}
			if c < 0 {
				return 0, pgerr.New("22013", "frame %s offset must not be negative", which)
			}
			return c, nil
		}
		if fn.Frame.StartOffset, err = off(fr.StartOffset, "starting"); err != nil {
			return fn, err
		}
		if fn.Frame.EndOffset, err = off(fr.EndOffset, "ending"); err != nil {
			return fn, err
		}
	}
	return fn, nil
}

// buildWindow returns the operators of a window node: a Window per
// distinct window (PARTITION BY and ORDER BY) of its functions, each over
// its input sorted by that window — partition keys, then ORDER BY keys —
// unless the sort under the Window before it left the rows so. Windows
// with more sort keys go first, so that one sort serves the windows whose
// keys lead its own (PARTITION BY a ORDER BY b, then PARTITION BY a).
// The first sort runs on column batches when the node's input does.
// A projection then puts the functions' columns back in the node's order.
func (env *Env) buildWindow(n *meridianpb.PlanNode, wn *meridianpb.WindowNode, st *Stats) (Operator, error) {
	return env.windowNode(n, wn, st, nil)
}

// windowNode is buildWindow; with cols not nil, when every window runs on
// column batches, it sets *cols to them (the functions' columns in the
// node's order) and returns no operator.
func (env *Env) windowNode(n *meridianpb.PlanNode, wn *meridianpb.WindowNode, st *Stats, cols *ColSource) (Operator, error) {
	if len(n.Inputs) != 1 {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: %d inputs, want 1", n.Id, len(n.Inputs))
	}
	type window struct {
		keys  []*meridianpb.SortKey // partition keys, then ORDER BY keys
		nPart int
		fns   []int
	}
	var wins []*window
	for i, f := range wn.Funcs {
		keys := make([]*meridianpb.SortKey, 0, len(f.PartitionBy)+len(f.OrderBy))
		for _, p := range f.PartitionBy {
			keys = append(keys, &meridianpb.SortKey{Expr: p})
		}
		keys = append(keys, f.OrderBy...)
		found := false
		for _, w := range wins {
			if w.nPart == len(f.PartitionBy) && sortKeysLead(w.keys, keys) && len(w.keys) == len(keys) {
				w.fns, found = append(w.fns, i), true
				break
			}
		}
		if !found {
			wins = append(wins, &window{keys: keys, nPart: len(f.PartitionBy), fns: []int{i}})
		}
	}
	slices.SortStableFunc(wins, func(a, b *window) int { return len(b.keys) - len(a.keys) })
	for i := range wins { // after each window, those its sort serves
		for j := i + 1; j < len(wins); j++ {
			if sortKeysLead(wins[i].keys, wins[j].keys) {
				w := wins[j]
				copy(wins[i+2:j+1], wins[i+1:j])
				wins[i+1] = w
				i++
			}
		}
	}

	var op Operator
	sorted := wn.InputOrder // the order of op's rows
	grouped := wn.InputGrouped
	leads := func(keys []*meridianpb.SortKey) bool {
		if grouped && len(keys) != len(sorted) {
			return false // grouped for the first window's keys, not sorted by their prefixes
		}
		return sortKeysLead(sorted, keys)
	}
	oids := append([]uint32(nil), n.Inputs[0].Types...)
	fail := func(err error) (Operator, error) {
		if op != nil {
			op.Close()
		}
		return nil, err
	}
	// batches, while not nil, is op's rows as column batches: the windows
	// whose functions ColWindow (values known at each row) or
	// ColPartWindow (the partition held) compute run on them, their sorts
	// too; the first other window turns them into rows.
	var batches ColSource
	if len(wins) > 0 && env.Vectorize && env.batchesAtTop(n.Inputs[0]) {
		if !leads(wins[0].keys) {
			cs, err := env.buildColSort(&meridianpb.PlanNode{Id: n.Id, Inputs: n.Inputs}, &meridianpb.SortNode{Keys: wins[0].keys}, st)
			if err != nil {
				return nil, err
			}
			batches, sorted, grouped = cs, wins[0].keys, false
		} else {
			src, _, err := env.buildCols(n.Inputs[0])
			if err != nil {
				return nil, err
			}
			batches = src
		}
	} else {
		in, err := env.inputs(n, 1)
		if err != nil {
			return nil, err
		}
		op = in[0]
	}
	failCols := func(err error) (Operator, error) {
		if batches != nil {
			batches.Close()
		}
		return nil, err
	}
	at := make([]int, len(wn.Funcs)) // each function's column in op's rows
	for _, w := range wins {
		if batches != nil {
			fs := make([]*meridianpb.WindowFunc, len(w.fns))
			for k, i := range w.fns {
				fs[k] = wn.Funcs[i]
			}
			rowWise, partWise := true, true
			for _, f := range fs {
				rowWise = rowWise && rowValued(f)
				partWise = partWise && partWindowable(f)
			}
			ok := rowWise || partWise
			if ok && !leads(w.keys) {
				keys, err := env.sortKeys(w.keys)
				if err != nil {
					return failCols(err)
				}
				if batches, err = env.colSortOver(batches, w.keys, keys, 0, st); err != nil {
					return nil, err
				}
				sorted, grouped = w.keys, false
			}
			if ok {
				// Each row's values known at the row (streamed), or
				// the partition held.
				if rowWise {
					cw, err := env.buildColWindow(batches, fs, st)
					if err != nil {
						return nil, err
					}
					batches = cw
				} else {
					cw, err := env.buildColPartWindow(batches, fs, st)
					if err != nil {
						return nil, err
					}
					batches = cw
				}
				for _, i := range w.fns {
					at[i] = len(oids)
					oids = append(oids, wn.Funcs[i].TypeOid)
				}
				if grouped {
					sorted, grouped = nil, false
				}
				continue
			}
			op, batches = ColRows(batches), nil
		}
		if !leads(w.keys) {
			keys, err := env.sortKeys(w.keys)
			if err != nil {
				return fail(err)
			}
			op, sorted, grouped = NewSort(env, st, op, slices.Clone(oids), keys, 0), w.keys, false
		}
		inTypes := slices.Clone(oids)
		fns := make([]WindowFn, len(w.fns))
		for k, i := range w.fns {
			fn, err := env.windowFn(wn.Funcs[i])
			if err != nil {
				return fail(err)
			}
			fns[k] = fn
			at[i] = len(oids)
			oids = append(oids, wn.Funcs[i].TypeOid)
		}
		op = NewWindow(env, st, op, inTypes, fns)
		if grouped {
			// Grouped for the first window only (the planner's claim).
			sorted, grouped = nil, false
		}
	}
	width := len(n.Inputs[0].Types)
	from := make([]int, width+len(at)) // each output column's in op's rows
	inOrder := true
	for c := range from {
		from[c] = c
		if c >= width {
			from[c] = at[c-width]
		}
		inOrder = inOrder && from[c] == c
	}
	if batches != nil {
		if cols != nil {
			*cols = batches
			if !inOrder {
				*cols = &colPermute{in: batches, from: from}
			}
			return nil, nil
		}
		op = ColRows(batches)
	}
	if inOrder {
		return op, nil
	}
	exprs := make([]expr.Eval, len(from))
	for c, f := range from {
		exprs[c] = func(r []types.Datum) (types.Datum, error) { return r[f], nil }
	}
	return NewProject(op, exprs), nil
}

// colPermute passes its input's batches with their columns reordered:
// column c is the input's from[c].
type colPermute struct {
	in   ColSource
	from []int
	out  coldata.Batch
}

func (p *colPermute) Types() []uint32 {
	in := p.in.Types()
	t := make([]uint32, len(p.from))
	for c, f := range p.from {
		t[c] = in[f]
	}
	return t
}

func (p *colPermute) Open(ctx context.Context) error { return p.in.Open(ctx) }

func (p *colPermute) Close() { p.in.Close() }

func (p *colPermute) Next(ctx context.Context) (*coldata.Batch, error) {
	b, err := p.in.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	p.out.N, p.out.Sel = b.N, b.Sel
	p.out.Vecs = p.out.Vecs[:0]
	for _, f := range p.from {
		p.out.Vecs = append(p.out.Vecs, b.Vecs[f])
	}
	return &p.out, nil
}

// sortKeysLead reports whether rows sorted by have are sorted by want:
// want's keys lead have's.
func sortKeysLead(have, want []*meridianpb.SortKey) bool {
	if len(want) > len(have) {
		return false
	}
	for i, k := range want {
		if !proto.Equal(k, have[i]) {
			return false
		}
	}
	return true
}
