package exec

import (
	"context"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Row is one row: a datum per column (nil is NULL).
type Row = []types.Datum

// BatchSize is the number of rows operators aim to put in a batch.
const BatchSize = 1024

// Batch is a group of rows passed between operators. A batch an operator
// returns stays valid until its next call to Next; the rows in it may be
// kept by the receiver (operators never reuse a row they returned).
type Batch struct {
	Rows []Row
}

// Operator is a physical operator: a pull-based iterator over batches.
//
// Open prepares the operator (and opens its inputs); Next returns the
// next non-empty batch, or nil at the end; Close releases everything the
// operator holds (memory, spill files, goroutines) and closes its inputs.
// Close is called exactly once, also after an error or an early stop,
// and may be called without Open having succeeded.
type Operator interface {
	Open(ctx context.Context) error
	Next(ctx context.Context) (*Batch, error)
	Close()
}

// Stats is what an operator did while the statement ran (EXPLAIN
// ANALYZE). Time is inclusive of the operator's inputs.
type Stats struct {
	Rows         int64
	Nanos        int64
	BytesSent    int64
	SpilledBytes int64
	PeakMemory   int64
	// Vectorized: the operator ran on column batches.
	Vectorized bool
}

// instrumented counts an operator's rows and time.
type instrumented struct {
	op Operator
	st *Stats
}

var _ Operator = (*instrumented)(nil)

func (i *instrumented) Open(ctx context.Context) error {
	start := time.Now()
	err := i.op.Open(ctx)
	i.st.Nanos += int64(time.Since(start))
	return err
}

func (i *instrumented) Next(ctx context.Context) (*Batch, error) {
	start := time.Now()
	b, err := i.op.Next(ctx)
	i.st.Nanos += int64(time.Since(start))
	if b != nil {
		i.st.Rows += int64(len(b.Rows))
	}
	return b, err
}

func (i *instrumented) Close() { i.op.Close() }

// FilterKeys passes a join's runtime filter to the operator measured
// (EXPLAIN ANALYZE runs the plan the query runs).
func (i *instrumented) FilterKeys(col int, keep func(int64) bool) bool {
	f, ok := i.op.(KeyFilterer)
	return ok && f.FilterKeys(col, keep)
}

// canceled turns a done context into the statement's error.
func canceled(ctx context.Context) error { return pgerr.FromContext(ctx) }

// Drain reads every row of op (which must be open) into a slice.
func Drain(ctx context.Context, op Operator) ([]Row, error) {
	var rows []Row
	for {
		b, err := op.Next(ctx)
		if err != nil {
			return nil, err
		}
		if b == nil {
			return rows, nil
		}
		rows = append(rows, b.Rows...)
	}
}

// Run opens op, reads every row and closes it.
func Run(ctx context.Context, op Operator) ([]Row, error) {
	defer op.Close()
	if err := op.Open(ctx); err != nil {
		return nil, err
	}
	return Drain(ctx, op)
}

// rowBuffer accumulates output rows into batches of BatchSize.
type rowBuffer struct {
	rows []Row
}

func (r *rowBuffer) add(row Row) { r.rows = append(r.rows, row) }

func (r *rowBuffer) full() bool { return len(r.rows) >= BatchSize }

// take returns the buffered rows as a batch (nil when there are none).
func (r *rowBuffer) take() *Batch {
	if len(r.rows) == 0 {
		return nil
	}
	b := &Batch{Rows: r.rows}
	r.rows = make([]Row, 0, BatchSize)
	return b
}

// Rows is an operator over rows already in memory.
type Rows struct {
	rows []Row
	pos  int
}

var _ Operator = (*Rows)(nil)

// NewRows returns an operator yielding rows.
func NewRows(rows []Row) *Rows { return &Rows{rows: rows} }

func (r *Rows) Open(context.Context) error { return nil }

func (r *Rows) Next(ctx context.Context) (*Batch, error) {
	if r.pos >= len(r.rows) {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	end := min(r.pos+BatchSize, len(r.rows))
	b := &Batch{Rows: r.rows[r.pos:end:end]}
	r.pos = end
	return b, nil
}

func (r *Rows) Close() { r.rows = nil }
