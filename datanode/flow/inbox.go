package flow

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// inboxMsg is what a producer instance hands to an inbox: encoded rows
// from a remote producer, decoded rows from a local one, its end, or the
// error that broke its stream.
type inboxMsg struct {
	enc  [][]byte
	rows []sqlexec.Row
	eos  bool
	err  error
}

// inbox collects the rows every producer instance of one fragment sends
// to this datanode's consumer instance.
type inbox struct {
	ch        chan inboxMsg
	producers int
	// done is closed when the consumer stops reading: producers' further
	// rows are dropped.
	done     chan struct{}
	doneOnce sync.Once
}

func newInbox(producers int) *inbox {
	return &inbox{ch: make(chan inboxMsg, 4*producers+4), producers: producers, done: make(chan struct{})}
}

// put delivers a message; false when the consumer is gone (the message
// was dropped).
func (ib *inbox) put(ctx context.Context, m inboxMsg) (bool, error) {
	select {
	case ib.ch <- m:
		return true, nil
	case <-ib.done:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (ib *inbox) close() { ib.doneOnce.Do(func() { close(ib.done) }) }

// next is a consumer's next message: its rows, or the error that broke a
// producer's stream; *eos counts the producers that ended.
func (ib *inbox) next(ctx context.Context, eos *int) (inboxMsg, error) {
	var m inboxMsg
	select {
	case m = <-ib.ch:
	case <-ctx.Done():
		return m, pgerr.FromContext(ctx)
	}
	if m.err != nil {
		return m, m.err
	}
	if m.eos {
		*eos++
	}
	return m, nil
}

// recvOp reads an inbox until every producer instance ended.
type recvOp struct {
	ib    *inbox
	types []uint32
	eos   int
	dec   *codec.RowDecoder
}

func (r *recvOp) decoder() *codec.RowDecoder {
	if r.dec == nil {
		r.dec = codec.NewRowDecoder(r.types, nil, nil)
	}
	return r.dec
}

var _ sqlexec.Operator = (*recvOp)(nil)

func (r *recvOp) Open(context.Context) error { return nil }

func (r *recvOp) Next(ctx context.Context) (*sqlexec.Batch, error) {
	for r.eos < r.ib.producers {
		m, err := r.ib.next(ctx, &r.eos)
		if err != nil {
			return nil, err
		}
		switch {
		case len(m.rows) > 0:
			return &sqlexec.Batch{Rows: m.rows}, nil
		case len(m.enc) > 0:
			rows := make([]sqlexec.Row, len(m.enc))
			for i, b := range m.enc {
				row, err := r.decoder().Decode(b)
				if err != nil {
					return nil, pgerr.Wrap(err, pgerr.ProtocolViolation, "decode stream row")
				}
				rows[i] = row
			}
			return &sqlexec.Batch{Rows: rows}, nil
		}
	}
	return nil, nil
}

func (r *recvOp) Close() { r.ib.close() }

// recvCols reads an inbox into column batches (the vectorized form of
// recvOp): a peer's rows are decoded straight into the vectors (the
// stream's row encoding is the storage's, codec.EncodeRow), a local
// producer's rows stored by column. A batch holds up to BatchSize rows;
// one already holding rows is returned rather than waiting for the next
// message.
type recvCols struct {
	ib    *inbox
	types []uint32
	eos   int
	dec   sqlexec.RowDecoder
	b     *coldata.Batch
	// The rows of the message being read, not yet in a batch.
	enc  [][]byte
	rows []sqlexec.Row
}

var _ sqlexec.ColSource = (*recvCols)(nil)

func (r *recvCols) Types() []uint32 { return r.types }

func (r *recvCols) Open(context.Context) error {
	r.dec = sqlexec.NewRowDecoder(r.types)
	r.b = coldata.NewBatch(r.types)
	return nil
}

func (r *recvCols) Next(ctx context.Context) (*coldata.Batch, error) {
	b := r.b
	b.Reset()
	for b.N < coldata.BatchSize {
		if len(r.enc) > 0 {
			var err error
			if r.enc, err = r.dec.Fill(b, r.enc); err != nil {
				return nil, err
			}
			continue
		}
		if len(r.rows) > 0 {
			n := min(len(r.rows), coldata.BatchSize-b.N)
			for _, row := range r.rows[:n] {
				if err := sqlexec.StoreRow(b, b.N, row); err != nil {
					return nil, err
				}
				b.N++
			}
			r.rows = r.rows[n:]
			continue
		}
		if b.N > 0 || r.eos >= r.ib.producers {
			break
		}
		m, err := r.ib.next(ctx, &r.eos)
		if err != nil {
			return nil, err
		}
		r.enc, r.rows = m.enc, m.rows
	}
	if b.N == 0 {
		return nil, nil
	}
	b.SelectAll(b.N)
	return b, nil
}

func (r *recvCols) Close() { r.ib.close() }
