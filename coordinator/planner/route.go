package planner

import (
	"sort"
	"strings"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// BindAccess binds an access path's values and folds each routing and
// index value to a constant of its column's type. A value that the column
// cannot hold exactly (12345 for numeric(3,2), a string longer than
// varchar(n)) matches no row: it is dropped from the routing values, and
// an index lookup with it finds nothing (noRows).
func BindAccess(a Access, env *BindEnv) (b Access, noRows bool, err error) {
	if a.Filter, err = Bind(a.Filter, env); err != nil {
		return a, false, err
	}
	if a.IndexID != 0 {
		ix := IndexOf(a.Table, a.IndexID)
		eq := make([]*Expr, len(a.IndexEq))
		for i, v := range a.IndexEq {
			c, ok, err := columnConst(v, a.Table.Columns[ix.Columns[i]], env)
			if err != nil {
				return a, false, err
			}
			if !ok {
				noRows = true
			}
			eq[i] = c
		}
		a.IndexEq = eq
	}
	if a.Route.DistValues != nil {
		dv := make([][]*Expr, len(a.Route.DistValues))
		for i, vals := range a.Route.DistValues {
			col := a.Table.Columns[a.Table.DistColumns[i]]
			for _, v := range vals {
				c, ok, err := columnConst(v, col, env)
				if err != nil {
					return a, false, err
				}
				if ok {
					dv[i] = append(dv[i], c)
				}
			}
			if len(dv[i]) == 0 {
				noRows = true
			}
		}
		a.Route.DistValues = dv
	}
	return a, noRows, nil
}

// IndexOf finds a table's index by id.
func IndexOf(t *meridianpb.TableDesc, id uint32) *meridianpb.IndexDesc {
	for _, ix := range t.Indexes {
		if ix.Id == id {
			return ix
		}
	}
	return nil
}

// columnConst evaluates a value expression (no column references) and
// converts it to the column's type; ok = false when the value is NULL or
// the column cannot hold it exactly, so no row can equal it.
func columnConst(v *Expr, col *meridianpb.ColumnDesc, env *BindEnv) (*Expr, bool, error) {
	b, err := Bind(v, env)
	if err != nil {
		return nil, false, err
	}
	var d types.Datum
	if b.Kind == meridianpb.ExprKind_EXPR_CONST {
		d, err = expr.ConstValue(b)
	} else {
		var ev expr.Eval
		if ev, err = expr.Compile(b); err == nil {
			d, err = ev(nil)
		}
	}
	if err != nil {
		return nil, false, err
	}
	t := types.Type{OID: col.TypeOid, Typmod: col.Typmod}
	if d == nil {
		return expr.Const(t, nil), false, nil
	}
	c, err := types.Coerce(t, d)
	if err != nil || !sameValue(t, d, c) {
		return expr.Const(t, nil), false, nil
	}
	return expr.Const(t, c), true, nil
}

// sameValue reports whether coercion kept the value (char(n) padding and
// numeric scale do not change it).
func sameValue(t types.Type, a, b types.Datum) bool {
	if t.OID == types.Bpchar {
		return strings.TrimRight(a.(string), " ") == strings.TrimRight(b.(string), " ")
	}
	return types.Compare(a, b) == 0
}

// Buckets lists the buckets a bound access path can touch, ascending;
// all is true when the WHERE clause does not pin every distribution
// column (or the table is replicated).
func Buckets(a Access) (buckets []uint32, all bool, err error) {
	if a.Table.Dist == meridianpb.DistKind_DIST_REPLICATION || a.Route.DistValues == nil {
		return nil, true, nil
	}
	// Cartesian product of the pinned values of each distribution column.
	combos := [][]types.Datum{{}}
	for _, vals := range a.Route.DistValues {
		var next [][]types.Datum
		for _, v := range vals {
			d, err := expr.ConstValue(v)
			if err != nil {
				return nil, false, err
			}
			if d == nil {
				continue // = NULL matches nothing
			}
			for _, c := range combos {
				next = append(next, append(append([]types.Datum(nil), c...), d))
			}
		}
		combos = next
	}
	seen := map[uint32]bool{}
	for _, c := range combos {
		b := codec.Bucket(c)
		if !seen[b] {
			seen[b] = true
			buckets = append(buckets, b)
		}
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i] < buckets[j] })
	return buckets, false, nil
}
