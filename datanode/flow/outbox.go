package flow

import (
	"context"
	"sync"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Flush thresholds of a stream's buffered rows.
const (
	flushRows  = 1024
	flushBytes = 1 << 20
)

// outbox sends a fragment instance's rows to its consumers.
type outbox interface {
	send(ctx context.Context, rows []sqlexec.Row) error
	// sendBatch sends the live rows of a column batch.
	sendBatch(ctx context.Context, b *coldata.Batch) error
	// finish flushes and tells every consumer the instance ended.
	finish(ctx context.Context) error
	// abort releases the streams after an error.
	abort()
}

// gatherSender serializes the FlowMessages of the flow's gather
// fragments (on the SetupFlow stream, or into RunFlow's answer).
type gatherSender struct {
	mu   sync.Mutex
	send func(*meridianpb.FlowMessage) error
}

func (g *gatherSender) sendMsg(m *meridianpb.FlowMessage) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.send(m)
}

// gatherOut sends rows to the coordinator.
type gatherOut struct {
	s        *gatherSender
	fragment int32
	st       *sqlexec.Stats
}

func (g *gatherOut) send(ctx context.Context, rows []sqlexec.Row) error {
	return g.sendEach(len(rows), func(buf []byte, k int) []byte { return codec.EncodeRow(buf, rows[k]) })
}

func (g *gatherOut) sendBatch(ctx context.Context, b *coldata.Batch) error {
	return g.sendEach(len(b.Sel), func(buf []byte, k int) []byte { return codec.AppendBatchRow(buf, b.Vecs, b.Sel[k]) })
}

// sendEach sends n rows, encode appending the k-th's bytes to a buffer:
// a message's rows are encoded into one buffer of their own (a RunFlow
// answer keeps its messages, so it is not reused), not one per row.
func (g *gatherOut) sendEach(n int, encode func(buf []byte, k int) []byte) error {
	m := &meridianpb.FlowMessage{Fragment: g.fragment, Rows: make([][]byte, 0, n)}
	var buf []byte
	for k := 0; k < n; k++ {
		start := len(buf)
		buf = encode(buf, k)
		m.Rows = append(m.Rows, buf[start:len(buf):len(buf)])
		if len(buf) >= flushBytes {
			if err := g.flush(m, len(buf)); err != nil {
				return err
			}
			m, buf = &meridianpb.FlowMessage{Fragment: g.fragment}, nil
		}
	}
	return g.flush(m, len(buf))
}

func (g *gatherOut) flush(m *meridianpb.FlowMessage, size int) error {
	if len(m.Rows) == 0 {
		return nil
	}
	if g.st != nil {
		g.st.BytesSent += int64(size)
	}
	return g.s.sendMsg(m)
}

func (g *gatherOut) finish(context.Context) error {
	return g.s.sendMsg(&meridianpb.FlowMessage{Fragment: g.fragment, Eos: true})
}

func (g *gatherOut) abort() {}

// dest is one consumer instance of an exchange: this datanode's own
// inbox, or a stream to a peer.
type dest struct {
	local  *inbox
	group  uint32
	addr   string
	stream meridianpb.Flow_ExchangeClient
	cancel context.CancelFunc
	// Buffered rows: encoded for a peer (into buf, reused once a message
	// is sent: Send has marshaled it), as is for the local inbox.
	enc   [][]byte
	buf   []byte
	rows  []sqlexec.Row
	gone  bool // the local consumer stopped reading
	first bool // the header went out
}

// exchangeOut redistributes or broadcasts rows to consumer instances.
type exchangeOut struct {
	f         *flow
	fragment  int32
	broadcast bool
	hashCols  []int
	dests     []*dest
	byGroup   map[uint32]int // consumer group → index in dests
	st        *sqlexec.Stats
	vals      []types.Datum
	hashVecs  []*coldata.Vec // sendBatch's hash columns
	localSel  []int          // sendBatch's rows for the local consumer
}

func (f *flow) newExchangeOut(fr *meridianpb.Fragment, consumer *meridianpb.Fragment, st *sqlexec.Stats) (*exchangeOut, error) {
	o := &exchangeOut{f: f, fragment: fr.Id, broadcast: fr.Output.Kind == meridianpb.StreamKind_STREAM_BROADCAST,
		byGroup: map[uint32]int{}, st: st}
	for _, c := range fr.Output.HashColumns {
		o.hashCols = append(o.hashCols, int(c))
	}
	o.vals = make([]types.Datum, len(o.hashCols))
	for _, g := range consumer.Groups {
		d := &dest{group: g}
		if g == f.group {
			ib := f.inboxes[fr.Id]
			if ib == nil {
				return nil, pgerr.New(pgerr.InternalError, "fragment %d: no local inbox", fr.Id)
			}
			d.local = ib
		} else {
			addr, ok := f.req.GroupAddrs[g]
			if !ok {
				return nil, pgerr.New(pgerr.InternalError, "fragment %d: no address for datanode group %d", fr.Id, g)
			}
			d.addr = addr
		}
		o.byGroup[g] = len(o.dests)
		o.dests = append(o.dests, d)
	}
	return o, nil
}

func (o *exchangeOut) send(ctx context.Context, rows []sqlexec.Row) error {
	for _, r := range rows {
		if o.broadcast {
			for _, d := range o.dests {
				if err := o.add(ctx, d, r); err != nil {
					return err
				}
			}
			continue
		}
		for i, c := range o.hashCols {
			o.vals[i] = r[c]
		}
		g := o.f.owner(codec.Bucket(o.vals))
		i, ok := o.byGroup[g]
		if !ok {
			return pgerr.New(pgerr.InternalError, "fragment %d: bucket owner %d runs no consumer", o.fragment, g)
		}
		if err := o.add(ctx, o.dests[i], r); err != nil {
			return err
		}
	}
	return nil
}

