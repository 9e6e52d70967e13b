package server

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// check asserts the allocator's invariants.
func check(t *testing.T, a *Allocator) {
	t.Helper()
	if a.next < 1 || a.next > a.hwm {
		t.Fatalf("invariant 1 <= next <= hwm broken: next %d hwm %d", a.next, a.hwm)
	}
	if a.inflight != 0 && a.inflight <= a.hwm {
		t.Fatalf("in-flight hwm %d not above hwm %d", a.inflight, a.hwm)
	}
}

// persist runs one persist round as the driver would.
func persist(t *testing.T, a *Allocator) uint64 {
	t.Helper()
	h, ok := a.Persist()
	if !ok {
		t.Fatalf("Persist: nothing to persist (next %d hwm %d)", a.next, a.hwm)
	}
	a.Persisted(h)
	check(t, a)
	return h
}

func TestAllocatorFirstTerm(t *testing.T) {
	a := NewAllocator(10)
	a.Reset(0)
	check(t, a)
	if _, _, err := a.Alloc(1); !errors.Is(err, errWindowExhausted) {
		t.Fatalf("Alloc before the first persist: err %v, want errWindowExhausted", err)
	}
	// A snapshot needs no window: nothing is handed out.
	if first, snap, err := a.Alloc(0); err != nil || first != 0 || snap != 1 {
		t.Fatalf("Alloc(0) = %d, %d, %v; want 0, 1, nil", first, snap, err)
	}
	if h := persist(t, a); h != 11 {
		t.Fatalf("first hwm %d, want 11 (next 1 + step 10)", h)
	}
	first, snap, err := a.Alloc(1)
	if err != nil || first != 1 || snap != 2 {
		t.Fatalf("Alloc(1) = %d, %d, %v; want 1, 2, nil", first, snap, err)
	}
	first, snap, err = a.Alloc(3)
	if err != nil || first != 2 || snap != 5 {
		t.Fatalf("Alloc(3) = %d, %d, %v; want 2, 5, nil", first, snap, err)
	}
	if _, snap, _ := a.Alloc(0); snap != 5 {
		t.Fatalf("snapshot %d, want 5", snap)
	}
	check(t, a)
}

func TestAllocatorResetStartsAtStoredHWM(t *testing.T) {
	a := NewAllocator(100)
	a.Reset(12345)
	check(t, a)
	if a.Next() != 12345 || a.HWM() != 12345 {
		t.Fatalf("after Reset(12345): next %d hwm %d", a.Next(), a.HWM())
	}
	if h := persist(t, a); h != 12445 {
		t.Fatalf("hwm %d, want 12445", h)
	}
	if first, _, err := a.Alloc(1); err != nil || first != 12345 {
		t.Fatalf("first CSN of the term %d (%v), want the stored hwm 12345", first, err)
	}
}

func TestAllocatorPersistsAhead(t *testing.T) {
	a := NewAllocator(10)
	a.Reset(0)
	persist(t, a) // hwm 11, window [1, 11)
	if a.NeedPersist() {
		t.Fatal("NeedPersist with a full window")
	}
	a.Alloc(4) // next 5, 6 left: above half
	if a.NeedPersist() {
		t.Fatalf("NeedPersist with %d of 10 left", a.HWM()-a.Next())
	}
	a.Alloc(1) // next 6, 5 left: half
	if !a.NeedPersist() {
		t.Fatalf("no NeedPersist with %d of 10 left", a.HWM()-a.Next())
	}
	h, ok := a.Persist()
	if !ok || h != 16 {
		t.Fatalf("Persist = %d, %v; want 16, true", h, ok)
	}
	if a.NeedPersist() {
		t.Fatal("NeedPersist while a write is in flight")
	}
	// The old window keeps serving while the write is in flight...
	if first, _, err := a.Alloc(5); err != nil || first != 6 {
		t.Fatalf("Alloc(5) during the write = %d, %v", first, err)
	}
	// ...up to, not beyond, the persisted hwm.
	if _, _, err := a.Alloc(1); !errors.Is(err, errWindowExhausted) {
		t.Fatalf("Alloc past the persisted hwm: err %v", err)
	}
	a.Persisted(h)
	check(t, a)
	if first, _, err := a.Alloc(1); err != nil || first != 11 {
		t.Fatalf("Alloc(1) after the write = %d, %v; want 11", first, err)
	}
}

func TestAllocatorBatchLargerThanWindow(t *testing.T) {
	a := NewAllocator(10)
	a.Reset(0)
	persist(t, a)
	if _, _, err := a.Alloc(25); !errors.Is(err, errWindowExhausted) {
		t.Fatalf("Alloc(25) with window 10: %v", err)
	}
	h := persist(t, a)
	if h < 1+25 {
		t.Fatalf("hwm %d does not cover the blocked batch of 25", h)
	}
	first, snap, err := a.Alloc(25)
	if err != nil || first != 1 || snap != 26 {
		t.Fatalf("Alloc(25) = %d, %d, %v; want 1, 26", first, snap, err)
	}
}

func TestAllocatorPersistFailedRetries(t *testing.T) {
	a := NewAllocator(10)
	a.Reset(7)
	h1, _ := a.Persist()
	a.PersistFailed()
	check(t, a)
	h2, ok := a.Persist()
	if !ok || h2 != h1 {
		t.Fatalf("retry Persist = %d, %v; want %d", h2, ok, h1)
	}
	a.Persisted(h2)
	if _, _, err := a.Alloc(1); err != nil {
		t.Fatal(err)
	}
}

func TestAllocatorSpaceExhausted(t *testing.T) {
	a := NewAllocator(10)
	a.Reset(^uint64(0) - 5)
	if _, _, err := a.Alloc(1); !errors.Is(err, errCSNSpaceExhausted) {
		t.Fatalf("Alloc near 2^64: %v, want errCSNSpaceExhausted", err)
	}
}

// A random walk over requests, persists, failures and failovers: CSNs
// are distinct and increasing, snapshots cover every CSN handed out, and
// nothing at or above the stored hwm is ever handed out.
func TestAllocatorRandomWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := NewAllocator(64)
	var stored, last, lastSnap uint64
	a.Reset(stored)
	inflight := uint64(0)
	for range 100_000 {
		switch r := rng.IntN(100); {
		case r < 70:
			k := uint32(rng.IntN(40))
			first, snap, err := a.Alloc(k)
			if errors.Is(err, errWindowExhausted) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if snap < lastSnap {
				t.Fatalf("snapshot went back: %d after %d", snap, lastSnap)
			}
			lastSnap = snap
			if k == 0 {
				continue
			}
			if first <= last {
				t.Fatalf("CSN %d not above the previous %d", first, last)
			}
			last = first + uint64(k) - 1
			if last >= stored || snap != last+1 {
				t.Fatalf("batch [%d, %d] snapshot %d, stored hwm %d", first, last, snap, stored)
			}
		case r < 85:
			if inflight == 0 {
				inflight, _ = a.Persist()
			}
		case r < 95:
			if inflight != 0 {
				if rng.IntN(4) == 0 {
					a.PersistFailed()
				} else {
					stored = max(stored, inflight)
					a.Persisted(inflight)
				}
				inflight = 0
			}
		default: // failover: a new term starts at the stored hwm
			if inflight != 0 && rng.IntN(2) == 0 {
				stored = max(stored, inflight) // the write landed before the crash
			}
			inflight = 0
			a.Reset(stored)
		}
		check(t, a)
	}
	if last == 0 {
		t.Fatal("no CSN handed out")
	}
}
