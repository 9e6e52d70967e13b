package session

import (
	"context"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// aggSpec converts a planned aggregate.
func aggSpec(a planner.AggSpec) agg.Spec {
	s := agg.Spec{Func: a.Func, Type: a.Type, Distinct: a.Distinct}
	if a.Arg != nil {
		s.ArgType = a.Arg.TypeOid
	}
	return s
}

// aggregate groups the input rows and returns (groups..., aggregates...)
// rows that pass HAVING.
func (s *Session) aggregate(ctx context.Context, sel *planner.Select, src rowIter, compile compileFunc) ([][]types.Datum, error) {
	defer src.close()
	groupEvals := make([]expr.Eval, len(sel.GroupBy))
	for i, g := range sel.GroupBy {
		var err error
		if groupEvals[i], err = compile(g); err != nil {
			return nil, err
		}
	}
	argEvals := make([]expr.Eval, len(sel.Aggs))
	for i, a := range sel.Aggs {
		var err error
		if argEvals[i], err = compile(a.Arg); err != nil {
			return nil, err
		}
	}
	newAccs := func() []agg.Acc {
		accs := make([]agg.Acc, len(sel.Aggs))
		for i, a := range sel.Aggs {
			accs[i] = agg.New(aggSpec(a))
		}
		return accs
	}
	sets := sel.GroupingSets
	if sets == nil {
		all := make([]int, len(groupEvals))
		for i := range all {
			all[i] = i
		}
		sets = [][]int{all}
	}
	// Grouping sets read the input once per set.
	var rows [][]types.Datum
	var next func() ([]types.Datum, error)
	if len(sets) > 1 {
		var err error
		if rows, err = drainRows(ctx, src); err != nil {
			return nil, err
		}
	}
	var out [][]types.Datum
	for _, set := range sets {
		if len(sets) > 1 {
			i := 0
			next = func() ([]types.Datum, error) {
				if i == len(rows) {
					return nil, nil
				}
				i++
				return rows[i-1], nil
			}
		} else {
			next = func() ([]types.Datum, error) { return src.next(ctx) }
		}
		member := make([]bool, len(groupEvals))
		for _, c := range set {
			member[c] = true
		}
		groups := agg.NewGroups(false, newAccs)
		keys := make([]types.Datum, len(groupEvals))
		if len(set) == 0 {
			groups.Get(keys) // one row even without input
		}
		for {
			row, err := next()
			if err != nil {
				return nil, err
			}
			if row == nil {
				break
			}
			for i, ge := range groupEvals {
				keys[i] = nil
				if member[i] {
					if keys[i], err = ge(row); err != nil {
						return nil, err
					}
				}
			}
			g := groups.Get(keys)
			for i, acc := range g.State {
				var v types.Datum = true // count(*)
				if argEvals[i] != nil {
					if v, err = argEvals[i](row); err != nil {
						return nil, err
					}
				}
				if err := acc.Add(v); err != nil {
					return nil, err
				}
			}
		}
		res, err := finishGroups(sel, groups.All(), compile)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}


// compileFunc binds and compiles an expression of a query block.
type compileFunc func(*planner.Expr) (expr.Eval, error)

// result is an aggregate state that yields a value (agg.Acc, agg.Final).
type result interface {
	Result() (types.Datum, error)
}

// finishGroups builds one row per group (group values, then aggregate
// results) and keeps those that pass HAVING.
func finishGroups[S result](sel *planner.Select, groups []*agg.Group[[]S], compile compileFunc) ([][]types.Datum, error) {
	having, err := compile(sel.Having)
	if err != nil {
		return nil, err
	}
	out := make([][]types.Datum, 0, len(groups))
	for _, g := range groups {
		r := append([]types.Datum(nil), g.Keys...)
		for _, st := range g.State {
			v, err := st.Result()
			if err != nil {
				return nil, err
			}
			r = append(r, v)
		}
		if having != nil {
			v, err := having(r)
			if err != nil {
				return nil, err
			}
			if !expr.IsTrue(v) {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// aggregatePushed runs a two-phase aggregate: each datanode groups its
// rows and returns partial states (group values first); the coordinator
// merges the states per group.
func (s *Session) aggregatePushed(ctx context.Context, snap *routing.Snapshot, targets []target, a planner.Access,
	sel *planner.Select, env *planner.BindEnv, compile compileFunc) ([][]types.Datum, error) {
	groupBy, err := planner.BindAll(sel.DNGroupBy, env)
	if err != nil {
		return nil, err
	}
	var oids []uint32
	for _, g := range groupBy {
		oids = append(oids, g.TypeOid)
	}
	calls := make([]*meridianpb.AggCall, len(sel.DNAggs))
	specs := make([]agg.Spec, len(sel.DNAggs))
	for i, ag := range sel.DNAggs {
		arg, err := planner.Bind(ag.Arg, env)
		if err != nil {
			return nil, err
		}
		calls[i] = &meridianpb.AggCall{Func: ag.Func, Arg: arg, TypeOid: ag.Type.OID, Typmod: ag.Type.Typmod}
		specs[i] = aggSpec(ag)
		oids = append(oids, agg.PartialTypes(specs[i])...)
	}
	groups := agg.NewGroups(len(groupBy) == 0, func() []agg.Final {
		finals := make([]agg.Final, len(specs))
		for i, sp := range specs {
			finals[i] = agg.NewFinal(sp)
		}
		return finals
	})
	if len(targets) > 0 {
		tc, err := s.readTxn(ctx, env, len(targets))
		if err != nil {
			return nil, err
		}
		it, err := s.fanout(ctx, snap, targets, oids, func(t target) *meridianpb.ExecRequest {
			spec := scanSpec(a, t, nil, 0)
			spec.GroupBy, spec.Aggs = groupBy, calls
			return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Scan{Scan: spec}}
		})
		if err != nil {
			return nil, err
		}
		defer it.close()
		ng := len(groupBy)
		for {
			row, err := it.next(ctx)
			if err != nil {
				return nil, err
			}
			if row == nil {
				break
			}
			g := groups.Get(row[:ng])
			col := ng
			for i, sp := range specs {
				w := len(agg.PartialTypes(sp))
				if err := g.State[i].Merge(row[col : col+w]); err != nil {
					return nil, err
				}
				col += w
			}
		}
	}
	return finishGroups(sel, groups.All(), compile)
}
