package exec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

var joinTypes = []JoinType{JoinInner, JoinLeft, JoinRight, JoinFull, JoinSemi, JoinAnti}

var joinNames = map[JoinType]string{JoinInner: "inner", JoinLeft: "left", JoinRight: "right", JoinFull: "full", JoinSemi: "semi", JoinAnti: "anti"}

// joinSideTypes are the columns of both sides of the generated joins:
// k1 int8, k2 text, v int8, id int8.
var joinSideTypes = []uint32{types.Int8, types.Text, types.Int8, types.Int8}

// joinSide makes n rows (k1, k2, v, id) with k1 in [0, keys) and k2 one
// of three strings, each NULL with probability pNull; id numbers the rows
// from base.
func joinSide(seed uint64, n, keys int, pNull float64, base int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, i int) Row {
		return Row{randInt(rng, keys, pNull), randText(rng, 3, pNull), randInt(rng, 10, 0.1), int64(base + i)}
	})
}

// vLessEq is the residual left.v <= right.v over (left ++ right) rows of
// joinSideTypes; NULL when either is NULL.
func vLessEq(row []types.Datum) (types.Datum, error) {
	a, b := row[2], row[len(joinSideTypes)+2]
	if a == nil || b == nil {
		return nil, nil
	}
	return types.Compare(a, b) <= 0, nil
}

