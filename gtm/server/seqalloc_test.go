package server

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// refSeq is PostgreSQL's nextval one value at a time (sequence.c's
// nextval_internal with CACHE 1): the model seqAlloc's grants must follow.
type refSeq struct {
	o      *meridianpb.SequenceOptions
	last   int64
	called bool
}

func (r *refSeq) next() (int64, bool) {
	if !r.called {
		r.called = true
		return r.last, true
	}
	o := r.o
	v := r.last
	if o.Increment > 0 {
		if (o.MaxValue >= 0 && v > o.MaxValue-o.Increment) || (o.MaxValue < 0 && v+o.Increment > o.MaxValue) {
			if !o.Cycle {
				return 0, false
			}
			v = o.MinValue
		} else {
			v += o.Increment
		}
	} else {
		if (o.MinValue < 0 && v < o.MinValue-o.Increment) || (o.MinValue >= 0 && v+o.Increment < o.MinValue) {
			if !o.Cycle {
				return 0, false
			}
			v = o.MaxValue
		} else {
			v += o.Increment
		}
	}
	r.last = v
	return v, true
}

// checkSeq asserts seqAlloc's invariant.
func checkSeq(t *testing.T, a *seqAlloc) {
	t.Helper()
	if a.handed > a.limit {
		t.Fatalf("handed %d beyond the persisted limit %d", a.handed, a.limit)
	}
}

// grant runs one grant as the driver does: persist first when needed.
func grant(t *testing.T, a *seqAlloc, n, window uint64) (seqGrant, error) {
	t.Helper()
	g, need, err := a.plan(n, window, "s")
	if err != nil {
		return g, err
	}
	if need != 0 {
		if need < a.handed+g.count {
			t.Fatalf("need %d does not cover the grant (handed %d + %d)", need, a.handed, g.count)
		}
		a.limit = need
	}
	a.take(g)
	checkSeq(t, a)
	return g, nil
}

func opts(inc, lo, hi, start int64, cycle bool) *meridianpb.SequenceOptions {
	return &meridianpb.SequenceOptions{TypeOid: 20, Increment: inc, MinValue: lo, MaxValue: hi, Start: start, Cache: 1, Cycle: cycle}
}

// values expands a grant.
func values(o *meridianpb.SequenceOptions, g seqGrant) []int64 {
	out := make([]int64, g.count)
	for i := range out {
		out[i] = g.first + int64(i)*o.Increment
	}
	return out
}

func TestSeqAllocAscending(t *testing.T) {
	o := opts(1, 1, math.MaxInt64, 1, false)
	a := seqAlloc{opts: o, origin: 1}
	g, need, err := a.plan(10, 100, "s")
	if err != nil || g.first != 1 || g.count != 10 || need != 110 {
		t.Fatalf("plan(10) = %+v need %d err %v; want 1 x10, need 110", g, need, err)
	}
	a.limit = need
	a.take(g)
	g, need, _ = a.plan(10, 100, "s")
	if g.first != 11 || need != 0 {
		t.Fatalf("second plan = %+v need %d; want first 11 without a persist", g, need)
	}
	a.take(g)
	if v, called := a.last(); v != 20 || !called {
		t.Fatalf("last = %d, %v; want 20, true", v, called)
	}
}

func TestSeqAllocMatchesPostgres(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 3000; trial++ {
		lo := rng.Int64N(20) - 10
		hi := lo + 1 + rng.Int64N(20)
		inc := rng.Int64N(7) + 1
		if rng.IntN(2) == 0 {
			inc = -inc
		}
		o := opts(inc, lo, hi, 0, rng.IntN(2) == 0)
		origin := lo + rng.Int64N(hi-lo+1)
		called := rng.IntN(2) == 0
		ref := &refSeq{o: o, last: origin, called: called}
		a := seqAlloc{opts: o, origin: origin, called: called}
		var want, got []int64
		for len(want) < 60 {
			v, ok := ref.next()
			if !ok {
				break
			}
			want = append(want, v)
		}
		window := uint64(rng.IntN(5))
		for len(got) < len(want) {
			g, err := grant(t, &a, uint64(rng.IntN(9)+1), window)
			if err != nil {
				t.Fatalf("trial %d (%+v origin %d called %v): grant after %v: %v", trial, o, origin, called, got, err)
			}
			got = append(got, values(o, g)...)
		}
		got = got[:len(want)]
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d (inc %d [%d,%d] cycle %v origin %d called %v):\n got %v\nwant %v",
					trial, inc, lo, hi, o.Cycle, origin, called, got, want)
			}
		}
		if len(want) < 60 { // exhausted: the allocator must say so too
			if _, err := grant(t, &a, 1, window); pgerr.Code(err) != pgerr.SequenceGeneratorLimitExceeded {
				t.Fatalf("trial %d: after the last value: err %v, want 2200H", trial, err)
			}
		}
	}
}

func TestSeqAllocExhausted(t *testing.T) {
	a := seqAlloc{opts: opts(1, 1, 3, 1, false), origin: 1}
	g, _ := grant(t, &a, 10, 0)
	if g.first != 1 || g.count != 3 {
		t.Fatalf("grant = %+v; want 1..3 (the run ends at MAXVALUE)", g)
	}
	_, err := grant(t, &a, 1, 0)
	if pgerr.Code(err) != pgerr.SequenceGeneratorLimitExceeded || err.Error() != `nextval: reached maximum value of sequence "s" (3)` {
		t.Fatalf("err %v (%s)", err, pgerr.Code(err))
	}
	d := seqAlloc{opts: opts(-1, -2, 0, 0, false), origin: 0}
	grant(t, &d, 5, 0)
	if _, err := grant(t, &d, 1, 0); err == nil || err.Error() != `nextval: reached minimum value of sequence "s" (-2)` {
		t.Fatalf("descending: err %v", err)
	}
}

