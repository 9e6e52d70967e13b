package exec

import (
	"math"
	"math/bits"
)

// keySetDenseBits bounds the bitmap of a dense key set: keys spanning up to
// this many values (1 MiB of bits) are looked up in a bitmap of the span.
const keySetDenseBits = 8 << 20

// keySetFn returns a membership test for the keys of m (a join's build
// keys) that a scan applies to every row it reads (a runtime filter): a
// bitmap of the keys' span when they are dense enough — one load and a
// shift, where a map lookup hashes and misses the cache — else a hashed
// bitmap of 16 bits per key in front of m, which rejects most non-members
// without touching the map. m must not change while the test is in use.
func keySetFn[V any](m map[int64]V) func(int64) bool {
	if len(m) == 0 {
		return func(int64) bool { return false }
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range m {
		lo, hi = min(lo, k), max(hi, k)
	}
	if span := uint64(hi) - uint64(lo); span < keySetDenseBits && span < 64*uint64(len(m))+(1<<16) {
		set := make([]uint64, span/64+1)
		for k := range m {
			d := uint64(k) - uint64(lo)
			set[d/64] |= 1 << (d % 64)
		}
		return func(v int64) bool {
			d := uint64(v) - uint64(lo)
			return d <= span && set[d/64]&(1<<(d%64)) != 0
		}
	}
	// 16 bits per key, rounded up to a power of two: one in 16 or fewer
	// non-members reaches the map.
	shift := 64 - bits.Len64(uint64(len(m))*16-1)
	set := make([]uint64, max(1, (1<<(64-shift))/64))
	hash := func(v int64) uint64 { return (uint64(v) * 0x9E3779B97F4A7C15) >> shift }
	for k := range m {
		h := hash(k)
		set[h/64] |= 1 << (h % 64)
	}
	return func(v int64) bool {
		h := hash(v)
		if set[h/64]&(1<<(h%64)) == 0 {
			return false
		}
		_, ok := m[v]
		return ok
	}
}
