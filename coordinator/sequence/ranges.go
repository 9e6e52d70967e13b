package sequence

import "time"

// Grant is a run of values the GTM handed out: First, First+Increment,
// ..., Count of them, of the sequence's generation Gen.
type Grant struct {
	First     int64
	Count     uint64
	Increment int64
	Gen       uint64
}

// Ranges is one sequence's values cached at a coordinator: a pure state
// machine, driven by Cache under its lock.
//
//	Take ──▶ next value of the current run ──empty──▶ Want(cache) values
//	  ▲                                                  │ from the GTM
//	  └──────────────── Add(grant) ◀─────────────────────┘
//
// Values come out in the order the GTM granted them, and the GTM grants a
// sequence's runs in its order, so every value a coordinator hands out
// follows the previous one (until a reset: setval, ALTER, a CYCLE wrap).
//
// The fetch size adapts to the rate: it doubles (up to MaxChunk) when a
// run lasted less than FastRefill, and halves (down to 1) when it lasted
// more than SlowRefill; the sequence's CACHE is the least it asks for. A
// busy sequence costs one GTM call per thousands of values; an idle one
// loses few values when the coordinator restarts.
//
// Invariants: cur.gen >= minGen whenever cur has values left; 1 <= chunk
// <= MaxChunk.
type Ranges struct {
	cur    Grant // First is the next value; Count how many are left
	minGen uint64
	chunk  uint64
	since  time.Time // when cur was installed
}

// Adaptation bounds.
const (
	MaxChunk   = 1 << 14
	FastRefill = time.Second
	SlowRefill = 10 * time.Second
)

// Take hands out the next value; ok is false when none is cached.
func (r *Ranges) Take() (v int64, ok bool) {
	if r.cur.Count == 0 {
		return 0, false
	}
	v = r.cur.First
	r.cur.Count--
	if r.cur.Count > 0 {
		r.cur.First += r.cur.Increment
	}
	return v, true
}

// Want is how many values to ask the GTM for: the adaptive chunk, at
// least the sequence's CACHE.
func (r *Ranges) Want(cache int64) uint64 {
	n := max(r.chunk, 1)
	if cache > 0 && uint64(cache) > n {
		n = uint64(cache)
	}
	return n
}

// Add installs a run granted at time now in place of the exhausted one.
// A run of an older generation than one already seen is stale (values
// from before a reset): it is dropped and Add reports false.
func (r *Ranges) Add(g Grant, now time.Time) bool {
	if g.Gen < r.minGen || g.Count == 0 {
		return false
	}
	switch {
	case r.chunk == 0:
		r.chunk = 1
	case now.Sub(r.since) < FastRefill:
		r.chunk = min(2*r.chunk, MaxChunk)
	case now.Sub(r.since) > SlowRefill:
		r.chunk = max(r.chunk/2, 1)
	}
	r.minGen = g.Gen
	r.cur = g
	r.since = now
	return true
}

// Invalidate drops the cached values of generations before gen (the
// sequence was reset: setval, ALTER SEQUENCE).
func (r *Ranges) Invalidate(gen uint64) {
	if gen > r.minGen {
		r.minGen = gen
	}
	if r.cur.Gen < r.minGen {
		r.cur.Count = 0
	}
}

// Surrender takes the cached values out: the rest of the current run,
// which nothing will hand out any more (Count 0: none).
func (r *Ranges) Surrender() Grant {
	g := r.cur
	r.cur.Count = 0
	return g
}

// Cached is how many values are cached.
func (r *Ranges) Cached() uint64 { return r.cur.Count }
