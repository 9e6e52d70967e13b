package codec

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

func dec(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}

// A global index entry sits in the bucket of its key: its key starts with
// 'g', the index id and Bucket(vals) — the bucket a row with those values
// as distribution key would have, so the coordinator routes it with the
// bucket map — then the key encoding of the values.
func TestGlobalIndexKeyLayout(t *testing.T) {
	vals := []types.Datum{int64(42), "abc", 2.5}
	key, bucket := GlobalIndexKey(77, vals)
	if bucket != Bucket(vals) {
		t.Fatalf("bucket %d, Bucket gives %d", bucket, Bucket(vals))
	}
	want := []byte{'g', 0, 0, 0, 77}
	want = binary.BigEndian.AppendUint16(want, uint16(bucket))
	for _, v := range vals {
		want = AppendKey(want, v)
	}
	if !bytes.Equal(key, want) {
		t.Fatalf("key %x, want %x", key, want)
	}
	if !bytes.HasPrefix(key, GlobalIndexBucketPrefix(77, bucket)) || !bytes.HasPrefix(key, GlobalIndexPrefix(77)) {
		t.Fatal("key outside its index's or bucket's prefix")
	}
	// The global key space is apart from rows and local index entries of
	// any id, and from other global indexes.
	for _, p := range [][]byte{IndexPrefix(77), RowKeyPrefix(77), GlobalIndexPrefix(78), GlobalIndexPrefix(76)} {
		if bytes.HasPrefix(key, p) {
			t.Fatalf("key %x under foreign prefix %x", key, p)
		}
	}
	end := PrefixEnd(GlobalIndexPrefix(77))
	if bytes.Compare(key, end) >= 0 {
		t.Fatal("key past its index's range")
	}
}

// Equal values give equal entry keys and buckets (so they conflict), and
// different values different keys.
func TestGlobalIndexKeyEquality(t *testing.T) {
	same := [][2][]types.Datum{
		{{dec("1.5")}, {dec("1.50")}},
		{{dec("2")}, {dec("2.000")}},
		{{0.0}, {math.Copysign(0, -1)}},
		{{int64(1), "x"}, {int64(1), "x"}},
		{{types.DateVal(19000)}, {types.DateVal(19000)}},
	}
	for _, c := range same {
		k1, b1 := GlobalIndexKey(1, c[0])
		k2, b2 := GlobalIndexKey(1, c[1])
		if !bytes.Equal(k1, k2) || b1 != b2 {
			t.Errorf("%v and %v: keys %x / %x, buckets %d / %d", c[0], c[1], k1, k2, b1, b2)
		}
	}
	differ := [][2][]types.Datum{
		{{int64(1), "x"}, {int64(1), "y"}},
		{{int64(1), "x"}, {int64(2), "x"}},
		{{"ab", "c"}, {"a", "bc"}},
		{{"a"}, {"A"}},
	}
	for _, c := range differ {
		k1, _ := GlobalIndexKey(1, c[0])
		k2, _ := GlobalIndexKey(1, c[1])
		if bytes.Equal(k1, k2) {
			t.Errorf("%v and %v share key %x", c[0], c[1], k1)
		}
	}
}

// Keys spread over the buckets as row keys do: 30,000 sequential keys
// over three contiguous thirds of the buckets land within 3% of even.
func TestGlobalIndexKeySpread(t *testing.T) {
	const n = 30000
	var per [3]int
	for i := int64(0); i < n; i++ {
		_, b := GlobalIndexKey(5, []types.Datum{i, "k"})
		per[min(int(b)/(NumBuckets/3), 2)]++
	}
	for i, c := range per {
		if dev := math.Abs(float64(c)-n/3.0) / (n / 3.0); dev > 0.03 {
			t.Errorf("third %d got %d keys (%.1f%% off even)", i, c, dev*100)
		}
	}
}

func TestHasNull(t *testing.T) {
	if HasNull([]types.Datum{int64(1), "x"}) || !HasNull([]types.Datum{int64(1), nil}) || HasNull(nil) {
		t.Fatal("HasNull")
	}
}

func TestDecodeRowKey(t *testing.T) {
	heap := RowSuffix(nil, nil, 1<<60|5)
	clustered := RowSuffix(nil, []types.Datum{int64(7), "x"}, 5)
	for _, suffix := range [][]byte{heap, clustered} {
		k := RowKey(9, 16383, suffix)
		table, bucket, got, err := DecodeRowKey(k)
		if err != nil || table != 9 || bucket != 16383 || !bytes.Equal(got, suffix) {
			t.Fatalf("DecodeRowKey = %d %d %x %v", table, bucket, got, err)
		}
	}
	k := RowKey(9, 16383, heap)
	for _, bad := range [][]byte{nil, k[:14], IndexPrefix(9)} {
		if _, _, _, err := DecodeRowKey(bad); err != ErrCorrupt {
			t.Errorf("DecodeRowKey(%x) = %v, want ErrCorrupt", bad, err)
		}
	}
}
