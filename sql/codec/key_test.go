package codec

import (
	"bytes"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func key(d types.Datum) []byte { return AppendKey(nil, d) }

// For values of one type, the byte order of keys is types.Compare's order,
// and equal values have equal keys.
func TestKeyOrderProperty(t *testing.T) {
	g := newGen(1)
	for _, oid := range typeOIDs {
		vals := make([]types.Datum, 400)
		for i := range vals {
			vals[i] = g.datum(oid)
		}
		for i := 0; i < 4000; i++ {
			a, b := vals[g.r.IntN(len(vals))], vals[g.r.IntN(len(vals))]
			if i%2 == 0 { // and against the neighbours after sorting below
				b = g.datum(oid)
			}
			ka, kb := key(a), key(b)
			want := sign(types.Compare(a, b))
			if got := sign(bytes.Compare(ka, kb)); got != want {
				t.Fatalf("%s: Compare(%v, %v) = %d but keys compare %d\n%x\n%x", types.InfoOf(oid).Name, a, b, want, got, ka, kb)
			}
			if want == 0 && !bytes.Equal(ka, kb) {
				t.Fatalf("%s: equal %v and %v encode differently: %x vs %x", types.InfoOf(oid).Name, a, b, ka, kb)
			}
		}
		// sorting by key sorts by value
		slices.SortFunc(vals, func(a, b types.Datum) int { return bytes.Compare(key(a), key(b)) })
		for i := 1; i < len(vals); i++ {
			if types.Compare(vals[i-1], vals[i]) > 0 {
				t.Fatalf("%s: key order puts %v before %v", types.InfoOf(oid).Name, vals[i-1], vals[i])
			}
		}
	}
}

func TestKeyEqualValues(t *testing.T) {
	num := func(s string) *apd.Decimal {
		d, _, err := apd.NewFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, pair := range [][2]types.Datum{
		{num("1.0"), num("1.00")},
		{num("1"), num("1.000000")},
		{num("100"), num("1E+2")},
		{num("0"), num("-0.000")},
		{num("0E+5"), num("0.0")},
		{num("-12.340"), num("-12.34")},
		{&apd.Decimal{Form: apd.NaN}, &apd.Decimal{Form: apd.NaN, Negative: true}},
		{0.0, math.Copysign(0, -1)},
		{math.NaN(), math.Float64frombits(0xfff8000000000123)},
		{types.IntervalVal{Months: 1}, types.IntervalVal{Days: 30}},
		{types.IntervalVal{Days: -1}, types.IntervalVal{Micros: -86400e6}},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600))},
	} {
		if !bytes.Equal(key(pair[0]), key(pair[1])) {
			t.Errorf("%v and %v encode differently: %x vs %x", pair[0], pair[1], key(pair[0]), key(pair[1]))
		}
	}
	// random numerics against themselves with more trailing zeros
	g := newGen(2)
	for i := 0; i < 2000; i++ {
		d := g.numeric()
		r := rescale(d, int32(1+g.r.IntN(5)))
		if !bytes.Equal(key(d), key(r)) {
			t.Fatalf("%s and %s encode differently", d, r)
		}
	}
}

