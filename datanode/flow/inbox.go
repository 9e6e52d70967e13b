package flow

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/sql/codec"
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
		var m inboxMsg
		select {
		case m = <-r.ib.ch:
		case <-ctx.Done():
			return nil, pgerr.FromContext(ctx)
		}
		if m.err != nil {
			return nil, m.err
		}
		if m.eos {
			r.eos++
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
