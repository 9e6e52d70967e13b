package exec

import (
	"context"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// AggSpec converts a protocol aggregate call.
func AggSpec(a *meridianpb.AggCall) agg.Spec {
	s := agg.Spec{Func: a.Func, Type: types.Type{OID: a.TypeOid, Typmod: a.Typmod}}
	if a.Arg != nil {
		s.ArgType = a.Arg.TypeOid
	}
	return s
}

// partialAggregate runs the first phase of a two-phase aggregate over the
// scan's rows and emits one row per group: group values, then partial
// states.
func (x *Executor) partialAggregate(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher, emit Emit) error {
	groupEvals := make([]expr.Eval, len(spec.GroupBy))
	for i, g := range spec.GroupBy {
		e, err := expr.Compile(g)
		if err != nil {
			return err
		}
		groupEvals[i] = e
	}
	argEvals := make([]expr.Eval, len(spec.Aggs))
	specs := make([]agg.Spec, len(spec.Aggs))
	for i, a := range spec.Aggs {
		specs[i] = AggSpec(a)
		if a.Arg != nil {
			e, err := expr.Compile(a.Arg)
			if err != nil {
				return err
			}
			argEvals[i] = e
		}
	}
	groups := agg.NewGroups(len(groupEvals) == 0, func() []agg.Partial {
		accs := make([]agg.Partial, len(specs))
		for i, s := range specs {
			accs[i] = agg.NewPartial(s)
		}
		return accs
	})
	keys := make([]types.Datum, len(groupEvals))
	err := x.visit(ctx, snap, spec, ti, m, func(_ []byte, _ uint64, row []types.Datum) error {
		for i, ge := range groupEvals {
			v, err := ge(row)
			if err != nil {
				return err
			}
			keys[i] = v
		}
		g := groups.Get(keys)
		for i, acc := range g.State {
			var v types.Datum = true // count(*)
			if argEvals[i] != nil {
				var err error
				if v, err = argEvals[i](row); err != nil {
					return err
				}
			}
			if err := acc.Add(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range groups.All() {
		out := append([]types.Datum(nil), g.Keys...)
		for _, acc := range g.State {
			st, err := acc.State()
			if err != nil {
				return err
			}
			out = append(out, st...)
		}
		if err := emit(out); err != nil {
			return err
		}
	}
	return nil
}
