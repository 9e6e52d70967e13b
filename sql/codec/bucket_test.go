package codec

import (
	"math"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// Sequential bigint keys 0, 1, 2, ... reach every bucket.
func TestBucketAllReachable(t *testing.T) {
	var seen [NumBuckets]bool
	left := NumBuckets
	n := int64(0)
	for ; left > 0 && n < 1_000_000; n++ {
		b := Bucket([]types.Datum{n})
		if b >= NumBuckets {
			t.Fatalf("Bucket(%d) = %d", n, b)
		}
		if !seen[b] {
			seen[b] = true
			left--
		}
	}
	if left > 0 {
		t.Fatalf("%d buckets unreached by keys 0..%d", left, n-1)
	}
	// coupon collector: about NumBuckets × ln(NumBuckets) ≈ 170000 keys
	t.Logf("keys 0..%d reach all %d buckets", n-1, NumBuckets)
}

// 1,000,000 sequential bigint keys over 3 datanodes owning contiguous
// thirds of the buckets (5461, 5461 and 5462 buckets) land within 1% of
// an even split, and per bucket pass a chi-square sanity check.
func TestBucketSpread(t *testing.T) {
	const keys = 1_000_000
	var perBucket [NumBuckets]int
	for i := int64(0); i < keys; i++ {
		perBucket[Bucket([]types.Datum{i})]++
	}
	third := NumBuckets / 3 // 5461
	bounds := []int{0, third, 2 * third, NumBuckets}
	for node := 0; node < 3; node++ {
		count := 0
		for b := bounds[node]; b < bounds[node+1]; b++ {
			count += perBucket[b]
		}
		t.Logf("datanode %d: buckets %d..%d, %d keys", node, bounds[node], bounds[node+1]-1, count)
		even := float64(keys) / 3
		if dev := math.Abs(float64(count)-even) / even; dev > 0.01 {
			t.Errorf("datanode %d (buckets %d..%d) got %d keys, %.2f%% off even", node, bounds[node], bounds[node+1]-1, count, dev*100)
		}
		owned := float64(keys) * float64(bounds[node+1]-bounds[node]) / NumBuckets
		if dev := math.Abs(float64(count)-owned) / owned; dev > 0.01 {
			t.Errorf("datanode %d got %d keys, %.2f%% off its share %.0f", node, count, dev*100, owned)
		}
	}
	// chi-square with 16383 degrees of freedom: mean 16383, standard
	// deviation sqrt(2×16383) ≈ 181; allow 5 deviations.
	expected := float64(keys) / NumBuckets
	chi2 := 0.0
	minB, maxB := keys, 0
	for _, c := range perBucket {
		d := float64(c) - expected
		chi2 += d * d / expected
		minB, maxB = min(minB, c), max(maxB, c)
	}
	df := float64(NumBuckets - 1)
	if math.Abs(chi2-df) > 5*math.Sqrt(2*df) {
		t.Errorf("chi-square %.0f, expected %.0f ± %.0f", chi2, df, 5*math.Sqrt(2*df))
	}
	t.Logf("chi-square %.0f (df %.0f); per bucket %d..%d, expected %.1f", chi2, df, minB, maxB, expected)
}

// The bucket depends on the value, not on how the column's type or scale
// spells it: smallint, integer and bigint are all int64 datums, and
// numeric 1.0 and 1.00 are equal.
func TestBucketStableAcrossRepresentations(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 42, math.MaxInt16, math.MinInt16} {
		for _, oid := range []uint32{types.Int2, types.Int4, types.Int8} {
			d, err := types.ParseText(types.T(oid), types.FormatText(types.T(types.Int8), v))
			if err != nil {
				t.Fatal(err)
			}
			if Bucket([]types.Datum{d}) != Bucket([]types.Datum{v}) {
				t.Errorf("%s %d hashes differently from bigint", types.InfoOf(oid).Name, v)
			}
		}
	}
	num := func(s string) *apd.Decimal {
		d, err := types.ParseText(types.T(types.Numeric), s)
		if err != nil {
			t.Fatal(err)
		}
		return d.(*apd.Decimal)
	}
	for _, group := range [][]string{
		{"1", "1.0", "1.00", "1.000000000", "1e0", "0.1e1"},
		{"0", "0.00", "-0", "-0.000", "0e10"},
		{"-12.5", "-12.50", "-1.25e1"},
		{"100", "1e2", "100.000"},
	} {
		want := Bucket([]types.Datum{num(group[0])})
		for _, s := range group[1:] {
			if got := Bucket([]types.Datum{num(s)}); got != want {
				t.Errorf("numeric %s hashes to %d, %s to %d", group[0], want, s, got)
			}
		}
	}
	// decimals built directly (not through ParseText) with extra zeros
	if Bucket([]types.Datum{apd.New(10, -1)}) != Bucket([]types.Datum{apd.New(1000, -3)}) {
		t.Error("apd 1.0 and 1.000 hash differently")
	}
	if Bucket([]types.Datum{0.0}) != Bucket([]types.Datum{math.Copysign(0, -1)}) {
		t.Error("0 and -0 hash differently")
	}
	if Bucket([]types.Datum{types.IntervalVal{Months: 1}}) != Bucket([]types.Datum{types.IntervalVal{Days: 30}}) {
		t.Error("equal intervals hash differently")
	}
	// several columns, and NULL
	a := Bucket([]types.Datum{int64(1), "x", nil})
	if a != Bucket([]types.Datum{int64(1), "x", nil}) || a == Bucket([]types.Datum{int64(1), "x", "y"}) && a == Bucket([]types.Datum{int64(2), "x", nil}) {
		t.Error("multi-column bucket")
	}
	if Bucket(nil) >= NumBuckets {
		t.Error("Bucket(nil) out of range")
	}
}

// Pinned bucket values: the hash is part of the storage format (rows are
// stored under their bucket), so it must never change by accident.
func TestBucketPinned(t *testing.T) {
	for _, c := range []struct {
		vals []types.Datum
		want uint32
	}{
		{[]types.Datum{int64(0)}, 8699},
		{[]types.Datum{int64(1)}, 14107},
		{[]types.Datum{int64(-1)}, 14168},
		{[]types.Datum{int64(123456789)}, 12930},
		{[]types.Datum{"hello"}, 10380},
		{[]types.Datum{""}, 14927},
		{[]types.Datum{nil}, 10032},
		{[]types.Datum{apd.New(15, -1)}, 8906},
		{[]types.Datum{1.5}, 14884},
		{[]types.Datum{true}, 225},
		{[]types.Datum{types.DateVal(19737)}, 11094},
		{[]types.Datum{time.Unix(1700000000, 0).UTC()}, 9146},
		{[]types.Datum{[]byte{1, 2}}, 6258},
		{[]types.Datum{types.IntervalVal{Days: 1}}, 650},
		{[]types.Datum{int64(1), "a"}, 8470},
	} {
		if got := Bucket(c.vals); got != c.want {
			t.Errorf("Bucket(%v) = %d, want %d", c.vals, got, c.want)
		}
	}
}

func BenchmarkBucketInt8(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Bucket([]types.Datum{int64(i)})
	}
}
