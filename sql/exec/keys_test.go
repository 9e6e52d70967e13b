package exec

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

func TestCompareRows(t *testing.T) {
	one, two := Row{int64(1), "b"}, Row{int64(2), "a"}
	null := Row{nil, "c"}
	for _, tc := range []struct {
		keys []order
		a, b Row
		want int
	}{
		{[]order{{col: 0}}, one, two, -1},
		{[]order{{col: 0, desc: true}}, one, two, 1},
		{[]order{{col: 1}}, one, two, 1},
		{[]order{{col: 0}}, null, one, 1},
		{[]order{{col: 0, nullsFirst: true}}, null, one, -1},
		{[]order{{col: 0, desc: true}}, null, one, 1},
		{[]order{{col: 0, desc: true, nullsFirst: true}}, one, null, 1},
		{[]order{{col: 0}, {col: 1}}, Row{nil, "a"}, null, -1},
		{[]order{{col: 0}}, Row{apd.New(10, -1)}, Row{apd.New(100, -2)}, 0},
		{nil, one, two, 0},
	} {
		if got := compareRows(tc.keys, tc.a, tc.b); got != tc.want {
			t.Errorf("compare %v %s %s = %d, want %d", tc.keys, fmtRow(tc.a), fmtRow(tc.b), got, tc.want)
		}
	}
}

// Equal values encode equally (NULLs too, numerics of any scale); other
// values differently; the columns' encoding is the values' encoding.
func TestRowKeys(t *testing.T) {
	key := func(vals ...types.Datum) []byte { k, _ := appendRowKey(nil, vals); return k }
	if !bytes.Equal(key(apd.New(10, -1), nil), key(apd.New(1000, -3), nil)) {
		t.Errorf("1.0, NULL and 1.000, NULL encode differently")
	}
	distinct := [][]types.Datum{{nil}, {int64(0)}, {""}, {"a"}, {"a", nil}, {nil, "a"}, {"a\x00"}, {[]byte("a")}, {false}, {apd.New(0, 0)}}
	seen := map[string]bool{}
	for _, v := range distinct {
		k := string(key(v...))
		if seen[k] {
			t.Errorf("%s encodes like another value", fmtRow(v))
		}
		seen[k] = true
	}
	if _, hasNull := appendRowKey(nil, []types.Datum{int64(1), nil}); !hasNull {
		t.Errorf("a NULL was not reported")
	}
	if _, hasNull := appendRowKey(nil, []types.Datum{int64(1)}); hasNull {
		t.Errorf("a NULL was reported where there is none")
	}
	row := Row{"x", nil, int64(3)}
	k, hasNull := appendColsKey(nil, row, []int{2, 0})
	if !bytes.Equal(k, key(int64(3), "x")) || hasNull {
		t.Errorf("columns (2, 0) encode unlike their values")
	}
	if _, hasNull := appendColsKey(nil, row, []int{1}); !hasNull {
		t.Errorf("a NULL column was not reported")
	}
}
