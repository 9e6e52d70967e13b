package server

import "math"

// Allocator is the CSN allocator: a pure state machine that the leader's
// driver (term) feeds with requests and with the results of its etcd
// writes. It does no I/O and takes no locks; the driver serialises calls.
//
// State and invariants (checked by the tests after every step):
//
//	1 <= next <= hwm         next: the smallest CSN not handed out yet;
//	                         hwm: the high-water mark known durable in etcd
//	every CSN handed out is < next, and therefore < hwm
//	inflight == 0 || inflight > hwm
//
// Because a new leader starts at the stored hwm, and nothing at or above a
// stored hwm is ever handed out, CSNs only grow across failover and restart.
//
// The driver asks Persist for the hwm to write whenever the window
// [next, hwm) runs below half a step, so the write happens while the
// remaining half is being served; Alloc fails with errWindowExhausted
// only if CSNs are handed out faster than etcd persists.
type Allocator struct {
	step     uint64
	next     uint64
	hwm      uint64
	inflight uint64 // hwm being written, 0 if none
	want     uint64 // hwm a blocked Alloc needs, 0 if none
}

// NewAllocator returns an allocator with window size step (>= 1). It hands
// nothing out until Reset and a first Persisted.
func NewAllocator(step uint64) *Allocator {
	if step == 0 {
		step = 1
	}
	return &Allocator{step: step, next: 1, hwm: 1}
}

// Reset starts a leadership term from stored, the hwm read from etcd
// (0 when there is none). CSN 0 is never handed out: it means "none".
func (a *Allocator) Reset(stored uint64) {
	a.next = max(stored, 1)
	a.hwm = a.next
	a.inflight = 0
	a.want = 0
}

// Alloc hands out k consecutive commit CSNs starting at first (first is 0
// when k is 0) and returns snapshot, the next unassigned CSN after them:
// every CSN below snapshot has been handed out, none at or above it.
//
// It fails with errWindowExhausted, changing nothing but remembering the
// need, when [next, next+k) is not below the persisted hwm; the driver
// then persists (see Persist) and the caller retries. It fails with
// errCSNSpaceExhausted if the 64-bit space would overflow.
func (a *Allocator) Alloc(k uint32) (first, snapshot uint64, err error) {
	n := uint64(k)
	if a.next > math.MaxUint64-n-a.step {
		return 0, 0, errCSNSpaceExhausted
	}
	end := a.next + n
	if end > a.hwm {
		a.want = max(a.want, end)
		return 0, 0, errWindowExhausted
	}
	if n > 0 {
		first = a.next
	}
	a.next = end
	return first, a.next, nil
}

// NeedPersist reports whether the driver should call Persist: the window
// is below half a step, or a blocked Alloc needs more, and no write is in
// flight. It is cheap enough for the hot path.
func (a *Allocator) NeedPersist() bool {
	if a.inflight != 0 {
		return false
	}
	return a.hwm-a.next <= a.step/2 || a.want > a.hwm
}

// Persist returns the hwm the driver must write to etcd now, next+step or
// what a blocked Alloc needs if that is more, and marks it in flight; ok is false when no write is needed. The driver reports the
// outcome with Persisted or PersistFailed.
func (a *Allocator) Persist() (hwm uint64, ok bool) {
	if !a.NeedPersist() {
		return 0, false
	}
	a.inflight = max(a.next+a.step, a.want)
	return a.inflight, true
}

// Persisted records that hwm (returned by Persist) is durable: CSNs
// below it may now be handed out.
func (a *Allocator) Persisted(hwm uint64) {
	if hwm > a.hwm {
		a.hwm = hwm
	}
	if a.want <= a.hwm {
		a.want = 0
	}
	a.inflight = 0
}

// PersistFailed records that the write of the in-flight hwm failed; the
// next Persist tries again.
func (a *Allocator) PersistFailed() { a.inflight = 0 }

// Next is the smallest CSN not handed out yet (the current snapshot).
func (a *Allocator) Next() uint64 { return a.next }

// HWM is the persisted high-water mark.
func (a *Allocator) HWM() uint64 { return a.hwm }
