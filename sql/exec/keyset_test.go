package exec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKeySetFn: the runtime filter's membership test answers as the map
// does, for dense and sparse key sets, around their span's ends and at the
// integers' extremes.
func TestKeySetFn(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sets := map[string][]int64{
		"empty":    nil,
		"one":      {42},
		"dense":    nil,
		"negative": nil,
		"sparse":   nil,
		"extremes": {math.MinInt64, math.MaxInt64, 0, -1, 1},
		"wide":     {math.MinInt64 + 5, 3, 1 << 40},
	}
	for i := 0; i < 5000; i++ {
		sets["dense"] = append(sets["dense"], int64(1000+r.IntN(20000)))
		sets["negative"] = append(sets["negative"], int64(-r.IntN(300000)))
		sets["sparse"] = append(sets["sparse"], int64(r.Uint64()))
	}
	for name, keys := range sets {
		m := map[int64]int32{}
		for _, k := range keys {
			m[k] = 1
		}
		in := keySetFn(m)
		probes := []int64{math.MinInt64, math.MaxInt64, 0, -1, 1, 999, 1000, 21000, 21001}
		for _, k := range keys {
			probes = append(probes, k, k-1, k+1)
		}
		for i := 0; i < 20000; i++ {
			probes = append(probes, int64(r.Uint64()), int64(r.IntN(40000)), -int64(r.IntN(400000)))
		}
		for _, v := range probes {
			if _, want := m[v]; in(v) != want {
				t.Fatalf("%s: in(%d) = %v, want %v", name, v, !want, want)
			}
		}
	}
}
