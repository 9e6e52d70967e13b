package exec

import (
	"context"
	"hash/maphash"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

// setCounts is the state of INTERSECT or EXCEPT [ALL]: the right input's
// rows counted by key (codec's key encoding of the whole row, in which
// NULLs are equal), and for the forms without ALL the keys returned.
type setCounts struct {
	intersect, all bool
	counts         map[string]int
	emitted        map[string]bool
}

func newSetCounts(intersect, all bool) *setCounts {
	return &setCounts{intersect: intersect, all: all, counts: map[string]int{}, emitted: map[string]bool{}}
}

// add counts n more right rows of key k and reports whether k is new.
func (s *setCounts) add(k []byte, n int) bool {
	c, seen := s.counts[string(k)]
	s.counts[string(k)] = c + n
	return !seen
}

// keep reports whether a left row of key k is returned, and counts it.
func (s *setCounts) keep(k []byte) bool {
	n := s.counts[string(k)]
	switch {
	case s.all && s.intersect:
		if n > 0 {
			s.counts[string(k)] = n - 1
			return true
		}
		return false
	case s.all: // EXCEPT ALL
		if n > 0 {
			s.counts[string(k)] = n - 1
			return false
		}
		return true
	case (n > 0) == s.intersect && !s.emitted[string(k)]:
		s.emitted[string(k)] = true
		return true
	}
	return false
}

// ColSetOp computes INTERSECT or EXCEPT [ALL] over column batches: the
// right input's rows are counted by key in a hash table, then the left
// input's batches go through it, their selections cut to the rows
// returned. Past its memory budget it partitions both inputs to disk by
// the hash of the key — the keys counted so far and the right input's
// other rows, then the left input's rows with their keys — and computes
// each partition in turn from its files; a partition whose keys pass the
// budget again is partitioned again, with another hash (up to
// maxSpillLevel deep, then computed in memory).
type ColSetOp struct {
	left, right ColSource
	env         *Env
	st          *Stats
	mem         *memory
	set         *setCounts
	kbuf        []byte

	seed   maphash.Seed
	rparts []*spillFile // after a spill: each partition's right keys and counts
	lparts []*spillFile // and left rows, each followed by its key
	spill  ColSource    // after a spill: the partitions' rows returned
	splits int          // partitions partitioned again (tests)
}

var _ ColSource = (*ColSetOp)(nil)

// NewColSetOp returns left INTERSECT/EXCEPT [ALL] right, inputs of the
// same column types.
func NewColSetOp(env *Env, st *Stats, left, right ColSource, intersect, all bool) *ColSetOp {
	if st != nil {
		st.Vectorized = true
	}
	return &ColSetOp{left: left, right: right, env: env, st: st, set: newSetCounts(intersect, all)}
}

func (s *ColSetOp) Types() []uint32 { return s.left.Types() }

// key returns row i of b's key.
func (s *ColSetOp) key(b *coldata.Batch, i int) []byte {
	s.kbuf = s.kbuf[:0]
	for _, v := range b.Vecs {
		s.kbuf = codec.AppendVecKey(s.kbuf, v, i)
	}
	return s.kbuf
}

func (s *ColSetOp) part(k []byte) int { return int(maphash.Bytes(s.seed, k) % spillPartitions) }

func (s *ColSetOp) Open(ctx context.Context) error {
	s.mem = newMemory(s.env, s.st)
	if err := s.right.Open(ctx); err != nil {
		return err
	}
	err := eachRow(ctx, s.right, func(b *coldata.Batch, i int) error {
		k := s.key(b, i)
		if s.rparts != nil {
			return s.rparts[s.part(k)].write(Row{append([]byte(nil), k...), int64(1)})
		}
		if s.set.add(k, 1) && !s.mem.grow(int64(len(k))+48) {
			return s.spillRight()
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.right.Close()
	s.right = nil
	if err := s.left.Open(ctx); err != nil {
		return err
	}
	if s.rparts == nil {
		return nil
	}
	return s.spillLeft(ctx)
}

// spillRight starts partitioning: it writes the keys counted so far to
// the right input's partition files and frees them.
func (s *ColSetOp) spillRight() error {
	s.seed = maphash.MakeSeed()
	mk := func(oids []uint32) ([]*spillFile, error) {
		parts := make([]*spillFile, spillPartitions)
		for p := range parts {
			f, err := newSpillFile(s.env, oids, s.st)
			if err != nil {
				return parts, err
			}
			parts[p] = f
		}
		return parts, nil
	}
	var err error
	if s.rparts, err = mk([]uint32{types.Bytea, types.Int8}); err != nil {
		return err
	}
	if s.lparts, err = mk(append(append([]uint32(nil), s.left.Types()...), types.Bytea)); err != nil {
		return err
	}
	for k, n := range s.set.counts {
		if err := s.rparts[s.part([]byte(k))].write(Row{[]byte(k), int64(n)}); err != nil {
			return err
		}
	}
	s.set.counts = map[string]int{}
	s.mem.release()
	return nil
}

// spillLeft writes the left input's rows to its partition files, then
// sets up the computation of each partition in turn.
func (s *ColSetOp) spillLeft(ctx context.Context) error {
	width := len(s.left.Types())
	err := eachRow(ctx, s.left, func(b *coldata.Batch, i int) error {
		k := s.key(b, i)
		r := make(Row, width+1)
		for c, v := range b.Vecs {
			r[c] = v.Datum(i)
		}
		r[width] = append([]byte(nil), k...)
		return s.lparts[s.part(k)].write(r)
	})
	if err != nil {
		return err
	}
	s.left.Close()
	s.left = &noCols{types: s.left.Types()}
	parts := &setOpParts{s: s, width: width}
	for p := range s.rparts {
		parts.todo = append(parts.todo, setOpPart{r: s.rparts[p], l: s.lparts[p], level: 1})
	}
	s.rparts, s.lparts = nil, nil // the partitions' own now
	s.spill = &columnarizer{in: parts, types: s.left.Types()}
	return s.spill.Open(ctx)
}

func (s *ColSetOp) Next(ctx context.Context) (*coldata.Batch, error) {
	if s.spill != nil {
		return s.spill.Next(ctx)
	}
	for {
		b, err := s.left.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		sel := b.Sel[:0]
		for _, i := range b.Sel {
			if s.set.keep(s.key(b, i)) {
				sel = append(sel, i)
			}
		}
		if b.Sel = sel; len(sel) > 0 {
			return b, nil
		}
	}
}

func (s *ColSetOp) Close() {
	s.mem.release()
	if s.right != nil {
		s.right.Close()
		s.right = nil
	}
	if s.left != nil {
		s.left.Close()
		s.left = nil
	}
	if s.spill != nil {
		s.spill.Close()
		s.spill = nil
	}
	for _, f := range append(s.rparts, s.lparts...) {
		if f != nil {
			f.close()
		}
	}
	s.rparts, s.lparts = nil, nil
}

// setOpParts returns the rows of a spilled ColSetOp, a partition at a
// time: the right keys' counts are loaded into a hash table, then the
// left rows go through it.
type setOpParts struct {
	s     *ColSetOp
	width int
	todo  []setOpPart  // the partitions not computed, the one being read first
	left  *spillReader // its left rows (nil: not begun)
}

// setOpPart is a partition of both inputs: the right input's keys with
// their counts, the left input's rows each followed by its key.
type setOpPart struct {
	r, l  *spillFile
	level int // how many times its rows were partitioned
}

func (o *setOpParts) Open(context.Context) error { return nil }

func (o *setOpParts) Next(ctx context.Context) (*Batch, error) {
	s := o.s
	var out rowBuffer
	for !out.full() && len(o.todo) > 0 {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		if o.left == nil {
			if err := o.load(); err != nil {
				return nil, err
			}
			continue
		}
		r, err := o.left.next()
		if err != nil {
			return nil, err
		}
		if r == nil {
			o.todo[0].close()
			o.todo = o.todo[1:]
			o.left = nil
			continue
		}
		if s.set.keep(r[o.width].([]byte)) {
			out.add(r[:o.width:o.width])
		}
	}
	return out.take(), nil
}

// load reads the next partition's right keys into the hash table and
// opens its left rows; when they pass the budget, it partitions the
// partition again instead.
func (o *setOpParts) load() error {
	s, p := o.s, o.todo[0]
	s.set = newSetCounts(s.set.intersect, s.set.all)
	s.mem.release()
	if p.r == nil { // no right keys
		var err error
		o.left, err = p.l.reader()
		return err
	}
	rr, err := p.r.reader()
	if err != nil {
		return err
	}
	for {
		r, err := rr.next()
		if err != nil {
			return err
		}
		if r == nil {
			break
		}
		k := r[0].([]byte)
		if s.set.add(k, int(r[1].(int64))) && !s.mem.grow(int64(len(k))+48) {
			if p.level < maxSpillLevel {
				return o.split()
			}
			if s.mem.short {
				return s.mem.outOfMemory("a set operation's partition")
			}
		}
	}
	o.left, err = p.l.reader()
	return err
}

// split partitions the first partition's rows again, by another hash, in
// place of it.
func (o *setOpParts) split() error {
	s, p := o.s, o.todo[0]
	s.set = newSetCounts(s.set.intersect, s.set.all)
	s.mem.release()
	seed := maphash.MakeSeed()
	subs := make([]setOpPart, spillPartitions)
	for i := range subs {
		subs[i].level = p.level + 1
	}
	move := func(f *spillFile, keyCol int, file func(sub *setOpPart) **spillFile) error {
		rd, err := f.reader()
		if err != nil {
			return err
		}
		for {
			r, err := rd.next()
			if err != nil || r == nil {
				return err
			}
			dst := file(&subs[maphash.Bytes(seed, r[keyCol].([]byte))%spillPartitions])
			if *dst == nil {
				if *dst, err = newSpillFile(s.env, f.oids, s.st); err != nil {
					return err
				}
			}
			if err := (*dst).write(r); err != nil {
				return err
			}
		}
	}
	err := move(p.r, 0, func(sub *setOpPart) **spillFile { return &sub.r })
	if err == nil {
		err = move(p.l, o.width, func(sub *setOpPart) **spillFile { return &sub.l })
	}
	if err != nil {
		for _, sp := range subs {
			sp.close()
		}
		return err
	}
	p.close()
	s.splits++
	// The sub-partitions with left rows take its place (one without
	// returns nothing; one without right keys all its left rows, or none).
	var next []setOpPart
	for _, sp := range subs {
		if sp.l == nil {
			sp.close()
			continue
		}
		next = append(next, sp)
	}
	o.todo = append(next, o.todo[1:]...)
	return nil
}

func (p setOpPart) close() {
	if p.r != nil {
		p.r.close()
	}
	if p.l != nil {
		p.l.close()
	}
}

// Close closes the files of the partitions not computed.
func (o *setOpParts) Close() {
	for _, p := range o.todo {
		p.close()
	}
	o.todo, o.left = nil, nil
}

// eachRowOf calls fn for each row of op's batches (op open).
func eachRowOf(ctx context.Context, op Operator, fn func(Row) error) error {
	for {
		b, err := op.Next(ctx)
		if err != nil || b == nil {
			return err
		}
		for _, r := range b.Rows {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// eachRow calls fn for each live row of src's batches (src open).
func eachRow(ctx context.Context, src ColSource, fn func(b *coldata.Batch, i int) error) error {
	for {
		b, err := src.Next(ctx)
		if err != nil || b == nil {
			return err
		}
		for _, i := range b.Sel {
			if err := fn(b, i); err != nil {
				return err
			}
		}
	}
}

// noCols is an input already read and closed.
type noCols struct{ types []uint32 }

func (n *noCols) Open(context.Context) error                   { return nil }
func (n *noCols) Next(context.Context) (*coldata.Batch, error) { return nil, nil }
func (n *noCols) Close()                                       {}
func (n *noCols) Types() []uint32                              { return n.types }

// colAppend returns the batches of each input in turn (UNION ALL over
// column batches).
type colAppend struct {
	inTurn[*coldata.Batch]
	types []uint32
}

func (a *colAppend) Types() []uint32                                  { return a.types }
func (a *colAppend) Open(ctx context.Context) error                   { return nil }
func (a *colAppend) Next(ctx context.Context) (*coldata.Batch, error) { return a.next(ctx) }
func (a *colAppend) Close()                                           { a.close() }
