package session

import (
	"context"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// blockRun is one execution of a query block: it compiles the block's
// expressions (with its subqueries) and runs its FROM tree.
type blockRun struct {
	s    *Session
	ctx  context.Context
	env  *planner.BindEnv
	sel  *planner.Select
	subs []*subResult // uncorrelated subqueries' results, computed once
}

type subResult struct {
	rows [][]types.Datum
	// For x = ANY (subquery) over hashable types: the rows' key set.
	set     map[string]bool
	hasNull bool
}

func newBlockRun(ctx context.Context, s *Session, sel *planner.Select, env *planner.BindEnv) *blockRun {
	if env.Inline != nil {
		// A query's subqueries are its own, evaluated as it runs.
		c := *env
		c.Inline = nil
		env = &c
	}
	return &blockRun{s: s, ctx: ctx, env: env, sel: sel, subs: make([]*subResult, len(sel.Subqueries))}
}

// compile binds and compiles an expression of the block.
func (b *blockRun) compile(e *planner.Expr) (expr.Eval, error) {
	if e == nil {
		return nil, nil
	}
	bound, err := planner.Bind(e, b.env)
	if err != nil {
		return nil, err
	}
	return expr.CompileWith(bound, b.subquery)
}

func (b *blockRun) compileAll(es []*planner.Expr) ([]expr.Eval, error) {
	out := make([]expr.Eval, len(es))
	for i, e := range es {
		ev, err := b.compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// subquery compiles an EXPR_SUBQUERY.
func (b *blockRun) subquery(e *meridianpb.Expr) (expr.Eval, error) {
	if e.Kind != meridianpb.ExprKind_EXPR_SUBQUERY || int(e.Index) >= len(b.sel.Subqueries) {
		return nil, pgerr.New(pgerr.InternalError, "unknown expression kind %v", e.Kind)
	}
	i := int(e.Index)
	switch e.Name {
	case "exists":
		return func(row []types.Datum) (types.Datum, error) {
			r, err := b.subRows(i, row, 1)
			if err != nil {
				return nil, err
			}
			return len(r.rows) > 0, nil
		}, nil
	case "scalar":
		return func(row []types.Datum) (types.Datum, error) {
			r, err := b.subRows(i, row, 2)
			if err != nil {
				return nil, err
			}
			switch len(r.rows) {
			case 0:
				return nil, nil
			case 1:
				return r.rows[0][0], nil
			}
			return nil, pgerr.New(pgerr.CardinalityViolation, "more than one row returned by a subquery used as an expression")
		}, nil
	case "any", "all":
		return b.quantified(i, e)
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown subquery form %q", e.Name)
}

// quantified compiles x op ANY/ALL (subquery) with SQL's three-valued
// logic: ANY is true if a comparison is, else NULL if one is NULL; ALL
// is false if a comparison is, else NULL if one is NULL.
func (b *blockRun) quantified(i int, e *meridianpb.Expr) (expr.Eval, error) {
	n := len(e.Args) - 1
	lefts, err := b.compileAll(e.Args[:n])
	if err != nil {
		return nil, err
	}
	cmp, err := expr.Compile(e.Args[n])
	if err != nil {
		return nil, err
	}
	isAny := e.Name == "any"
	c := e.Args[n]
	hashed := isAny && n == 1 && !b.sel.Subqueries[i].Correlated && c.Kind == meridianpb.ExprKind_EXPR_FUNC && c.Name == "=" &&
		c.Args[0].Kind == meridianpb.ExprKind_EXPR_COLUMN && c.Args[1].Kind == meridianpb.ExprKind_EXPR_COLUMN &&
		planner.Hashable(c.Args[0], c.Args[1])
	return func(row []types.Datum) (types.Datum, error) {
		vals := make([]types.Datum, n, 2*n)
		for k, l := range lefts {
			v, err := l(row)
			if err != nil {
				return nil, err
			}
			vals[k] = v
		}
		r, err := b.subRows(i, row, -1)
		if err != nil {
			return nil, err
		}
		if len(r.rows) == 0 {
			return !isAny, nil
		}
		if hashed {
			if vals[0] == nil {
				return nil, nil
			}
			if r.set == nil {
				r.set = map[string]bool{}
				for _, sr := range r.rows {
					if sr[0] == nil {
						r.hasNull = true
						continue
					}
					r.set[string(codec.AppendKey(nil, sr[0]))] = true
				}
			}
			if r.set[string(codec.AppendKey(nil, vals[0]))] {
				return true, nil
			}
			if r.hasNull {
				return nil, nil
			}
			return false, nil
		}
		sawNull := false
		for _, sr := range r.rows {
			v, err := cmp(append(vals[:n], sr...))
			if err != nil {
				return nil, err
			}
			switch {
			case v == nil:
				sawNull = true
			case v.(bool) == isAny:
				return isAny, nil
			}
		}
		if sawNull {
			return nil, nil
		}
		return !isAny, nil
	}, nil
}

// subRows runs subquery i (for the given row of this block when it is
// correlated) and returns up to limit rows (limit < 0: all).
func (b *blockRun) subRows(i int, row []types.Datum, limit int) (*subResult, error) {
	sp := b.sel.Subqueries[i]
	if !sp.Correlated && b.subs[i] != nil {
		return b.subs[i], nil
	}
	env := b.env
	if sp.Correlated {
		env = env.WithOuter(row)
		limit = max(limit, -1)
	} else {
		limit = -1 // computed once for every row
	}
	rows, err := b.s.queryRows(b.ctx, sp.Query, env, limit)
	if err != nil {
		return nil, err
	}
	r := &subResult{rows: rows}
	if !sp.Correlated {
		b.subs[i] = r
	}
	return r, nil
}

// queryRows runs a query and collects up to limit of its visible rows.
func (s *Session) queryRows(ctx context.Context, sel *planner.Select, env *planner.BindEnv, limit int) ([][]types.Datum, error) {
	it, err := s.runSelect(ctx, sel, env)
	if err != nil {
		return nil, err
	}
	defer it.close()
	var rows [][]types.Datum
	for limit < 0 || len(rows) < limit {
		r, err := it.next(ctx)
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		rows = append(rows, r[:sel.Visible])
	}
	return rows, nil
}

func drainRows(ctx context.Context, it rowIter) ([][]types.Datum, error) {
	defer it.close()
	var rows [][]types.Datum
	for {
		r, err := it.next(ctx)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return rows, nil
		}
		rows = append(rows, r)
	}
}

// rel opens a FROM tree.
func (b *blockRun) rel(ctx context.Context, r planner.Rel) (rowIter, error) {
	switch r := r.(type) {
	case *planner.ScanRel:
		return b.s.scanAll(ctx, r.Access, b.env)
	case *planner.FilterRel:
		in, err := b.rel(ctx, r.Input)
		if err != nil {
			return nil, err
		}
		cond, err := b.compile(r.Cond)
		if err != nil {
			in.close()
			return nil, err
		}
		return &filterIter{src: in, cond: cond}, nil
	case *planner.ProjectRel:
		in, err := b.rel(ctx, r.Input)
		if err != nil {
			return nil, err
		}
		outs, err := b.compileAll(r.Exprs)
		if err != nil {
			in.close()
			return nil, err
		}
		return &pipeIter{src: in, outs: outs, visible: len(outs), limit: -1}, nil
	case *planner.JoinRel:
		return b.join(ctx, r)
	case *planner.QueryRel:
		rows, err := b.s.queryRows(ctx, r.Query, b.env, -1)
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: rows}, nil
	case *planner.ValuesRel:
		rows := make([][]types.Datum, len(r.Rows))
		for i, es := range r.Rows {
			rows[i] = make([]types.Datum, len(es))
			for j, e := range es {
				ev, err := b.compile(e)
				if err != nil {
					return nil, err
				}
				if rows[i][j], err = ev(nil); err != nil {
					return nil, err
				}
			}
		}
		return &sliceIter{rows: rows}, nil
	case *planner.SetOpRel:
		rows, err := b.setOp(ctx, r)
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: rows}, nil
	case *planner.CTERel:
		rows, err := b.s.cteRows(ctx, r.CTE, b.env)
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: rows}, nil
	case *planner.WorkTableRel:
		rows, _ := b.env.Memo[workTable{r.CTE}].([][]types.Datum)
		return &sliceIter{rows: rows}, nil
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown plan node %T", r)
}

// filterIter keeps the rows a condition holds for.
type filterIter struct {
	src  rowIter
	cond expr.Eval
}

func (f *filterIter) next(ctx context.Context) ([]types.Datum, error) {
	for {
		r, err := f.src.next(ctx)
		if err != nil || r == nil {
			return nil, err
		}
		v, err := f.cond(r)
		if err != nil {
			f.src.close()
			return nil, err
		}
		if expr.IsTrue(v) {
			return r, nil
		}
	}
}

func (f *filterIter) close() { f.src.close() }

// join runs a hash join (a nested loop when there are no keys): the right
// input is built into a table, the left input streams through it.
func (b *blockRun) join(ctx context.Context, j *planner.JoinRel) (rowIter, error) {
	lkeys, err := b.compileAll(j.LeftKeys)
	if err != nil {
		return nil, err
	}
	rkeys, err := b.compileAll(j.RightKeys)
	if err != nil {
		return nil, err
	}
	cond, err := b.compile(j.Cond)
	if err != nil {
		return nil, err
	}
	rit, err := b.rel(ctx, j.Right)
	if err != nil {
		return nil, err
	}
	right, err := drainRows(ctx, rit)
	if err != nil {
		return nil, err
	}
	table := map[string][]int{}
	for i, r := range right {
		k, ok, err := joinKey(rkeys, r)
		if err != nil {
			return nil, err
		}
		if ok {
			table[k] = append(table[k], i)
		}
	}
	left, err := b.rel(ctx, j.Left)
	if err != nil {
		return nil, err
	}
	it := &joinIter{kind: j.Kind, left: left, right: right, table: table, lkeys: lkeys, cond: cond,
		lw: j.Left.Width(), rw: j.Right.Width()}
	if j.Kind == planner.JoinRight || j.Kind == planner.JoinFull {
		it.matched = make([]bool, len(right))
	}
	return it, nil
}

// joinKey encodes a row's key values; ok = false when one is NULL (the
// row matches nothing).
func joinKey(keys []expr.Eval, row []types.Datum) (string, bool, error) {
	var k []byte
	for _, ev := range keys {
		v, err := ev(row)
		if err != nil {
			return "", false, err
		}
		if v == nil {
			return "", false, nil
		}
		k = codec.AppendKey(k, v)
	}
	return string(k), true, nil
}

type joinIter struct {
	kind    planner.JoinKind
	left    rowIter
	right   [][]types.Datum
	table   map[string][]int
	lkeys   []expr.Eval
	cond    expr.Eval
	lw, rw  int
	matched []bool // right rows matched (right and full joins)
	out     [][]types.Datum
	leftEOF bool
	tail    int // next right row to check for the unmatched tail
	all     []int
}

func (j *joinIter) next(ctx context.Context) ([]types.Datum, error) {
	for len(j.out) == 0 {
		if j.leftEOF {
			return j.unmatched()
		}
		l, err := j.left.next(ctx)
		if err != nil {
			return nil, err
		}
		if l == nil {
			j.leftEOF = true
			continue
		}
		if err := j.probe(l); err != nil {
			j.left.close()
			return nil, err
		}
	}
	r := j.out[0]
	j.out = j.out[1:]
	return r, nil
}

func (j *joinIter) candidates(l []types.Datum) ([]int, error) {
	if len(j.lkeys) == 0 {
		if j.all == nil {
			j.all = make([]int, len(j.right))
			for i := range j.all {
				j.all[i] = i
			}
		}
		return j.all, nil
	}
	k, ok, err := joinKey(j.lkeys, l)
	if err != nil || !ok {
		return nil, err
	}
	return j.table[k], nil
}

func (j *joinIter) probe(l []types.Datum) error {
	cands, err := j.candidates(l)
	if err != nil {
		return err
	}
	found := false
	for _, ri := range cands {
		row := make([]types.Datum, 0, j.lw+j.rw)
		row = append(append(row, l...), j.right[ri]...)
		if j.cond != nil {
			v, err := j.cond(row)
			if err != nil {
				return err
			}
			if !expr.IsTrue(v) {
				continue
			}
		}
		found = true
		switch j.kind {
		case planner.JoinSemi:
			j.out = append(j.out, l)
			return nil
		case planner.JoinAnti:
			return nil
		}
		if j.matched != nil {
			j.matched[ri] = true
		}
		j.out = append(j.out, row)
	}
	if !found && (j.kind == planner.JoinLeft || j.kind == planner.JoinFull || j.kind == planner.JoinAnti) {
		if j.kind == planner.JoinAnti {
			j.out = append(j.out, l)
		} else {
			j.out = append(j.out, append(append(make([]types.Datum, 0, j.lw+j.rw), l...), make([]types.Datum, j.rw)...))
		}
	}
	return nil
}

// unmatched emits the right rows no left row matched (right and full
// joins), NULL-extended on the left.
func (j *joinIter) unmatched() ([]types.Datum, error) {
	for j.matched != nil && j.tail < len(j.right) {
		i := j.tail
		j.tail++
		if !j.matched[i] {
			return append(make([]types.Datum, j.lw, j.lw+j.rw), j.right[i]...), nil
		}
	}
	return nil, nil
}

func (j *joinIter) close() { j.left.close() }

func rowKey(r []types.Datum) string {
	var k []byte
	for _, d := range r {
		k = codec.AppendKey(k, d)
	}
	return string(k)
}

// setOp computes UNION / INTERSECT / EXCEPT [ALL] of two queries' rows
// (NULLs compare equal, as in PostgreSQL).
func (b *blockRun) setOp(ctx context.Context, r *planner.SetOpRel) ([][]types.Datum, error) {
	left, err := b.s.queryRows(ctx, r.Left, b.env, -1)
	if err != nil {
		return nil, err
	}
	right, err := b.s.queryRows(ctx, r.Right, b.env, -1)
	if err != nil {
		return nil, err
	}
	if r.Op == "union" {
		if r.All {
			return append(left, right...), nil
		}
		return distinctRows(append(left, right...), nil), nil
	}
	count := map[string]int{}
	for _, row := range right {
		count[rowKey(row)]++
	}
	emitted := map[string]bool{}
	var out [][]types.Datum
	for _, row := range left {
		k := rowKey(row)
		in := count[k] > 0
		switch {
		case r.All && r.Op == "intersect":
			if in {
				count[k]--
				out = append(out, row)
			}
		case r.All: // except all
			if in {
				count[k]--
			} else {
				out = append(out, row)
			}
		case in == (r.Op == "intersect") && !emitted[k]:
			emitted[k] = true
			out = append(out, row)
		}
	}
	return out, nil
}

// distinctRows keeps the first of equal rows, skipping those seen holds.
func distinctRows(rows [][]types.Datum, seen map[string]bool) [][]types.Datum {
	if seen == nil {
		seen = map[string]bool{}
	}
	out := rows[:0:0]
	for _, row := range rows {
		k := rowKey(row)
		if !seen[k] {
			seen[k] = true
			out = append(out, row)
		}
	}
	return out
}

type workTable struct{ cte *planner.CTE }

type cteKey struct{ cte *planner.CTE }

// cteRows computes a WITH query once per statement. A recursive one
// runs its recursive term on the previous round's new rows until none
// come (UNION also drops rows already produced).
func (s *Session) cteRows(ctx context.Context, c *planner.CTE, env *planner.BindEnv) ([][]types.Datum, error) {
	if rows, ok := env.Memo[cteKey{c}].([][]types.Datum); ok {
		return rows, nil
	}
	rows, err := s.queryRows(ctx, c.Query, env, -1)
	if err != nil {
		return nil, err
	}
	if c.Step != nil {
		var seen map[string]bool
		if !c.UnionAll {
			seen = map[string]bool{}
			rows = distinctRows(rows, seen)
		}
		work := rows
		for len(work) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, errTimeout(ctx, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request"))
			}
			env.Memo[workTable{c}] = work
			next, err := s.queryRows(ctx, c.Step, env, -1)
			if err != nil {
				return nil, err
			}
			if !c.UnionAll {
				next = distinctRows(next, seen)
			}
			rows = append(rows, next...)
			work = next
		}
		delete(env.Memo, workTable{c})
	}
	env.Memo[cteKey{c}] = rows
	return rows, nil
}

