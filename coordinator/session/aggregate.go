package session

import (
	"context"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

type group struct {
	keys []types.Datum
	accs []agg.Acc
}

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
func (s *Session) aggregate(ctx context.Context, sel *planner.Select, env *planner.BindEnv, src rowIter) ([][]types.Datum, error) {
	defer src.close()
	groupEvals := make([]expr.Eval, len(sel.GroupBy))
	for i, g := range sel.GroupBy {
		b, err := planner.Bind(g, env)
		if err != nil {
			return nil, err
		}
		if groupEvals[i], err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	argEvals := make([]expr.Eval, len(sel.Aggs))
	for i, a := range sel.Aggs {
		if a.Arg == nil {
			continue
		}
		b, err := planner.Bind(a.Arg, env)
		if err != nil {
			return nil, err
		}
		if argEvals[i], err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	newGroup := func(keys []types.Datum) *group {
		g := &group{keys: keys, accs: make([]agg.Acc, len(sel.Aggs))}
		for i, a := range sel.Aggs {
			g.accs[i] = agg.New(aggSpec(a))
		}
		return g
	}
	groups := map[string]*group{}
	var order []*group
	if len(sel.GroupBy) == 0 {
		g := newGroup(nil)
		groups[""] = g
		order = append(order, g)
	}
	var kbuf []byte
	for {
		row, err := src.next(ctx)
		if err != nil {
			return nil, err
		}
		if row == nil {
			break
		}
		keys := make([]types.Datum, len(groupEvals))
		kbuf = kbuf[:0]
		for i, ge := range groupEvals {
			if keys[i], err = ge(row); err != nil {
				return nil, err
			}
			kbuf = codec.AppendKey(kbuf, keys[i])
		}
		g, ok := groups[string(kbuf)]
		if !ok {
			g = newGroup(keys)
			groups[string(kbuf)] = g
			order = append(order, g)
		}
		for i, acc := range g.accs {
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
	return finishGroups(sel, env, len(order), func(i int) ([]types.Datum, error) {
		g := order[i]
		row := make([]types.Datum, 0, len(g.keys)+len(g.accs))
		row = append(row, g.keys...)
		for _, acc := range g.accs {
			v, err := acc.Result()
			if err != nil {
				return nil, err
			}
			row = append(row, v)
		}
		return row, nil
	})
}

// finishGroups builds the n output rows (group values, aggregate results)
// with row(i) and keeps those that pass HAVING.
func finishGroups(sel *planner.Select, env *planner.BindEnv, n int, row func(i int) ([]types.Datum, error)) ([][]types.Datum, error) {
	var having expr.Eval
	if sel.Having != nil {
		b, err := planner.Bind(sel.Having, env)
		if err != nil {
			return nil, err
		}
		if having, err = expr.Compile(b); err != nil {
			return nil, err
		}
	}
	out := make([][]types.Datum, 0, n)
	for i := 0; i < n; i++ {
		r, err := row(i)
		if err != nil {
			return nil, err
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
	sel *planner.Select, env *planner.BindEnv) ([][]types.Datum, error) {
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
	type final struct {
		keys   []types.Datum
		finals []agg.Final
	}
	newFinal := func(keys []types.Datum) *final {
		f := &final{keys: keys, finals: make([]agg.Final, len(specs))}
		for i, sp := range specs {
			f.finals[i] = agg.NewFinal(sp)
		}
		return f
	}
	groups := map[string]*final{}
	var order []*final
	if len(groupBy) == 0 {
		f := newFinal(nil)
		groups[""] = f
		order = append(order, f)
	}
	if len(targets) > 0 {
		tc, err := s.stmtTxn(ctx, len(targets), false)
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
		var kbuf []byte
		for {
			row, err := it.next(ctx)
			if err != nil {
				return nil, err
			}
			if row == nil {
				break
			}
			kbuf = kbuf[:0]
			for _, k := range row[:ng] {
				kbuf = codec.AppendKey(kbuf, k)
			}
			f, ok := groups[string(kbuf)]
			if !ok {
				f = newFinal(row[:ng])
				groups[string(kbuf)] = f
				order = append(order, f)
			}
			col := ng
			for i, sp := range specs {
				w := len(agg.PartialTypes(sp))
				if err := f.finals[i].Merge(row[col : col+w]); err != nil {
					return nil, err
				}
				col += w
			}
		}
	}
	return finishGroups(sel, env, len(order), func(i int) ([]types.Datum, error) {
		f := order[i]
		row := append([]types.Datum(nil), f.keys...)
		for _, fin := range f.finals {
			v, err := fin.Result()
			if err != nil {
				return nil, err
			}
			row = append(row, v)
		}
		return row, nil
	})
}
