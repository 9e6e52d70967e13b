package session

import (
	"context"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/dist"
	"github.com/meridian-db/meridian/coordinator/optimizer"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// maxPlans bounds a session's cache of distributed plans.
const maxPlans = 2048

// queryPlan returns the distributed plan of a query block, made once per
// session (a prepared statement's blocks are planned once).
func (s *Session) queryPlan(sel *planner.Select) (*optimizer.Plan, error) {
	o := &optimizer.Optimizer{Stats: s.e.cat.TableStats, Datanodes: len(s.e.routes.Current().Groups())}
	o.Off.HashJoin = s.settingOff("enable_hashjoin")
	o.Off.MergeJoin = s.settingOff("enable_mergejoin")
	o.Off.NestLoop = s.settingOff("enable_nestloop")
	o.Off.HashAgg = s.settingOff("enable_hashagg")
	if v := s.e.cat.Version(); v != s.plansVersion || o.Off != s.plansOff {
		// New statistics, schema or settings: plan again.
		s.plans, s.plansVersion, s.plansOff = nil, v, o.Off
	}
	if p, ok := s.plans[sel]; ok {
		return p, nil
	}
	p, err := o.PlanSelect(sel)
	if err != nil {
		return nil, err
	}
	if s.plans == nil || len(s.plans) >= maxPlans {
		s.plans = map[*planner.Select]*optimizer.Plan{}
	}
	s.plans[sel] = p
	return p, nil
}

// runSelect runs a query and returns its rows.
func (s *Session) runSelect(ctx context.Context, sel *planner.Select, env *planner.BindEnv) (rowIter, error) {
	if sel.Lock != nil {
		return s.runLockingSelect(ctx, sel, env)
	}
	p, err := s.queryPlan(sel)
	if err != nil {
		return nil, err
	}
	q := &queryRun{s: s, p: p, env: env}
	if err := q.start(ctx); err != nil {
		return nil, err
	}
	return q.iter, nil
}

// queryRows runs a query and collects up to limit of its rows (limit <
// 0: all).
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
		rows = append(rows, r)
	}
	return rows, nil
}

// queryRun is one execution of a distributed plan.
type queryRun struct {
	s   *Session
	p   *optimizer.Plan
	env *planner.BindEnv
	ctx context.Context
	// collect asks for per-operator statistics (EXPLAIN ANALYZE).
	collect bool

	plan    *meridianpb.Plan // as placed
	run     *dist.Run
	cnStats map[int32]*sqlexec.Stats
	iter    *opIter
}

// start binds and places the plan, sets up the datanodes' flows and
// opens the coordinator's fragment.
func (q *queryRun) start(ctx context.Context) error {
	s, p := q.s, q.p
	q.ctx = ctx
	if len(p.Subs) > 0 || len(p.Refs) > 0 {
		// The statement runs more than one plan: they must share a
		// global snapshot.
		q.env.Memo[multiScan{}] = true
	}
	benv := *q.env
	benv.Inline = q.inline(ctx)
	s.pick++
	snap := s.e.routes.Current()
	plan, err := p.Instantiate(&optimizer.Binding{Env: &benv, Rows: q.refRows, Pick: s.pick}, snap)
	if err != nil {
		return errTimeout(ctx, err)
	}
	q.plan = plan
	workMem, err := s.workMem()
	if err != nil {
		return err
	}
	var run *dist.Run
	if len(plan.Fragments) > 1 {
		groups := map[uint32]bool{}
		for _, f := range plan.Fragments[1:] {
			for _, g := range f.Groups {
				groups[g] = true
			}
		}
		// A datanode's latest state is one consistent snapshot for one
		// read of one table there; a plan that reads more (several scans,
		// several datanodes) needs a global snapshot.
		targets := len(groups)
		if reads := tableReads(plan); reads > 1 {
			targets = max(targets, 2)
		}
		tc, err := s.readTxn(ctx, q.env, targets)
		if err != nil {
			return err
		}
		addrs := map[uint32]string{}
		for g := range groups {
			if a, ok := snap.Addr(g); ok {
				addrs[g] = a
			}
		}
		run, err = dist.Start(ctx, s.e.pool.flowClient, &dist.Request{Plan: plan, QueryID: s.e.newQueryID(), Txn: tc,
			Addrs: addrs, BucketRuns: s.e.bucketRuns(snap), CollectStats: q.collect, WorkMem: workMem,
			Unary: pointLookup(plan)})
		if err != nil {
			return errTimeout(ctx, err)
		}
	}
	q.run = run
	env := &sqlexec.Env{Compile: q.compile, RowsRef: q.rowsRefOp, WorkMem: workMem, Vectorize: !s.e.cfg.RowEngine}
	if q.collect {
		q.cnStats = map[int32]*sqlexec.Stats{}
		env.Stats = q.cnStats
	}
	if run != nil {
		env.Recv = run.Recv
		if env.Vectorize {
			env.RecvCols = run.RecvCols
		}
	}
	src, op, err := env.BuildRoot(plan.Fragments[0].Root)
	if src != nil {
		op = sqlexec.ColRows(src)
	}
	if err == nil {
		if err = op.Open(ctx); err != nil {
			op.Close()
		}
	}
	if err != nil {
		if run != nil {
			run.Close()
			err = dist.Best(err, run.Err())
		}
		return errTimeout(ctx, err)
	}
	q.iter = &opIter{op: op, run: run, keep: q.collect}
	return nil
}

