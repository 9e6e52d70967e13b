package session

import (
	"context"
	"sort"
	"sync"

	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/internal/rpcconn"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// dnPool keeps one gRPC connection per datanode address.
type dnPool struct {
	mu    sync.Mutex
	conns map[string]*dnConn
}

type dnConn struct {
	cc    *grpc.ClientConn
	calls *callPool
}

func (p *dnPool) conn(addr string) (*dnConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	cc, err := grpc.NewClient(addr, rpcconn.Options(
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))...)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.ConnectionFailure, "datanode %s", addr)
	}
	if p.conns == nil {
		p.conns = map[string]*dnConn{}
	}
	c := &dnConn{cc: cc, calls: newCallPool(cc)}
	p.conns[addr] = c
	return c, nil
}

// client returns the client of a datanode address; its small calls go
// over pooled streams (calls.go).
func (p *dnPool) client(addr string) (meridianpb.DataNodeClient, error) {
	c, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return dnClient{DataNodeClient: meridianpb.NewDataNodeClient(c.cc), calls: c.calls}, nil
}

// flowClient returns the Flow client of a datanode address.
func (p *dnPool) flowClient(addr string) (meridianpb.FlowClient, error) {
	c, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return flowClient{FlowClient: meridianpb.NewFlowClient(c.cc), calls: c.calls}, nil
}

func (p *dnPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.calls.dropIdle()
		_ = c.cc.Close()
	}
	p.conns = nil
}

// target is one datanode group a statement reaches, with the buckets it
// must read there (nil: all of the table on that node).
type target struct {
	group   uint32
	buckets []uint32
}

// route computes the datanode groups of an access path. Values must be
// bound (constants). write: replicated tables go to every group.
func route(snap *routing.Snapshot, a *planner.Access, write bool, pick uint32) ([]target, error) {
	groups := snap.Groups()
	if len(groups) == 0 {
		return nil, pgerr.New(pgerr.ConnectionFailure, "no datanodes in the cluster")
	}
	t := a.Table
	if t.Dist == meridianpb.DistKind_DIST_REPLICATION {
		if write {
			out := make([]target, len(groups))
			for i, g := range groups {
				out[i] = target{group: g}
			}
			return out, nil
		}
		return []target{{group: groups[int(pick)%len(groups)]}}, nil
	}
	if a.Route.DistValues == nil {
		out := make([]target, len(groups))
		for i, g := range groups {
			out[i] = target{group: g}
		}
		return out, nil
	}
	// Cartesian product of the pinned values of each distribution column.
	combos := [][]types.Datum{{}}
	for _, vals := range a.Route.DistValues {
		var next [][]types.Datum
		for _, v := range vals {
			// bindAccess folded v to a constant of the column's type.
			d, err := expr.ConstValue(v)
			if err != nil {
				return nil, err
			}
			if d == nil {
				continue // = NULL matches nothing
			}
			for _, c := range combos {
				next = append(next, append(append([]types.Datum(nil), c...), d))
			}
		}
		combos = next
	}
	byGroup := map[uint32][]uint32{}
	for _, c := range combos {
		b := codec.Bucket(c)
		g := snap.Owner(b)
		byGroup[g] = append(byGroup[g], b)
	}
	out := make([]target, 0, len(byGroup))
	for g, bs := range byGroup {
		sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
		out = append(out, target{group: g, buckets: dedupe(bs)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].group < out[j].group })
	return out, nil
}

func dedupe(bs []uint32) []uint32 {
	out := bs[:0]
	for i, b := range bs {
		if i == 0 || b != bs[i-1] {
			out = append(out, b)
		}
	}
	return out
}

// dn returns the client of a group's leader.
func (e *Engine) dn(snap *routing.Snapshot, group uint32) (meridianpb.DataNodeClient, error) {
	addr, ok := snap.Addr(group)
	if !ok {
		return nil, pgerr.New(pgerr.ConnectionFailure, "datanode group %d has no live leader", group)
	}
	return e.pool.client(addr)
}

// execOn runs one request on one group and streams the decoded rows.
func (e *Engine) execOn(ctx context.Context, snap *routing.Snapshot, group uint32, req *meridianpb.ExecRequest,
	oids []uint32, emit func(row []types.Datum) error) (*meridianpb.ExecResponse, error) {
	c, err := e.dn(snap, group)
	if err != nil {
		return nil, err
	}
	if smallResult(req) {
		resp, err := c.ExecUnary(ctx, req)
		if err != nil {
			return nil, pgerr.FromStatus(err)
		}
		return resp, emitRows(resp.Rows, oids, emit)
	}
	stream, err := c.Exec(ctx, req)
	if err != nil {
		return nil, pgerr.FromStatus(err)
	}
	var indexOps []*meridianpb.GlobalIndexOp
	for {
		resp, err := stream.Recv()
		if err != nil {
			return nil, pgerr.FromStatus(err)
		}
		if err := emitRows(resp.Rows, oids, emit); err != nil {
			return nil, err
		}
		if resp.Done {
			if indexOps != nil {
				resp.IndexOps = append(indexOps, resp.IndexOps...)
			}
			return resp, nil
		}
		indexOps = append(indexOps, resp.IndexOps...)
	}
}

// smallResult reports a request whose result fits one message: inserts
// (their RETURNING rows are as many as the rows sent) and statements that
// reach at most one row through a unique index. Those use the unary RPC,
// which costs less than a stream.
func smallResult(req *meridianpb.ExecRequest) bool {
	var spec *meridianpb.ScanSpec
	switch op := req.Op.(type) {
	case *meridianpb.ExecRequest_Insert, *meridianpb.ExecRequest_GlobalIndexWrite:
		return true
	case *meridianpb.ExecRequest_Scan:
		spec = op.Scan
	case *meridianpb.ExecRequest_Update:
		spec = op.Update.Target
	case *meridianpb.ExecRequest_Delete:
		spec = op.Delete.Target
	}
	if spec == nil || spec.IndexId == 0 {
		return false
	}
	for _, ix := range spec.Table.Indexes {
		if ix.Id == spec.IndexId {
			return ix.Unique && len(spec.IndexEq) == len(ix.Columns)
		}
	}
	return false
}

// emitRows decodes a batch of rows from a datanode.
func emitRows(rows [][]byte, oids []uint32, emit func(row []types.Datum) error) error {
	for _, r := range rows {
		row, err := decodeRow(oids, r)
		if err != nil {
			return err
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return nil
}

func decodeRow(oids []uint32, r []byte) ([]types.Datum, error) {
	row, err := codec.DecodeRow(oids, nil, r)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.InternalError, "decode row from datanode")
	}
	return row, nil
}
