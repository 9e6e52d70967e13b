package placement

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/meridian-db/meridian/internal/meta"
)

func TestNumBucketsMatchesMeta(t *testing.T) {
	if NumBuckets != meta.NumBuckets {
		t.Fatalf("placement.NumBuckets = %d, meta.NumBuckets = %d", NumBuckets, meta.NumBuckets)
	}
}

func groupsOf(n int) []uint32 {
	gs := make([]uint32, n)
	for i := range gs {
		gs[i] = uint32(i + 1)
	}
	return gs
}

// checkEven fails t unless owner is a complete map over groups with every
// group within one bucket of an even share.
func checkEven(t *testing.T, owner []uint32, groups []uint32) {
	t.Helper()
	if err := Check(owner, groups); err != nil {
		t.Fatal(err)
	}
	gs := normalize(groups)
	lo, hi := len(owner)/len(gs), (len(owner)+len(gs)-1)/len(gs)
	c := Counts(owner)
	for _, g := range gs {
		if c[g] < lo || c[g] > hi {
			t.Fatalf("group %d owns %d buckets, want %d..%d (counts %v)", g, c[g], lo, hi, c)
		}
	}
}

func TestEven(t *testing.T) {
	for n := 1; n <= 7; n++ {
		gs := groupsOf(n)
		owner := Even(gs)
		checkEven(t, owner, gs)
		// Contiguous: one range per group, in ascending group order.
		for b := 1; b < len(owner); b++ {
			if owner[b] < owner[b-1] {
				t.Fatalf("n=%d: owner[%d]=%d after owner[%d]=%d", n, b, owner[b], b-1, owner[b-1])
			}
		}
		if owner[0] != gs[0] || owner[NumBuckets-1] != gs[n-1] {
			t.Fatalf("n=%d: ends are %d and %d", n, owner[0], owner[NumBuckets-1])
		}
	}
}

func TestEvenOrderAndDuplicates(t *testing.T) {
	a := Even([]uint32{7, 3, 5})
	b := Even([]uint32{3, 5, 7, 5})
	if !slices.Equal(a, b) {
		t.Fatal("Even depends on the order or repetition of groups")
	}
	checkEven(t, a, []uint32{3, 5, 7})
	if Even(nil) != nil {
		t.Fatal("Even(nil) != nil")
	}
}

// minMoves is the lower bound on moves: buckets of removed groups plus,
// for the best choice of which groups get the extra bucket, every bucket
// above its group's target.
func minMoves(current, groups []uint32) int {
	gs := normalize(groups)
	c := Counts(current)
	orphans := len(current)
	var hs []int
	for _, g := range gs {
		orphans -= c[g]
		hs = append(hs, c[g])
	}
	slices.SortFunc(hs, func(a, b int) int { return b - a })
	base, extra := len(current)/len(gs), len(current)%len(gs)
	m := orphans
	for i, h := range hs {
		tgt := base
		if i < extra {
			tgt++
		}
		m += max(0, h-tgt)
	}
	return m
}

func checkRebalance(t *testing.T, current, groups []uint32) {
	t.Helper()
	before := slices.Clone(current)
	moves := Rebalance(current, groups)
	if !slices.Equal(before, current) {
		t.Fatal("Rebalance modified its input")
	}
	if want := minMoves(current, groups); len(moves) != want {
		t.Fatalf("%d moves, minimum is %d", len(moves), want)
	}
	seen := map[uint32]bool{}
	for _, m := range moves {
		if seen[m.Bucket] {
			t.Fatalf("bucket %d moved twice", m.Bucket)
		}
		seen[m.Bucket] = true
		if m.From != current[m.Bucket] || m.From == m.To {
			t.Fatalf("bad move %v (owner %d)", m, current[m.Bucket])
		}
	}
	if !slices.IsSortedFunc(moves, func(a, b Move) int { return int(a.Bucket) - int(b.Bucket) }) {
		t.Fatal("moves not sorted by bucket")
	}
	after := Apply(current, moves)
	checkEven(t, after, groups)
	if again := Rebalance(after, groups); again != nil {
		t.Fatalf("rebalanced map still needs %d moves", len(again))
	}
}

func TestRebalanceScaleOut(t *testing.T) {
	for from := 1; from <= 7; from++ {
		for to := from; to <= 8; to++ {
			checkRebalance(t, Even(groupsOf(from)), groupsOf(to))
		}
	}
}

func TestRebalanceScaleOutCount(t *testing.T) {
	// 2 → 3 groups: the new group receives exactly its share, taken from
	// the top of each old group's range.
	moves := Rebalance(Even(groupsOf(2)), groupsOf(3))
	if len(moves) != 5461 {
		t.Fatalf("%d moves, want 5461", len(moves))
	}
	for _, m := range moves {
		if m.To != 3 {
			t.Fatalf("move %v: only group 3 should receive", m)
		}
	}
	if moves[0].Bucket != 5462 || moves[len(moves)-1].Bucket != NumBuckets-1 {
		t.Fatalf("first/last moved bucket %d/%d", moves[0].Bucket, moves[len(moves)-1].Bucket)
	}
}

func TestRebalanceAlreadyEven(t *testing.T) {
	for n := 1; n <= 7; n++ {
		if m := Rebalance(Even(groupsOf(n)), groupsOf(n)); m != nil {
			t.Fatalf("n=%d: %d moves on an even map", n, len(m))
		}
	}
}

func TestRebalanceScaleIn(t *testing.T) {
	checkRebalance(t, Even(groupsOf(5)), []uint32{1, 3, 5})
	checkRebalance(t, Even(groupsOf(3)), []uint32{9})
}

func TestRebalanceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		n := 1 + rng.IntN(6)
		cur := make([]uint32, NumBuckets)
		for b := range cur {
			// Skewed: low groups are heavier.
			cur[b] = uint32(1 + rng.IntN(1+rng.IntN(n)))
		}
		checkRebalance(t, cur, groupsOf(1+rng.IntN(8)))
	}
}

func TestRebalanceNoGroups(t *testing.T) {
	if Rebalance(Even(groupsOf(2)), nil) != nil {
		t.Fatal("moves with no groups")
	}
}

func TestCheck(t *testing.T) {
	if err := Check(Even(groupsOf(3)), groupsOf(2)); err == nil {
		t.Fatal("Check accepted a map with an unknown group")
	}
	if err := Check(make([]uint32, 10), []uint32{0}); err == nil {
		t.Fatal("Check accepted a short map")
	}
}
