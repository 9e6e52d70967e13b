package exec

import "context"

// Append yields every row of each input in turn (UNION ALL). Inputs are
// opened one at a time, when their turn comes.
type Append struct {
	inputs []Operator
	cur    int
	opened bool
}

var _ Operator = (*Append)(nil)

// NewAppend returns the concatenation of inputs.
func NewAppend(inputs ...Operator) *Append { return &Append{inputs: inputs} }

func (a *Append) Open(ctx context.Context) error { return nil }

func (a *Append) Next(ctx context.Context) (*Batch, error) {
	for a.cur < len(a.inputs) {
		in := a.inputs[a.cur]
		if !a.opened {
			if err := in.Open(ctx); err != nil {
				return nil, err
			}
			a.opened = true
		}
		b, err := in.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b != nil {
			return b, nil
		}
		in.Close()
		a.inputs[a.cur] = nil
		a.cur++
		a.opened = false
	}
	return nil, nil
}

func (a *Append) Close() {
	for _, in := range a.inputs[a.cur:] {
		if in != nil {
			in.Close()
		}
	}
}
