package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// same reports whether two datums are the same value with the same
// representation (for numerics: the same scale; for floats: the same bits).
func same(a, b types.Datum) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y))
	case *apd.Decimal:
		y, ok := b.(*apd.Decimal)
		return ok && types.Compare(x, y) == 0 && x.Exponent == y.Exponent && x.Form == y.Form
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

func TestDatumRoundTrip(t *testing.T) {
	g := newGen(10)
	for _, oid := range typeOIDs {
		for i := 0; i < 500; i++ {
			d := g.datum(oid)
			if i == 0 {
				d = nil
			}
			enc := AppendDatum([]byte("pre"), d)
			if !bytes.HasPrefix(enc, []byte("pre")) {
				t.Fatal("AppendDatum does not append")
			}
			enc = append(enc, "post"...)
			got, rest, err := DecodeDatum(oid, enc[3:])
			if err != nil {
				t.Fatalf("%s: DecodeDatum(%x) of %v: %v", types.InfoOf(oid).Name, enc[3:], d, err)
			}
			if !same(d, got) {
				t.Fatalf("%s: %v round-trips to %v", types.InfoOf(oid).Name, d, got)
			}
			if string(rest) != "post" {
				t.Fatalf("%s: rest %q", types.InfoOf(oid).Name, rest)
			}
		}
	}
	// OID, name and unknown share the int and text encodings
	for _, c := range []struct {
		oid uint32
		d   types.Datum
	}{{types.OID, int64(math.MaxUint32)}, {types.Name, "pg_class"}, {types.Unknown, "lit"}} {
		got, _, err := DecodeDatum(c.oid, AppendDatum(nil, c.d))
		if err != nil || !same(got, c.d) {
			t.Errorf("%d: %v → %v, %v", c.oid, c.d, got, err)
		}
	}
	// decoded bytes do not alias the input
	enc := AppendDatum(nil, []byte("abc"))
	got, _, _ := DecodeDatum(types.Bytea, enc)
	enc[len(enc)-1] = 'X'
	if string(got.([]byte)) != "abc" {
		t.Error("decoded bytea aliases its input")
	}
}

func TestRowRoundTrip(t *testing.T) {
	g := newGen(11)
	for i := 0; i < 300; i++ {
		n := g.r.IntN(len(typeOIDs) + 1)
		oids := make([]uint32, n)
		row := make([]types.Datum, n)
		for j := range oids {
			oids[j] = typeOIDs[g.r.IntN(len(typeOIDs))]
			if g.r.IntN(4) > 0 {
				row[j] = g.datum(oids[j])
			}
		}
		enc := EncodeRow(nil, row)
		got, err := DecodeRow(oids, nil, enc)
		if err != nil {
			t.Fatalf("DecodeRow(%x): %v", enc, err)
		}
		for j := range row {
			if !same(row[j], got[j]) {
				t.Fatalf("column %d (%s): %v round-trips to %v", j, types.InfoOf(oids[j]).Name, row[j], got[j])
			}
		}
	}
}

