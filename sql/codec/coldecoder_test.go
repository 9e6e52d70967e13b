package codec

import (
	"errors"
	"testing"

	"github.com/cockroachdb/apd/v3"

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
				if err := dec.Decode(EncodeRow(nil, rows[r]), vecs, r); err != nil {
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
	if err := dec.Decode(EncodeRow(nil, []types.Datum{int64(7)}), vecs, 1); err != nil {
		t.Fatal(err)
	}
	if !same(vecs[0].Datum(1), missing[2]) || vecs[1].Datum(1) != int64(7) {
		t.Fatalf("short row decoded as %v, %v", vecs[0].Datum(1), vecs[1].Datum(1))
	}
	full := EncodeRow(nil, []types.Datum{int64(7), "abc", decimal("1.5")})
	for i := 0; i < len(full); i++ {
		if err := dec.Decode(full[:i], vecs, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("row cut at %d: %v, want ErrCorrupt", i, err)
		}
	}
	if err := dec.Decode(append(full, 0), vecs, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v, want ErrCorrupt", err)
	}
}

// DecodeEarly then DecodeLate give the rows Decode gives, for rows of
// every type and rows older than the table (missing columns take their
// defaults), and DecodeEarly keeps only the late columns' bytes.
func TestColDecoderLate(t *testing.T) {
	g := newGen(44)
	oids := append([]uint32(nil), typeOIDs...)
	missing := make([]types.Datum, len(oids))
	missing[len(oids)-1] = decimal("7.25")
	oids[len(oids)-1] = types.Numeric
	cols := allColumns(len(oids))
	late := make([]bool, len(oids))
	for c := range late {
		late[c] = c%3 != 0
	}
	full := NewColDecoder(oids, missing, cols)
	split := NewColDecoder(oids, missing, cols)
	split.SetLate(late)
	want := make([]*coldata.Vec, len(oids))
	got := make([]*coldata.Vec, len(oids))
	for i, o := range oids {
		want[i], got[i] = coldata.NewVec(o, coldata.BatchSize), coldata.NewVec(o, coldata.BatchSize)
	}
	for r := 0; r < 500; r++ {
		row := g.row(oids)
		if r%5 == 0 {
			row = row[:len(row)-1-r%4] // an older row
		}
		enc := EncodeRow(nil, row)
		if err := full.Decode(enc, want, r); err != nil {
			t.Fatal(err)
		}
		buf, err := split.DecodeEarly(enc, got, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) >= len(enc) {
			t.Fatalf("row %d: %d bytes kept of a %d-byte row", r, len(buf), len(enc))
		}
		if err := split.DecodeLate(buf, got, r); err != nil {
			t.Fatal(err)
		}
		for c := range oids {
			if !same(got[c].Datum(r), want[c].Datum(r)) {
				t.Fatalf("row %d column %d: got %v, want %v", r, c, got[c].Datum(r), want[c].Datum(r))
			}
		}
	}
	if err := split.DecodeLate([]byte{0xff}, got, 0); err == nil {
		t.Error("corrupt late bytes decoded")
	}
}

// A gate stops a row at its column with ErrRejected when the value is NULL
// or rejected, and a rejected row's slot decodes the next row as if it
// had not been used; a row too old to have the column takes its default
// through the gate.
func TestColDecoderGate(t *testing.T) {
	oids := []uint32{types.Text, types.Int8, types.Numeric, types.Int8}
	missing := []types.Datum{nil, nil, nil, int64(4)}
	cols := []int{0, 1, 2, 3}
	for _, late := range []bool{false, true} {
		d := NewColDecoder(oids, missing, cols)
		if late {
			d.SetLate([]bool{true, false, true, false})
		}
		d.SetGate(3, func(v int64) bool { return v%2 == 0 })
		vecs := make([]*coldata.Vec, len(oids))
		for i, o := range oids {
			vecs[i] = coldata.NewVec(o, 8)
		}
		rows := [][]types.Datum{
			{"a", nil, decimal("1.5"), int64(3)},                      // rejected
			{nil, int64(7), decimal("123456789012345678901234"), nil}, // NULL: rejected
			{"b", int64(8), decimal("2.25"), int64(6)},                // kept
			{"c", int64(9)}, // old row: default 4, kept
		}
		var want [][]types.Datum
		r := 0
		for _, row := range rows {
			enc := EncodeRow(nil, row)
			var err error
			var buf []byte
			if late {
				buf, err = d.DecodeEarly(enc, vecs, r, nil)
				if err == nil {
					err = d.DecodeLate(buf, vecs, r)
				}
			} else {
				err = d.Decode(enc, vecs, r)
			}
			full, _ := DecodeRow(oids, missing, enc)
			if k, _ := full[3].(int64); full[3] == nil || k%2 != 0 {
				if err != ErrRejected {
					t.Fatalf("late %v: row %v: %v, want ErrRejected", late, row, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, full)
			r++
		}
		for i, w := range want {
			for c := range oids {
				if !same(vecs[c].Datum(i), w[c]) {
					t.Errorf("late %v: kept row %d column %d: %v, want %v", late, i, c, vecs[c].Datum(i), w[c])
				}
			}
		}
	}
}

// BenchmarkColDecoder decodes lineitem-shaped rows (TPC-H Q6's columns:
// quantity, extendedprice late, discount, shipdate; the others stepped
// over) into vectors, a batch at a time.
func BenchmarkColDecoder(b *testing.B) {
	oids := []uint32{types.Int8, types.Int8, types.Int8, types.Int4, types.Numeric, types.Numeric, types.Numeric, types.Numeric,
		types.Bpchar, types.Bpchar, types.Date, types.Date, types.Date, types.Bpchar, types.Bpchar, types.Varchar}
	rows := make([][]byte, coldata.BatchSize)
	for i := range rows {
		num := func(v int64) types.Datum { return apd.New(v, -2) }
		rows[i] = EncodeRow(nil, []types.Datum{int64(i * 4), int64(i * 7919 % 200000), int64(i % 10000), int64(i%7 + 1),
			num(int64(i%50+1) * 100), num(int64(i*7919) % 10000000), num(int64(i % 11)), num(int64(i % 9)), "N", "O",
			types.DateVal(8000 + i%2500), types.DateVal(8030 + i%2400), types.DateVal(8001 + i%2500),
			"DELIVER IN PERSON", "TRUCK", "carefully final deposits detect slyly agai"})
	}
	cols := []int{4, 5, 6, 10}
	dec := NewColDecoder(oids, nil, cols)
	dec.SetLate([]bool{5: true})
	vecs := make([]*coldata.Vec, len(cols))
	for i, c := range cols {
		vecs[i] = coldata.NewVec(oids[c], coldata.BatchSize)
	}
	var raw []byte
	b.ReportAllocs()
	for b.Loop() {
		raw = raw[:0]
		for r, row := range rows {
			var err error
			if raw, err = dec.DecodeEarly(row, vecs, r, raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}
