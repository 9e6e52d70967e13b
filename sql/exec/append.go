package exec

import (
	"context"

	"github.com/meridian-db/meridian/sql/coldata"
)

// Append yields every row of each input in turn (UNION ALL). Inputs are
// opened one at a time, when their turn comes.
type Append struct{ inTurn[*Batch] }

var _ Operator = (*Append)(nil)

// NewAppend returns the concatenation of inputs.
func NewAppend(inputs ...Operator) *Append {
	a := &Append{}
	for _, in := range inputs {
		a.ins = append(a.ins, in)
	}
	return a
}

func (a *Append) Open(ctx context.Context) error           { return nil }
func (a *Append) Next(ctx context.Context) (*Batch, error) { return a.next(ctx) }
func (a *Append) Close()                                   { a.close() }

// inTurn reads its inputs one after another, opening each when its turn
// comes and closing it at its end (Append over rows, colAppend over
// column batches).
type inTurn[B interface{ *Batch | *coldata.Batch }] struct {
	ins []interface {
		Open(context.Context) error
		Next(context.Context) (B, error)
		Close()
	}
	cur    int
	opened bool
}

func (t *inTurn[B]) next(ctx context.Context) (B, error) {
	for t.cur < len(t.ins) {
		in := t.ins[t.cur]
		if !t.opened {
			if err := in.Open(ctx); err != nil {
				return nil, err
			}
			t.opened = true
		}
		b, err := in.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b != nil {
			return b, nil
		}
		in.Close()
		t.ins[t.cur] = nil
		t.cur++
		t.opened = false
	}
	return nil, nil
}

func (t *inTurn[B]) close() {
	for _, in := range t.ins[t.cur:] {
		if in != nil {
			in.Close()
		}
	}
	t.cur = len(t.ins)
}
