package exec

import (
	"context"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/codec"
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

type partialGroup struct {
	keys []types.Datum
	accs []agg.Partial
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
	newGroup := func(keys []types.Datum) *partialGroup {
		g := &partialGroup{keys: keys, accs: make([]agg.Partial, len(specs))}
		for i, s := range specs {
			g.accs[i] = agg.NewPartial(s)
		}
		return g
	}
	groups := map[string]*partialGroup{}
	var order []*partialGroup
	if len(groupEvals) == 0 {
		g := newGroup(nil)
		groups[""] = g
		order = append(order, g)
	}
	var kbuf []byte
	err := x.visit(ctx, snap, spec, ti, m, func(_ []byte, _ uint64, row []types.Datum) error {
		kbuf = kbuf[:0]
		var keys []types.Datum
		if len(groupEvals) > 0 {
			keys = make([]types.Datum, len(groupEvals))
			for i, ge := range groupEvals {
				v, err := ge(row)
				if err != nil {
					return err
				}
				keys[i] = v
				kbuf = codec.AppendKey(kbuf, v)
			}
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
	for _, g := range order {
		out := append([]types.Datum(nil), g.keys...)
		for _, acc := range g.accs {
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
