package codec

import (
	"bytes"
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
			row := g.row(oids)
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

// Late columns, decoded by Finish for the rows a caller keeps, give the
// rows DecodeRow gives, whether most rows are kept (late decoding turns
// itself off) or few are, and rows given back (Unread) between them leave
// the kept ones intact.
func TestRowDecoderLate(t *testing.T) {
	g := newGen(11)
	oids := append(append([]uint32(nil), typeOIDs...), typeOIDs...)
	want := make([]bool, len(oids))
	late := make([]bool, len(oids))
	for c := range oids {
		want[c] = c%3 != 1
		late[c] = c%2 == 0
	}
	for _, keepEvery := range []int{10, 1} { // 10%, then every row
		dec := NewSparseRowDecoder(oids, nil, want)
		dec.SetLate(late)
		type kept struct{ got, want []types.Datum }
		var rows []kept
		for i := 0; i < 3*lateWindow; i++ {
			row := g.row(oids)
			enc := EncodeRow(nil, row)
			got, err := dec.Decode(enc)
			if err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
			if i%keepEvery != 0 {
				dec.Unread()
				continue
			}
			if err := dec.Finish(); err != nil {
				t.Fatalf("finish row %d: %v", i, err)
			}
			ref, err := DecodeRow(oids, nil, enc)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, kept{got, ref})
		}
		for i, r := range rows {
			for c := range oids {
				w := r.want[c]
				if !want[c] {
					w = nil
				}
				if !same(r.got[c], w) {
					t.Fatalf("keep 1 in %d: kept row %d column %d (%s, late %v): got %v, want %v",
						keepEvery, i, c, types.InfoOf(oids[c]).Name, late[c], r.got[c], w)
				}
			}
		}
		if on := keepEvery > 1; dec.lateOn != on {
			t.Errorf("keep 1 in %d: late decoding on = %v, want %v", keepEvery, dec.lateOn, on)
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
	// A decoder of the first columns stops after the last one it decodes,
	// as PostgreSQL's deforming does: what follows is not read.
	first := NewRowDecoder(oids, missing, []int{1, 0})
	cut := full[:len(full)-2]
	if _, err := dec.Decode(cut); !errors.Is(err, ErrCorrupt) {
		t.Errorf("row cut in its last column: %v, want ErrCorrupt", err)
	}
	out, err = first.Decode(cut)
	if err != nil || out[0] != "abc" || out[1] != int64(7) {
		t.Errorf("first two columns of a row cut in its third: %v, %v", out, err)
	}
}

// A row cut anywhere fails even when every column before the last is
// skipped: the offset table or the last column's bytes are short.
func TestRowDecoderSkipCorrupt(t *testing.T) {
	g := newGen(7)
	oids := append(append([]uint32(nil), typeOIDs...), types.Int8)
	dec := NewRowDecoder(oids, nil, []int{len(oids) - 1})
	for i := 0; i < 200; i++ {
		row := g.row(oids)
		row[len(row)-1] = int64(1) << 40 // a varint of several bytes
		enc := EncodeRow(nil, row)
		if _, err := dec.Decode(enc); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		for cut := 0; cut < len(enc); cut++ {
			if _, err := dec.Decode(enc[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("row %d cut at %d of %d: %v, want ErrCorrupt", i, cut, len(enc), err)
			}
		}
	}
	// A varint longer than 64 bits is corrupt; a column not decoded is
	// not read. Two columns: header 2<<2, column 0 ends at 2, then the
	// body.
	long := append([]byte{2 << 2, 2, tagValue, 0, tagValue}, bytes.Repeat([]byte{0xff}, 10)...)
	long = append(long, 0x01)
	if _, err := NewRowDecoder([]uint32{types.Int8, types.Int8}, nil, []int{1}).Decode(long); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an 11-byte varint: %v, want ErrCorrupt", err)
	}
	if out, err := NewRowDecoder([]uint32{types.Int8, types.Int8}, nil, []int{0}).Decode(long); err != nil || out[0] != int64(0) {
		t.Errorf("column 0 beside an 11-byte varint: %v, %v", out, err)
	}
}

// Unread gives a rejected row's memory to the next row, and leaves the
// rows kept before it intact; decoding and unreading allocates nothing
// once the slabs exist.
func TestRowDecoderUnread(t *testing.T) {
	g := newGen(7)
	oids := append(append([]uint32(nil), typeOIDs...), typeOIDs...)
	want := make([]bool, len(oids))
	for c := range want {
		want[c] = c%3 != 1
	}
	dec := NewSparseRowDecoder(oids, nil, want)
	var kept, got [][]types.Datum
	for i := 0; i < 3000; i++ {
		row := g.row(oids)
		out, err := dec.Decode(EncodeRow(nil, row))
		if err != nil {
			t.Fatal(err)
		}
		if i%4 != 0 { // rejected
			dec.Unread()
			continue
		}
		kept, got = append(kept, row), append(got, out)
	}
	for i, row := range kept {
		full, err := DecodeRow(oids, nil, EncodeRow(nil, row))
		if err != nil {
			t.Fatal(err)
		}
		for c := range oids {
			w := full[c]
			if !want[c] {
				w = nil
			}
			if !same(got[i][c], w) {
				t.Fatalf("kept row %d column %d (%s): %v, want %v", i, c, types.InfoOf(oids[c]).Name, got[i][c], w)
			}
		}
	}
	enc := EncodeRow(nil, []types.Datum{int64(1), "abc", decimal("12.5")})
	d := NewRowDecoder([]uint32{types.Int8, types.Text, types.Numeric}, nil, nil)
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.Decode(enc); err != nil {
			t.Fatal(err)
		}
		d.Unread()
	}); allocs != 0 {
		t.Errorf("decode and unread: %v allocations per row, want 0", allocs)
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
	// A selective scan's case: four columns of the first eleven decoded,
	// the rest skipped, the row given back (its filter rejected it).
	b.Run("RowDecoder/4cols-unread", func(b *testing.B) {
		d := NewRowDecoder(oids, nil, []int{4, 5, 6, 10})
		for b.Loop() {
			if _, err := d.Decode(enc); err != nil {
				b.Fatal(err)
			}
			d.Unread()
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

// row is a random row of the types oids, one value in eight NULL.
func (g *gen) row(oids []uint32) []types.Datum {
	row := make([]types.Datum, len(oids))
	for c, oid := range oids {
		if g.r.IntN(8) > 0 {
			row[c] = g.datum(oid)
		}
	}
	return row
}

func decimal(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}