// inliner computes a data-modifying statement's subqueries (once each)
// and replaces each by an expression of its result: a constant, or for
// x op ANY/ALL (subquery) the comparisons with every row, ORed or ANDed
// (x IN (...) for a hashable equality), as three-valued logic has them.
func (s *Session) inliner(ctx context.Context, subs []*planner.SubPlan, env *planner.BindEnv) func(*planner.Expr) (*planner.Expr, error) {
	results := make([][][]types.Datum, len(subs))
	done := make([]bool, len(subs))
	qenv := *env
	qenv.Inline = nil
	return func(e *planner.Expr) (*planner.Expr, error) {
		i := int(e.Index)
		if i >= len(subs) {
			return nil, pgerr.New(pgerr.InternalError, "unknown subquery %d", i)
		}
		if !done[i] {
			rows, err := s.queryRows(ctx, subs[i].Query, &qenv, -1)
			if err != nil {
				return nil, err
			}
			results[i], done[i] = rows, true
		}
		rows := results[i]
		t := types.Type{OID: e.TypeOid, Typmod: e.Typmod}
		switch e.Name {
		case "exists":
			return expr.Const(t, len(rows) > 0), nil
		case "scalar":
			switch len(rows) {
			case 0:
				return expr.Const(t, nil), nil
			case 1:
				return expr.Const(t, rows[0][0]), nil
			}
			return nil, pgerr.New(pgerr.CardinalityViolation, "more than one row returned by a subquery used as an expression")
		}
		isAny := e.Name == "any"
		if len(rows) == 0 {
			return expr.Const(t, !isAny), nil
		}
		n := len(e.Args) - 1
		cmp := e.Args[n]
		if isAny && n == 1 && cmp.Kind == meridianpb.ExprKind_EXPR_FUNC && cmp.Name == "=" &&
			cmp.Args[0].Kind == meridianpb.ExprKind_EXPR_COLUMN && cmp.Args[1].Kind == meridianpb.ExprKind_EXPR_COLUMN &&
			planner.Hashable(cmp.Args[0], cmp.Args[1]) {
			in := &planner.Expr{Kind: meridianpb.ExprKind_EXPR_IN, TypeOid: types.Bool, Typmod: -1, Args: []*planner.Expr{e.Args[0]}}
			for _, r := range rows {
				in.Args = append(in.Args, expr.Const(expr.TypeOf(cmp.Args[1]), r[0]))
			}
			return in, nil
		}
		kind := meridianpb.ExprKind_EXPR_AND
		if isAny {
			kind = meridianpb.ExprKind_EXPR_OR
		}
		out := &planner.Expr{Kind: kind, TypeOid: types.Bool, Typmod: -1}
		for _, r := range rows {
			out.Args = append(out.Args, planner.RewriteExpr(cmp, func(x *planner.Expr) *planner.Expr {
				if x.Kind != meridianpb.ExprKind_EXPR_COLUMN {
					return x
				}
				if int(x.Index) < n {
					return e.Args[x.Index]
				}
				return expr.Const(expr.TypeOf(x), r[int(x.Index)-n])
			}))
		}
		return out, nil
	}
}
