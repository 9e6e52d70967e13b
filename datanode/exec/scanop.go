package exec

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/colexpr"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Snapshot returns the storage snapshot of a statement's transaction
// context: its CSN, and the transaction's own writes of earlier commands
// when it has written here.
func (x *Executor) Snapshot(tc *meridianpb.TxnContext) storage.Snapshot {
	if tc == nil {
		return storage.Snapshot{CSN: math.MaxUint64}
	}
	var txn *storage.Txn
	if tc.Gxid != 0 {
		txn, _ = x.st.LookupTxn(tc.Gxid)
	}
	return storage.Snapshot{CSN: x.snapshotCSN(tc), Txn: txn, CommandID: tc.CommandId}
}

// ScanOperator returns an operator reading a plan's table scan on this
// datanode: of the node's buckets, those owns reports (every row of the
// table stored here when the node lists no buckets).
func (x *Executor) ScanOperator(snap storage.Snapshot, n *meridianpb.PlanNode, owns func(bucket uint32) bool) (sqlexec.Operator, error) {
	sn, ti, spec, err := x.scanSpec(n, owns)
	if err != nil {
		return nil, err
	}
	if spec == nil {
		return sqlexec.NewRows(nil), nil
	}
	m, err := newMatcher(spec)
	if err != nil {
		return nil, err
	}
	cols := make([]int, len(sn.Columns))
	for i, c := range sn.Columns {
		cols[i] = int(c)
	}
	// Decode only the columns the filter and the output read.
	want := make([]bool, len(ti.oids))
	for _, c := range cols {
		if c != codec.RowKeyColumn {
			want[c] = true
		}
	}
	out := slices.Clone(want)
	colexpr.MarkColumns(sn.Filter, want)
	dec := codec.NewSparseRowDecoder(ti.oids, ti.missing, want)
	if sn.Filter != nil {
		// The columns only the output reads are decoded once the filter
		// keeps a row.
		read := make([]bool, len(ti.oids))
		colexpr.MarkColumns(sn.Filter, read)
		for c := range out {
			out[c] = out[c] && !read[c]
		}
		dec.SetLate(out)
		m.finish = dec.Finish
	}
	m.decode, m.unread = dec.Decode, dec.Unread
	return &scanOp{x: x, snap: snap, spec: spec, ti: ti, m: m, dec: dec, cols: cols, limit: sn.Limit}, nil
}

// scanSpec checks a plan's table scan and returns what the datanode
// reads of it: a nil spec when it owns none of the scan's buckets.
func (x *Executor) scanSpec(n *meridianpb.PlanNode, owns func(bucket uint32) bool) (*meridianpb.ScanNode, *tableInfo, *meridianpb.ScanSpec, error) {
	sn := n.GetScan()
	if sn == nil || sn.Table == nil {
		return nil, nil, nil, pgerr.New(pgerr.InternalError, "plan node %d is not a table scan", n.Id)
	}
	ti, err := x.tables.get(sn.Table)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, c := range sn.Columns {
		if c < codec.RowKeyColumn || int(c) >= len(ti.oids) {
			return nil, nil, nil, pgerr.New(pgerr.InternalError, "scan of %s: column %d out of range", sn.Table.Name, c)
		}
	}
	spec := &meridianpb.ScanSpec{Table: sn.Table, IndexId: sn.IndexId, IndexEq: sn.IndexEq, Filter: sn.Filter}
	if len(sn.Buckets) > 0 && sn.Table.Dist != meridianpb.DistKind_DIST_REPLICATION {
		spec.Buckets = make([]uint32, 0, len(sn.Buckets))
		for _, b := range sn.Buckets {
			if owns(b) {
				spec.Buckets = append(spec.Buckets, b)
			}
		}
		if len(spec.Buckets) == 0 {
			return sn, ti, nil, nil
		}
	}
	return sn, ti, spec, nil
}

// scanOp runs a storage scan in its own goroutine, which decodes and
// filters rows and hands them over in batches.
type scanOp struct {
	x     *Executor
	snap  storage.Snapshot
	spec  *meridianpb.ScanSpec
	ti    *tableInfo
	m     *matcher
	dec   *codec.RowDecoder
	cols  []int
	limit int64

	p producer[*sqlexec.Batch]
}

var (
	_ sqlexec.Operator    = (*scanOp)(nil)
	_ sqlexec.KeyFilterer = (*scanOp)(nil)
)

// FilterKeys makes the scan drop the rows whose output column col holds
// NULL or an integer keep rejects (a hash join's build keys), before they
// are batched. Called before Open.
func (s *scanOp) FilterKeys(col int, keep func(int64) bool) bool {
	if s.p.started() || s.limit > 0 || col < 0 || col >= len(s.cols) || s.cols[col] == codec.RowKeyColumn {
		return false
	}
	s.m.keys = append(s.m.keys, keyFilter{col: s.cols[col], keep: keep})
	s.dec.Early(s.cols[col])
	return true
}

func (s *scanOp) Open(ctx context.Context) error {
	s.p.start(ctx, 2, "a scan of "+s.ti.desc.Name, s.run)
	return nil
}

func (s *scanOp) run(ctx context.Context, send func(*sqlexec.Batch) error) error {
	// The first batch starts small (a point lookup returns a row or two)
	// and grows by append; later ones are allocated whole.
	rows := make([]sqlexec.Row, 0, 8)
	slabRows := 8
	n := int64(0)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := send(&sqlexec.Batch{Rows: rows}); err != nil {
			return err
		}
		rows = nil // the next batch allocates when its first row comes
		return nil
	}
	var slab []types.Datum
	err := s.x.visit(ctx, s.snap, s.spec, s.ti, s.m, func(key []byte, _ uint64, row []types.Datum) error {
		out := row
		if len(s.cols) != len(row) || !identity(s.cols) {
			w := len(s.cols)
			if len(slab) < w {
				slab = make([]types.Datum, w*slabRows)
				slabRows = min(2*slabRows, sqlexec.BatchSize)
			}
			out, slab = slab[:w:w], slab[w:]
			for i, c := range s.cols {
				if c == codec.RowKeyColumn {
					out[i] = append([]byte(nil), key...)
					continue
				}
				out[i] = row[c]
			}
		}
		if rows == nil {
			rows = make([]sqlexec.Row, 0, sqlexec.BatchSize)
		}
		rows = append(rows, out)
		n++
		if len(rows) == sqlexec.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
		if s.limit > 0 && n >= s.limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		return storageErr(err)
	}
	return flush()
}

func identity(cols []int) bool {
	for i, c := range cols {
		if c != i {
			return false
		}
	}
	return true
}

func (s *scanOp) Next(ctx context.Context) (*sqlexec.Batch, error) {
	b, _, err := s.p.next(ctx)
	return b, err
}

func (s *scanOp) Close() { s.p.stop() }
