package exec

import (
	"context"
	"fmt"

	"github.com/meridian-db/meridian/sql/types"
)

// NewJoinBuildLeft returns a keyed LEFT, SEMI or ANTI hash join of left
// and right (spec) that builds its hash table of the left input and
// probes it with the right one: the same join with the inputs swapped —
// a RIGHT join whose rows (right ++ left) are turned back into left ++
// right, or a semi/anti join that emits the build side's rows some probe
// row matches (once each) / none matches. The planner chooses it when the
// left input is the smaller: the table, and what a spill writes, is the
// smaller side's (TPC-H Q13's customer LEFT JOIN orders, Q22's NOT EXISTS
// over orders).
func NewJoinBuildLeft(env *Env, st *Stats, left, right Operator, spec JoinSpec) Operator {
	lw, rw := len(spec.LeftTypes), len(spec.RightTypes)
	swapped := JoinSpec{LeftKeys: spec.RightKeys, RightKeys: spec.LeftKeys,
		LeftKeyCols: spec.RightKeyCols, RightKeyCols: spec.LeftKeyCols,
		LeftTypes: spec.RightTypes, RightTypes: spec.LeftTypes}
	switch spec.Type {
	case JoinLeft:
		swapped.Type = JoinRight
	case JoinSemi:
		swapped.Type = joinRightSemi
	case JoinAnti:
		swapped.Type = joinRightAnti
	default:
		panic(fmt.Sprintf("exec: build-left join of type %d", spec.Type))
	}
	if res := spec.Residual; res != nil {
		// The residual reads left ++ right: give it that order.
		scratch := make([]types.Datum, lw+rw)
		swapped.Residual = func(row []types.Datum) (types.Datum, error) {
			copy(scratch, row[rw:])
			copy(scratch[lw:], row[:rw])
			v, err := res(scratch)
			clear(scratch)
			return v, err
		}
	}
	join := NewHashJoin(env, st, right, left, swapped)
	if spec.Type != JoinLeft {
		return join // its rows are the left input's
	}
	return &swapJoin{join: join, lw: lw, rw: rw}
}

// swapJoin turns the rows of a join of (right, left) into left ++ right.
type swapJoin struct {
	join   Operator
	lw, rw int
	tmp    []types.Datum
}

func (s *swapJoin) Open(ctx context.Context) error { return s.join.Open(ctx) }

func (s *swapJoin) Next(ctx context.Context) (*Batch, error) {
	b, err := s.join.Next(ctx)
	if err != nil || b == nil {
		return b, err
	}
	if len(s.tmp) < s.rw {
		s.tmp = make([]types.Datum, s.rw)
	}
	for _, r := range b.Rows {
		// r is right (rw) ++ left (lw): rotate it in place.
		copy(s.tmp, r[:s.rw])
		copy(r, r[s.rw:s.rw+s.lw])
		copy(r[s.lw:], s.tmp[:s.rw])
	}
	return b, nil
}

func (s *swapJoin) Close() { s.join.Close() }
