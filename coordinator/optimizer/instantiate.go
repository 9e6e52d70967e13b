package optimizer

import (
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Routes is the bucket map a plan runs against.
type Routes interface {
	Owner(bucket uint32) uint32
	Groups() []uint32
}

// Binding is what a run of a plan binds into it.
type Binding struct {
	// Env binds parameters, outer references and session functions; its
	// Inline replaces the plan's uncorrelated subqueries by their values.
	Env *planner.BindEnv
	// Rows returns the rows of a coordinator-computed row set (Plan.Refs)
	// that a datanode fragment reads.
	Rows func(ref int32) ([][]types.Datum, error)
	// Pick chooses among datanode groups for a fragment that reads only
	// replicated data.
	Pick uint32
	// ExplainOnly: the plan is shown, not run; subqueries may stay in
	// datanode fragments and row sets are not computed.
	ExplainOnly bool
}

// Instantiate binds a plan's values and cuts it into fragments placed on
// the datanode groups of routes: fragments[0] is the coordinator's.
func (p *Plan) Instantiate(bd *Binding, routes Routes) (*meridianpb.Plan, error) {
	c := &cutter{p: p, bd: bd, routes: routes, nextID: p.nextID}
	root := &fragMeta{f: &meridianpb.Fragment{Id: 0}, cn: true}
	c.frags = append(c.frags, root)
	n, err := c.node(p.root, root)
	if err != nil {
		return nil, err
	}
	root.f.Root = n
	out := &meridianpb.Plan{}
	groups := routes.Groups()
	if len(groups) == 0 && len(c.frags) > 1 {
		return nil, pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	for _, fm := range c.frags {
		if !fm.cn {
			fm.f.Groups = c.place(fm, groups)
		}
		out.Fragments = append(out.Fragments, fm.f)
	}
	return out, nil
}

type cutter struct {
	p      *Plan
	bd     *Binding
	routes Routes
	frags  []*fragMeta
	nextID int32
}

// fragMeta is what placing a fragment needs to know.
type fragMeta struct {
	f  *meridianpb.Fragment
	cn bool
	// Where its hashed scans' rows are: nil entries scan every bucket.
	scans [][]uint32
	// It receives a redistributed stream: it runs on every group.
	redistributed bool
}

// place chooses a datanode fragment's groups.
func (c *cutter) place(fm *fragMeta, groups []uint32) []uint32 {
	if fm.redistributed {
		return groups
	}
	set := map[uint32]bool{}
	for _, bs := range fm.scans {
		if bs == nil {
			return groups
		}
		for _, b := range bs {
			set[c.routes.Owner(b)] = true
		}
	}
	if len(fm.scans) == 0 || len(set) == 0 {
		// Only replicated or constant rows: one copy is enough.
		return []uint32{groups[int(c.bd.Pick)%len(groups)]}
	}
	var out []uint32
	for _, g := range groups {
		if set[g] {
			out = append(out, g)
		}
	}
	return out
}

func (c *cutter) id() int32 {
	c.nextID++
	return c.nextID
}

// node builds the plan node of n inside fragment fm, cutting new
// fragments at exchanges.
func (c *cutter) node(n *pnode, fm *fragMeta) (*meridianpb.PlanNode, error) {
	if n.exch != nil {
		child := &fragMeta{f: &meridianpb.Fragment{Id: int32(len(c.frags))}}
		c.frags = append(c.frags, child)
		root, err := c.node(n.kids[0], child)
		if err != nil {
			return nil, err
		}
		child.f.Root = root
		child.f.Output = &meridianpb.Stream{Kind: n.exch.kind, Target: fm.f.Id}
		for _, h := range n.exch.hashCols {
			child.f.Output.HashColumns = append(child.f.Output.HashColumns, int32(h))
		}
		if n.exch.kind == meridianpb.StreamKind_STREAM_REDISTRIBUTE {
			fm.redistributed = true
		}
		return &meridianpb.PlanNode{Id: c.id(), Types: n.types, Names: n.names, EstRows: n.rows, EstCost: n.cost,
			Op: &meridianpb.PlanNode_Recv{Recv: &meridianpb.RecvNode{Fragment: child.f.Id, Merge: n.exch.merge}}}, nil
	}
	pb := &meridianpb.PlanNode{Id: n.op.Id, Types: n.types, Names: n.names, EstRows: n.rows, EstCost: n.cost}
	pb.Op = proto.Clone(n.op).(*meridianpb.PlanNode).Op
	if err := c.bindExprs(pb, fm.cn); err != nil {
		return nil, err
	}
	switch op := pb.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		if err := c.bindScan(n, op.Scan, fm); err != nil {
			return nil, err
		}
	case *meridianpb.PlanNode_IndexJoin:
		// Its lookups read the inner table's rows on each datanode.
		if op.IndexJoin.Table.Dist != meridianpb.DistKind_DIST_REPLICATION {
			fm.scans = append(fm.scans, nil)
		}
	case *meridianpb.PlanNode_RowsRef:
		if !fm.cn {
			// A datanode gets the rows themselves.
			v, err := c.values(op.RowsRef.Ref, n.types)
			if err != nil {
				return nil, err
			}
			pb.Op = v
		}
	}
	for _, k := range n.kids {
		in, err := c.node(k, fm)
		if err != nil {
			return nil, err
		}
		pb.Inputs = append(pb.Inputs, in)
	}
	return pb, nil
}

// bindScan prunes a scan to the buckets its bound WHERE clause allows.
func (c *cutter) bindScan(n *pnode, sn *meridianpb.ScanNode, fm *fragMeta) error {
	a := n.scan.access
	var err error
	a, noRows, err := planner.BindAccess(a, c.bd.Env)
	if err != nil {
		return err
	}
	sn.IndexEq = a.IndexEq
	if noRows {
		// Nothing can match: the datanodes read nothing.
		sn.Filter = expr.Const(types.T(types.Bool), false)
		sn.IndexId, sn.IndexEq = 0, nil
		sn.Buckets = []uint32{}
		if a.Table.Dist != meridianpb.DistKind_DIST_REPLICATION {
			fm.scans = append(fm.scans, []uint32{})
		}
		sn.Limit = 0
		return nil
	}
	if a.Table.Dist == meridianpb.DistKind_DIST_REPLICATION {
		return nil
	}
	buckets, all, err := planner.Buckets(a)
	if err != nil {
		return err
	}
	if all {
		fm.scans = append(fm.scans, nil)
		return nil
	}
	sn.Buckets = buckets
	fm.scans = append(fm.scans, buckets)
	return nil
}

// values turns coordinator-computed rows into a VALUES node.
func (c *cutter) values(ref int32, typs []uint32) (*meridianpb.PlanNode_Values, error) {
	if c.bd.ExplainOnly {
		return &meridianpb.PlanNode_Values{Values: &meridianpb.ValuesNode{}}, nil
	}
	if c.bd.Rows == nil {
		return nil, pgerr.New(pgerr.InternalError, "no rows for reference %d", ref)
	}
	rows, err := c.bd.Rows(ref)
	if err != nil {
		return nil, err
	}
	v := &meridianpb.ValuesNode{Rows: make([]*meridianpb.ExprRow, len(rows))}
	for i, r := range rows {
		er := &meridianpb.ExprRow{Exprs: make([]*Expr, len(r))}
		for j, d := range r {
			er.Exprs[j] = expr.Const(types.T(typs[j]), d)
		}
		v.Rows[i] = er
	}
	return &meridianpb.PlanNode_Values{Values: v}, nil
}

// bindExprs binds every expression of an operator.
func (c *cutter) bindExprs(pb *meridianpb.PlanNode, cn bool) error {
	var err error
	bind := func(e *Expr) *Expr {
		if e == nil || err != nil {
			return e
		}
		var b *Expr
		b, err = planner.Bind(e, c.bd.Env)
		if err == nil && !cn && !c.bd.ExplainOnly && hasSubquery(b) {
			err = pgerr.New(pgerr.InternalError, "a subquery is left in a datanode fragment")
		}
		return b
	}
	bindAll := func(es []*Expr) {
		for i, e := range es {
			es[i] = bind(e)
		}
	}
	bindKeys := func(ks []*meridianpb.SortKey) {
		for _, k := range ks {
			k.Expr = bind(k.Expr)
		}
	}
	switch op := pb.Op.(type) {
	case *meridianpb.PlanNode_Scan:
		op.Scan.Filter = bind(op.Scan.Filter)
	case *meridianpb.PlanNode_IndexJoin:
		bindAll(op.IndexJoin.LookupKeys)
		op.IndexJoin.Filter = bind(op.IndexJoin.Filter)
		op.IndexJoin.Residual = bind(op.IndexJoin.Residual)
	case *meridianpb.PlanNode_Filter:
		op.Filter.Cond = bind(op.Filter.Cond)
	case *meridianpb.PlanNode_Project:
		bindAll(op.Project.Exprs)
	case *meridianpb.PlanNode_Join:
		bindAll(op.Join.LeftKeys)
		bindAll(op.Join.RightKeys)
		op.Join.Residual = bind(op.Join.Residual)
	case *meridianpb.PlanNode_Agg:
		bindAll(op.Agg.GroupBy)
		for _, a := range op.Agg.Aggs {
			a.Arg = bind(a.Arg)
		}
	case *meridianpb.PlanNode_Sort:
		bindKeys(op.Sort.Keys)
		op.Sort.Limit = bind(op.Sort.Limit)
	case *meridianpb.PlanNode_Limit:
		op.Limit.Limit = bind(op.Limit.Limit)
		op.Limit.Offset = bind(op.Limit.Offset)
	case *meridianpb.PlanNode_Window:
		for _, f := range op.Window.Funcs {
			bindAll(f.Args)
			bindAll(f.PartitionBy)
			bindKeys(f.OrderBy)
			if f.Frame != nil {
				f.Frame.StartOffset = bind(f.Frame.StartOffset)
				f.Frame.EndOffset = bind(f.Frame.EndOffset)
			}
		}
	case *meridianpb.PlanNode_Values:
		for _, r := range op.Values.Rows {
			bindAll(r.Exprs)
		}
	case *meridianpb.PlanNode_Series:
		op.Series.Start = bind(op.Series.Start)
		op.Series.Stop = bind(op.Series.Stop)
		op.Series.Step = bind(op.Series.Step)
	}
	return err
}

func hasSubquery(e *Expr) bool {
	found := false
	walk(e, func(x *Expr) {
		if x.Kind == kSubq {
			found = true
		}
	})
	return found
}
