package exec

import (
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// order is one sort key over a row's columns: ascending or descending,
// NULLs first or last.
type order struct {
	col        int
	desc       bool
	nullsFirst bool
}

// compareRows orders rows a and b by keys.
func compareRows(keys []order, a, b Row) int {
	for _, k := range keys {
		x, y := a[k.col], b[k.col]
		var c int
		switch {
		case x == nil && y == nil:
			continue
		case x == nil:
			if k.nullsFirst {
				return -1
			}
			return 1
		case y == nil:
			if k.nullsFirst {
				return 1
			}
			return -1
		default:
			c = types.Compare(x, y)
			if k.desc {
				c = -c
			}
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// appendRowKey appends the key encoding of vals, in which equal values
// (1 and 1.0, NULL and NULL) encode equally. It reports whether one of
// them is NULL.
func appendRowKey(buf []byte, vals []types.Datum) ([]byte, bool) {
	hasNull := false
	for _, v := range vals {
		if v == nil {
			hasNull = true
		}
		buf = codec.AppendKey(buf, v)
	}
	return buf, hasNull
}

// appendColsKey is appendRowKey over the columns cols of row.
func appendColsKey(buf []byte, row Row, cols []int) ([]byte, bool) {
	hasNull := false
	for _, c := range cols {
		v := row[c]
		if v == nil {
			hasNull = true
		}
		buf = codec.AppendKey(buf, v)
	}
	return buf, hasNull
}
