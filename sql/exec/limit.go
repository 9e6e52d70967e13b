package exec

import "context"

// Limit skips offset rows, then passes at most limit rows (limit < 0:
// all). It stops reading its input once the limit is reached.
type Limit struct {
	input         Operator
	limit, offset int64
	n             int64
}

var _ Operator = (*Limit)(nil)

// NewLimit returns input cut to limit rows after offset.
func NewLimit(input Operator, limit, offset int64) *Limit {
	return &Limit{input: input, limit: limit, offset: offset}
}

func (l *Limit) Open(ctx context.Context) error {
	if l.limit == 0 {
		return nil
	}
	return l.input.Open(ctx)
}

func (l *Limit) Next(ctx context.Context) (*Batch, error) {
	for {
		if l.limit >= 0 && l.n >= l.limit {
			return nil, nil
		}
		b, err := l.input.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		rows := b.Rows
		if l.offset > 0 {
			skip := min(l.offset, int64(len(rows)))
			l.offset -= skip
			rows = rows[skip:]
		}
		if l.limit >= 0 && int64(len(rows)) > l.limit-l.n {
			rows = rows[:l.limit-l.n]
		}
		if len(rows) == 0 {
			continue
		}
		l.n += int64(len(rows))
		return &Batch{Rows: rows}, nil
	}
}

func (l *Limit) Close() { l.input.Close() }
