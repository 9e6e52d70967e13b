package exec

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/types"
)

var setOpTypes = []uint32{types.Int8, types.Text, types.Numeric}

func setOpSide(seed uint64, n int) []Row {
	return genRows(seed, n, func(rng *rand.Rand, _ int) Row {
		return Row{randInt(rng, 6, 0.2), randText(rng, 3, 0.2), randNumeric(rng, 2, 0.2)}
	})
}

// INTERSECT and EXCEPT [ALL] over column batches give PostgreSQL's rows
// (refSetOp), in memory and partitioned to disk past a small budget.
func TestColSetOpRandom(t *testing.T) {
	for mode, name := range setOpNames {
		for _, sz := range []struct{ l, r int }{{0, 0}, {0, 50}, {50, 0}, {400, 300}, {5000, 4000}} {
			for _, mem := range []int64{0, 1 << 12} {
				t.Run(fmt.Sprintf("%s/%dx%d/mem=%d", name, sz.l, sz.r, mem), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(sz.l), uint64(mem)))
					left := &rowsColSource{types: setOpTypes, rows: setOpSide(uint64(sz.l), sz.l), rng: rng}
					right := &rowsColSource{types: setOpTypes, rows: setOpSide(uint64(sz.r+7), sz.r), rng: rng}
					env, st := testEnv(t, mem)
					got := mustCollect(t, ColRows(NewColSetOp(env, st, left, right, mode[0], mode[1])))
					released(t, env)
					sameMultiset(t, got, refSetOp(left.selected, right.selected, mode[0], mode[1]))
					if left.opens != 1 || left.closes != 1 || right.opens != 1 || right.closes != 1 {
						t.Errorf("inputs opened %d, %d and closed %d, %d times", left.opens, right.opens, left.closes, right.closes)
					}
					if spilled := st.SpilledBytes > 0; spilled != (mem > 0 && sz.r >= 300) {
						t.Errorf("spilled %d bytes", st.SpilledBytes)
					}
				})
			}
		}
	}
}

// Partitions whose keys pass the budget again are partitioned again, by
// another hash, and give the same rows.
func TestColSetOpRecursiveSpill(t *testing.T) {
	side := func(from, n int) []Row {
		rows := make([]Row, n)
		for i := range rows {
			k := int64(from + i)
			rows[i] = Row{k % 9000, fmt.Sprintf("key %d", k%9000), nil}
		}
		return rows
	}
	for mode, name := range setOpNames {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			left := &rowsColSource{types: setOpTypes, rows: side(0, 20000), rng: rng, all: true}
			right := &rowsColSource{types: setOpTypes, rows: side(4000, 15000), rng: rng, all: true}
			env, st := testEnv(t, 1<<12)
			op := NewColSetOp(env, st, left, right, mode[0], mode[1])
			got := mustCollect(t, ColRows(op))
			released(t, env)
			sameMultiset(t, got, refSetOp(left.selected, right.selected, mode[0], mode[1]))
			if op.splits == 0 {
				t.Error("no partition was partitioned again")
			}
		})
	}
}

// A plan's INTERSECT over scans the datanode reads by column runs on
// their batches, and a UNION ALL of them under an aggregation too.
func TestBuildColSetOpAndAppend(t *testing.T) {
	rows := setOpSide(3, 3000)
	scan := func(id int32) *pb.PlanNode {
		return &pb.PlanNode{Id: id, Types: setOpTypes, Op: &pb.PlanNode_Scan{Scan: &pb.ScanNode{}}}
	}
	newEnv := func() (*Env, *[]*rowsColSource) {
		env, _ := testEnv(t, 0)
		srcs := new([]*rowsColSource)
		env.Vectorize = true
		env.ColScan = func(n *pb.PlanNode) (ColSource, error) {
			src := &rowsColSource{types: setOpTypes, rows: rows[int(n.Id)*500:], rng: rand.New(rand.NewPCG(uint64(n.Id), 1))}
			*srcs = append(*srcs, src)
			return src, nil
		}
		return env, srcs
	}
	env, srcs := newEnv()
	plan := node(3, setOpTypes, &pb.SetOpNode{Op: "intersect"}, scan(1), scan(2))
	op := mustBuild(t, env, plan)
	if c, ok := op.(*colToRows); !ok || func() bool { _, ok := c.src.(*ColSetOp); return !ok }() {
		t.Fatalf("built %T, not the vectorized set operation", op)
	}
	got := mustCollect(t, op)
	if len(got) == 0 || len(*srcs) != 2 {
		t.Fatalf("%d rows in common, %d scans", len(got), len(*srcs))
	}
	sameMultiset(t, got, refSetOp((*srcs)[0].selected, (*srcs)[1].selected, true, false))

	env, srcs = newEnv()
	agg := node(4, []uint32{types.Int8, types.Int8}, &pb.AggNode{Phase: pb.AggPhase_AGG_FULL, GroupBy: []*pb.Expr{cCol(0, types.Int8)},
		Aggs: []*pb.AggFunc{{Func: "count", TypeOid: types.Int8, Typmod: -1}}},
		node(3, setOpTypes, &pb.AppendNode{}, scan(1), scan(2)))
	env.Stats = map[int32]*Stats{}
	got = mustCollect(t, mustBuild(t, env, agg))
	if !env.Stats[4].Vectorized {
		t.Error("the aggregation over the append did not run on column batches")
	}
	want := map[string]int64{}
	for _, s := range *srcs {
		for _, r := range s.selected {
			want[fmtDatum(r[0])]++
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for _, r := range got {
		if want[fmtDatum(r[0])] != r[1] {
			t.Errorf("group %s: count %s, want %d", fmtDatum(r[0]), fmtDatum(r[1]), want[fmtDatum(r[0])])
		}
	}
}
