package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/types"
)

// NewLeftJoinBuildLeft returns a LEFT hash join of left and right (spec,
// keyed) that builds its hash table of the left input and probes it with
// the right one: a RIGHT join of right and left, whose rows (right ++
// left) are turned back into left ++ right. The planner chooses it when
// the left input is the smaller: the table, and what a spill writes, is
// the smaller side's (TPC-H Q13's customer LEFT JOIN orders).
func NewLeftJoinBuildLeft(env *Env, st *Stats, left, right Operator, spec JoinSpec) Operator {
	lw, rw := len(spec.LeftTypes), len(spec.RightTypes)
	swapped := JoinSpec{Type: JoinRight, LeftKeys: spec.RightKeys, RightKeys: spec.LeftKeys,
		LeftTypes: spec.RightTypes, RightTypes: spec.LeftTypes}
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
	return &swapJoin{join: NewHashJoin(env, st, right, left, swapped), lw: lw, rw: rw}
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
