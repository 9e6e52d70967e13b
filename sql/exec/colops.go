package exec

import (
	"context"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// buildCols returns the operators of a plan node as a source of column
// batches: a table scan the datanode reads by column (env.ColScan), a
// stream's receiver (env.RecvCols), a hash join it runs on batches
// (buildColJoin), and projections and filters over such a source, run on
// the batches; any other node is built as row operators whose rows are
// then stored by column (a columnarizer), so that a vectorized
// aggregation can sit on any input. rowOnly reports a source that is a
// columnarizer alone (no vector work below the aggregation but its own).
func (env *Env) buildCols(n *meridianpb.PlanNode) (src ColSource, rowOnly bool, err error) {
	st := env.stats(n.Id)
	switch op := n.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		if env.ColScan != nil {
			if src, err = env.ColScan(n); src != nil || err != nil {
				return colInstrument(src, st), false, err
			}
		}
	case *meridianpb.PlanNode_Recv:
		if env.RecvCols != nil {
			if src, err = env.RecvCols(n); src != nil || err != nil {
				return colInstrument(src, st), false, err
			}
		}
	case *meridianpb.PlanNode_Project, *meridianpb.PlanNode_Filter:
		if len(n.Inputs) != 1 || anyRowwise(n.GetProject().GetExprs()...) || anyRowwise(n.GetFilter().GetCond()) {
			break
		}
		in, _, err := env.buildCols(n.Inputs[0])
		if err != nil {
			return nil, false, err
		}
		c := &colexpr.Compiler{In: in.Types(), Row: env.Compile}
		if p, ok := op.(*meridianpb.PlanNode_Project); ok {
			cp := &colProject{in: in, types: n.Types}
			for _, e := range p.Project.Exprs {
				x, err := c.Compile(e)
				if err != nil {
					in.Close()
					return nil, false, err
				}
				cp.exprs = append(cp.exprs, x)
			}
			if len(cp.types) != len(cp.exprs) {
				in.Close()
				return nil, false, pgerr.New(pgerr.InternalError, "plan node %d: %d types for %d expressions", n.Id, len(cp.types), len(cp.exprs))
			}
			cp.out.Vecs = make([]*coldata.Vec, len(cp.exprs))
			return colInstrument(cp, st), false, nil
		}
		cond := op.(*meridianpb.PlanNode_Filter).Filter.Cond
		if cond == nil {
			in.Close()
			return nil, false, pgerr.New(pgerr.InternalError, "plan node %d: filter without a condition", n.Id)
		}
		f, err := c.CompileFilter(cond)
		if err != nil {
			in.Close()
			return nil, false, err
		}
		return colInstrument(&colFilter{in: in, filter: f}, st), false, nil
	case *meridianpb.PlanNode_Sort:
		if len(n.Inputs) == 1 && env.batchesAtTop(n.Inputs[0]) {
			cs, err := env.buildColSort(n, op.Sort, st)
			if err != nil {
				return nil, false, err
			}
			return colInstrument(cs, st), false, nil
		}
	case *meridianpb.PlanNode_SetOp:
		cs, err := env.buildColSetOp(n, op.SetOp, st)
		if err != nil {
			return nil, false, err
		}
		return colInstrument(cs, st), false, nil
	case *meridianpb.PlanNode_Limit:
		if env.batchesAtTop(n) {
			limit, err := env.rowCount(op.Limit.Limit, "LIMIT")
			if err != nil {
				return nil, false, err
			}
			offset, err := env.rowCount(op.Limit.Offset, "OFFSET")
			if err != nil {
				return nil, false, err
			}
			in, _, err := env.buildCols(n.Inputs[0])
			if err != nil {
				return nil, false, err
			}
			return colInstrument(&colLimit{in: in, limitState: limitState{limit: limit, offset: max(offset, 0)}}, st), false, nil
		}
	case *meridianpb.PlanNode_Window:
		if env.batchesAtTop(n) {
			var src ColSource
			w, err := env.windowNode(n, op.Window, st, &src)
			if err != nil {
				return nil, false, err
			}
			if src != nil {
				return colInstrument(src, st), false, nil
			}
			// A window on rows after all: its rows stored by column.
			if st != nil {
				w = &instrumented{op: w, st: st}
			}
			return &columnarizer{in: w, types: n.Types}, false, nil
		}
	case *meridianpb.PlanNode_IndexJoin:
		if env.batchesAtTop(n) {
			cj, err := env.buildColIndexJoin(n, op.IndexJoin)
			if err != nil {
				return nil, false, err
			}
			return colInstrument(cj, st), false, nil
		}
	case *meridianpb.PlanNode_Append:
		if env.batchesAtTop(n) {
			a := &colAppend{types: n.Types}
			for _, in := range n.Inputs {
				src, _, err := env.buildCols(in)
				if err != nil {
					a.close()
					return nil, false, err
				}
				a.ins = append(a.ins, src)
			}
			return colInstrument(a, st), false, nil
		}
	}
	var op Operator
	if j, ok := n.Op.(*meridianpb.PlanNode_Join); ok {
		cj, pre, err := env.buildColJoin(n, j.Join, st)
		if err != nil {
			return nil, false, err
		}
		if cj != nil {
			return colInstrument(cj, st), false, nil
		}
		if op, err = env.buildJoin(n, j.Join, st, pre); err != nil {
			return nil, false, err
		}
		if st != nil {
			op = &instrumented{op: op, st: st}
		}
	} else if op, err = env.Build(n); err != nil {
		return nil, false, err
	}
	return &columnarizer{in: op, types: n.Types}, true, nil
}