func TestKeyEdgeOrder(t *testing.T) {
	num := func(s string) types.Datum {
		d, _, err := apd.NewFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// each list is strictly increasing
	for _, list := range [][]types.Datum{
		{int64(math.MinInt64), int64(-1), int64(0), int64(1), int64(math.MaxInt64)},
		{math.Inf(-1), -math.MaxFloat64, -1.0, -math.SmallestNonzeroFloat64, 0.0, math.SmallestNonzeroFloat64, 1.0, math.MaxFloat64, math.Inf(1), math.NaN()},
		{num("-1e100"), num("-10"), num("-9.99"), num("-1"), num("-0.1"), num("-0.01"), num("0"), num("1e-100"), num("0.01"), num("0.1"), num("0.11"), num("0.2"), num("1"), num("1.0000001"), num("9"), num("10"), num("11"), num("1e100"), &apd.Decimal{Form: apd.NaN}},
		{false, true},
		{"", "\x00", "\x00\x00", "\x00\x01", "\x01", "a", "a\x00", "a\x00b", "a\x01", "aa", "b", "\xff", "\xff\xff"},
		{[]byte{}, []byte{0}, []byte{0, 0xff}, []byte{1}, []byte{0xff}},
		{types.DateVal(-2440588), types.DateVal(-1), types.DateVal(0), types.DateVal(1)},
		{time.UnixMicro(-1).UTC(), time.UnixMicro(0).UTC(), time.UnixMicro(1).UTC()},
		{types.IntervalVal{Months: math.MinInt32, Days: math.MinInt32, Micros: math.MinInt64}, types.IntervalVal{Months: -1},
			types.IntervalVal{Days: -29}, types.IntervalVal{Micros: -1}, types.IntervalVal{}, types.IntervalVal{Micros: math.MaxInt64},
			types.IntervalVal{Days: 106751992}, // 9223372036854775807 µs is 106751991.17 days
			types.IntervalVal{Months: math.MaxInt32}, types.IntervalVal{Months: math.MaxInt32, Micros: 1}},
	} {
		for i := 1; i < len(list); i++ {
			if c := bytes.Compare(key(list[i-1]), key(list[i])); c >= 0 {
				t.Errorf("key(%v) >= key(%v)", list[i-1], list[i])
			}
			if c := types.Compare(list[i-1], list[i]); c >= 0 {
				t.Errorf("Compare(%v, %v) = %d", list[i-1], list[i], c)
			}
		}
	}
	// NULL sorts before every value
	g := newGen(3)
	for _, oid := range typeOIDs {
		for i := 0; i < 50; i++ {
			if bytes.Compare(key(nil), key(g.datum(oid))) >= 0 {
				t.Fatalf("NULL does not sort first against %s", types.InfoOf(oid).Name)
			}
		}
	}
}

// No key is a proper prefix of another of the same type, so keys of
// several columns concatenate in tuple order.
func TestKeyPrefixFree(t *testing.T) {
	g := newGen(4)
	for _, oid := range typeOIDs {
		keys := map[string]types.Datum{}
		for i := 0; i < 300; i++ {
			d := g.datum(oid)
			keys[string(key(d))] = d
		}
		keys[string(key(nil))] = nil
		for ka := range keys {
			for kb := range keys {
				if ka != kb && bytes.HasPrefix([]byte(kb), []byte(ka)) {
					t.Fatalf("%s: key of %v is a prefix of the key of %v", types.InfoOf(oid).Name, keys[ka], keys[kb])
				}
			}
		}
	}
	// tuples: (string, int) in lexicographic order
	type tup struct {
		s string
		i int64
	}
	var ts []tup
	for i := 0; i < 300; i++ {
		ts = append(ts, tup{string(g.bytes()), int64(g.r.IntN(3))})
	}
	for i := 0; i < 3000; i++ {
		a, b := ts[g.r.IntN(len(ts))], ts[g.r.IntN(len(ts))]
		want := types.Compare(a.s, b.s)
		if want == 0 {
			want = types.Compare(a.i, b.i)
		}
		ka := IndexKey(7, []types.Datum{a.s, a.i}, true, nil)
		kb := IndexKey(7, []types.Datum{b.s, b.i}, true, nil)
		if sign(bytes.Compare(ka, kb)) != sign(want) {
			t.Fatalf("tuple %q,%d vs %q,%d: keys compare %d, want %d", a.s, a.i, b.s, b.i, bytes.Compare(ka, kb), want)
		}
	}
}

func TestStorageKeys(t *testing.T) {
	id := func(n uint64) []byte { return RowSuffix(nil, nil, n) }
	rk := RowKey(0x01020304, 0x3fff, id(0x0102030405060708))
	want := []byte{'r', 1, 2, 3, 4, 0x3f, 0xff, 1, 2, 3, 4, 5, 6, 7, 8}
	if !bytes.Equal(rk, want) {
		t.Errorf("RowKey = %x, want %x", rk, want)
	}
	if !bytes.HasPrefix(rk, BucketPrefix(0x01020304, 0x3fff)) || !bytes.HasPrefix(rk, RowKeyPrefix(0x01020304)) {
		t.Error("RowKey lacks its prefixes")
	}
	if bytes.HasPrefix(RowKey(1, 2, id(0)), BucketPrefix(1, 3)) {
		t.Error("bucket prefixes overlap")
	}
	// a bucket's rows lie in [BucketPrefix, PrefixEnd(BucketPrefix))
	lo, hi := BucketPrefix(9, 5), PrefixEnd(BucketPrefix(9, 5))
	for _, k := range [][]byte{RowKey(9, 5, id(0)), RowKey(9, 5, id(math.MaxUint64))} {
		if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
			t.Errorf("%x outside its bucket range", k)
		}
	}
	for _, k := range [][]byte{RowKey(9, 4, id(math.MaxUint64)), RowKey(9, 6, id(0)), RowKey(10, 5, id(0))} {
		if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
			t.Errorf("%x inside another bucket's range", k)
		}
	}

	// A clustered table's rows order by bucket, then cluster values (row
	// id last); the rows of a leading value lie in one prefix's range.
	ck := func(bucket uint32, a int64, b string, rowID uint64) []byte {
		return RowKey(9, bucket, RowSuffix(nil, []types.Datum{a, b}, rowID))
	}
	ordered := [][]byte{ck(4, 100, "z", 1), ck(5, -3, "a", 9), ck(5, 7, "", 8), ck(5, 7, "a", 2), ck(5, 7, "a\x00", 1), ck(5, 8, "", 0), ck(6, -9, "", 5)}
	for i := 1; i < len(ordered); i++ {
		if bytes.Compare(ordered[i-1], ordered[i]) >= 0 {
			t.Errorf("clustered keys %d and %d out of order", i-1, i)
		}
	}
	p7 := AppendKey(BucketPrefix(9, 5), int64(7))
	for i, k := range ordered {
		in := bytes.Compare(k, p7) >= 0 && bytes.Compare(k, PrefixEnd(p7)) < 0
		if in != (i >= 2 && i <= 4) {
			t.Errorf("clustered key %d in the range of (5, 7): %v", i, in)
		}
	}

	// index keys: unique without NULLs has no row id; NULLs or non-unique do
	u := IndexKey(3, []types.Datum{int64(5)}, true, id(42))
	if !bytes.Equal(u, append(IndexPrefix(3), key(int64(5))...)) {
		t.Errorf("unique IndexKey = %x", u)
	}
	n := IndexKey(3, []types.Datum{int64(5)}, false, id(42))
	if !bytes.Equal(n, append(append(IndexPrefix(3), key(int64(5))...), 0, 0, 0, 0, 0, 0, 0, 42)) {
		t.Errorf("non-unique IndexKey = %x", n)
	}
	n1 := IndexKey(3, []types.Datum{nil, "x"}, true, id(1))
	n2 := IndexKey(3, []types.Datum{nil, "x"}, true, id(2))
	if bytes.Equal(n1, n2) {
		t.Error("unique index entries holding NULL are not distinct")
	}
	if !bytes.HasPrefix(n1, IndexPrefix(3)) || bytes.HasPrefix(n1, IndexPrefix(4)) {
		t.Error("IndexPrefix")
	}

	v := IndexValue(0x3fff, id(77))
	b, suffix, err := DecodeIndexValue(v)
	if err != nil || b != 0x3fff || !bytes.Equal(suffix, id(77)) {
		t.Errorf("DecodeIndexValue = %d, %x, %v", b, suffix, err)
	}
	cs := RowSuffix(nil, []types.Datum{int64(5), "x"}, 77)
	if b, suffix, err := DecodeIndexValue(IndexValue(7, cs)); err != nil || b != 7 || !bytes.Equal(suffix, cs) {
		t.Errorf("DecodeIndexValue of a clustered row = %d, %x, %v", b, suffix, err)
	}
	if _, _, err := DecodeIndexValue(v[:9]); err != ErrCorrupt {
		t.Errorf("short index value: %v", err)
	}

	for _, c := range []struct{ in, want []byte }{
		{[]byte{1, 2}, []byte{1, 3}},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
		{[]byte{}, nil},
	} {
		if got := AppendPrefixEnd([]byte("pre"), c.in); !bytes.Equal(got, append([]byte("pre"), c.want...)) {
			t.Errorf("AppendPrefixEnd(pre, %x) = %q", c.in, got)
		}
		if got := PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
	if PrefixEnd([]byte{0xff}) != nil {
		t.Error("PrefixEnd without an end is not nil")
	}
	in := []byte{1, 2}
	PrefixEnd(in)
	if in[1] != 2 {
		t.Error("PrefixEnd modified its argument")
	}
	if FormatKey([]byte("r\x00")) != `"r\x00"` {
		t.Errorf("FormatKey = %s", FormatKey([]byte("r\x00")))
	}
}

func TestAppendKeyPanicsOnUnknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AppendKey(nil, struct{}{})
}

// A vector's row encodes as its datum does, for every type (its vector
// kind or boxed), NULL, numerics stored inline and big, NaN and -0.
func TestAppendVecKey(t *testing.T) {
	g := newGen(3)
	for _, oid := range typeOIDs {
		const n = 300
		v := coldata.NewVec(oid, n)
		vals := make([]types.Datum, n)
		for i := range vals {
			switch {
			case i%17 == 0:
				vals[i] = nil
			case oid == types.Float8 && i%17 == 1:
				vals[i] = math.Copysign(0, -1)
			case oid == types.Float8 && i%17 == 2:
				vals[i] = math.NaN()
			default:
				vals[i] = g.datum(oid)
			}
			v.Set(i, vals[i])
		}
		for i, d := range vals {
			if got, want := AppendVecKey([]byte{0xee}, v, i), AppendKey([]byte{0xee}, d); !bytes.Equal(got, want) {
				t.Fatalf("%s: row %d (%v) encodes as %x, its datum as %x", types.InfoOf(oid).Name, i, d, got, want)
			}
		}
	}
}
