package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/coldata"
)

// Limit skips offset rows, then passes at most limit rows (limit < 0:
// all). It stops reading its input once the limit is reached.
type Limit struct {
	input Operator
	limitState
}

var _ Operator = (*Limit)(nil)

// NewLimit returns input cut to limit rows after offset.
func NewLimit(input Operator, limit, offset int64) *Limit {
	return &Limit{input: input, limitState: limitState{limit: limit, offset: offset}}
}

func (l *Limit) Open(ctx context.Context) error {
	if l.limit == 0 {
		return nil
	}
	return l.input.Open(ctx)
}

func (l *Limit) Next(ctx context.Context) (*Batch, error) {
	for !l.done() {
		b, err := l.input.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		if lo, hi := l.take(len(b.Rows)); hi > lo {
			return &Batch{Rows: b.Rows[lo:hi]}, nil
		}
	}
	return nil, nil
}

func (l *Limit) Close() { l.input.Close() }

// limitState counts the rows a LIMIT and OFFSET let through.
type limitState struct {
	limit, offset int64
	n             int64 // rows passed
}

// done reports the limit reached.
func (l *limitState) done() bool { return l.limit >= 0 && l.n >= l.limit }

// take returns the range of the next n input rows that pass.
func (l *limitState) take(n int) (lo, hi int) {
	if l.offset > 0 {
		skip := min(l.offset, int64(n))
		l.offset -= skip
		lo = int(skip)
	}
	hi = n
	if l.limit >= 0 && int64(hi-lo) > l.limit-l.n {
		hi = lo + int(l.limit-l.n)
	}
	l.n += int64(hi - lo)
	return lo, hi
}

// colLimit is Limit over column batches: it cuts their selections.
type colLimit struct {
	in ColSource
	limitState
}

func (l *colLimit) Types() []uint32 { return l.in.Types() }

func (l *colLimit) Open(ctx context.Context) error {
	if l.limit == 0 {
		return nil
	}
	return l.in.Open(ctx)
}

func (l *colLimit) Next(ctx context.Context) (*coldata.Batch, error) {
	for !l.done() {
		b, err := l.in.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		if lo, hi := l.take(len(b.Sel)); hi > lo {
			b.Sel = b.Sel[lo:hi]
			return b, nil
		}
	}
	return nil, nil
}

func (l *colLimit) Close() { l.in.Close() }
