package codec

import (
	"errors"
	"testing"

	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

// ColDecoder puts into its vectors what DecodeRow yields, for random rows
// of every type and several choices of columns, batch after batch into
// the same vectors (a value left from an earlier batch, a stale NULL or
// big-numeric mark, would show).
func TestColDecoderMatchesDecodeRow(t *testing.T) {
	g := newGen(43)
	oids := append(append([]uint32(nil), typeOIDs...), typeOIDs...)
	for _, cols := range [][]int{{0}, {len(oids) - 1, 3, 5}, {5, 10, 11, 12, 2}, allColumns(len(oids))} {
		dec := NewColDecoder(oids, nil, cols)
		vecs := make([]*coldata.Vec, len(cols))
		for i, c := range cols {
			vecs[i] = coldata.NewVec(oids[c], coldata.BatchSize)
		}
		for batch := 0; batch < 4; batch++ {
			for _, v := range vecs {
				v.Reset()
			}
			rows := make([][]types.Datum, 300)
			for r := range rows {
				rows[r] = g.row(oids)
				if err := dec.Decode(EncodeRow(nil, rows[r]), vecs, r, false); err != nil {
					t.Fatalf("decode row %d: %v", r, err)
				}
			}
			for r, row := range rows {
				want, err := DecodeRow(oids, nil, EncodeRow(nil, row))
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range cols {
					if got := vecs[i].Datum(r); !same(got, want[c]) {
						t.Fatalf("batch %d row %d column %d (%s): got %v, want %v", batch, r, c, types.InfoOf(oids[c]).Name, got, want[c])
					}
				}
			}
		}
	}
}

func allColumns(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Columns missing from an old row take their default; corrupt rows fail
// with ErrCorrupt.
func TestColDecoderMissingAndCorrupt(t *testing.T) {
	oids := []uint32{types.Int8, types.Text, types.Numeric}
	missing := []types.Datum{nil, nil, decimal("2.50")}
	dec := NewColDecoder(oids, missing, []int{2, 0})
	vecs := []*coldata.Vec{coldata.NewVec(types.Numeric, 4), coldata.NewVec(types.Int8, 4)}
	if err := dec.Decode(EncodeRow(nil, []types.Datum{int64(7)}), vecs, 1, false); err != nil {
		t.Fatal(err)
	}
	if !same(vecs[0].Datum(1), missing[2]) || vecs[1].Datum(1) != int64(7) {
		t.Fatalf("short row decoded as %v, %v", vecs[0].Datum(1), vecs[1].Datum(1))
	}
	full := EncodeRow(nil, []types.Datum{int64(7), "abc", decimal("1.5")})
	for i := 0; i < len(full); i++ {
		if err := dec.Decode(full[:i], vecs, 0, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("row cut at %d: %v, want ErrCorrupt", i, err)
		}
	}
	if err := dec.Decode(append(full, 0), vecs, 0, false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v, want ErrCorrupt", err)
	}
}
