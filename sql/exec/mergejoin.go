package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// MergeJoin joins two inputs that arrive sorted by their join keys
// (ascending, NULLs last, as SortKey{} orders them): it walks both
// streams once, holding only the right rows of one key value at a time.
// All join types; rows with a NULL key match nothing.
type MergeJoin struct {
	left, right Operator
	spec        JoinSpec
	lw, rw      int

	lrow, rrow   cursor
	group        []Row // right rows with the current key
	groupKey     []types.Datum
	groupMatched []bool
	out          rowBuffer
	rest         []Row // joined rows beyond the batch returned
	done         bool
}

var _ Operator = (*MergeJoin)(nil)

// cursor reads one input row at a time, with its key values.
type cursor struct {
	op   Operator
	keys []expr.Eval
	rows []Row
	pos  int
	row  Row
	key  []types.Datum
	null bool // the key has a NULL
	eof  bool
}

func (c *cursor) advance(ctx context.Context) error {
	for c.pos >= len(c.rows) {
		b, err := c.op.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			c.eof, c.row = true, nil
			return nil
		}
		c.rows, c.pos = b.Rows, 0
	}
	c.row = c.rows[c.pos]
	c.pos++
	c.key = make([]types.Datum, len(c.keys))
	c.null = false
	for i, k := range c.keys {
		v, err := k(c.row)
		if err != nil {
			return err
		}
		c.key[i] = v
		c.null = c.null || v == nil
	}
	return nil
}

// NewMergeJoin returns a merge join of left and right, each sorted by its
// keys.
func NewMergeJoin(left, right Operator, spec JoinSpec) *MergeJoin {
	return &MergeJoin{left: left, right: right, spec: spec, lw: len(spec.LeftTypes), rw: len(spec.RightTypes),
		lrow: cursor{op: left, keys: spec.LeftKeys}, rrow: cursor{op: right, keys: spec.RightKeys}}
}

func (j *MergeJoin) Open(ctx context.Context) error {
	if err := j.left.Open(ctx); err != nil {
		return err
	}
	if err := j.right.Open(ctx); err != nil {
		return err
	}
	if err := j.lrow.advance(ctx); err != nil {
		return err
	}
	return j.rrow.advance(ctx)
}

func compareKeys(a, b []types.Datum) int {
	for i := range a {
		if c := types.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func (j *MergeJoin) keepsLeft() bool {
	t := j.spec.Type
	return t == JoinLeft || t == JoinFull || t == JoinAnti
}

func (j *MergeJoin) keepsRight() bool { return j.spec.Type == JoinRight || j.spec.Type == JoinFull }

func (j *MergeJoin) emitLeftOnly(l Row) {
	if j.spec.Type == JoinAnti {
		j.out.add(l)
		return
	}
	row := make(Row, j.lw+j.rw)
	copy(row, l)
	j.out.add(row)
}

func (j *MergeJoin) emitRightOnly(r Row) {
	row := make(Row, j.lw+j.rw)
	copy(row[j.lw:], r)
	j.out.add(row)
}

// flushGroup emits the current right group's unmatched rows (right and
// full joins) and forgets it.
func (j *MergeJoin) flushGroup() {
	if j.keepsRight() {
		for i, r := range j.group {
			if !j.groupMatched[i] {
				j.emitRightOnly(r)
			}
		}
	}
	j.group, j.groupKey, j.groupMatched = nil, nil, nil
}

func (j *MergeJoin) Next(ctx context.Context) (*Batch, error) {
	if len(j.rest) > 0 {
		return j.cut(j.rest), nil
	}
	for !j.out.full() && !j.done {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		l, r := &j.lrow, &j.rrow
		switch {
		case l.eof && len(j.group) == 0 && r.eof:
			j.done = true
		case !l.eof && len(j.group) > 0 && !l.null && compareKeys(l.key, j.groupKey) == 0:
			// A left row of the current group's key.
			if err := j.joinGroup(l.row); err != nil {
				return nil, err
			}
			if err := l.advance(ctx); err != nil {
				return nil, err
			}
		case len(j.group) > 0:
			j.flushGroup()
		case l.eof:
			if j.keepsRight() {
				j.emitRightOnly(r.row)
			}
			if err := r.advance(ctx); err != nil {
				return nil, err
			}
		case r.eof || l.null:
			if j.keepsLeft() {
				j.emitLeftOnly(l.row)
			}
			if err := l.advance(ctx); err != nil {
				return nil, err
			}
		case r.null:
			if j.keepsRight() {
				j.emitRightOnly(r.row)
			}
			if err := r.advance(ctx); err != nil {
				return nil, err
			}
		default:
			switch c := compareKeys(l.key, r.key); {
			case c < 0:
				if j.keepsLeft() {
					j.emitLeftOnly(l.row)
				}
				if err := l.advance(ctx); err != nil {
					return nil, err
				}
			case c > 0:
				if j.keepsRight() {
					j.emitRightOnly(r.row)
				}
				if err := r.advance(ctx); err != nil {
					return nil, err
				}
			default:
				// Collect the right rows of this key.
				j.groupKey = r.key
				for !r.eof && !r.null && compareKeys(r.key, j.groupKey) == 0 {
					j.group = append(j.group, r.row)
					if err := r.advance(ctx); err != nil {
						return nil, err
					}
				}
				j.groupMatched = make([]bool, len(j.group))
			}
		}
	}
	b := j.out.take()
	if b == nil {
		return nil, nil
	}
	return j.cut(b.Rows), nil
}

// cut returns a batch of rows' first BatchSize and keeps the others for
// the next call (a left row joined with a large group makes more).
func (j *MergeJoin) cut(rows []Row) *Batch {
	n := min(len(rows), BatchSize)
	j.rest = rows[n:]
	return &Batch{Rows: rows[:n:n]}
}

// joinGroup joins a left row with the current right group.
func (j *MergeJoin) joinGroup(l Row) error {
	found := false
	for i, r := range j.group {
		row := make(Row, j.lw+j.rw)
		copy(row, l)
		copy(row[j.lw:], r)
		if j.spec.Residual != nil {
			v, err := j.spec.Residual(row)
			if err != nil {
				return err
			}
			if !expr.IsTrue(v) {
				continue
			}
		}
		found = true
		j.groupMatched[i] = true
		switch j.spec.Type {
		case JoinSemi:
			j.out.add(l)
			return nil
		case JoinAnti:
			return nil
		}
		j.out.add(row)
	}
	if !found && j.keepsLeft() {
		j.emitLeftOnly(l)
	}
	return nil
}

func (j *MergeJoin) Close() {
	j.left.Close()
	j.right.Close()
}
