package server

import (
	"math"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// seqAlloc is one sequence's allocator at the GTM leader: a pure state
// machine, a value that the driver (sequences.go) copies, changes and
// keeps only once etcd holds what it must. It does no I/O.
//
// The values of a sequence are numbered from its origin, the state of the
// last reset (CREATE, setval, ALTER SEQUENCE) in PostgreSQL's terms
// (last_value, is_called): number 0 is the origin itself when it was not
// called, else the value after it; then each number is the previous value
// plus the increment, wrapping from max to min (from min to max when
// descending) with CYCLE and ending there without. A run is a stretch of
// numbers without a wrap; a grant never crosses one, so a coordinator
// computes its values as first + i*increment.
//
// State and invariants (the tests check them after every step):
//
//	handed <= limit     handed: how many values were handed out since the
//	                    origin; limit: the bound persisted in etcd
//	every value handed out has a number < handed, so < the stored limit
//
// A new leader loads the record and continues at number limit, so it hands
// out nothing its predecessors did, at the price of skipping their unused
// reservation (at most a window, plus the grant that needed it).
type seqAlloc struct {
	opts   *meridianpb.SequenceOptions
	origin int64
	called bool
	gen    uint64
	handed uint64
	limit  uint64
}

// seqGrant is a run of values handed out together.
type seqGrant struct {
	first int64
	count uint64
}

// loadSeq resumes from a stored record: numbers below its limit may have
// been handed out by an earlier term.
func loadSeq(st *meridianpb.SequenceState) seqAlloc {
	return seqAlloc{opts: st.Options, origin: st.Origin, called: st.OriginCalled, gen: st.Generation,
		handed: st.Limit, limit: st.Limit}
}

// record is what etcd must hold for the state with the given limit.
func (a seqAlloc) record(limit uint64) *meridianpb.SequenceState {
	return &meridianpb.SequenceState{Options: a.opts, Origin: a.origin, OriginCalled: a.called,
		Limit: limit, Generation: a.gen}
}

// absInc is |increment| as an unsigned number (math.MinInt64 included).
func (a seqAlloc) absInc() uint64 {
	if a.opts.Increment < 0 {
		return uint64(-(a.opts.Increment + 1)) + 1
	}
	return uint64(a.opts.Increment)
}

// runLen is the number of values from one at distance d (>= 0, in the
// direction of the increment) from the end of the range to that end,
// saturating at the largest count.
func (a seqAlloc) runLen(d uint64) uint64 {
	n := d / a.absInc()
	if n == math.MaxUint64 {
		return n
	}
	return n + 1
}

// at returns value number i and how many values from it on belong to the
// same run; ok is false when the sequence ends before it (no CYCLE).
func (a seqAlloc) at(i uint64) (v int64, run uint64, ok bool) {
	o := a.opts
	inc := a.absInc()
	up := o.Increment > 0
	// dist is how far x lies from the end of the range the increment
	// moves towards.
	dist := func(x int64) uint64 {
		if up {
			return uint64(o.MaxValue) - uint64(x)
		}
		return uint64(x) - uint64(o.MinValue)
	}
	step := func(x int64, k uint64) int64 {
		if up {
			return int64(uint64(x) + k*inc)
		}
		return int64(uint64(x) - k*inc)
	}
	wrapTo := o.MinValue
	if !up {
		wrapTo = o.MaxValue
	}
	// The first run: from the origin (or the value after it) to the end.
	var first int64
	var len0 uint64
	switch {
	case !a.called:
		first, len0 = a.origin, a.runLen(dist(a.origin))
	case dist(a.origin) >= inc:
		first = step(a.origin, 1)
		len0 = a.runLen(dist(first))
	}
	if i < len0 {
		return step(first, i), len0 - i, true
	}
	if !o.Cycle {
		return 0, 0, false
	}
	full := a.runLen(dist(wrapTo)) // values per cycle
	j := i - len0
	if full != math.MaxUint64 {
		j %= full
	}
	return step(wrapTo, j), full - j, true
}

// plan works out a grant of up to n values: the run from number handed
// on, at most n long. need, when not 0, is the limit to persist before the
// grant may be taken: the grant's end plus window.
func (a seqAlloc) plan(n, window uint64, name string) (g seqGrant, need uint64, err error) {
	first, run, ok := a.at(a.handed)
	if !ok {
		o := a.opts
		if o.Increment > 0 {
			return g, 0, pgerr.New(pgerr.SequenceGeneratorLimitExceeded, "nextval: reached maximum value of sequence %q (%d)", name, o.MaxValue)
		}
		return g, 0, pgerr.New(pgerr.SequenceGeneratorLimitExceeded, "nextval: reached minimum value of sequence %q (%d)", name, o.MinValue)
	}
	k := min(max(n, 1), run)
	if a.handed > math.MaxUint64-k-window {
		return g, 0, pgerr.New(pgerr.SequenceGeneratorLimitExceeded, "nextval: sequence %q has handed out 2^64 values", name)
	}
	if a.handed+k > a.limit {
		need = a.handed + k + window
	}
	return seqGrant{first: first, count: k}, need, nil
}

// take records a planned grant as handed out; its end must be within the
// limit.
func (a *seqAlloc) take(g seqGrant) {
	a.handed += g.count
}

// giveBack takes back the unused end of the last run handed out: count
// values from first, of generation gen, that the coordinator holding them
// will not hand out. It applies only when they are exactly the last values
// handed out (no later run went to anyone); it reports whether it did.
func (a *seqAlloc) giveBack(first int64, count, gen uint64) bool {
	if count == 0 || gen != a.gen || count > a.handed {
		return false
	}
	v, run, ok := a.at(a.handed - count)
	if !ok || v != first || run < count {
		return false
	}
	a.handed -= count
	return true
}

// last is the state a reset that keeps the position starts from: the last
// value handed out, or the origin when there is none.
func (a seqAlloc) last() (v int64, called bool) {
	if a.handed == 0 {
		return a.origin, a.called
	}
	v, _, ok := a.at(a.handed - 1)
	if !ok {
		// handed counts values that exist; this cannot happen.
		return a.origin, a.called
	}
	return v, true
}

// reset returns the state that starts over at origin (PostgreSQL's
// last_value, is_called) with opts, a new generation and nothing handed
// out; the caller persists it with a fresh limit.
func (a seqAlloc) reset(opts *meridianpb.SequenceOptions, origin int64, called bool) seqAlloc {
	return seqAlloc{opts: opts, origin: origin, called: called, gen: a.gen + 1}
}
