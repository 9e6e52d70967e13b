package exec

import (
	"context"
	"fmt"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
)

// ColScan returns a scan of a plan's table scan into column batches (the
// vectorized engine's), or nil when the scan is not one it reads: an
// index scan, a scan with a row limit, or one whose output holds row
// keys.
func (x *Executor) ColScan(snap storage.Snapshot, n *meridianpb.PlanNode, owns func(bucket uint32) bool) (sqlexec.ColSource, error) {
	sn := n.GetScan()
	if sn == nil || sn.IndexId != 0 || sn.Limit > 0 {
		return nil, nil
	}
	for _, c := range sn.Columns {
		if c == codec.RowKeyColumn {
			return nil, nil
		}
	}
	sn, ti, spec, err := x.scanSpec(n, owns)
	if err != nil {
		return nil, err
	}
	s := &colScan{x: x, snap: snap, spec: spec, ti: ti, out: make([]uint32, len(sn.Columns))}
	for i, c := range sn.Columns {
		s.out[i] = ti.oids[c]
	}
	if spec == nil {
		return s, nil // no bucket here: no rows
	}
	// Decode the columns the filter and the output read, each once, into
	// vectors at their table positions.
	want := make([]bool, len(ti.oids))
	for _, c := range sn.Columns {
		want[c] = true
	}
	markColumns(sn.Filter, want)
	for c, w := range want {
		if w {
			s.decoded = append(s.decoded, c)
		}
	}
	s.dec = codec.NewColDecoder(ti.oids, ti.missing, s.decoded)
	s.cols = make([]int, len(sn.Columns))
	for i, c := range sn.Columns {
		s.cols[i] = int(c)
	}
	if sn.Filter != nil {
		c := &colexpr.Compiler{In: ti.oids}
		if s.filter, err = c.CompileFilter(sn.Filter); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// colScan reads a table scan into column batches in its own goroutine,
// which decodes and filters them while the consumer works on the batch
// before: batches cycle between the two through channels.
type colScan struct {
	x       *Executor
	snap    storage.Snapshot
	spec    *meridianpb.ScanSpec // nil: no rows
	ti      *tableInfo
	out     []uint32 // output column types
	cols    []int    // output columns (table positions)
	decoded []int    // table columns decoded, ascending
	dec     *codec.ColDecoder
	filter  colexpr.Filter

	p    producer[*scanBatch]
	free chan *scanBatch
	held *scanBatch // the batch the consumer has
}

// scanBatch is a batch of table columns (nil where not decoded) and the
// view of it the scan outputs.
type scanBatch struct {
	table, view coldata.Batch
	vecs        []*coldata.Vec // the decoded columns, in decoded's order
}

// scanBatches is how many batches cycle: one filled, one consumed, one
// waiting.
const scanBatches = 3

var _ sqlexec.ColSource = (*colScan)(nil)

func (s *colScan) Types() []uint32 { return s.out }

func (s *colScan) newBatch() *scanBatch {
	sb := &scanBatch{}
	sb.table.Vecs = make([]*coldata.Vec, len(s.ti.oids))
	sb.table.Sel = make([]int, 0, coldata.BatchSize)
	for _, c := range s.decoded {
		v := coldata.NewVec(s.ti.oids[c], coldata.BatchSize)
		sb.table.Vecs[c] = v
		sb.vecs = append(sb.vecs, v)
	}
	sb.view.Vecs = make([]*coldata.Vec, len(s.cols))
	for i, c := range s.cols {
		sb.view.Vecs[i] = sb.table.Vecs[c]
	}
	return sb
}

func (s *colScan) Open(ctx context.Context) error {
	if s.spec == nil {
		return nil // no bucket here: no rows
	}
	s.free = make(chan *scanBatch, scanBatches)
	for i := 0; i < scanBatches; i++ {
		s.free <- s.newBatch()
	}
	s.p.start(ctx, scanBatches, "a scan of "+s.ti.desc.Name, s.run)
	return nil
}

func (s *colScan) run(ctx context.Context, send func(*scanBatch) error) error {
	var sb *scanBatch
	take := func() error {
		select {
		case sb = <-s.free:
		case <-ctx.Done():
			return ctx.Err()
		}
		sb.table.Reset()
		return nil
	}
	// flush filters the batch and hands it over when rows are left.
	flush := func() error {
		t := &sb.table
		t.SelectAll(t.N)
		if s.filter != nil {
			if err := s.filter(t); err != nil {
				return err
			}
		}
		if len(t.Sel) == 0 {
			t.Reset()
			return nil
		}
		sb.view.N, sb.view.Sel = t.N, t.Sel
		if err := send(sb); err != nil {
			return err
		}
		return take()
	}
	if err := take(); err != nil {
		return err
	}
	err := s.x.scanRows(ctx, s.snap, s.spec, s.ti, func(key, value []byte, _ uint64) error {
		if err := s.dec.Decode(value, sb.vecs, sb.table.N); err != nil {
			return fmt.Errorf("decode row %s: %w", codec.FormatKey(key), err)
		}
		if sb.table.N++; sb.table.N == coldata.BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil && sb.table.N > 0 {
		err = flush()
	}
	if err != nil {
		return storageErr(err)
	}
	return nil
}

func (s *colScan) Next(ctx context.Context) (*coldata.Batch, error) {
	if s.held != nil {
		s.free <- s.held // never blocks: the channel holds every batch
		s.held = nil
	}
	sb, ok, err := s.p.next(ctx)
	if !ok {
		return nil, err
	}
	s.held = sb
	return &sb.view, nil
}

func (s *colScan) Close() { s.p.stop() }
