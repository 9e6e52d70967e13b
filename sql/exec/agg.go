package exec

import (
	"context"
	"hash/maphash"
	"unsafe"

	"github.com/meridian-db/meridian/sql/agg"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// AggPhase is the role of an aggregation in a distributed plan.
type AggPhase int

const (
	// AggFull sees every row of its groups and computes the results.
	AggFull AggPhase = iota
	// AggPartial groups rows and emits partial states (sql/agg).
	AggPartial
	// AggFinal merges partial states: its input rows are (group values,
	// partial state columns).
	AggFinal
)

// AggCall is one compiled aggregate.
type AggCall struct {
	Spec agg.Spec
	Arg  expr.Eval // nil for count(*) and in AggFinal
}

// HashAgg groups rows by key values in a hash table and computes
// aggregates per group. Output rows are the group values followed by
// each aggregate's result (AggFull, AggFinal) or partial state columns
// (AggPartial).
//
// Past its memory budget it keeps aggregating the groups it has and
// writes the rows of new groups to partition files by a hash of their
// key; after emitting the groups in memory it aggregates each partition
// in turn (recursively, with another hash, when a partition is still too
// big). With grouping sets, each set's new groups go to partitions of
// their own, each aggregated for its set alone.
type HashAgg struct {
	input    Operator
	env      *Env
	st       *Stats
	phase    AggPhase
	groupBy  []expr.Eval
	calls    []AggCall
	sets     [][]int // nil: one set of every group_by entry
	inTypes  []uint32
	level    int
	stateCol []int // AggFinal: first input column of each aggregate's state

	mem  *memory
	seed maphash.Seed
	// The spilled partitions, spillPartitions per grouping set, and the
	// next one to aggregate.
	parts    []*spillFile
	nextPart int
	out      *Rows
	child    *HashAgg
	closed   bool
	// Slabs the groups are carved from (groupSlab): a table of a million
	// groups is a few thousand allocations, not several million, and the
	// keys of its map live in pointer-free chunks.
	slab groupSlab
}

var _ Operator = (*HashAgg)(nil)

// maxSpillLevel bounds recursive partitioning; a partition still too big
// at that depth is aggregated in memory.
const maxSpillLevel = 4

// spillPartitions is the fan-out of one level of partitioning.
const spillPartitions = 16

// NewHashAgg returns an aggregation of input (whose column types are
// inTypes). sets, when not nil, are grouping sets over groupBy.
func NewHashAgg(env *Env, st *Stats, input Operator, inTypes []uint32, phase AggPhase, groupBy []expr.Eval, calls []AggCall, sets [][]int) *HashAgg {
	h := &HashAgg{input: input, env: env, st: st, phase: phase, groupBy: groupBy, calls: calls, sets: sets, inTypes: inTypes}
	if phase == AggFinal {
		col := len(groupBy)
		for _, c := range calls {
			h.stateCol = append(h.stateCol, col)
			col += len(agg.PartialTypes(c.Spec))
		}
	}
	return h
}

// group is one group's key values and aggregate states.
type group struct {
	keys   []types.Datum
	accs   []agg.Acc
	parts  []agg.Partial
	finals []agg.Final
	ord    int32 // ColHashAgg: its place among the groups held (counts)
}

func (h *HashAgg) newGroup(keys []types.Datum) *group { return h.slab.newGroup(keys, h.phase, h.calls) }

// newGroup returns a group of the key values keys (copied) with fresh
// states of calls for phase (HashAgg's and ColHashAgg's).
func (sl *groupSlab) newGroup(keys []types.Datum, phase AggPhase, calls []AggCall) *group {
	g := take(&sl.groups, 1)
	g[0].keys = take(&sl.datums, len(keys))
	copy(g[0].keys, keys)
	switch phase {
	case AggFull:
		g[0].accs = take(&sl.accs, len(calls))
		for i, c := range calls {
			g[0].accs[i] = agg.New(c.Spec)
		}
	case AggPartial:
		g[0].parts = take(&sl.parts, len(calls))
		for i, c := range calls {
			g[0].parts[i] = agg.NewPartial(c.Spec)
		}
	case AggFinal:
		g[0].finals = take(&sl.finals, len(calls))
		for i, c := range calls {
			g[0].finals[i] = agg.NewFinal(c.Spec)
		}
	}
	return &g[0]
}

// groupSlab hands out groups, their slices and their map keys from
// chunks.
type groupSlab struct {
	groups []group
	datums []types.Datum
	accs   []agg.Acc
	parts  []agg.Partial
	finals []agg.Final
	keys   keyArena
}

// slabLen is how many elements a chunk holds (more for a larger need).
const slabLen = 512

// take returns n elements of the chunk *sl (a new chunk when it has too
// few left), capped so that appending to them cannot reach the next.
func take[T any](sl *[]T, n int) []T {
	if len(*sl) < n {
		*sl = make([]T, max(slabLen, n))
	}
	out := (*sl)[:n:n]
	*sl = (*sl)[n:]
	return out
}

// keyArena keeps hash table keys in pointer-free chunks: a key is a
// string into a chunk, which lives as long as a key in it does.
type keyArena struct{ buf []byte }

// key returns a copy of k as a string in the arena.
func (a *keyArena) key(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	if len(a.buf) < len(k) {
		a.buf = make([]byte, max(64<<10, len(k)))
	}
	b := a.buf[:len(k):len(k)]
	copy(b, k)
	a.buf = a.buf[len(k):]
	return unsafe.String(&b[0], len(b))
}

func (h *HashAgg) update(g *group, row Row) error {
	for i, c := range h.calls {
		if h.phase == AggFinal {
			w := len(agg.PartialTypes(c.Spec))
			if err := g.finals[i].Merge(row[h.stateCol[i] : h.stateCol[i]+w]); err != nil {
				return err
			}
			continue
		}
		var v types.Datum = true // count(*)
		if c.Arg != nil {
			var err error
			if v, err = c.Arg(row); err != nil {
				return err
			}
		}
		var err error
		if h.phase == AggFull {
			err = g.accs[i].Add(v)
		} else {
			err = g.parts[i].Add(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *HashAgg) result(g *group) (Row, error) { return g.result(h.phase, len(h.calls)) }

// result is the output row of a group of phase with n aggregates: its key
// values, then each aggregate's result or partial state columns.
func (g *group) result(phase AggPhase, n int) (Row, error) {
	out := append(make(Row, 0, len(g.keys)+n), g.keys...)
	for i := 0; i < n; i++ {
		switch phase {
		case AggFull:
			v, err := g.accs[i].Result()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		case AggPartial:
			st, err := g.parts[i].State()
			if err != nil {
				return nil, err
			}
			out = append(out, st...)
		case AggFinal:
			v, err := g.finals[i].Result()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// groupTable is the hash table of one grouping set.
type groupTable struct {
	m map[string]*group
	// A set of one key whose values are integers (int64 Datums), the usual
	// group key, is kept in ints instead — no key encoding, a faster map —
	// and its NULL key's group in null. intKeys is 0 until the first
	// non-NULL key, then 1 (ints) or -1 (m).
	oneKey  bool
	intKeys int8
	ints    map[int64]*group
	null    *group
	order   []*group
	// The last integer key looked up and its group (nil: absent, which it
	// stays while spilling): rows of one key often come together.
	lastValid bool
	lastKey   int64
	last      *group
}

// find looks the group of keys up; in the general table it leaves the
// keys' encoding in *kbuf (for insert, and for spilling).
func (t *groupTable) find(keys []types.Datum, kbuf *[]byte) (*group, bool, error) {
	if t.oneKey && t.intKeys >= 0 {
		switch v := keys[0].(type) {
		case nil:
			return t.null, t.null != nil, nil
		case int64:
			if t.intKeys == 0 {
				t.intKeys, t.ints = 1, map[int64]*group{}
			}
			if t.lastValid && v == t.lastKey {
				return t.last, t.last != nil, nil
			}
			g, ok := t.ints[v]
			t.lastValid, t.lastKey, t.last = true, v, g
			return g, ok, nil
		}
		if t.intKeys == 1 {
			return nil, false, pgerr.New(pgerr.InternalError, "group key of type %T after integer keys", keys[0])
		}
		t.intKeys = -1
		if t.null != nil {
			// The NULL group goes to the general table with the rest.
			k, _ := appendRowKey(nil, []types.Datum{nil})
			t.m[string(k)], t.null = t.null, nil
		}
	}
	*kbuf, _ = appendRowKey((*kbuf)[:0], keys)
	g, ok := t.m[string(*kbuf)]
	return g, ok, nil
}

// insert adds g, the new group of keys that find missed (kbuf: what find
// left there).
func (t *groupTable) insert(keys []types.Datum, kbuf []byte, g *group, arena *keyArena) {
	switch {
	case t.intKeys == 1 && keys[0] == nil:
		t.null = g
	case t.intKeys == 1:
		v := keys[0].(int64)
		t.ints[v] = g
		t.lastValid, t.lastKey, t.last = true, v, g
	case t.oneKey && t.intKeys == 0 && keys[0] == nil:
		t.null = g // no key seen yet: NULL waits for the table's kind
	default:
		t.m[arena.key(kbuf)] = g
	}
}

func (h *HashAgg) Open(ctx context.Context) error {
	h.mem = newMemory(h.env, h.st)
	h.seed = maphash.MakeSeed()
	if err := h.input.Open(ctx); err != nil {
		return err
	}
	sets := h.sets
	grouped := sets != nil
	if !grouped {
		all := make([]int, len(h.groupBy))
		for i := range all {
			all[i] = i
		}
		sets = [][]int{all}
	}
	tables := make([]*groupTable, len(sets))
	member := make([][]bool, len(sets))
	for i, set := range sets {
		tables[i] = &groupTable{m: map[string]*group{}, oneKey: !grouped && len(h.groupBy) == 1}
		member[i] = make([]bool, len(h.groupBy))
		for _, c := range set {
			member[i][c] = true
		}
		// An aggregate over no group keys yields one row even without
		// input (not its partial phase: the final phase makes that row).
		if len(set) == 0 && h.phase != AggPartial {
			nulls := make([]types.Datum, len(h.groupBy))
			k, _ := appendRowKey(nil, nulls)
			g := h.newGroup(nulls)
			tables[i].m[h.slab.keys.key(k)] = g
			tables[i].order = append(tables[i].order, g)
		}
	}
	keys := make([]types.Datum, len(h.groupBy))
	var kbuf []byte
	spilling := false
	for {
		b, err := h.input.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, row := range b.Rows {
			for si := range sets {
				for i, ge := range h.groupBy {
					keys[i] = nil
					if member[si][i] {
						if keys[i], err = ge(row); err != nil {
							return err
						}
					}
				}
				t := tables[si]
				g, ok, err := t.find(keys, &kbuf)
				if err != nil {
					return err
				}
				if !ok {
					if spilling {
						kbuf, _ = appendRowKey(kbuf[:0], keys)
						if err := h.spillRow(si, len(sets), kbuf, row); err != nil {
							return err
						}
						continue
					}
					g = h.newGroup(keys)
					t.insert(keys, kbuf, g, &h.slab.keys)
					t.order = append(t.order, g)
					if !h.mem.grow(rowSize(keys) + int64(64*len(h.calls)) + 64) {
						switch {
						case h.level < maxSpillLevel && len(h.groupBy) > 0:
							spilling = true
						case h.mem.short:
							return h.mem.outOfMemory("an aggregation's groups")
						}
					}
				}
				if err := h.update(g, row); err != nil {
					return err
				}
			}
		}
	}
	h.input.Close()
	h.input = nil
	n := 0
	for _, t := range tables {
		n += len(t.order)
	}
	out := make([]Row, 0, n)
	for _, t := range tables {
		for _, g := range t.order {
			r, err := h.result(g)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
	}
	h.out = NewRows(out)
	return nil
}

// spillRow writes a row of a group of grouping set set (of sets) not in
// memory to its partition.
func (h *HashAgg) spillRow(set, sets int, key []byte, row Row) error {
	if h.parts == nil {
		h.parts = make([]*spillFile, sets*spillPartitions)
	}
	p := set*spillPartitions + int(maphash.Bytes(h.seed, key)%spillPartitions)
	if h.parts[p] == nil {
		f, err := newSpillFile(h.env, h.inTypes, h.st)
		if err != nil {
			return err
		}
		h.parts[p] = f
	}
	return h.parts[p].write(row)
}

func (h *HashAgg) Next(ctx context.Context) (*Batch, error) {
	for {
		if h.out != nil {
			b, err := h.out.Next(ctx)
			if err != nil || b != nil {
				return b, err
			}
			h.out = nil
			h.mem.release()
		}
		if h.child != nil {
			b, err := h.child.Next(ctx)
			if err != nil || b != nil {
				return b, err
			}
			h.child.Close()
			h.child = nil
		}
		// The next spilled partition, aggregated for its grouping set.
		var f *spillFile
		var sets [][]int
		for h.nextPart < len(h.parts) && f == nil {
			f, h.parts[h.nextPart] = h.parts[h.nextPart], nil
			if h.sets != nil {
				sets = h.sets[h.nextPart/spillPartitions:][:1]
			}
			h.nextPart++
		}
		if f == nil {
			return nil, nil
		}
		c := NewHashAgg(h.env, h.st, &spillOp{f: f}, h.inTypes, h.phase, h.groupBy, h.calls, sets)
		c.level = h.level + 1
		h.child = c
		if err := c.Open(ctx); err != nil {
			return nil, err
		}
	}
}

func (h *HashAgg) Close() {
	if h.closed {
		return
	}
	h.closed = true
	h.mem.release()
	if h.input != nil {
		h.input.Close()
	}
	if h.child != nil {
		h.child.Close()
	}
	for _, f := range h.parts {
		if f != nil {
			f.close()
		}
	}
	h.out = nil
}
