package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/types"
)

// Project computes expressions over each input row.
type Project struct {
	input Operator
	exprs []expr.Eval
}

var _ Operator = (*Project)(nil)

// NewProject returns the projection of input by exprs.
func NewProject(input Operator, exprs []expr.Eval) *Project {
	return &Project{input: input, exprs: exprs}
}

func (p *Project) Open(ctx context.Context) error { return p.input.Open(ctx) }

func (p *Project) Next(ctx context.Context) (*Batch, error) {
	b, err := p.input.Next(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	n := len(p.exprs)
	// One allocation for the batch's output rows.
	cells := make([]types.Datum, n*len(b.Rows))
	out := make([]Row, len(b.Rows))
	for i, r := range b.Rows {
		row := cells[i*n : (i+1)*n : (i+1)*n]
		for j, e := range p.exprs {
			if row[j], err = e(r); err != nil {
				return nil, err
			}
		}
		out[i] = row
	}
	return &Batch{Rows: out}, nil
}

func (p *Project) Close() { p.input.Close() }
