package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/expr"
)

// Filter keeps the rows for which a condition is true.
type Filter struct {
	input Operator
	cond  expr.Eval
}

var _ Operator = (*Filter)(nil)

// NewFilter returns a filter of input by cond.
func NewFilter(input Operator, cond expr.Eval) *Filter { return &Filter{input: input, cond: cond} }

func (f *Filter) Open(ctx context.Context) error { return f.input.Open(ctx) }

func (f *Filter) Next(ctx context.Context) (*Batch, error) {
	for {
		b, err := f.input.Next(ctx)
		if err != nil || b == nil {
			return nil, err
		}
		out := b.Rows[:0:0]
		for _, r := range b.Rows {
			v, err := f.cond(r)
			if err != nil {
				return nil, err
			}
			if expr.IsTrue(v) {
				out = append(out, r)
			}
		}
		if len(out) > 0 {
			return &Batch{Rows: out}, nil
		}
	}
}

func (f *Filter) Close() { f.input.Close() }
