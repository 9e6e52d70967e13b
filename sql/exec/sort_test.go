package exec

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/meridian-db/meridian/sql/types"
)

// sortTypes are the columns of the sorted rows: a int8, b text,
// c float8, id int8 (unique).
var sortTypes = []uint32{types.Int8, types.Text, types.Float8, types.Int8}

func sortInput(seed uint64, n int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, i int) Row {
		return Row{randInt(rng, 20, 0.15), randText(rng, 5, 0.15), randHalf(rng, 10, 0.15), int64(i)}
	})
}

// aMod7 is the key a % 7 (NULL for a NULL a).
func aMod7(r []types.Datum) (types.Datum, error) {
	if r[0] == nil {
		return nil, nil
	}
	return r[0].(int64) % 7, nil
}

// sortKeySets are the orders the tests sort by.
var sortKeySets = map[string][]SortKey{
	"none":                  nil,
	"a":                     {{Eval: col(0), Type: types.Int8}},
	"a desc nulls first":    {{Eval: col(0), Type: types.Int8, Desc: true, NullsFirst: true}},
	"a desc nulls last":     {{Eval: col(0), Type: types.Int8, Desc: true}},
	"a nulls first, b desc": {{Eval: col(0), Type: types.Int8, NullsFirst: true}, {Eval: col(1), Type: types.Text, Desc: true}},
	"b desc nulls first, c, a desc": {{Eval: col(1), Type: types.Text, Desc: true, NullsFirst: true},
		{Eval: col(2), Type: types.Float8}, {Eval: col(0), Type: types.Int8, Desc: true}},
	"a%7, c desc": {{Eval: aMod7, Type: types.Int8}, {Eval: col(2), Type: types.Float8, Desc: true}},
}

// refSortKeys is the sequence of key values of rows sorted by keys.
func refSortKeys(rows []Row, keys []SortKey) []Row {
	kv := make([]Row, len(rows))
	for i, r := range rows {
		kv[i] = sortKeyValues(keys, r)
	}
	sort.SliceStable(kv, func(i, j int) bool { return refOrderValues(keys, kv[i], kv[j]) < 0 })
	return kv
}

// checkSorted fails unless got is a valid result of sorting input by
// keys and keeping the first limit rows (0: all): got is part of input,
// and its key values are those of the first rows of a reference sort.
// Rows with equal keys may come in any order.
func checkSorted(t testing.TB, got, input []Row, keys []SortKey, limit int) {
	t.Helper()
	want := refSortKeys(input, keys)
	if limit > 0 && limit < len(want) {
		want = want[:limit]
	}
	gotKeys := make([]Row, len(got))
	for i, r := range got {
		gotKeys[i] = sortKeyValues(keys, r)
	}
	sameRows(t, gotKeys, want)
	have := map[string]int{}
	for _, r := range input {
		have[fmtRow(r)]++
	}
	for _, r := range got {
		if have[fmtRow(r)]--; have[fmtRow(r)] < 0 {
			t.Fatalf("row %s is not in the input (or came too often)", fmtRow(r))
		}
	}
}

func runSort(t *testing.T, mem int64, input []Row, keys []SortKey, limit int64) ([]Row, *Env) {
	t.Helper()
	env, st := testEnv(t, mem)
	in := &testOp{rows: input, batch: 333}
	got := mustCollect(t, NewSort(env, st, in, sortTypes, keys, limit))
	closedOnce(t, in)
	released(t, env)
	return got, env
}

func TestSort(t *testing.T) {
	input := sortInput(1, 3000)
	for name, keys := range sortKeySets {
		for _, n := range []int{0, 1, 3000} {
			t.Run(fmt.Sprintf("%s/rows=%d", name, n), func(t *testing.T) {
				got, _ := runSort(t, 0, input[:n], keys, 0)
				checkSorted(t, got, input[:n], keys, 0)
			})
		}
	}
}

// Top-N keeps the first rows of a full sort.
func TestSortTopN(t *testing.T) {
	input := sortInput(2, 3000)
	for name, keys := range sortKeySets {
		for _, limit := range []int{1, 10, 1000, BatchSize + 1, 2999, 3000, 5000} {
			t.Run(fmt.Sprintf("%s/limit=%d", name, limit), func(t *testing.T) {
				got, _ := runSort(t, 0, input, keys, int64(limit))
				checkSorted(t, got, input, keys, limit)
			})
		}
	}
}

