package exec

import "context"

// SetOp computes INTERSECT or EXCEPT [ALL] of its inputs by whole rows
// (NULLs equal, as in PostgreSQL): the right input is counted in a hash
// table (in memory), the left one streams through it. UNION is an Append,
// with a HashAgg over every column for UNION without ALL.
type SetOp struct {
	left, right Operator
	intersect   bool
	all         bool

	set  *setCounts
	kbuf []byte
	mem  *memory
	env  *Env
	st   *Stats
}

var _ Operator = (*SetOp)(nil)

// NewSetOp returns left INTERSECT/EXCEPT [ALL] right.
func NewSetOp(env *Env, st *Stats, left, right Operator, intersect, all bool) *SetOp {
	return &SetOp{left: left, right: right, intersect: intersect, all: all, env: env, st: st}
}

func (s *SetOp) Open(ctx context.Context) error {
	s.mem = newMemory(s.env, s.st)
	s.set = newSetCounts(s.intersect, s.all)
	if err := s.right.Open(ctx); err != nil {
		return err
	}
	for {
		b, err := s.right.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		for _, r := range b.Rows {
			s.kbuf, _ = appendRowKey(s.kbuf[:0], r)
			if s.set.add(s.kbuf, 1) && !s.mem.grow(int64(len(s.kbuf))+48) && s.mem.short {
				return s.mem.outOfMemory("a set operation's rows")
			}
		}
	}
	s.right.Close()
	s.right = nil
	return s.left.Open(ctx)
}

func (s *SetOp) Next(ctx context.Context) (*Batch, error) {
	for {
		b, err := s.left.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		out := b.Rows[:0:0]
		for _, r := range b.Rows {
			s.kbuf, _ = appendRowKey(s.kbuf[:0], r)
			if s.set.keep(s.kbuf) {
				out = append(out, r)
			}
		}
		if len(out) > 0 {
			return &Batch{Rows: out}, nil
		}
	}
}

func (s *SetOp) Close() {
	s.mem.release()
	if s.right != nil {
		s.right.Close()
	}
	s.left.Close()
}
