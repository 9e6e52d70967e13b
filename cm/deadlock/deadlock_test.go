package deadlock

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func edge(node uint32, id, waiter, holder uint64, startMS int, timeout time.Duration) Edge {
	return Edge{Node: node, ID: id, Waiter: waiter, Holder: holder, WaiterPID: int64(waiter) * 10, HolderPID: int64(holder) * 10,
		Start: t0.Add(time.Duration(startMS) * time.Millisecond), DeadlockTimeout: timeout}
}

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestFindTwoNodeCycle(t *testing.T) {
	edges := []Edge{edge(1, 7, 100, 200, 0, time.Second), edge(2, 9, 200, 100, 50, time.Second)}
	if v := Find(edges, at(999)); len(v) != 0 {
		t.Fatalf("ripe before any timeout expired: %+v", v)
	}
	v := Find(edges, at(1000))
	if len(v) != 1 || v[0].Break.Waiter != 100 || v[0].Break.Node != 1 || v[0].Break.ID != 7 || len(v[0].Cycle) != 2 {
		t.Fatalf("victims %+v", v)
	}
	d := v[0].Detail()
	if !strings.Contains(d, "Process 1000 (transaction 100) waits for transaction 200 on datanode 1; blocked by process 2000.") ||
		!strings.Contains(d, "Process 2000 (transaction 200) waits for transaction 100 on datanode 2; blocked by process 1000.") {
		t.Fatalf("detail %q", d)
	}
}

// TestFindVictimRule: the victim is the first whose timeout expires after
// the cycle formed, as PostgreSQL's backends check at their own timeout.
func TestFindVictimRule(t *testing.T) {
	// 100 waits first but with a 10 s timeout: 200 is the victim.
	edges := []Edge{edge(1, 1, 100, 200, 0, 10*time.Second), edge(2, 2, 200, 100, 50, time.Second)}
	if v := Find(edges, at(1050)); len(v) != 1 || v[0].Break.Waiter != 200 {
		t.Fatalf("victims %+v", v)
	}
	// 100's timeout expired before 200 closed the cycle: 100 checked and
	// found nothing, so 200 is the victim, at its own timeout.
	edges = []Edge{edge(1, 1, 100, 200, 0, time.Second), edge(2, 2, 200, 100, 3000, time.Second)}
	if v := Find(edges, at(3500)); len(v) != 0 {
		t.Fatalf("ripe at 3.5 s: %+v", v)
	}
	if v := Find(edges, at(4000)); len(v) != 1 || v[0].Break.Waiter != 200 {
		t.Fatalf("victims %+v", v)
	}
}

func TestFindThreeNodesAndShared(t *testing.T) {
	// 1 -> 2 -> 3 -> 1 and 2 -> 4 -> 2: one victim per cycle, none twice.
	edges := []Edge{
		edge(1, 1, 1, 2, 0, time.Second),
		edge(2, 2, 2, 3, 10, time.Second),
		edge(3, 3, 3, 1, 20, time.Second),
		edge(3, 4, 2, 4, 30, time.Second),
		edge(1, 5, 4, 2, 40, time.Second),
	}
	v := Find(edges, at(5000))
	if len(v) != 2 || v[0].Break.Waiter != 1 || v[1].Break.Waiter != 2 {
		t.Fatalf("victims %+v", v)
	}
	// Without a cycle, nothing; a transaction waiting on itself is ignored.
	if v := Find([]Edge{edge(1, 1, 1, 2, 0, time.Second), edge(1, 2, 2, 3, 0, time.Second), edge(1, 3, 5, 5, 0, time.Second)}, at(9000)); len(v) != 0 {
		t.Fatalf("victims without a cycle: %+v", v)
	}
}

// TestFindSharedVictim: two cycles through one transaction that is the
// victim of both: it is broken once, and the other cycle is left for the
// abort to free.
func TestFindSharedVictim(t *testing.T) {
	edges := []Edge{
		edge(1, 1, 1, 2, 0, time.Second),
		edge(2, 2, 2, 1, 500, time.Second),
		edge(1, 3, 1, 3, 0, time.Second),
		edge(3, 4, 3, 1, 500, time.Second),
	}
	v := Find(edges, at(2000))
	if len(v) != 1 || v[0].Break.Waiter != 1 {
		t.Fatalf("victims %+v", v)
	}
}