// A limit past the heap's largest sorts everything and cuts the result.
func TestSortLargeLimit(t *testing.T) {
	input := sortInput(3, topNMax+500)
	keys := sortKeySets["b desc nulls first, c, a desc"]
	got, _ := runSort(t, 0, input, keys, topNMax+1)
	checkSorted(t, got, input, keys, topNMax+1)
}

// A tiny budget sorts externally, in many runs, with the same result as
// in memory.
func TestSortExternal(t *testing.T) {
	input := sortInput(4, 3000)
	for name, keys := range sortKeySets {
		for _, limit := range []int64{0, 100, topNMax + 1} {
			t.Run(fmt.Sprintf("%s/limit=%d", name, limit), func(t *testing.T) {
				env, st := testEnv(t, 8<<10)
				in := &testOp{rows: input, batch: 100}
				s := NewSort(env, st, in, sortTypes, keys, limit)
				if err := s.Open(ctxBg()); err != nil {
					t.Fatal(err)
				}
				if runs := openFiles(t, env.TempDir); limit <= topNMax && limit > 0 {
					if runs != 0 {
						t.Errorf("top-%d spilled %d runs", limit, runs)
					}
				} else if runs < 20 {
					t.Errorf("%d runs, want many", runs)
				}
				got, err := Drain(ctxBg(), s)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				closedOnce(t, in)
				released(t, env)
				checkSorted(t, got, input, keys, int(limit))
				inMemory, _ := runSort(t, 0, input, keys, limit)
				checkSorted(t, got, inMemory, keys, 0)
			})
		}
	}
}

func TestSortErrors(t *testing.T) {
	failing := func([]types.Datum) (types.Datum, error) { return nil, errTest }
	for _, mem := range []int64{0, 4 << 10} {
		for _, limit := range []int64{0, 10} {
			for _, what := range []string{"open", "next", "key"} {
				t.Run(fmt.Sprintf("%s/mem=%d/limit=%d", what, mem, limit), func(t *testing.T) {
					env, st := testEnv(t, mem)
					in := &testOp{rows: sortInput(5, 2000), batch: 100}
					keys := []SortKey{{Eval: col(0), Type: types.Int8}}
					switch what {
					case "open":
						in.openErr = errTest
					case "next":
						in.failAt = 15
					case "key":
						keys[0].Eval = failing
					}
					_, err := collect(ctxBg(), NewSort(env, st, in, sortTypes, keys, limit))
					if err != errTest {
						t.Fatalf("got %v, want the injected error", err)
					}
					closedOnce(t, in)
					released(t, env)
				})
			}
		}
	}
}

func TestSortCancel(t *testing.T) {
	input := sortInput(6, 3000)
	keys := sortKeySets["a"]
	for _, mem := range []int64{0, 8 << 10} {
		for _, limit := range []int64{0, 10} {
			env, st := testEnv(t, mem)
			s := NewSort(env, st, NewRows(input), sortTypes, keys, limit)
			if err := s.Open(ctxBg()); err != nil {
				t.Fatal(err)
			}
			wantCode(t, untilError(canceledCtx(), s, 1000), "57014")
			s.Close()
			released(t, env)

			s = NewSort(env, st, NewRows(input), sortTypes, keys, limit)
			wantCode(t, s.Open(canceledCtx()), "57014")
			s.Close()
			released(t, env)
		}
	}
}

// sortBenchCases are BenchmarkSort's and BenchmarkColSort's: in memory,
// externally (a 16 MB budget), and keeping the first 100 (top-N).
var sortBenchCases = []struct {
	name  string
	mem   int64
	limit int64
}{{"memory", inMemory, 0}, {"external", 16 << 20, 0}, {"top100", inMemory, 100}}

// BenchmarkSort sorts 1M rows by an integer key: in memory, externally,
// and keeping the first 100 (top-N).
func BenchmarkSort(b *testing.B) {
	const n = 1 << 20
	rows := benchRows(4, n, n)
	keys := []SortKey{{Eval: col(0), Type: types.Int8}}
	for _, tc := range sortBenchCases {
		b.Run(tc.name, func(b *testing.B) {
			env, st := testEnv(b, tc.mem)
			benchRun(b, n, env, st, func() Operator { return NewSort(env, st, NewRows(rows), benchTypes, keys, tc.limit) })
		})
	}
}