// A row written before ADD COLUMN has fewer columns: the new ones come
// from missing (the column defaults), NULL where missing has nothing.
func TestDecodeRowMissing(t *testing.T) {
	enc := EncodeRow(nil, []types.Datum{int64(1), "a"})
	oids := []uint32{types.Int4, types.Text, types.Int8, types.Bool, types.Text}
	for _, c := range []struct {
		name    string
		missing []types.Datum
		want    []types.Datum
	}{
		{"nil", nil, []types.Datum{int64(1), "a", nil, nil, nil}},
		{"full", []types.Datum{nil, nil, int64(7), true, nil}, []types.Datum{int64(1), "a", int64(7), true, nil}},
		{"short", []types.Datum{nil, nil, int64(7)}, []types.Datum{int64(1), "a", int64(7), nil, nil}},
		{"ignored for present columns", []types.Datum{int64(99), "zz", nil, false, "d"}, []types.Datum{int64(1), "a", nil, false, "d"}},
	} {
		got, err := DecodeRow(oids, c.missing, enc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range c.want {
			if !same(got[i], c.want[i]) {
				t.Errorf("%s: column %d = %v, want %v", c.name, i, got[i], c.want[i])
			}
		}
	}
	// the same number of columns ignores missing; more columns is corrupt
	if got, err := DecodeRow(oids[:2], []types.Datum{int64(5)}, enc); err != nil || got[0] != int64(1) {
		t.Errorf("exact: %v, %v", got, err)
	}
	if _, err := DecodeRow(oids[:1], nil, enc); err != ErrCorrupt {
		t.Errorf("more encoded columns than oids: %v", err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	varint := func(v int64) []byte { return binary.AppendVarint(nil, v) }
	for _, c := range []struct {
		oid uint32
		b   []byte
	}{
		{types.Int8, nil},
		{types.Int8, []byte{1}},
		{types.Int8, []byte{1, 0x80}},
		{types.Int8, []byte{2, 0}},    // unknown tag
		{types.Int8, []byte{0xff, 0}}, // unknown tag
		{types.Float8, []byte{1, 0, 0, 0}},
		{types.Numeric, []byte{1}},
		{types.Numeric, []byte{1, 0}},                           // no exponent
		{types.Numeric, []byte{1, 0x08, 0, 0}},                  // unknown flag
		{types.Numeric, []byte{1, 0, 0x80}},                     // cut exponent
		{types.Numeric, []byte{1, 0, 0, 0x80}},                  // cut coefficient
		{types.Numeric, []byte{1, decBig, 0, 5, 1}},             // short big coefficient
		{types.Numeric, append([]byte{1, 0}, varint(1<<40)...)}, // exponent out of range
		{types.Bool, []byte{1}},
		{types.Bool, []byte{1, 2}},
		{types.Text, []byte{1, 10, 'a'}},
		{types.Text, []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{types.Bytea, []byte{1, 0x80}},
		{types.Date, []byte{1}},
		{types.Timestamp, []byte{1, 0x80, 0x80}},
		{types.Interval, []byte{1, 0, 0}},
		{types.Interval, append(append([]byte{1}, varint(1<<40)...), 0, 0)},
	} {
		_, _, err := DecodeDatum(c.oid, c.b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeDatum(%s, %x) = %v, want ErrCorrupt", types.InfoOf(c.oid).Name, c.b, err)
		}
	}
	if _, _, err := DecodeDatum(9999, []byte{1, 0}); err == nil {
		t.Error("unknown type decoded")
	}
	row := EncodeRow(nil, []types.Datum{int64(1), "abc", 2.5})
	oids := []uint32{types.Int8, types.Text, types.Float8}
	for i := 0; i < len(row); i++ {
		if _, err := DecodeRow(oids, nil, row[:i]); err == nil {
			t.Errorf("truncated row %x decoded", row[:i])
		}
	}
	if _, err := DecodeRow(oids, nil, append(row, 0)); err != ErrCorrupt {
		t.Errorf("trailing bytes: %v", err)
	}
	if _, err := DecodeRow(oids, nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); err != ErrCorrupt {
		t.Errorf("bad count: %v", err)
	}
}

func TestAppendDatumPanicsOnUnknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AppendDatum(nil, struct{}{})
}

// fuzzOIDs is the column list FuzzDecodeRow decodes against: every type.
var fuzzOIDs = append(append([]uint32{}, typeOIDs...), types.OID, types.Name)

// FuzzDecodeRow: DecodeRow never panics on arbitrary bytes, and what it
// accepts re-encodes to a row that decodes to the same values.
func FuzzDecodeRow(f *testing.F) {
	g := newGen(12)
	for i := 0; i < 40; i++ {
		row := make([]types.Datum, g.r.IntN(len(fuzzOIDs)+1))
		for j := range row {
			if g.r.IntN(5) > 0 {
				oid := fuzzOIDs[j]
				if oid == types.OID {
					row[j] = int64(g.r.Uint32())
				} else if oid == types.Name {
					row[j] = "n"
				} else {
					row[j] = g.datum(oid)
				}
			}
		}
		f.Add(EncodeRow(nil, row))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	missing := make([]types.Datum, len(fuzzOIDs))
	missing[3] = 1.5
	f.Fuzz(func(t *testing.T, b []byte) {
		row, err := DecodeRow(fuzzOIDs, missing, b)
		if err != nil {
			return
		}
		again, err := DecodeRow(fuzzOIDs, missing, EncodeRow(nil, row))
		if err != nil {
			t.Fatalf("re-encoded row does not decode: %v", err)
		}
		for i := range row {
			if (row[i] == nil) != (again[i] == nil) || row[i] != nil && types.Compare(row[i], again[i]) != 0 {
				t.Fatalf("column %d: %v then %v", i, row[i], again[i])
			}
		}
	})
}

// TestRowOffsetWidths: rows whose bodies need 1-, 2- and 4-byte offsets,
// and rows of no and one column, decode whole and column by column; bad
// offsets (decreasing, past the body) and a bad width code are corrupt,
// never a panic.
func TestRowOffsetWidths(t *testing.T) {
	oids := []uint32{types.Int8, types.Text, types.Numeric, types.Text, types.Int8}
	for _, size := range []int{0, 10, 300, 70000} {
		row := []types.Datum{int64(-5), strings.Repeat("x", size), nil, "tail", int64(1) << 50}
		enc := EncodeRow(nil, row)
		wantW := 1
		switch {
		case size > 65000:
			wantW = 4
		case size > 200:
			wantW = 2
		}
		rv, err := parseRow(enc, len(oids))
		if err != nil || rv.n != len(oids) || rv.w != wantW {
			t.Fatalf("size %d: parseRow = %+v, %v; want %d columns, width %d", size, rv, err, len(oids), wantW)
		}
		got, err := DecodeRow(oids, nil, enc)
		if err != nil || !slices.EqualFunc(got, row, same) {
			t.Fatalf("size %d: DecodeRow = %v, %v", size, got, err)
		}
		for c := range oids {
			out, err := NewRowDecoder(oids, nil, []int{c}).Decode(enc)
			if err != nil || !same(out[0], row[c]) {
				t.Fatalf("size %d column %d: %v, %v", size, c, out, err)
			}
		}
		// Column 2 ending past the body, then after column 3's end.
		for _, bad := range []int{len(rv.body) + 1, len(rv.body)} {
			b := slices.Clone(enc)
			off := rv.hlen - len(rv.offs) + 2*rv.w // column 2's end
			switch rv.w {
			case 1:
				b[off] = byte(bad)
			case 2:
				binary.LittleEndian.PutUint16(b[off:], uint16(bad))
			default:
				binary.LittleEndian.PutUint32(b[off:], uint32(bad))
			}
			if _, err := NewRowDecoder(oids, nil, []int{3}).Decode(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("size %d, column 2 ending at %d: %v, want ErrCorrupt", size, bad, err)
			}
		}
	}
	for _, row := range [][]types.Datum{{}, {int64(3)}, {nil}} {
		enc := EncodeRow(nil, row)
		got, err := DecodeRow(oids[:len(row)], nil, enc)
		if err != nil || !slices.EqualFunc(got, row, same) {
			t.Fatalf("%v: DecodeRow(%x) = %v, %v", row, enc, got, err)
		}
	}
	if _, err := DecodeRow(oids, nil, []byte{1<<2 | 3, tagNull}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("width code 3: %v, want ErrCorrupt", err)
	}
}
