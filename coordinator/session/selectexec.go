package session

import (
	"context"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func scanSpec(a planner.Access, t target, projection []*planner.Expr, limit int64) *meridianpb.ScanSpec {
	return &meridianpb.ScanSpec{Table: a.Table, Buckets: t.buckets, IndexId: a.IndexID, IndexEq: a.IndexEq,
		Filter: a.Filter, Projection: projection, Limit: limit}
}

func constInt(e *planner.Expr, what string) (int64, error) {
	if e == nil {
		return -1, nil
	}
	v, err := expr.Compile(e)
	if err != nil {
		return 0, err
	}
	d, err := v(nil)
	if err != nil {
		return 0, err
	}
	if d == nil {
		return -1, nil
	}
	n := d.(int64)
	if n < 0 {
		code := "2201W" // invalid_row_count_in_limit_clause
		if what == "OFFSET" {
			code = "2201X" // invalid_row_count_in_result_offset_clause
		}
		return 0, pgerr.New(code, "%s must not be negative", what)
	}
	return n, nil
}

// scanIter reads one scan from the datanodes of a route.
func (s *Session) scanIter(ctx context.Context, env *planner.BindEnv, snap *routing.Snapshot, targets []target, a planner.Access, cols []int, limit int64, orderBy []*meridianpb.SortKey) (rowIter, error) {
	proj := make([]*planner.Expr, len(cols))
	oids := make([]uint32, len(cols))
	for i, c := range cols {
		col := a.Table.Columns[c]
		proj[i] = expr.Column(c, types.Type{OID: col.TypeOid, Typmod: col.Typmod})
		oids[i] = col.TypeOid
	}
	if len(proj) == 0 {
		// Nothing needed but the row count: project a constant.
		proj = []*planner.Expr{expr.Const(types.T(types.Bool), true)}
		oids = []uint32{types.Bool}
	}
	tc, err := s.readTxn(ctx, env, len(targets))
	if err != nil {
		return nil, err
	}
	return s.fanout(ctx, snap, targets, oids, func(t target) *meridianpb.ExecRequest {
		spec := scanSpec(a, t, proj, limit)
		spec.OrderBy = orderBy
		return &meridianpb.ExecRequest{Txn: tc, Op: &meridianpb.ExecRequest_Scan{Scan: spec}}
	})
}

// fanoutIter merges rows streamed from several datanodes.
type fanoutIter struct {
	cancel context.CancelFunc
	ch     chan batchOrErr
	cur    [][]types.Datum
	i      int
	open   int
}

type batchOrErr struct {
	rows [][]types.Datum
	err  error
	done bool
}

func (s *Session) fanout(ctx context.Context, snap *routing.Snapshot, targets []target, oids []uint32, req func(target) *meridianpb.ExecRequest) (rowIter, error) {
	if len(targets) == 1 {
		r := req(targets[0])
		if smallResult(r) {
			var rows [][]types.Datum
			if _, err := s.e.execOn(ctx, snap, targets[0].group, r, oids, func(row []types.Datum) error {
				rows = append(rows, row)
				return nil
			}); err != nil {
				return nil, errTimeout(ctx, err)
			}
			return &sliceIter{rows: rows}, nil
		}
		return s.streamFrom(ctx, snap, targets[0], oids, r)
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &fanoutIter{cancel: cancel, ch: make(chan batchOrErr, 4*len(targets)), open: len(targets)}
	for _, t := range targets {
		go func(t target) {
			var batch [][]types.Datum
			_, err := s.e.execOn(ctx, snap, t.group, req(t), oids, func(row []types.Datum) error {
				batch = append(batch, row)
				if len(batch) >= 256 {
					select {
					case it.ch <- batchOrErr{rows: batch}:
					case <-ctx.Done():
						return ctx.Err()
					}
					batch = nil
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				select {
				case it.ch <- batchOrErr{rows: batch}:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			select {
			case it.ch <- batchOrErr{err: err, done: true}:
			case <-ctx.Done():
			}
		}(t)
	}
	return it, nil
}

func (it *fanoutIter) next(ctx context.Context) ([]types.Datum, error) {
	for it.i >= len(it.cur) {
		if it.open == 0 {
			return nil, nil
		}
		select {
		case b := <-it.ch:
			if b.done {
				it.open--
				if b.err != nil {
					it.close()
					return nil, errTimeout(ctx, b.err)
				}
				continue
			}
			it.cur, it.i = b.rows, 0
		case <-ctx.Done():
			it.close()
			return nil, errTimeout(ctx, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request"))
		}
	}
	it.i++
	return it.cur[it.i-1], nil
}

func (it *fanoutIter) close() {
	it.cancel()
	it.open = 0
}

// streamIter reads one datanode's stream in the caller's goroutine.
type streamIter struct {
	cancel context.CancelFunc
	stream meridianpb.DataNode_ExecClient
	oids   []uint32
	rows   [][]byte
	i      int
	done   bool
}

func (s *Session) streamFrom(ctx context.Context, snap *routing.Snapshot, t target, oids []uint32, req *meridianpb.ExecRequest) (rowIter, error) {
	c, err := s.e.dn(snap, t.group)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Exec(ctx, req)
	if err != nil {
		cancel()
		return nil, pgerr.FromStatus(err)
	}
	return &streamIter{cancel: cancel, stream: stream, oids: oids}, nil
}

func (it *streamIter) next(ctx context.Context) ([]types.Datum, error) {
	for it.i >= len(it.rows) {
		if it.done {
			return nil, nil
		}
		resp, err := it.stream.Recv()
		if err != nil {
			it.close()
			return nil, errTimeout(ctx, pgerr.FromStatus(err))
		}
		it.rows, it.i, it.done = resp.Rows, 0, resp.Done
	}
	it.i++
	row, err := decodeRow(it.oids, it.rows[it.i-1])
	if err != nil {
		it.close()
		return nil, err
	}
	return row, nil
}

func (it *streamIter) close() {
	if it.cancel != nil {
		it.cancel()
	}
	it.done, it.rows = true, nil
}

// Keys of a statement's executor state (BindEnv.Memo).
type (
	// stmtSnapshot: the TxnContext every read of the statement uses.
	stmtSnapshot struct{}
	// multiScan: the statement reads more than one scan, so it needs a
	// global snapshot even if one scan reaches a single datanode.
	multiScan struct{}
)

// readTxn is the transaction context of a statement's reads: one per
// statement, so that all its scans and subqueries see one snapshot.
func (s *Session) readTxn(ctx context.Context, env *planner.BindEnv, ntargets int) (*meridianpb.TxnContext, error) {
	if env == nil || env.Memo == nil {
		return s.stmtTxn(ctx, ntargets, stmtRead)
	}
	if tc, ok := env.Memo[stmtSnapshot{}].(*meridianpb.TxnContext); ok {
		return tc, nil
	}
	if env.Memo[multiScan{}] == true {
		ntargets = max(ntargets, 2)
	}
	tc, err := s.stmtTxn(ctx, ntargets, stmtRead)
	if err == nil {
		env.Memo[stmtSnapshot{}] = tc
	}
	return tc, err
}
