package exec

import (
	"context"
	"fmt"
	"slices"

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
	colexpr.MarkColumns(sn.Filter, want)
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
		// The columns only the output reads are decoded for the rows the
		// filter keeps.
		read := make([]bool, len(ti.oids))
		colexpr.MarkColumns(sn.Filter, read)
		late := make([]bool, len(ti.oids))
		for _, c := range s.cols {
			late[c] = !read[c]
		}
		s.dec.SetLate(late)
		s.late = slices.Contains(late, true)
		// A row outside the range the filter bounds an integer or date
		// column to is dropped as soon as that column is decoded (TPC-H
		// Q6's, Q14's, Q15's ranges of l_shipdate pass a seventh of
		// lineitem or less: the other columns of the rest are not read).
		for _, r := range colexpr.IntRanges(sn.Filter, ti.oids) {
			s.gate(r.Col, r.Has)
		}
	}
	return s, nil
}

// gate makes the decoder drop the rows whose table column c holds NULL or
// a value keep rejects as soon as it has decoded c (a gate, decoded
// first), with the gate already on c if any. A gate that drops under a
// tenth of the first rows turns itself off (keyFilter).
func (s *colScan) gate(c int, keep func(int64) bool) {
	if prev := s.gates[c]; prev != nil {
		next := keep
		keep = func(v int64) bool { return prev(v) && next(v) }
	}
	if s.gates == nil {
		s.gates = map[int]func(int64) bool{}
	}
	s.gates[c] = keep
	k := &keyFilter{col: c, keep: keep}
	s.dec.Early(c)
	s.dec.SetGate(c, k.pass)
}

// ColScanRows returns the vectorized scan of a plan's table scan as an
// operator of rows: the filter runs on column batches (and the columns
// only the output reads are decoded for the rows it keeps), then the rows
// kept become rows of datums for the row operators above. It returns nil
// for the scans ColScan does not read. Even without a filter it is faster
// than the row scan (BenchmarkScanRows: decoding into vectors, then rows
// from per-batch slabs of each type, allocates half as much).
func (x *Executor) ColScanRows(snap storage.Snapshot, n *meridianpb.PlanNode, owns func(bucket uint32) bool) (sqlexec.Operator, error) {
	if sn := n.GetScan(); sn == nil {
		return nil, nil
	}
	src, err := x.ColScan(snap, n, owns)
	if src == nil || err != nil {
		return nil, err
	}
	return sqlexec.ColRows(src), nil
}

// FilterKeys installs a join's runtime filter on output column col,
// before the scan starts: the scan drops the rows whose column col holds
// NULL or an integer keep rejects as soon as it has decoded that column
// (a gate of its decoder, which decodes it first): the row's other
// columns are not read, and its filter does not see the row.
func (s *colScan) FilterKeys(col int, keep func(int64) bool) bool {
	if s.p.started() || col < 0 || col >= len(s.cols) || coldata.KindOf(s.out[col]) != coldata.Int {
		return false
	}
	if s.spec == nil {
		return true // no rows
	}
	s.gate(s.cols[col], keep)
	return true
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
	gates   map[int]func(int64) bool // by table column: what the decoder's gate keeps
	// late: the decoder has late columns; lateOff: the last batch's
	// filter kept most of its rows, so this one decodes every column at
	// once (late decoding pays while most rows are rejected).
	late    bool
	lateOff bool

	p    producer[*scanBatch]
	free chan *scanBatch
	held *scanBatch // the batch the consumer has
}

// scanBatch is a batch of table columns (nil where not decoded) and the
// view of it the scan outputs.
type scanBatch struct {
	table, view coldata.Batch
	vecs        []*coldata.Vec // the decoded columns, in decoded's order
	// raw holds the encoded values of the late columns of a batch decoded
	// late (ColDecoder.DecodeEarly), row r's at raw[at[r]:at[r+1]].
	raw []byte
	at  []int
}

// scanBatches is how many batches cycle: one filled, one consumed, one
// waiting.
const scanBatches = 3

var (
	_ sqlexec.ColSource   = (*colScan)(nil)
	_ sqlexec.KeyFilterer = (*colScan)(nil)
)

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
	late := false
	take := func() error {
		select {
		case sb = <-s.free:
		case <-ctx.Done():
			return ctx.Err()
		}
		sb.table.Reset()
		late = s.late && !s.lateOff
		sb.raw, sb.at = sb.raw[:0], append(sb.at[:0], 0)
		return nil
	}
	// flush filters the batch, decodes its late columns for the rows
	// kept and hands it over when rows are left.
	flush := func() error {
		t := &sb.table
		t.SelectAll(t.N)
		if s.filter != nil {
			if err := s.filter(t); err != nil {
				return err
			}
		}
		if s.late {
			s.lateOff = len(t.Sel)*2 > t.N
		}
		if late {
			for _, r := range t.Sel {
				if err := s.dec.DecodeLate(sb.raw[sb.at[r]:sb.at[r+1]], sb.vecs, r); err != nil {
					return fmt.Errorf("decode row: %w", err)
				}
			}
		}
		if len(t.Sel) == 0 {
			t.Reset()
			late = s.late && !s.lateOff
			sb.raw, sb.at = sb.raw[:0], sb.at[:1]
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
	err := s.x.scanRows(ctx, s.snap, s.spec, s.ti, false, func(_, value []byte, _ uint64) error {
		var err error
		if late {
			start := len(sb.raw)
			if sb.raw, err = s.dec.DecodeEarly(value, sb.vecs, sb.table.N, sb.raw); err == nil {
				sb.at = append(sb.at, len(sb.raw))
			} else {
				sb.raw = sb.raw[:start]
			}
		} else {
			err = s.dec.Decode(value, sb.vecs, sb.table.N)
		}
		if err == codec.ErrRejected {
			return nil // a join's runtime filter: its vector row is decoded into again
		}
		if err != nil {
			return fmt.Errorf("decode row of %s: %w", s.ti.desc.Name, err)
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
