package codec

import (
	"errors"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// RowDecoder yields what DecodeRow yields, column for column, for every
// projection of random rows of every type, and the values stay intact
// after many more rows were decoded (no slab is reused).
func TestRowDecoderMatchesDecodeRow(t *testing.T) {
	g := newGen(42)
	oids := append(append([]uint32(nil), typeOIDs...), typeOIDs...)
	projections := [][]int{nil, {0}, {len(oids) - 1, 3, 5}, {5, 10, 11, 12, 2}}
	for _, cols := range projections {
		dec := NewRowDecoder(oids, nil, cols)
		var rows, got [][]types.Datum
		for i := 0; i < 2000; i++ {
			row := make([]types.Datum, len(oids))
			for c, oid := range oids {
				if g.r.IntN(8) > 0 {
					row[c] = g.datum(oid)
				}
			}
			out, err := dec.Decode(EncodeRow(nil, row))
			if err != nil {
				t.Fatalf("decode row %d: %v", i, err)
			}
			rows, got = append(rows, row), append(got, out)
		}
		for i, row := range rows {
			want, err := DecodeRow(oids, nil, EncodeRow(nil, row))
			if err != nil {
				t.Fatal(err)
			}
			pick := cols
			if pick == nil {
				pick = make([]int, len(oids))
				for c := range pick {
					pick[c] = c
				}
			}
			if len(got[i]) != len(pick) {
				t.Fatalf("row %d: %d columns, want %d", i, len(got[i]), len(pick))
			}
			for j, c := range pick {
				if !same(got[i][j], want[c]) {
					t.Fatalf("row %d column %d (%s): got %v, want %v", i, c, types.InfoOf(oids[c]).Name, got[i][j], want[c])
				}
			}
		}
	}
}

// Short rows take the missing values; corrupt rows fail.
func TestRowDecoderMissingAndCorrupt(t *testing.T) {
	oids := []uint32{types.Int8, types.Text, types.Numeric}
	missing := []types.Datum{nil, nil, decimal("2.50")}
	dec := NewRowDecoder(oids, missing, []int{2, 0})
	out, err := dec.Decode(EncodeRow(nil, []types.Datum{int64(7)}))
	if err != nil {
		t.Fatal(err)
	}
	if !same(out[0], missing[2]) || out[1] != int64(7) {
		t.Fatalf("short row decoded as %v", out)
	}
	full := EncodeRow(nil, []types.Datum{int64(7), "abc", decimal("1.5")})
	for i := 0; i < len(full); i++ {
		if _, err := dec.Decode(full[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("row cut at %d: %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := dec.Decode(append(full, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v, want ErrCorrupt", err)
	}
}

func BenchmarkRowDecoder(b *testing.B) {
	oids := []uint32{types.Int8, types.Int8, types.Int8, types.Int4, types.Numeric, types.Numeric, types.Numeric,
		types.Numeric, types.Bpchar, types.Bpchar, types.Date, types.Date, types.Date, types.Bpchar, types.Varchar, types.Varchar}
	row := []types.Datum{int64(1), int64(155190), int64(7706), int64(1), decimal("17"), decimal("21168.23"), decimal("0.04"),
		decimal("0.02"), "N", "O", types.DateVal(9567), types.DateVal(9537), types.DateVal(9578), "DELIVER IN PERSON", "TRUCK", "egular courts above the"}
	enc := EncodeRow(nil, row)
	b.Run("DecodeRow", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeRow(oids, nil, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RowDecoder/all", func(b *testing.B) {
		d := NewRowDecoder(oids, nil, nil)
		for b.Loop() {
			if _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RowDecoder/7cols", func(b *testing.B) {
		d := NewRowDecoder(oids, nil, []int{4, 5, 6, 7, 8, 9, 10})
		for b.Loop() {
			if _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func decimal(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}