// refJoin is a nested-loop join: the definition the hash join must
// agree with.
func refJoin(typ JoinType, left, right []Row, lk, rk []int, lw, rw int, residual expr.Eval) []Row {
	var out []Row
	rightMatched := make([]bool, len(right))
	for _, l := range left {
		matched := false
		for ri, r := range right {
			ok := true
			for i := range lk {
				if !refEqual(l[lk[i]], r[rk[i]]) {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			row := append(append(Row{}, l...), r...)
			if residual != nil {
				v, err := residual(row)
				if err != nil {
					panic(err)
				}
				ok = v == true
			}
			if !ok {
				continue
			}
			matched = true
			rightMatched[ri] = true
			if typ != JoinSemi && typ != JoinAnti {
				out = append(out, row)
			}
		}
		switch {
		case typ == JoinSemi && matched, typ == JoinAnti && !matched:
			out = append(out, l)
		case (typ == JoinLeft || typ == JoinFull) && !matched:
			out = append(out, append(append(Row{}, l...), make(Row, rw)...))
		}
	}
	if typ == JoinRight || typ == JoinFull {
		for ri, r := range right {
			if !rightMatched[ri] {
				out = append(out, append(make(Row, lw), r...))
			}
		}
	}
	return out
}

// joinRun is one hash join to run and check.
type joinRun struct {
	typ         JoinType
	left, right []Row
	lk, rk      []int
	lt, rt      []uint32
	residual    expr.Eval
	probeBatch  int // rows per batch of the left input (0: BatchSize)
	workMem     int64
	buildLeft   bool // a join building its left input (NewJoinBuildLeft)
}

// run joins and checks the rows against refJoin and that every input
// and spill file was released; it returns the join's stats.
func (j joinRun) run(t *testing.T) *Stats {
	t.Helper()
	env, st := testEnv(t, j.workMem)
	// Both inputs take key filters as a table scan does: the probe side's
	// filter must not change the result.
	l := &filterOp{testOp: &testOp{rows: j.left, batch: j.probeBatch}}
	r := &filterOp{testOp: &testOp{rows: j.right}}
	spec := JoinSpec{Type: j.typ, LeftKeys: colEvals(j.lk...), RightKeys: colEvals(j.rk...),
		LeftKeyCols: j.lk, RightKeyCols: j.rk, Residual: j.residual, LeftTypes: j.lt, RightTypes: j.rt}
	var op Operator = NewHashJoin(env, st, l, r, spec)
	probe, build := l, r
	if j.buildLeft {
		op = NewJoinBuildLeft(env, st, l, r, spec)
		probe, build = r, l
	}
	got := mustCollect(t, op)
	sameMultiset(t, got, refJoin(j.typ, j.left, j.right, j.lk, j.rk, len(j.lt), len(j.rt), j.residual))
	closedOnce(t, l.testOp, r.testOp)
	released(t, env)
	if build.took > 0 {
		t.Errorf("the build input was given a key filter")
	}
	// The probe input filters when the join drops its unmatched rows (a
	// build-left LEFT, SEMI or ANTI join's probe is its right input), the
	// one key is an integer column and the build side stayed in memory
	// with a key that is not NULL.
	drops := j.buildLeft || j.typ == JoinInner || j.typ == JoinRight || j.typ == JoinSemi
	wantFilter := drops && len(j.lk) == 1 && j.lt[j.lk[0]] == types.Int8 && st.SpilledBytes == 0 && hasNonNull(build.rows, buildKey(j))
	if wantFilter != (probe.took > 0) {
		t.Errorf("probe input given a key filter %d times, want it %v", probe.took, wantFilter)
	}
	return st
}

// buildKey is the key column of a one-key join's build input.
func buildKey(j joinRun) int {
	if j.buildLeft {
		return j.lk[0]
	}
	return j.rk[0]
}

func hasNonNull(rows []Row, col int) bool {
	for _, r := range rows {
		if r[col] != nil {
			return true
		}
	}
	return false
}

func TestHashJoinHandCases(t *testing.T) {
	lt := []uint32{types.Int8, types.Text}
	rt := []uint32{types.Int8, types.Text}
	left := []Row{{int64(1), "a"}, {nil, "b"}, {int64(2), "c"}, {int64(2), "d"}}
	right := []Row{{int64(2), "x"}, {nil, "y"}, {int64(3), "z"}, {int64(2), "w"}}
	inner := []Row{
		{int64(2), "c", int64(2), "x"}, {int64(2), "c", int64(2), "w"},
		{int64(2), "d", int64(2), "x"}, {int64(2), "d", int64(2), "w"},
	}
	leftExtra := []Row{{int64(1), "a", nil, nil}, {nil, "b", nil, nil}}
	rightExtra := []Row{{nil, nil, nil, "y"}, {nil, nil, int64(3), "z"}}
	want := map[JoinType][]Row{
		JoinInner: inner,
		JoinLeft:  append(append([]Row{}, inner...), leftExtra...),
		JoinRight: append(append([]Row{}, inner...), rightExtra...),
		JoinFull:  append(append(append([]Row{}, inner...), leftExtra...), rightExtra...),
		JoinSemi:  {{int64(2), "c"}, {int64(2), "d"}},
		JoinAnti:  {{int64(1), "a"}, {nil, "b"}},
	}
	for _, typ := range joinTypes {
		for _, mem := range []int64{0, 1} {
			t.Run(fmt.Sprintf("%s/workmem=%d", joinNames[typ], mem), func(t *testing.T) {
				env, st := testEnv(t, mem)
				spec := JoinSpec{Type: typ, LeftKeys: colEvals(0), RightKeys: colEvals(0), LeftTypes: lt, RightTypes: rt}
				got := mustCollect(t, NewHashJoin(env, st, NewRows(left), NewRows(right), spec))
				sameMultiset(t, got, want[typ])
				if mem == 1 && st.SpilledBytes == 0 {
					t.Errorf("a budget of 1 byte did not partition the join")
				}
				released(t, env)
			})
		}
	}
}

// Numerics join by value, whatever their scale; floats -0 and 0 are
// equal.
func TestHashJoinEqualValuesOfOtherRepresentations(t *testing.T) {
	lt := []uint32{types.Numeric, types.Float8}
	left := []Row{{apd.New(10, -1), math.Copysign(0, -1)}}
	right := []Row{{apd.New(100, -2), 0.0}, {apd.New(1, 0), 0.0}, {apd.New(11, -1), 0.0}}
	for _, mem := range []int64{0, 1} {
		env, st := testEnv(t, mem)
		spec := JoinSpec{Type: JoinInner, LeftKeys: colEvals(0, 1), RightKeys: colEvals(0, 1), LeftTypes: lt, RightTypes: lt}
		got := mustCollect(t, NewHashJoin(env, st, NewRows(left), NewRows(right), spec))
		if len(got) != 2 {
			t.Errorf("workmem %d: got %s, want the 2 rows equal to 1.0", mem, fmtRows(got))
		}
	}
}

// Randomized joins of every type against the nested-loop reference,
// with and without a residual, one (integer: the integer table; text),
// two or no keys, empty sides, and a budget that forces the partitioned
// mode.
func TestHashJoinRandom(t *testing.T) {
	sizes := []struct{ l, r int }{{0, 0}, {0, 40}, {40, 0}, {1, 1}, {150, 120}, {90, 300}}
	keySets := []struct {
		name   string
		lk, rk []int
	}{{"k1", []int{0}, []int{0}}, {"k2", []int{1}, []int{1}}, {"k1k2", []int{0, 1}, []int{0, 1}}, {"k2k1", []int{1, 0}, []int{1, 0}}, {"nokeys", nil, nil}}
	seed := uint64(1)
	for _, typ := range joinTypes {
		for _, ks := range keySets {
			for _, withRes := range []bool{false, true} {
				for _, sz := range sizes {
					for _, mem := range []int64{0, 4 << 10} {
						seed++
						name := fmt.Sprintf("%s/%s/res=%v/%dx%d/mem=%d", joinNames[typ], ks.name, withRes, sz.l, sz.r, mem)
						t.Run(name, func(t *testing.T) {
							j := joinRun{typ: typ, lk: ks.lk, rk: ks.rk, lt: joinSideTypes, rt: joinSideTypes,
								left:       joinSide(seed, sz.l, 12, 0.15, 0),
								right:      joinSide(seed+1000, sz.r, 12, 0.15, 100000),
								probeBatch: 1 + int(seed%13), workMem: mem}
							if withRes {
								j.residual = vLessEq
							}
							st := j.run(t)
							// Past the budget a keyed join partitions, one
							// without keys joins in blocks.
							if mem > 0 && sz.r >= 100 && st.SpilledBytes == 0 {
								t.Errorf("a budget of %d bytes did not spill a build side of %d rows", mem, sz.r)
							}
						})
					}
				}
			}
		}
	}
}

// A LEFT, SEMI or ANTI join that builds its left input gives the rows of
// the reference nested loop (unmatched left rows, NULL keys on either
// side, many matches, a residual over left ++ right), in memory and
// partitioned past its budget.
func TestJoinBuildLeftRandom(t *testing.T) {
	sizes := []struct{ l, r int }{{0, 0}, {0, 40}, {40, 0}, {1, 1}, {120, 150}, {300, 90}}
	keySets := []struct {
		name   string
		lk, rk []int
	}{{"k1", []int{0}, []int{0}}, {"k1k2", []int{0, 1}, []int{0, 1}}}
	seed := uint64(500)
	for _, typ := range []JoinType{JoinLeft, JoinSemi, JoinAnti} {
		for _, ks := range keySets {
			for _, withRes := range []bool{false, true} {
				for _, sz := range sizes {
					for _, mem := range []int64{0, 4 << 10} {
						seed++
						t.Run(fmt.Sprintf("%s/%s/res=%v/%dx%d/mem=%d", joinNames[typ], ks.name, withRes, sz.l, sz.r, mem), func(t *testing.T) {
							j := joinRun{typ: typ, lk: ks.lk, rk: ks.rk, lt: joinSideTypes, rt: joinSideTypes,
								left:      joinSide(seed, sz.l, 12, 0.15, 0),
								right:     joinSide(seed+1000, sz.r, 12, 0.15, 100000),
								workMem:   mem,
								buildLeft: true}
							if withRes {
								j.residual = vLessEq
							}
							st := j.run(t)
							if mem > 0 && sz.l >= 100 && st.SpilledBytes == 0 {
								t.Errorf("a budget of %d bytes did not partition a build side of %d rows", mem, sz.l)
							}
						})
					}
				}
			}
		}
	}
}

// Many matches per probe row: the output spans many batches, in memory
// and when partitioning cannot split the one hot key.
func TestHashJoinManyMatches(t *testing.T) {
	lt := []uint32{types.Int8, types.Int8}
	var left, right []Row
	for i := range 5 {
		left = append(left, Row{int64(7), int64(i)})
	}
	left = append(left, Row{int64(8), int64(99)}, Row{nil, int64(100)})
	for i := range 1500 {
		right = append(right, Row{int64(7), int64(i)})
	}
	right = append(right, Row{int64(9), int64(-1)}, Row{nil, int64(-2)})
	for _, typ := range joinTypes {
		for _, mem := range []int64{0, 2 << 10} {
			t.Run(fmt.Sprintf("%s/mem=%d", joinNames[typ], mem), func(t *testing.T) {
				j := joinRun{typ: typ, left: left, right: right, lk: []int{0}, rk: []int{0}, lt: lt, rt: lt, workMem: mem}
				j.run(t)
			})
		}
	}
}

// A build side far past the budget partitions recursively: some rows are
// written to spill files more than once.
func TestHashJoinRecursivePartitioning(t *testing.T) {
	for _, typ := range joinTypes {
		t.Run(joinNames[typ], func(t *testing.T) {
			left := joinSide(11, 2000, 3000, 0.02, 0)
			right := joinSide(12, 2000, 3000, 0.02, 10000)
			for _, r := range append(left, right...) {
				r[1] = "k" // one k2 value: the partitions divide by k1
			}
			j := joinRun{typ: typ, left: left, right: right, lk: []int{0, 1}, rk: []int{0, 1},
				lt: joinSideTypes, rt: joinSideTypes, residual: vLessEq, workMem: 4 << 10}
			st := j.run(t)
			if once := encodedSize(left) + encodedSize(right); st.SpilledBytes <= once {
				t.Errorf("spilled %d bytes, no more than the inputs' %d: no partition was split again", st.SpilledBytes, once)
			}
		})
	}
}

// The partitioned join keeps its output batches bounded, also when many
// probe rows have NULL keys.
func TestHashJoinPartitionedNullProbeKeys(t *testing.T) {
	lt := []uint32{types.Int8, types.Int8}
	var left, right []Row
	for i := range 3000 {
		left = append(left, Row{nil, int64(i)})
	}
	for i := range 500 {
		right = append(right, Row{int64(i), int64(i)}, Row{nil, int64(-i)})
	}
	for _, typ := range []JoinType{JoinLeft, JoinFull, JoinAnti} {
		t.Run(joinNames[typ], func(t *testing.T) {
			j := joinRun{typ: typ, left: left, right: right, lk: []int{0}, rk: []int{0}, lt: lt, rt: lt, workMem: 1 << 10}
			if st := j.run(t); st.SpilledBytes == 0 {
				t.Errorf("not partitioned")
			}
		})
	}
}

func TestHashJoinErrors(t *testing.T) {
	lt := []uint32{types.Int8}
	rows := []Row{{int64(1)}, {int64(2)}}
	for _, mem := range []int64{0, 1} {
		for _, what := range append([]string{"key", "residual"}, inputFailures...) {
			t.Run(fmt.Sprintf("%s/mem=%d", what, mem), func(t *testing.T) {
				env, st := testEnv(t, mem)
				l, r := &testOp{rows: rows, batch: 1}, &testOp{rows: rows, batch: 1}
				spec := JoinSpec{Type: JoinFull, LeftKeys: colEvals(0), RightKeys: colEvals(0), LeftTypes: lt, RightTypes: lt}
				fail(what, l, r)
				switch what {
				case "key":
					spec.LeftKeys = []expr.Eval{func([]types.Datum) (types.Datum, error) { return nil, errTest }}
				case "residual":
					spec.Residual = func([]types.Datum) (types.Datum, error) { return nil, errTest }
				}
				_, err := collect(ctxBg(), NewHashJoin(env, st, l, r, spec))
				if err != errTest {
					t.Fatalf("got %v, want the injected error", err)
				}
				closedOnce(t, l, r)
				released(t, env)
			})
		}
	}
}

func TestHashJoinCancel(t *testing.T) {
	lt := []uint32{types.Int8}
	rows := joinSide(3, 3000, 100, 0, 0)
	for _, mem := range []int64{0, 1 << 10} {
		env, st := testEnv(t, mem)
		spec := JoinSpec{Type: JoinInner, LeftKeys: colEvals(0), RightKeys: colEvals(0), LeftTypes: joinSideTypes, RightTypes: joinSideTypes}
		j := NewHashJoin(env, st, NewRows(rows), NewRows(rows), spec)
		if err := j.Open(ctxBg()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, untilError(canceledCtx(), j, 1000), "57014")
		j.Close()
		released(t, env)

		j = NewHashJoin(env, st, NewRows(rows), NewRows(rows), JoinSpec{Type: JoinInner, LeftTypes: lt, RightTypes: lt})
		wantCode(t, j.Open(canceledCtx()), "57014")
		j.Close()
	}
}

// BenchmarkHashJoin joins 1M probe rows with 1M build rows (each probe
// row matches one build row on average), in memory and partitioned.
func BenchmarkHashJoin(b *testing.B) {
	const n = 1 << 20
	build, probe := benchRows(1, n, n), benchRows(2, n, n)
	for _, mem := range []int64{inMemory, 16 << 20} {
		b.Run(fmt.Sprintf("workmem=%dMiB", mem>>20), func(b *testing.B) {
			env, st := testEnv(b, mem)
			spec := JoinSpec{Type: JoinInner, LeftKeys: colEvals(0), RightKeys: colEvals(0), LeftTypes: benchTypes, RightTypes: benchTypes}
			benchRun(b, 2*n, env, st, func() Operator { return NewHashJoin(env, st, NewRows(probe), NewRows(build), spec) })
		})
	}
}

// A join's key filter on a probe column passes through a hash join below
// it to that join's probe input, and the result is the one without it,
// whatever the lower join's type.
func TestHashJoinForwardsKeyFilter(t *testing.T) {
	seed := uint64(900)
	for _, inner := range joinTypes {
		for _, outer := range []JoinType{JoinInner, JoinSemi} {
			seed++
			t.Run(joinNames[inner]+"/"+joinNames[outer], func(t *testing.T) {
				a := joinSide(seed, 300, 40, 0.1, 0)
				b := joinSide(seed+1, 200, 40, 0.1, 1000)
				c := joinSide(seed+2, 30, 80, 0.1, 2000) // keys the filter keeps: some of a's
				env, st := testEnv(t, 0)
				fa := &filterOp{testOp: &testOp{rows: a, batch: 17}}
				tb, tc := &testOp{rows: b}, &testOp{rows: c}
				innerTypes := joinSideTypes
				if inner != JoinSemi && inner != JoinAnti {
					innerTypes = append(append([]uint32(nil), joinSideTypes...), joinSideTypes...)
				}
				lower := NewHashJoin(env, st, fa, tb, JoinSpec{Type: inner, LeftKeys: colEvals(0), RightKeys: colEvals(0),
					LeftKeyCols: []int{0}, RightKeyCols: []int{0}, LeftTypes: joinSideTypes, RightTypes: joinSideTypes})
				upper := NewHashJoin(env, st, lower, tc, JoinSpec{Type: outer, LeftKeys: colEvals(0), RightKeys: colEvals(0),
					LeftKeyCols: []int{0}, RightKeyCols: []int{0}, LeftTypes: innerTypes, RightTypes: joinSideTypes})
				got := mustCollect(t, upper)
				mid := refJoin(inner, a, b, []int{0}, []int{0}, len(joinSideTypes), len(joinSideTypes), nil)
				want := refJoin(outer, mid, c, []int{0}, []int{0}, len(innerTypes), len(joinSideTypes), nil)
				sameMultiset(t, got, want)
				closedOnce(t, fa.testOp, tb, tc)
				released(t, env)
				if fa.took == 0 {
					t.Errorf("the lower join's probe input got no key filter")
				}
			})
		}
	}
}