// BuildRoot returns the operators of a fragment's root: as a source of
// column batches when its top runs on them (a Stream then sends the
// batches' rows without making datums of them), else as a row operator.
func (env *Env) BuildRoot(n *meridianpb.PlanNode) (ColSource, Operator, error) {
	if !env.Vectorize || !env.batchesAtTop(n) {
		op, err := env.Build(n)
		return nil, op, err
	}
	src, rowOnly, err := env.buildCols(n)
	if err != nil {
		return nil, nil, err
	}
	if rowOnly {
		return nil, src.(*columnarizer).in, nil
	}
	return src, nil, nil
}

// batchesAtTop reports a node buildCols runs on column batches from the
// bottom up — a table scan, a Stream's receiver, a join ColHashJoin runs
// over such a probe, a merge join over two such inputs, a window node
// whose functions ColWindow or ColPartWindow compute over such an input, an index join over such an outer input, projections,
// filters, sorts and limits over such a node, set
// operations and appends whose inputs are all such nodes — and not over
// rows it would first store by column.
func (env *Env) batchesAtTop(n *meridianpb.PlanNode) bool {
	switch op := n.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		return true
	case *meridianpb.PlanNode_Recv:
		return env.RecvCols != nil
	case *meridianpb.PlanNode_Project:
		return len(n.Inputs) == 1 && !anyRowwise(op.Project.Exprs...) && env.batchesAtTop(n.Inputs[0])
	case *meridianpb.PlanNode_Filter:
		return len(n.Inputs) == 1 && !anyRowwise(op.Filter.Cond) && env.batchesAtTop(n.Inputs[0])
	case *meridianpb.PlanNode_Sort, *meridianpb.PlanNode_Limit:
		return len(n.Inputs) == 1 && env.batchesAtTop(n.Inputs[0])
	case *meridianpb.PlanNode_IndexJoin:
		return env.Lookup != nil && len(n.Inputs) == 1 && env.batchesAtTop(n.Inputs[0])
	case *meridianpb.PlanNode_Window:
		if len(n.Inputs) != 1 || !env.batchesAtTop(n.Inputs[0]) {
			return false
		}
		rowWise, partWise := true, true
		for _, f := range op.Window.Funcs {
			rowWise = rowWise && rowValued(f)
			partWise = partWise && partWindowable(f)
		}
		return rowWise || partWise
	case *meridianpb.PlanNode_SetOp, *meridianpb.PlanNode_Append:
		if _, ok := op.(*meridianpb.PlanNode_SetOp); ok && len(n.Inputs) != 2 || len(n.Inputs) == 0 {
			return false
		}
		for _, in := range n.Inputs {
			if !env.batchesAtTop(in) {
				return false
			}
		}
		return true
	case *meridianpb.PlanNode_Join:
		if op.Join.Algo == meridianpb.JoinAlgo_JOIN_MERGE && len(n.Inputs) == 2 {
			return env.batchesAtTop(n.Inputs[0]) && env.batchesAtTop(n.Inputs[1])
		}
		if !colJoinable(op.Join) || len(n.Inputs) != 2 {
			return false
		}
		if op.Join.BuildLeft {
			return env.batchesAtTop(n.Inputs[1])
		}
		return env.batchesAtTop(n.Inputs[0])
	}
	return false
}

