package tpch

import "math/bits"

// rng is a SplitMix64 stream. Every generated row (an order with its lines,
// a part with its four partsupp rows, ...) draws from its own stream, seeded
// from the generator's seed, the table and the row's number, so any range
// of rows can be generated alone, in any order, with the same result.
type rng struct{ state uint64 }

// Stream salts, one per kind of row.
const (
	saltPart uint64 = iota + 1
	saltSupplier
	saltCustomer
	saltOrder
	saltNation
	saltRegion
	saltPool
	saltSpecial
)

// newRNG returns the stream of row n of the kind salt.
func newRNG(seed, salt uint64, n int64) rng {
	r := rng{state: seed ^ salt*0x9e3779b97f4a7c15}
	r.state = r.next() ^ uint64(n)*0xbf58476d1ce4e5b9
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn is uniform in [0, n) (multiply-shift; the bias is below 2^-40 for
// the ranges used here).
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// between is uniform in [lo, hi].
func (r *rng) between(lo, hi int64) int64 { return lo + r.intn(hi-lo+1) }

// pick is a uniformly chosen element of a list.
func pick[T any](r *rng, list []T) T { return list[r.intn(int64(len(list)))] }
