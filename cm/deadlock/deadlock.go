package deadlock

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Edge is a wait for a row lock in progress on one datanode: transaction
// Waiter waits for Holder.
type Edge struct {
	Node uint32 // the datanode
	ID   uint64 // the wait's id on that datanode
	// Waiter and Holder are global transaction ids.
	Waiter, Holder       uint64
	WaiterPID, HolderPID int64
	// Start is when the wait began, by the detector's clock (its poll
	// time less the age the datanode reported).
	Start time.Time
	// DeadlockTimeout is the waiter's deadlock_timeout.
	DeadlockTimeout time.Duration
}

// expiry is when the waiter's deadlock_timeout expires.
func (e Edge) expiry() time.Time { return e.Start.Add(e.DeadlockTimeout) }

// Victim is a cycle and the wait of it to break.
type Victim struct {
	Break Edge   // fail this wait with 40P01
	Cycle []Edge // the cycle, starting with Break
}

// Detail describes the cycle for the victim's error, one wait a line.
func (v Victim) Detail() string {
	lines := make([]string, len(v.Cycle))
	for i, e := range v.Cycle {
		lines[i] = fmt.Sprintf("Process %d (transaction %d) waits for transaction %d on datanode %d; blocked by process %d.",
			e.WaiterPID, e.Waiter, e.Holder, e.Node, e.HolderPID)
	}
	return strings.Join(lines, "\n")
}

// maxCycles bounds the cycles Find enumerates in one call.
const maxCycles = 1024

// Find returns the cycles of the wait-for graph that are ripe at now, each
// with its victim (see the package comment), at most one per victim
// transaction and none through the victim of another (breaking a
// victim's wait aborts its transaction, which frees every cycle through
// it). Victims come in the order their timeouts expired.
func Find(edges []Edge, now time.Time) []Victim {
	out := map[uint64][]Edge{}
	for _, e := range edges {
		if e.Waiter != e.Holder {
			out[e.Waiter] = append(out[e.Waiter], e)
		}
	}
	var candidates []Victim
	for _, cycle := range cycles(out) {
		if v, ok := victim(cycle, now); ok {
			candidates = append(candidates, v)
		}
	}
	slices.SortStableFunc(candidates, func(a, b Victim) int { return a.Break.expiry().Compare(b.Break.expiry()) })
	var victims []Victim
	taken := map[uint64]bool{}
next:
	for _, v := range candidates {
		for _, e := range v.Cycle {
			if taken[e.Waiter] {
				continue next
			}
		}
		taken[v.Break.Waiter] = true
		victims = append(victims, v)
	}
	return victims
}

// victim picks the wait to break in a cycle, if it is ripe.
func victim(cycle []Edge, now time.Time) (Victim, bool) {
	formed := cycle[0].Start
	for _, e := range cycle[1:] {
		if e.Start.After(formed) {
			formed = e.Start
		}
	}
	best := -1
	for i, e := range cycle {
		if e.expiry().Before(formed) {
			continue // its check ran before the cycle existed
		}
		if best < 0 || e.expiry().Before(cycle[best].expiry()) {
			best = i
		}
	}
	if best < 0 || cycle[best].expiry().After(now) {
		return Victim{}, false
	}
	rot := append(append([]Edge(nil), cycle[best:]...), cycle[:best]...)
	return Victim{Break: rot[0], Cycle: rot}, true
}

// cycles enumerates the elementary cycles of the graph (each once, from
// its smallest transaction id), up to maxCycles.
func cycles(out map[uint64][]Edge) [][]Edge {
	nodes := make([]uint64, 0, len(out))
	for n := range out {
		nodes = append(nodes, n)
		slices.SortFunc(out[n], func(a, b Edge) int {
			return cmp.Or(cmp.Compare(a.Holder, b.Holder), cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
		})
	}
	slices.Sort(nodes)
	var found [][]Edge
	for _, start := range nodes {
		var path []Edge
		onPath := map[uint64]bool{start: true}
		var walk func(n uint64)
		walk = func(n uint64) {
			for _, e := range out[n] {
				if len(found) >= maxCycles {
					return
				}
				switch {
				case e.Holder == start:
					found = append(found, append(append([]Edge(nil), path...), e))
				case e.Holder > start && !onPath[e.Holder]:
					onPath[e.Holder] = true
					path = append(path, e)
					walk(e.Holder)
					path = path[:len(path)-1]
					onPath[e.Holder] = false
				}
			}
		}
		walk(start)
	}
	return found
}