// anyRowwise reports an expression that runs a query (a correlated
// subquery, evaluated on the coordinator for each row) or has a side
// effect (a sequence function): projections and filters of such
// expressions stay on rows, which evaluate all of a row's expressions
// before the next row's, as PostgreSQL does (nextval(s), nextval(s)
// gives 1, 2 on the first row), not one expression over a batch.
func anyRowwise(es ...*meridianpb.Expr) bool {
	for _, e := range es {
		if e == nil {
			continue
		}
		if e.Kind == meridianpb.ExprKind_EXPR_SUBQUERY || e.Kind == meridianpb.ExprKind_EXPR_SEQUENCE || anyRowwise(e.Args...) {
			return true
		}
	}
	return false
}

// StoreRow stores row r at row i of b's vectors; a row of another width,
// or a value not of its column's Go type, is an internal error.
func StoreRow(b *coldata.Batch, i int, r Row) error {
	if len(r) != len(b.Vecs) {
		return pgerr.New(pgerr.InternalError, "a row of %d columns where %d were planned", len(r), len(b.Vecs))
	}
	for j, d := range r {
		if !b.Vecs[j].Put(i, d) {
			return pgerr.New(pgerr.InternalError, "a %T in a column of type %s", d, types.InfoOf(b.Vecs[j].Oid).Name)
		}
	}
	return nil
}

// columnarizer stores the rows of a row operator by column.
type columnarizer struct {
	in    Operator
	types []uint32
	b     *coldata.Batch
	rows  []Row // rows of the input's last batch not yet stored
}

func (c *columnarizer) Types() []uint32 { return c.types }

func (c *columnarizer) Open(ctx context.Context) error {
	c.b = coldata.NewBatch(c.types)
	return c.in.Open(ctx)
}

func (c *columnarizer) Next(ctx context.Context) (*coldata.Batch, error) {
	b := c.b
	b.Reset()
	for b.N < coldata.BatchSize {
		if len(c.rows) == 0 {
			in, err := c.in.Next(ctx)
			if err != nil {
				return nil, err
			}
			if in == nil {
				break
			}
			c.rows = in.Rows
		}
		n := min(len(c.rows), coldata.BatchSize-b.N)
		for _, r := range c.rows[:n] {
			if err := StoreRow(b, b.N, r); err != nil {
				return nil, err
			}
			b.N++
		}
		c.rows = c.rows[n:]
	}
	if b.N == 0 {
		return nil, nil
	}
	b.SelectAll(b.N)
	return b, nil
}

func (c *columnarizer) Close() { c.in.Close() }

// colProject computes expressions over column batches.
type colProject struct {
	in    ColSource
	exprs []colexpr.Expr
	types []uint32
	out   coldata.Batch
}

func (p *colProject) Types() []uint32                { return p.types }
func (p *colProject) Open(ctx context.Context) error { return p.in.Open(ctx) }
func (p *colProject) Close()                         { p.in.Close() }

