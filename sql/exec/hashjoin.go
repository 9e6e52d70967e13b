package exec

import (
	"context"
	"hash/maphash"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// JoinType is the kind of a join.
type JoinType int

const (
	JoinInner JoinType = iota
	JoinLeft
	JoinRight
	JoinFull
	JoinSemi // left rows with a match, once each
	JoinAnti // left rows without a match

	// Internal to NewJoinBuildLeft: a semi or anti join whose inputs were
	// swapped, so the rows it emits are the build (right) side's: those
	// some probe row matches, once each, or those none matches.
	joinRightSemi JoinType = 100
	joinRightAnti JoinType = 101
)

// JoinSpec describes a join between a left (probe) and a right (build)
// input.
type JoinSpec struct {
	Type JoinType
	// Rows match when every LeftKeys[i] equals RightKeys[i], neither NULL,
	// and Residual (over left ++ right; nil: true) holds. Without keys
	// every pair is a candidate (a nested loop).
	LeftKeys, RightKeys []expr.Eval
	// LeftKeyCols and RightKeyCols give, for each key that is a plain
	// column of its input, that column (-1 for another expression; nil:
	// not known). A hash join hands its build keys to a probe input that
	// filters on them (KeyFilterer).
	LeftKeyCols, RightKeyCols []int
	Residual                  expr.Eval
	LeftTypes                 []uint32
	RightTypes                []uint32
}

// HashJoin builds a hash table of its right input and probes it with the
// rows of its left input. Left, full, semi and anti joins keep what the
// probe side needs; right and full joins remember which build rows
// matched and emit the others at the end.
//
// A build side past the memory budget switches to a partitioned (Grace)
// hash join: both inputs are written to partition files by a hash of
// their keys, and each pair of partitions is joined in turn, recursively
// when a partition is still too big. A join without keys (a nested loop)
// past the budget joins in blocks (a block nested loop): the right rows
// held are the first block, the rest of the right input and the whole
// left input go to spill files, and each block of right rows that fits
// the budget is joined with every left row read again from its file; a
// bit per left row carries whether some block matched it.
type HashJoin struct {
	left, right Operator
	spec        JoinSpec
	env         *Env
	st          *Stats
	level       int

	lw, rw int
	mem    *memory
	seed   maphash.Seed
	build  []Row
	// The hash table: the first and last build row of each key, and for
	// each build row the next one with its key (-1: none), in build
	// order; keys in a pointer-free arena. No slice per key: a table of
	// a million rows is a few allocations for the garbage collector to
	// skip, not a million to scan.
	table map[string][2]int32
	// ints is the table instead when the join has one key and its values
	// are integers (int64 Datums: int2, int4, int8), the usual join key:
	// no key encoding and a faster map. intKeys says which table is in
	// use: 0 until the first non-NULL build key, then 1 (ints) or -1.
	ints    map[int64][2]int32
	intKeys int8
	next    []int32
	keys    keyArena
	all     []int32 // every build row (a join without keys)
	nullRow []int32 // build rows with a NULL key (right/full joins emit them)
	matched []bool

	// Probing state.
	probe    []Row
	pos      int
	cands    []int32 // the current probe row's candidates (nil: not looked up)
	candBuf  []int32
	cand     int
	found    bool
	leftDone bool
	tail     int
	out      rowBuffer
	kbuf     []byte

	// Block nested loop mode (nil: not in it).
	nl *blockLoop

	// Partitioned mode.
	bparts, pparts []*spillFile
	part           int
	child          *HashJoin
	passthrough    rowBuffer // probe rows emitted without a partition

	opened, closed bool
}

var _ Operator = (*HashJoin)(nil)

// NewHashJoin returns a join of left and right.
func NewHashJoin(env *Env, st *Stats, left, right Operator, spec JoinSpec) *HashJoin {
	return &HashJoin{left: left, right: right, spec: spec, env: env, st: st,
		lw: len(spec.LeftTypes), rw: len(spec.RightTypes)}
}

func (j *HashJoin) keyed() bool { return len(j.spec.LeftKeys) > 0 }

// intKey evaluates a one-key join's key for the integer table: isInt when
// the key is a non-NULL int64 and the table is (or now becomes) the
// integer one. A NULL key, or any key once the table holds encoded keys,
// is not: the caller takes the general path (keyOf). A one-key join's
// values have one type, so a table never sees both kinds.
func (j *HashJoin) intKey(evals []expr.Eval, row Row) (v int64, isInt bool, err error) {
	if len(evals) != 1 || j.intKeys < 0 {
		return 0, false, nil
	}
	d, err := evals[0](row)
	if err != nil || d == nil {
		return 0, false, err
	}
	v, isInt = d.(int64)
	switch {
	case isInt && j.intKeys == 0:
		j.intKeys, j.ints = 1, map[int64][2]int32{}
	case !isInt && j.intKeys == 1:
		return 0, false, pgerr.New(pgerr.InternalError, "hash join key of type %T after integer keys", d)
	case !isInt:
		j.intKeys = -1
	}
	return v, isInt, nil
}

// addBuild appends a build row, with no next row of its key yet.
func (j *HashJoin) addBuild(r Row) int32 {
	j.build = append(j.build, r)
	j.next = append(j.next, -1)
	return int32(len(j.build) - 1)
}

// link adds build row idx to the end of its key's chain, whose first and
// last rows are ht when found, and returns the key's new first and last.
func (j *HashJoin) link(ht [2]int32, found bool, idx int32) [2]int32 {
	if !found {
		return [2]int32{idx, idx}
	}
	j.next[ht[1]] = idx
	return [2]int32{ht[0], idx}
}

func keyOf(buf []byte, evals []expr.Eval, row Row) ([]byte, bool, error) {
	for _, e := range evals {
		v, err := e(row)
		if err != nil {
			return nil, false, err
		}
		if v == nil {
			return buf, false, nil
		}
		buf = appendKeyDatum(buf, v)
	}
	return buf, true, nil
}

func (j *HashJoin) Open(ctx context.Context) error {
	j.opened = true
	j.mem = newMemory(j.env, j.st)
	j.seed = maphash.MakeSeed()
	j.table = map[string][2]int32{}
	if err := j.right.Open(ctx); err != nil {
		return err
	}
	var kbuf []byte
	partitioned := false
	for {
		b, err := j.right.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, r := range b.Rows {
			if j.nl != nil {
				// Past the first block: the rest of the right input.
				if err := j.nl.right.write(r); err != nil {
					return err
				}
				continue
			}
			var iv int64
			isInt := false
			if !partitioned {
				if iv, isInt, err = j.intKey(j.spec.RightKeys, r); err != nil {
					return err
				}
			}
			var keySize int
			if isInt {
				idx := j.addBuild(r)
				ht, found := j.ints[iv]
				j.ints[iv] = j.link(ht, found, idx)
				keySize = 8
			} else {
				k, ok, err := keyOf(kbuf[:0], j.spec.RightKeys, r)
				if err != nil {
					return err
				}
				kbuf = k
				if partitioned {
					if ok {
						if err := j.writePart(&j.bparts, j.spec.RightTypes, k, r); err != nil {
							return err
						}
					} else if j.keepUnmatchedBuild() {
						j.nullRow = append(j.nullRow, j.addBuild(r))
					}
					continue
				}
				idx := j.addBuild(r)
				if !ok {
					if j.keepUnmatchedBuild() {
						j.nullRow = append(j.nullRow, idx)
					}
					continue
				}
				if ht, found := j.table[string(k)]; found {
					j.table[string(k)] = j.link(ht, true, idx)
				} else {
					j.table[j.keys.key(k)] = j.link(ht, false, idx)
				}
				keySize = len(k)
			}
			if !j.mem.grow(rowSize(r) + int64(keySize) + 48) {
				switch {
				case !j.keyed():
					if err := j.startBlocks(); err != nil {
						return err
					}
				case j.level < maxSpillLevel:
					if err := j.startPartitioning(); err != nil {
						return err
					}
					partitioned = true
				case j.mem.short:
					return j.mem.outOfMemory("a hash join's build side")
				}
			}
		}
	}
	j.right.Close()
	j.right = nil
	if j.tracksBuild() {
		j.matched = make([]bool, len(j.build))
	}
	if !partitioned {
		j.filterProbe()
	}
	if err := j.left.Open(ctx); err != nil {
		return err
	}
	if partitioned {
		return j.partitionProbe(ctx)
	}
	if j.nl != nil {
		return j.spillProbe(ctx)
	}
	if len(j.build) == 0 && !j.keepUnmatchedProbe() {
		j.leftDone = true // nothing can match
	}
	return nil
}

// KeyFilterer is an input (a datanode's table scan) that can drop the rows
// a join would drop anyway, before they are batched and sent up: those
// whose integer column col holds a value keep rejects, or NULL.
// FilterKeys is called before Open; it reports whether the input took the
// filter.
type KeyFilterer interface {
	FilterKeys(col int, keep func(v int64) bool) bool
}

// filterProbe hands the build side's keys to the probe input when it can
// filter on them (a runtime filter, as GaussDB's and other MPP engines'):
// a join with one integer key whose probe rows without a match are
// dropped — inner, semi, right and the build-left semi and anti joins (a
// probe row that matches nothing changes nothing) — over a plain column
// of its probe input. The scan then drops most rows of a large table
// joined with a small, filtered one (TPC-H Q21's lineitem with the
// suppliers of one nation) right after decoding them.
func (j *HashJoin) filterProbe() {
	if j.keepUnmatchedProbe() || j.intKeys != 1 || len(j.spec.LeftKeyCols) != 1 || j.spec.LeftKeyCols[0] < 0 {
		return
	}
	f, ok := j.left.(KeyFilterer)
	if !ok {
		return
	}
	// j.ints is read-only from now on: the scan reads it from its goroutine.
	f.FilterKeys(j.spec.LeftKeyCols[0], keySetFn(j.ints))
}

var _ KeyFilterer = (*HashJoin)(nil)

// FilterKeys passes a key filter on one of the join's probe columns down
// to its probe input (before Open): an output row takes such a column's
// value from the probe row it was made of, or NULL (a build row no probe
// row matched, whose extra rows the filter drops anyway), so a probe row
// the filter rejects only makes rows it would reject. Joins whose rows
// are the build side's (the build-left semi and anti joins) take none.
func (j *HashJoin) FilterKeys(col int, keep func(int64) bool) bool {
	if j.opened || col < 0 || col >= j.lw || j.spec.Type == joinRightSemi || j.spec.Type == joinRightAnti {
		return false
	}
	f, ok := j.left.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}

func (j *HashJoin) keepUnmatchedBuild() bool {
	return j.spec.Type == JoinRight || j.spec.Type == JoinFull || j.spec.Type == joinRightAnti
}

// tracksBuild: the join remembers which build rows matched.
func (j *HashJoin) tracksBuild() bool {
	return j.keepUnmatchedBuild() || j.spec.Type == joinRightSemi
}

// probeOnlyCheck: a match needs no joined row unless the residual reads it.
func (j *HashJoin) probeOnlyCheck() bool {
	switch j.spec.Type {
	case JoinSemi, JoinAnti, joinRightSemi, joinRightAnti:
		return true
	}
	return false
}

func (j *HashJoin) keepUnmatchedProbe() bool {
	return j.spec.Type == JoinLeft || j.spec.Type == JoinFull || j.spec.Type == JoinAnti
}

// startPartitioning moves the keyed build rows in memory to partition
// files; the build rows with NULL keys stay (right/full joins emit them).
func (j *HashJoin) startPartitioning() error {
	var kbuf []byte
	keep := j.build[:0:0]
	for _, r := range j.build {
		k, ok, err := keyOf(kbuf[:0], j.spec.RightKeys, r)
		if err != nil {
			return err
		}
		kbuf = k
		if !ok {
			continue // a NULL key: in nullRow when the join emits it
		}
		if err := j.writePart(&j.bparts, j.spec.RightTypes, k, r); err != nil {
			return err
		}
	}
	nulls := make([]int32, 0, len(j.nullRow))
	for _, i := range j.nullRow {
		nulls = append(nulls, int32(len(keep)))
		keep = append(keep, j.build[i])
	}
	next := make([]int32, len(keep))
	for i := range next {
		next[i] = -1
	}
	j.build, j.nullRow, j.table, j.ints, j.next, j.keys = keep, nulls, nil, nil, next, keyArena{}
	j.mem.release()
	return nil
}

func (j *HashJoin) writePart(parts *[]*spillFile, oids []uint32, key []byte, r Row) error {
	if *parts == nil {
		*parts = make([]*spillFile, spillPartitions)
	}
	p := maphash.Bytes(j.seed, key) % spillPartitions
	if (*parts)[p] == nil {
		f, err := newSpillFile(j.env, oids, j.st)
		if err != nil {
			return err
		}
		(*parts)[p] = f
	}
	return (*parts)[p].write(r)
}

// partitionProbe writes the probe rows to partitions; rows with a NULL
// key match nothing and are emitted at once where the join keeps them.
func (j *HashJoin) partitionProbe(ctx context.Context) error {
	var kbuf []byte
	var keepNull []Row
	err := eachRowOf(ctx, j.left, func(r Row) error {
		k, ok, err := keyOf(kbuf[:0], j.spec.LeftKeys, r)
		if err != nil {
			return err
		}
		kbuf = k
		if !ok {
			if j.keepUnmatchedProbe() {
				keepNull = append(keepNull, j.unmatchedLeft(r))
			}
			return nil
		}
		return j.writePart(&j.pparts, j.spec.LeftTypes, k, r)
	})
	if err != nil {
		return err
	}
	j.left.Close()
	j.left = nil
	j.leftDone = true
	j.passthrough.rows = keepNull
	if j.bparts == nil {
		j.bparts = make([]*spillFile, spillPartitions)
	}
	if j.pparts == nil {
		j.pparts = make([]*spillFile, spillPartitions)
	}
	return nil
}

func (j *HashJoin) unmatchedLeft(l Row) Row {
	if j.spec.Type == JoinAnti {
		return l
	}
	out := make(Row, j.lw+j.rw)
	copy(out, l)
	return out
}

func (j *HashJoin) Next(ctx context.Context) (*Batch, error) {
	if j.bparts != nil {
		return j.nextPartitioned(ctx)
	}
	for !j.out.full() {
		if j.pos >= len(j.probe) {
			if j.leftDone {
				if j.emitUnmatchedBuild() {
					continue
				}
				if j.nl == nil || j.nl.last {
					break
				}
				if err := j.nextBlock(ctx); err != nil {
					return nil, err
				}
				continue
			}
			if ctx.Err() != nil {
				return nil, canceled(ctx)
			}
			b, err := j.left.Next(ctx)
			if err != nil {
				return nil, err
			}
			if b == nil {
				j.leftDone = true
				continue
			}
			if j.nl != nil {
				j.nl.base += len(j.probe)
			}
			j.probe, j.pos, j.cands = b.Rows, 0, nil
			continue
		}
		if err := j.probeRow(); err != nil {
			return nil, err
		}
	}
	return j.out.take(), nil
}

// probeRow advances over the current probe row's candidates, emitting
// output until the batch is full or the row is done.
func (j *HashJoin) probeRow() error {
	l := j.probe[j.pos]
	if j.cands == nil {
		if j.nl != nil && (j.spec.Type == JoinSemi || j.spec.Type == JoinAnti) && j.nl.matched(j.nl.base+j.pos) {
			j.pos++ // decided at an earlier block
			return nil
		}
		j.cand, j.found = 0, false
		if j.keyed() {
			j.cands = j.candBuf[:0]
			ht, found, err := j.lookup(l)
			if err != nil {
				return err
			}
			if found {
				for i := ht[0]; i >= 0; i = j.next[i] {
					j.cands = append(j.cands, i)
				}
			}
			j.candBuf = j.cands
		} else {
			j.cands = j.allBuild()
		}
		if j.cands == nil {
			j.cands = []int32{}
		}
	}
	for j.cand < len(j.cands) && !j.out.full() {
		ri := j.cands[j.cand]
		j.cand++
		r := j.build[ri]
		var row Row
		if j.spec.Residual != nil || !j.probeOnlyCheck() {
			row = make(Row, j.lw+j.rw)
			copy(row, l)
			copy(row[j.lw:], r)
		}
		if j.spec.Residual != nil {
			v, err := j.spec.Residual(row)
			if err != nil {
				return err
			}
			if !expr.IsTrue(v) {
				continue
			}
		}
		j.found = true
		switch j.spec.Type {
		case JoinSemi:
			j.out.add(l)
			j.cand = len(j.cands)
		case JoinAnti:
			j.cand = len(j.cands)
		case joinRightSemi:
			if !j.matched[ri] {
				j.matched[ri] = true
				j.out.add(r)
			}
		case joinRightAnti:
			j.matched[ri] = true
		default:
			if j.matched != nil {
				j.matched[ri] = true
			}
			j.out.add(row)
		}
	}
	if j.cand < len(j.cands) {
		return nil // the batch is full; go on with this row next time
	}
	unmatched := !j.found
	if j.nl != nil {
		// Unmatched only when no block matched it, known at the last.
		i := j.nl.base + j.pos
		if j.found {
			j.nl.match(i)
		}
		unmatched = j.nl.last && !j.nl.matched(i)
	}
	if unmatched && j.keepUnmatchedProbe() {
		j.out.add(j.unmatchedLeft(l))
	}
	j.pos++
	j.cands = nil
	return nil
}

// lookup finds a probe row's key in the table: its first and last build
// row.
func (j *HashJoin) lookup(l Row) ([2]int32, bool, error) {
	if j.intKeys == 1 {
		d, err := j.spec.LeftKeys[0](l)
		if err != nil || d == nil {
			return [2]int32{}, false, err
		}
		v, ok := d.(int64)
		if !ok {
			return [2]int32{}, false, pgerr.New(pgerr.InternalError, "hash join probe key of type %T against integer keys", d)
		}
		ht, found := j.ints[v]
		return ht, found, nil
	}
	k, ok, err := keyOf(j.kbuf[:0], j.spec.LeftKeys, l)
	if err != nil || !ok {
		return [2]int32{}, false, err
	}
	j.kbuf = k
	ht, found := j.table[string(k)]
	return ht, found, nil
}

func (j *HashJoin) allBuild() []int32 {
	if j.all == nil {
		j.all = make([]int32, 0, len(j.build))
		for i := range j.build {
			j.all = append(j.all, int32(i))
		}
	}
	return j.all
}

// emitUnmatchedBuild emits right/full joins' unmatched build rows; false
// when there are no more.
func (j *HashJoin) emitUnmatchedBuild() bool {
	if j.matched == nil || !j.keepUnmatchedBuild() {
		return false
	}
	for j.tail < len(j.build) && !j.out.full() {
		i := j.tail
		j.tail++
		if !j.matched[i] {
			if j.spec.Type == joinRightAnti {
				j.out.add(j.build[i])
				continue
			}
			row := make(Row, j.lw+j.rw)
			copy(row[j.lw:], j.build[i])
			j.out.add(row)
		}
	}
	return j.tail < len(j.build)
}

func (j *HashJoin) nextPartitioned(ctx context.Context) (*Batch, error) {
	if n := min(len(j.passthrough.rows), BatchSize); n > 0 {
		b := &Batch{Rows: j.passthrough.rows[:n:n]}
		j.passthrough.rows = j.passthrough.rows[n:]
		return b, nil
	}
	// Build rows with NULL keys (right/full/right-anti joins) match nothing.
	if j.keepUnmatchedBuild() && j.matched != nil && j.tail < len(j.build) {
		j.emitUnmatchedBuild()
		if b := j.out.take(); b != nil {
			return b, nil
		}
	}
	for {
		if j.child != nil {
			b, err := j.child.Next(ctx)
			if err != nil || b != nil {
				return b, err
			}
			j.child.Close()
			j.child = nil
		}
		if j.part >= spillPartitions {
			return nil, nil
		}
		p := j.part
		j.part++
		bf, pf := j.bparts[p], j.pparts[p]
		j.bparts[p], j.pparts[p] = nil, nil
		var build, probe Operator = NewRows(nil), NewRows(nil)
		if bf != nil {
			build = &spillOp{f: bf}
		}
		if pf != nil {
			probe = &spillOp{f: pf}
		}
		if bf == nil && (pf == nil || !j.keepUnmatchedProbe()) {
			build.Close()
			probe.Close()
			continue
		}
		c := NewHashJoin(j.env, j.st, probe, build, j.spec)
		c.level = j.level + 1
		j.child = c
		if err := c.Open(ctx); err != nil {
			return nil, err
		}
	}
}

func (j *HashJoin) Close() {
	if j.closed {
		return
	}
	j.closed = true
	j.mem.release()
	if j.left != nil {
		j.left.Close()
	}
	if j.right != nil {
		j.right.Close()
	}
	if j.child != nil {
		j.child.Close()
	}
	if j.nl != nil {
		j.nl.right.close()
		if j.nl.left != nil {
			j.nl.left.close()
		}
	}
	for _, f := range j.bparts {
		if f != nil {
			f.close()
		}
	}
	for _, f := range j.pparts {
		if f != nil {
			f.close()
		}
	}
	j.build, j.table, j.ints, j.next, j.all, j.keys = nil, nil, nil, nil, nil, keyArena{}
}

// blockLoop is the state of a block nested loop.
type blockLoop struct {
	right   *spillFile   // the right rows after the first block
	rr      *spillReader // read from, block by block
	left    *spillFile   // every left row, read once per block
	base    int          // the left file's row number of the probe batch's first row
	found   []uint64     // a bit per left row: some block matched it
	last    bool         // the block in memory is the last
	started bool         // the right file is being read
}

func (b *blockLoop) matched(i int) bool { return i/64 < len(b.found) && b.found[i/64]&(1<<(i%64)) != 0 }

func (b *blockLoop) match(i int) {
	for i/64 >= len(b.found) {
		b.found = append(b.found, 0)
	}
	b.found[i/64] |= 1 << (i % 64)
}

// startBlocks makes the build rows held the first block of a block
// nested loop; the rest of the right input goes to a spill file.
func (j *HashJoin) startBlocks() error {
	f, err := newSpillFile(j.env, j.spec.RightTypes, j.st)
	if err != nil {
		return err
	}
	j.nl = &blockLoop{right: f}
	return nil
}

// spillProbe writes the left input to a spill file and starts the first
// block's pass over it.
func (j *HashJoin) spillProbe(ctx context.Context) error {
	f, err := newSpillFile(j.env, j.spec.LeftTypes, j.st)
	if err != nil {
		return err
	}
	j.nl.left = f
	if err := eachRowOf(ctx, j.left, f.write); err != nil {
		return err
	}
	j.left.Close()
	j.left = nil
	j.nl.last = j.nl.right.rows == 0
	return j.passLeft(ctx)
}

// passLeft starts a pass of the left rows over the block in memory.
func (j *HashJoin) passLeft(ctx context.Context) error {
	j.left = &spillOp{f: j.nl.left}
	j.probe, j.pos, j.cands, j.leftDone, j.nl.base = nil, 0, nil, false, 0
	return j.left.Open(ctx)
}

// nextBlock reads the next block of right rows — until the budget is
// used, at least one row — and starts its pass.
func (j *HashJoin) nextBlock(ctx context.Context) error {
	if !j.nl.started {
		rr, err := j.nl.right.reader()
		if err != nil {
			return err
		}
		j.nl.rr, j.nl.started = rr, true
	}
	j.mem.release()
	j.build, j.next, j.all, j.tail = j.build[:0], j.next[:0], nil, 0
	for {
		r, err := j.nl.rr.next()
		if err != nil {
			return err
		}
		if r == nil {
			j.nl.last = true
			break
		}
		j.addBuild(r)
		if !j.mem.grow(rowSize(r) + 48) {
			break
		}
	}
	if j.tracksBuild() {
		j.matched = make([]bool, len(j.build))
	}
	if len(j.build) == 0 {
		j.nl.last = true // nothing more: a last pass for the unmatched left rows
	}
	return j.passLeft(ctx)
}

// appendKeyDatum appends one join key value's encoding.
func appendKeyDatum(buf []byte, v types.Datum) []byte { return codec.AppendKey(buf, v) }