func TestSeqAllocInt64Edges(t *testing.T) {
	// The whole int64 range, ascending with CYCLE: runs longer than
	// uint64 can count saturate instead of wrapping to 0.
	a := seqAlloc{opts: opts(1, math.MinInt64, math.MaxInt64, math.MinInt64, true), origin: math.MaxInt64 - 1}
	g, _ := grant(t, &a, 5, 0)
	if g.first != math.MaxInt64-1 || g.count != 2 {
		t.Fatalf("grant = %+v; want MaxInt64-1, MaxInt64", g)
	}
	g, _ = grant(t, &a, 3, 0)
	if g.first != math.MinInt64 || g.count != 3 {
		t.Fatalf("after the wrap %+v; want MinInt64 x3", g)
	}
	// The largest increments.
	b := seqAlloc{opts: opts(math.MinInt64, math.MinInt64, math.MaxInt64, math.MaxInt64, false), origin: math.MaxInt64}
	g, _ = grant(t, &b, 5, 0)
	if g.first != math.MaxInt64 || g.count != 2 {
		t.Fatalf("MinInt64 increment: %+v; want MaxInt64 then -1", g)
	}
	if vs := values(b.opts, g); vs[1] != -1 {
		t.Fatalf("second value %d, want -1", vs[1])
	}
	c := seqAlloc{opts: opts(math.MaxInt64, math.MinInt64, math.MaxInt64, 0, false), origin: 0, called: true}
	g, _ = grant(t, &c, 5, 0)
	if g.first != math.MaxInt64 || g.count != 1 {
		t.Fatalf("MaxInt64 increment: %+v", g)
	}
}

// TestSeqAllocFailover: a new term loads the record and continues at its
// limit; no value of an earlier term comes out again.
func TestSeqAllocFailover(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := seqAlloc{opts: opts(3, 1, math.MaxInt64, 1, false), origin: 1}
	seen := map[int64]bool{}
	var stored *meridianpb.SequenceState
	for term := 0; term < 20; term++ {
		if stored != nil {
			a = loadSeq(stored)
		}
		for i := 0; i < rng.IntN(6); i++ {
			g, need, err := a.plan(uint64(rng.IntN(50)+1), 40, "s")
			if err != nil {
				t.Fatal(err)
			}
			if need != 0 {
				stored = a.record(need)
				a.limit = need
			}
			a.take(g)
			checkSeq(t, &a)
			for _, v := range values(a.opts, g) {
				if seen[v] {
					t.Fatalf("term %d: value %d handed out twice", term, v)
				}
				seen[v] = true
			}
		}
		if stored == nil {
			stored = a.record(a.limit)
		}
	}
}

func TestSeqAllocReset(t *testing.T) {
	a := seqAlloc{opts: opts(1, 1, 100, 1, false), origin: 1}
	grant(t, &a, 5, 10)
	if v, c := a.last(); v != 5 || !c {
		t.Fatalf("last %d %v", v, c)
	}
	// ALTER ... INCREMENT 10 keeps the position.
	v, c := a.last()
	b := a.reset(opts(10, 1, 100, 1, false), v, c)
	if b.gen != a.gen+1 || b.handed != 0 || b.limit != 0 {
		t.Fatalf("reset: %+v", b)
	}
	g, _ := grant(t, &b, 2, 0)
	if g.first != 15 || g.count != 2 {
		t.Fatalf("after ALTER INCREMENT 10: %+v; want 15, 25", g)
	}
	// setval(s, 50, false): 50 comes next.
	s := b.reset(b.opts, 50, false)
	if g, _ := grant(t, &s, 1, 0); g.first != 50 {
		t.Fatalf("after setval(50, false): %+v", g)
	}
	// Untouched: last is the origin itself.
	u := seqAlloc{opts: opts(1, 1, 100, 7, false), origin: 7}
	if v, c := u.last(); v != 7 || c {
		t.Fatalf("fresh last %d %v", v, c)
	}
}

// A coordinator's unused values go back only when nothing was handed out
// after them.
func TestSeqAllocGiveBack(t *testing.T) {
	a := seqAlloc{opts: opts(10, 1, 1000, 3, false), origin: 3, gen: 1}
	g1, _ := grant(t, &a, 10, 0) // 3, 13, ..., 93
	b := a
	if !b.giveBack(23, 8, 1) {
		t.Fatal("the tail of the last run was not taken back")
	}
	if v, c := b.last(); v != 13 || !c {
		t.Fatalf("last after give back = %d %v; want 13", v, c)
	}
	for _, tc := range []struct {
		first       int64
		count, gen  uint64
		description string
	}{
		{23, 8, 2, "another generation"},
		{13, 8, 1, "not the end of the run"},
		{23, 100, 1, "more than was handed out"},
	} {
		c := a
		if c.giveBack(tc.first, tc.count, tc.gen) {
			t.Errorf("give back of %s accepted", tc.description)
		}
	}
	grant(t, &a, 1, 0) // a later run went out: the old tail is not the end
	if a.giveBack(g1.first+20, 8, 1) {
		t.Fatal("a tail followed by another run was taken back")
	}
}