func (p *colProject) Next(ctx context.Context) (*coldata.Batch, error) {
	b, err := p.in.Next(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	for i, e := range p.exprs {
		if p.out.Vecs[i], err = e.Eval(b); err != nil {
			return nil, err
		}
	}
	p.out.N, p.out.Sel = b.N, b.Sel
	return &p.out, nil
}

// colFilter narrows the selection of column batches.
type colFilter struct {
	in     ColSource
	filter colexpr.Filter
}

func (f *colFilter) Types() []uint32                { return f.in.Types() }
func (f *colFilter) Open(ctx context.Context) error { return f.in.Open(ctx) }
func (f *colFilter) Close()                         { f.in.Close() }

func (f *colFilter) Next(ctx context.Context) (*coldata.Batch, error) {
	for {
		b, err := f.in.Next(ctx)
		if b == nil || err != nil {
			return nil, err
		}
		if err := f.filter(b); err != nil {
			return nil, err
		}
		if len(b.Sel) > 0 {
			return b, nil
		}
	}
}

// colInstrument counts a column source's rows and time in st (EXPLAIN
// ANALYZE), marked vectorized; src itself when st is nil.
func colInstrument(src ColSource, st *Stats) ColSource {
	if st == nil || src == nil {
		return src
	}
	st.Vectorized = true
	return &colInstrumented{ColSource: src, st: st}
}

type colInstrumented struct {
	ColSource
	st *Stats
}

// FilterKeys passes a join's runtime filter to the source.
func (c *colInstrumented) FilterKeys(col int, keep func(int64) bool) bool {
	f, ok := c.ColSource.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}

func (c *colInstrumented) Open(ctx context.Context) error {
	start := time.Now()
	err := c.ColSource.Open(ctx)
	c.st.Nanos += int64(time.Since(start))
	return err
}

func (c *colInstrumented) Next(ctx context.Context) (*coldata.Batch, error) {
	start := time.Now()
	b, err := c.ColSource.Next(ctx)
	c.st.Nanos += int64(time.Since(start))
	if b != nil {
		c.st.Rows += int64(len(b.Sel))
	}
	return b, err
}

// buildColSort returns a sort node over its input's column batches (the
// input must be one batchesAtTop accepts).
func (env *Env) buildColSort(n *meridianpb.PlanNode, sn *meridianpb.SortNode, st *Stats) (*ColSort, error) {
	keys, err := env.sortKeys(sn.Keys)
	if err != nil {
		return nil, err
	}
	limit, err := env.rowCount(sn.Limit, "LIMIT")
	if err != nil {
		return nil, err
	}
	in, _, err := env.buildCols(n.Inputs[0])
	if err != nil {
		return nil, err
	}
	return env.colSortOver(in, sn.Keys, keys, limit, st)
}

// colSortOver returns a sort of in's batches by keys (pkeys compiled);
// on an error it closes in.
func (env *Env) colSortOver(in ColSource, pkeys []*meridianpb.SortKey, keys []SortKey, limit int64, st *Stats) (*ColSort, error) {
	c := &colexpr.Compiler{In: in.Types(), Row: env.Compile}
	exprs := make([]colexpr.Expr, len(pkeys))
	for i, k := range pkeys {
		var err error
		if exprs[i], err = c.Compile(k.Expr); err != nil {
			in.Close()
			return nil, err
		}
	}
	return NewColSort(env, st, in, exprs, keys, max(limit, 0)), nil
}

// buildColPair builds a node's two inputs as sources of column batches.
func (env *Env) buildColPair(n *meridianpb.PlanNode) (left, right ColSource, err error) {
	if len(n.Inputs) != 2 {
		return nil, nil, pgerr.New(pgerr.InternalError, "plan node %d: %d inputs, want 2", n.Id, len(n.Inputs))
	}
	if left, _, err = env.buildCols(n.Inputs[0]); err != nil {
		return nil, nil, err
	}
	if right, _, err = env.buildCols(n.Inputs[1]); err != nil {
		left.Close()
		return nil, nil, err
	}
	return left, right, nil
}

// buildColSetOp returns an INTERSECT or EXCEPT node over its inputs'
// column batches (inputs batchesAtTop accepts).
func (env *Env) buildColSetOp(n *meridianpb.PlanNode, so *meridianpb.SetOpNode, st *Stats) (*ColSetOp, error) {
	if so.Op != "intersect" && so.Op != "except" {
		return nil, pgerr.New(pgerr.InternalError, "unknown set operation %q", so.Op)
	}
	left, right, err := env.buildColPair(n)
	if err != nil {
		return nil, err
	}
	if len(left.Types()) != len(right.Types()) {
		left.Close()
		right.Close()
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: set operation over %d and %d columns", n.Id, len(left.Types()), len(right.Types()))
	}
	return NewColSetOp(env, st, left, right, so.Op == "intersect", so.All), nil
}

// RowDecoder decodes a stream's encoded rows (codec.EncodeRow, every
// column) into column batches.
type RowDecoder struct{ dec *codec.ColDecoder }

// NewRowDecoder returns the decoder of rows of the given column types.
func NewRowDecoder(types []uint32) RowDecoder {
	all := make([]int, len(types))
	for i := range all {
		all[i] = i
	}
	return RowDecoder{dec: codec.NewColDecoder(types, nil, all)}
}

// Fill decodes rows of enc into b from its row b.N on, until b holds
// BatchSize rows, and returns the rows left.
func (d RowDecoder) Fill(b *coldata.Batch, enc [][]byte) ([][]byte, error) {
	n := min(len(enc), coldata.BatchSize-b.N)
	for _, e := range enc[:n] {
		if err := d.dec.Decode(e, b.Vecs, b.N); err != nil {
			return nil, pgerr.Wrap(err, pgerr.ProtocolViolation, "decode stream row")
		}
		b.N++
	}
	return enc[n:], nil
}
