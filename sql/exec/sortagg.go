package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// SortAgg aggregates an input sorted by its group keys: a group ends when
// the keys change, so it holds one group at a time and emits its groups in
// the input's order. Same phases and output as HashAgg (without grouping
// sets).
type SortAgg struct {
	h    *HashAgg // the group state and results, shared with HashAgg
	cur  *group
	kbuf []byte
	key  []byte
	keys []types.Datum
	out  rowBuffer
	done bool
	in   []Row // the input batch being read
	pos  int
}

var _ Operator = (*SortAgg)(nil)

// NewSortAgg returns the aggregation of input, sorted by groupBy.
func NewSortAgg(input Operator, phase AggPhase, groupBy []expr.Eval, calls []AggCall) *SortAgg {
	h := NewHashAgg(&Env{}, nil, input, nil, phase, groupBy, calls, nil)
	return &SortAgg{h: h, keys: make([]types.Datum, len(groupBy))}
}

func (s *SortAgg) Open(ctx context.Context) error {
	if err := s.h.input.Open(ctx); err != nil {
		return err
	}
	if len(s.h.groupBy) == 0 && s.h.phase != AggPartial {
		s.cur = s.h.newGroup(nil) // one row even without input
	}
	return nil
}

func (s *SortAgg) emit() error {
	if s.cur == nil {
		return nil
	}
	r, err := s.h.result(s.cur)
	if err != nil {
		return err
	}
	s.out.add(r)
	s.cur = nil
	return nil
}

func (s *SortAgg) Next(ctx context.Context) (*Batch, error) {
	for !s.out.full() && !s.done {
		if s.pos >= len(s.in) {
			b, err := s.h.input.Next(ctx)
			if err != nil {
				return nil, err
			}
			if b == nil {
				s.done = true
				if err := s.emit(); err != nil {
					return nil, err
				}
				break
			}
			s.in, s.pos = b.Rows, 0
		}
		row := s.in[s.pos]
		s.pos++
		var err error
		for i, g := range s.h.groupBy {
			if s.keys[i], err = g(row); err != nil {
				return nil, err
			}
		}
		s.kbuf, _ = appendRowKey(s.kbuf[:0], s.keys)
		if s.cur == nil || string(s.kbuf) != string(s.key) {
			if err := s.emit(); err != nil {
				return nil, err
			}
			s.cur = s.h.newGroup(s.keys)
			s.key = append(s.key[:0], s.kbuf...)
		}
		if err := s.h.update(s.cur, row); err != nil {
			return nil, err
		}
	}
	return s.out.take(), nil
}

func (s *SortAgg) Close() { s.h.input.Close() }
