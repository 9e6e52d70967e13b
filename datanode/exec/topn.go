package exec

import (
	"context"
	"sort"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// sortedRow is an output row with its sort key values.
type sortedRow struct {
	keys []types.Datum
	out  []types.Datum
}

// LessByKeys orders rows by ORDER BY keys (NULLs first or last as each
// key says); both the datanode's top-N and the coordinator's merge use it.
func LessByKeys(keys []*meridianpb.SortKey, a, b []types.Datum) bool {
	for i, k := range keys {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil:
			return k.NullsFirst
		case y == nil:
			return !k.NullsFirst
		}
		c := types.Compare(x, y)
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

// topN sorts the scan's rows by spec.OrderBy and emits the first
// spec.Limit (all when 0).
func (x *Executor) topN(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher, emit Emit) error {
	keys := make([]expr.Eval, len(spec.OrderBy))
	for i, k := range spec.OrderBy {
		e, err := expr.Compile(k.Expr)
		if err != nil {
			return err
		}
		keys[i] = e
	}
	var rows []sortedRow
	less := func(i, j int) bool { return LessByKeys(spec.OrderBy, rows[i].keys, rows[j].keys) }
	err := x.visit(ctx, snap, spec, ti, m, func(_ []byte, _ uint64, row []types.Datum) error {
		r := sortedRow{keys: make([]types.Datum, len(keys))}
		for i, k := range keys {
			v, err := k(row)
			if err != nil {
				return err
			}
			r.keys[i] = v
		}
		out, err := m.project(row)
		if err != nil {
			return err
		}
		r.out = append([]types.Datum(nil), out...)
		rows = append(rows, r)
		// Keep memory bounded by the limit: trim when twice as large.
		if spec.Limit > 0 && int64(len(rows)) >= 2*spec.Limit+1024 {
			sort.SliceStable(rows, less)
			rows = rows[:spec.Limit]
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(rows, less)
	if spec.Limit > 0 && int64(len(rows)) > spec.Limit {
		rows = rows[:spec.Limit]
	}
	for _, r := range rows {
		if err := emit(r.out); err != nil {
			return err
		}
	}
	return nil
}