// sendBatch is send for the live rows of a column batch: a row's bucket
// and bytes come from the vectors (codec.BucketOfRow, AppendBatchRow, the
// same as for its datums); only the rows for this datanode's own consumer
// become datums, all of the batch's at once (codec.AppendRows' slabs).
func (o *exchangeOut) sendBatch(ctx context.Context, b *coldata.Batch) error {
	o.hashVecs = o.hashVecs[:0]
	for _, c := range o.hashCols {
		o.hashVecs = append(o.hashVecs, b.Vecs[c])
	}
	var local *dest
	o.localSel = o.localSel[:0]
	add := func(d *dest, r int) error {
		switch {
		case d.gone:
			return nil
		case d.local != nil:
			local, o.localSel = d, append(o.localSel, r)
			return nil
		}
		return o.addEncoded(ctx, d, func(buf []byte) []byte { return codec.AppendBatchRow(buf, b.Vecs, r) })
	}
	for _, r := range b.Sel {
		if o.broadcast {
			for _, d := range o.dests {
				if err := add(d, r); err != nil {
					return err
				}
			}
			continue
		}
		g := o.f.owner(codec.BucketOfRow(o.hashVecs, r))
		i, ok := o.byGroup[g]
		if !ok {
			return pgerr.New(pgerr.InternalError, "fragment %d: bucket owner %d runs no consumer", o.fragment, g)
		}
		if err := add(o.dests[i], r); err != nil {
			return err
		}
	}
	if local == nil {
		return nil
	}
	view := coldata.Batch{N: b.N, Sel: o.localSel, Vecs: b.Vecs}
	for _, row := range codec.AppendRows(nil, &view) {
		if err := o.add(ctx, local, row); err != nil {
			return err
		}
	}
	return nil
}

func (o *exchangeOut) add(ctx context.Context, d *dest, r sqlexec.Row) error {
	if d.gone {
		return nil
	}
	if d.local != nil {
		d.rows = append(d.rows, r)
		if len(d.rows) >= flushRows {
			return o.flush(ctx, d, false)
		}
		return nil
	}
	return o.addEncoded(ctx, d, func(buf []byte) []byte { return codec.EncodeRow(buf, r) })
}

// addEncoded adds a row for a peer, encode appending its bytes to the
// destination's buffer (reused once a message is sent: Send has marshaled
// it), and flushes past a message's size.
func (o *exchangeOut) addEncoded(ctx context.Context, d *dest, encode func([]byte) []byte) error {
	if d.buf == nil {
		d.buf = make([]byte, 0, 64<<10)
	}
	start := len(d.buf)
	d.buf = encode(d.buf)
	d.enc = append(d.enc, d.buf[start:len(d.buf):len(d.buf)])
	if len(d.enc) >= flushRows || len(d.buf) >= flushBytes {
		return o.flush(ctx, d, false)
	}
	return nil
}

func (o *exchangeOut) flush(ctx context.Context, d *dest, eos bool) error {
	if d.gone {
		return nil
	}
	if d.local != nil {
		if len(d.rows) > 0 {
			ok, err := d.local.put(ctx, inboxMsg{rows: d.rows})
			if err != nil {
				return err
			}
			d.gone = !ok
			d.rows = nil
		}
		if eos && !d.gone {
			_, err := d.local.put(ctx, inboxMsg{eos: true})
			return err
		}
		return nil
	}
	if len(d.enc) == 0 && !eos {
		return nil
	}
	if d.stream == nil {
		c, err := o.f.s.peer(d.addr)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithCancel(ctx)
		st, err := c.Exchange(sctx)
		if err != nil {
			cancel()
			return pgerr.Wrap(pgerr.FromStatus(err), pgerr.ConnectionFailure, "exchange with datanode group %d", d.group)
		}
		d.stream, d.cancel = st, cancel
	}
	m := &meridianpb.ExchangeMessage{Rows: d.enc, Eos: eos}
	if !d.first {
		m.QueryId, m.Fragment, m.FromGroup = o.f.req.QueryId, o.fragment, o.f.group
		d.first = true
	}
	if o.st != nil {
		o.st.BytesSent += int64(len(d.buf))
	}
	err := d.stream.Send(m)
	// Send marshaled the message: its rows' bytes may be reused.
	d.enc, d.buf = d.enc[:0], d.buf[:0]
	if err != nil {
		return o.streamErr(d, err)
	}
	return nil
}

// streamErr turns a failed Send into the peer's own error when it sent
// one (Send only says the stream broke).
func (o *exchangeOut) streamErr(d *dest, err error) error {
	if _, rerr := d.stream.CloseAndRecv(); rerr != nil {
		err = rerr
	}
	return pgerr.Wrap(pgerr.FromStatus(err), pgerr.ConnectionFailure, "exchange with datanode group %d", d.group)
}

func (o *exchangeOut) finish(ctx context.Context) error {
	for _, d := range o.dests {
		if err := o.flush(ctx, d, true); err != nil {
			return err
		}
		if d.stream != nil {
			if _, err := d.stream.CloseAndRecv(); err != nil {
				return pgerr.Wrap(pgerr.FromStatus(err), pgerr.ConnectionFailure, "exchange with datanode group %d", d.group)
			}
			d.cancel()
			d.stream = nil
		}
	}
	return nil
}

func (o *exchangeOut) abort() {
	for _, d := range o.dests {
		if d.cancel != nil {
			d.cancel()
		}
	}
}