// inline computes the plan's uncorrelated subqueries (once per run) and
// replaces each by its value; correlated ones stay for the coordinator.
func (q *queryRun) inline(ctx context.Context) func(*planner.Expr) (*planner.Expr, error) {
	inl := q.s.inliner(ctx, q.p.Subs, q.env)
	return func(e *planner.Expr) (*planner.Expr, error) {
		if int(e.Index) < len(q.p.Subs) && q.p.Subs[e.Index].Correlated {
			return e, nil
		}
		return inl(e)
	}
}

// refRows returns the rows of one of the plan's coordinator-computed row
// sets.
func (q *queryRun) refRows(ref int32) ([][]types.Datum, error) {
	if int(ref) >= len(q.p.Refs) {
		return nil, pgerr.New(pgerr.InternalError, "unknown row set %d", ref)
	}
	r := q.p.Refs[ref]
	if r.Work {
		rows, _ := q.env.Memo[workTable{r.CTE}].([][]types.Datum)
		return rows, nil
	}
	return q.s.cteRows(q.ctx, r.CTE, q.env)
}

func (q *queryRun) rowsRefOp(n *meridianpb.PlanNode) (sqlexec.Operator, error) {
	rows, err := q.refRows(n.GetRowsRef().Ref)
	if err != nil {
		return nil, err
	}
	out := make([]sqlexec.Row, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	return sqlexec.NewRows(out), nil
}

// compile compiles an expression of the coordinator's fragment; its
// correlated subqueries run once per row they are evaluated for, and so
// do its sequence functions.
func (q *queryRun) compile(e *meridianpb.Expr) (expr.Eval, error) {
	return expr.CompileWith(e, q.s.seqExt(q.ctx, q.subquery))
}

// subquery compiles an EXPR_SUBQUERY left in the plan (a correlated one).
func (q *queryRun) subquery(e *meridianpb.Expr) (expr.Eval, error) {
	if e.Kind != meridianpb.ExprKind_EXPR_SUBQUERY || int(e.Index) >= len(q.p.Subs) {
		return nil, pgerr.New(pgerr.InternalError, "unknown expression kind %v", e.Kind)
	}
	i := int(e.Index)
	switch e.Name {
	case planner.VolatileSubquery: // evaluated here for each row
		if len(e.Args) != 1 {
			return nil, pgerr.New(pgerr.InternalError, "malformed per-row expression")
		}
		return q.compile(e.Args[0])
	case "exists":
		return func(row []types.Datum) (types.Datum, error) {
			r, err := q.subRows(i, row, 1)
			if err != nil {
				return nil, err
			}
			return len(r) > 0, nil
		}, nil
	case "scalar":
		return func(row []types.Datum) (types.Datum, error) {
			r, err := q.subRows(i, row, 2)
			if err != nil {
				return nil, err
			}
			switch len(r) {
			case 0:
				return nil, nil
			case 1:
				return r[0][0], nil
			}
			return nil, pgerr.New(pgerr.CardinalityViolation, "more than one row returned by a subquery used as an expression")
		}, nil
	case "any", "all":
		return q.quantified(i, e)
	}
	return nil, pgerr.New(pgerr.InternalError, "unknown subquery form %q", e.Name)
}

// quantified compiles x op ANY/ALL (subquery) with SQL's three-valued
// logic: ANY is true if a comparison is, else NULL if one is NULL; ALL
// is false if a comparison is, else NULL if one is NULL.
func (q *queryRun) quantified(i int, e *meridianpb.Expr) (expr.Eval, error) {
	n := len(e.Args) - 1
	lefts := make([]expr.Eval, n)
	for k, a := range e.Args[:n] {
		ev, err := q.compile(a)
		if err != nil {
			return nil, err
		}
		lefts[k] = ev
	}
	cmp, err := expr.Compile(e.Args[n])
	if err != nil {
		return nil, err
	}
	isAny := e.Name == "any"
	return func(row []types.Datum) (types.Datum, error) {
		vals := make([]types.Datum, n, 2*n)
		for k, l := range lefts {
			v, err := l(row)
			if err != nil {
				return nil, err
			}
			vals[k] = v
		}
		rows, err := q.subRows(i, row, -1)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return !isAny, nil
		}
		sawNull := false
		for _, sr := range rows {
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

// subRows runs correlated subquery i for one row of this query and
// returns up to limit rows (limit < 0: all).
func (q *queryRun) subRows(i int, row []types.Datum, limit int) ([][]types.Datum, error) {
	// The subquery's outer references index the row of its query block,
	// whose columns are spread over the operator's row.
	layout := q.p.SubRows[i]
	outer := make([]types.Datum, len(layout))
	for c, p := range layout {
		if p >= 0 && p < len(row) {
			outer[c] = row[p]
		}
	}
	return q.s.queryRows(q.ctx, q.p.Subs[i].Query, q.env.WithOuter(outer), limit)
}

// opIter reads the coordinator fragment's rows.
type opIter struct {
	op   sqlexec.Operator
	run  *dist.Run
	rows []sqlexec.Row
	pos  int
	done bool
	// keep: at the end, leave the flows to finish (EXPLAIN ANALYZE waits
	// for their statistics) instead of canceling them.
	keep bool
}

func (it *opIter) next(ctx context.Context) ([]types.Datum, error) {
	for it.pos >= len(it.rows) {
		if it.done {
			return nil, nil
		}
		b, err := it.op.Next(ctx)
		if err != nil {
			it.close()
			return nil, errTimeout(ctx, err)
		}
		if b == nil {
			it.close()
			return nil, nil
		}
		it.rows, it.pos = b.Rows, 0
	}
	it.pos++
	return it.rows[it.pos-1], nil
}

func (it *opIter) close() {
	if it.done {
		return
	}
	it.done = true
	it.rows = nil
	it.op.Close()
	if it.run != nil && !it.keep {
		it.run.Close()
	}
}

// newQueryID returns an id unique in the cluster while the query runs.
func (e *Engine) newQueryID() uint64 {
	return uint64(e.cfg.Num)<<48 | (e.qid.Add(1) & (1<<48 - 1))
}

// bucketRuns encodes a bucket map as (first bucket, owner) runs, cached
// per routing snapshot.
func (e *Engine) bucketRuns(snap *routing.Snapshot) []uint32 {
	e.runsMu.Lock()
	defer e.runsMu.Unlock()
	if e.runsSnap == snap {
		return e.runs
	}
	var runs []uint32
	prev := uint32(0)
	for b := uint32(0); b < codec.NumBuckets; b++ {
		o := snap.Owner(b)
		if b == 0 || o != prev {
			runs = append(runs, b, o)
			prev = o
		}
	}
	e.runsSnap, e.runs = snap, runs
	return runs
}

// pointLookup reports a plan that reads at most one row on one datanode:
// its only datanode fragment looks a unique index up by all its columns
// (and filters or projects the row). It runs as one unary call.
func pointLookup(p *meridianpb.Plan) bool {
	if len(p.Fragments) != 2 || len(p.Fragments[1].Groups) != 1 {
		return false
	}
	n := p.Fragments[1].Root
	for {
		switch op := n.Op.(type) {
		case *meridianpb.PlanNode_Filter, *meridianpb.PlanNode_Project, *meridianpb.PlanNode_Limit:
			if len(n.Inputs) != 1 {
				return false
			}
			n = n.Inputs[0]
			continue
		case *meridianpb.PlanNode_Scan:
			ix := planner.IndexOf(op.Scan.Table, op.Scan.IndexId)
			return ix != nil && ix.Unique && len(op.Scan.IndexEq) == len(ix.Columns)
		}
		return false
	}
}

// tableReads counts the table reads of a plan's datanode fragments (scans
// and index joins' lookups).
func tableReads(p *meridianpb.Plan) int {
	n := 0
	var walk func(*meridianpb.PlanNode)
	walk = func(x *meridianpb.PlanNode) {
		switch x.Op.(type) {
		case *meridianpb.PlanNode_Scan, *meridianpb.PlanNode_IndexJoin:
			n++
		}
		for _, in := range x.Inputs {
			walk(in)
		}
	}
	for _, f := range p.Fragments[1:] {
		walk(f.Root)
	}
	return n
}
