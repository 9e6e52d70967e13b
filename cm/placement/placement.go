package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// NumBuckets is the number of hash buckets (meta.NumBuckets; kept here so
// that this package has no dependencies).
const NumBuckets = 16384

// Move takes one bucket from one group to another.
type Move struct {
	Bucket uint32
	From   uint32
	To     uint32
}

func (m Move) String() string { return fmt.Sprintf("bucket %d: %d→%d", m.Bucket, m.From, m.To) }

// Even returns the initial map of NumBuckets buckets over groups: one
// contiguous range per group, in ascending group id order, each of
// ⌊NumBuckets/n⌋ or ⌈NumBuckets/n⌉ buckets. Duplicate ids count once and the
// order of groups does not matter. With no groups it returns nil.
func Even(groups []uint32) []uint32 {
	gs := normalize(groups)
	n := len(gs)
	if n == 0 {
		return nil
	}
	owner := make([]uint32, NumBuckets)
	for i, g := range gs {
		lo, hi := i*NumBuckets/n, (i+1)*NumBuckets/n
		for b := lo; b < hi; b++ {
			owner[b] = g
		}
	}
	return owner
}

// Rebalance returns the fewest moves that make current even over groups:
// afterwards each group owns ⌊N/n⌋ or ⌈N/n⌉ of the N = len(current)
// buckets, and no bucket is owned by a group outside groups (those are
// moved too, so Rebalance also plans a scale-in). Moves are sorted by
// bucket; current is not modified. With no groups, or nothing to do, it
// returns nil.
func Rebalance(current []uint32, groups []uint32) []Move {
	gs := normalize(groups)
	n := len(gs)
	if n == 0 || len(current) == 0 {
		return nil
	}
	have := make(map[uint32]int, n)
	for _, g := range gs {
		have[g] = 0
	}
	for _, g := range current {
		if _, ok := have[g]; ok {
			have[g]++
		}
	}

	// Targets: the N mod n extra buckets go to the groups that hold most.
	byHave := slices.Clone(gs)
	slices.SortStableFunc(byHave, func(a, b uint32) int { return cmp.Compare(have[b], have[a]) })
	target := make(map[uint32]int, n)
	base, extra := len(current)/n, len(current)%n
	for i, g := range byHave {
		target[g] = base
		if i < extra {
			target[g]++
		}
	}

	// Donated buckets: every bucket of a removed group, and the
	// highest-numbered buckets of each group above its target.
	surplus := make(map[uint32]int, n)
	for g, h := range have {
		surplus[g] = h - target[g]
	}
	var donated []Move
	for b := len(current) - 1; b >= 0; b-- {
		g := current[b]
		s, ok := surplus[g]
		if !ok || s > 0 {
			donated = append(donated, Move{Bucket: uint32(b), From: g})
			if ok {
				surplus[g]--
			}
		}
	}
	if len(donated) == 0 {
		return nil
	}
	slices.SortFunc(donated, func(a, b Move) int { return cmp.Compare(a.Bucket, b.Bucket) })

	// Receivers, ascending id, each takes a run of donated buckets.
	i := 0
	for _, g := range gs {
		for need := -surplus[g]; need > 0; need-- {
			donated[i].To = g
			i++
		}
	}
	if i != len(donated) {
		panic(fmt.Sprintf("placement: %d buckets donated, %d received", len(donated), i))
	}
	return donated
}

// Apply returns a copy of owner with moves applied.
func Apply(owner []uint32, moves []Move) []uint32 {
	out := slices.Clone(owner)
	for _, m := range moves {
		out[m.Bucket] = m.To
	}
	return out
}

// Counts returns how many buckets each group owns.
func Counts(owner []uint32) map[uint32]int {
	c := make(map[uint32]int)
	for _, g := range owner {
		c[g]++
	}
	return c
}

// Check reports whether owner is a complete map over groups: NumBuckets
// entries, each one of groups.
func Check(owner []uint32, groups []uint32) error {
	if len(owner) != NumBuckets {
		return fmt.Errorf("bucket map has %d entries, want %d", len(owner), NumBuckets)
	}
	known := make(map[uint32]bool, len(groups))
	for _, g := range groups {
		known[g] = true
	}
	for b, g := range owner {
		if !known[g] {
			return fmt.Errorf("bucket %d is owned by group %d, which does not exist", b, g)
		}
	}
	return nil
}

// normalize returns groups sorted, without duplicates, in a new slice.
func normalize(groups []uint32) []uint32 {
	gs := slices.Clone(groups)
	slices.Sort(gs)
	return slices.Compact(gs)
}
