package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/cm/deadlock"
	"github.com/meridian-db/meridian/internal/rpcconn"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// detectDeadlocks is the leader's global deadlock detector: every
// Config.DeadlockInterval it reads the wait-for edges of every datanode
// (WaitEdges), finds the ripe cycles (cm/deadlock), confirms each cycle's
// waits are all still in progress, and fails the victim's wait with 40P01
// (BreakWait), whose statement then fails and whose transaction its
// coordinator aborts, releasing its locks. It runs until ctx ends (the
// leadership does).
//
// A victim fails within its deadlock_timeout plus one interval and the
// RPCs' time. Detection needs the CM leader; without one, cycles across
// datanodes last until statement_timeout (a datanode still finds the
// cycles within itself).
func (s *Server) detectDeadlocks(ctx context.Context) {
	if s.cfg.DeadlockInterval < 0 {
		<-ctx.Done()
		return
	}
	dn := &dnClients{conns: map[string]*grpc.ClientConn{}}
	defer dn.close()
	t := time.NewTicker(s.cfg.deadlockInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.deadlockRound(ctx, dn)
	}
}

// dnClients keeps one connection per datanode address.
type dnClients struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (d *dnClients) client(addr string) (meridianpb.DataNodeClient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.conns[addr]
	if c == nil {
		var err error
		if c, err = grpc.NewClient(addr, rpcconn.Options()...); err != nil {
			return nil, err
		}
		d.conns[addr] = c
	}
	return meridianpb.NewDataNodeClient(c), nil
}

func (d *dnClients) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// deadlockRound is one poll: read, find, confirm, break.
func (s *Server) deadlockRound(ctx context.Context, dn *dnClients) {
	addrs := map[uint32]string{}
	nodes, _ := s.view.snapshot()
	for _, n := range nodes {
		if n.Role == meridianpb.Role_ROLE_DATANODE && n.GrpcAddr != "" {
			addrs[n.Num] = n.GrpcAddr
		}
	}
	edges := s.pollEdges(ctx, dn, addrs, nil)
	for _, v := range deadlock.Find(edges, time.Now()) {
		if !s.confirm(ctx, dn, addrs, v.Cycle) {
			s.log.Debug("deadlock cycle gone before confirmation", "victim", v.Break.Waiter)
			continue
		}
		c, err := dn.client(addrs[v.Break.Node])
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := c.BreakWait(rctx, &meridianpb.BreakWaitRequest{Id: v.Break.ID, Detail: v.Detail()})
		cancel()
		if err != nil || !resp.Found {
			s.log.Debug("deadlock victim's wait ended first", "victim", v.Break.Waiter, "err", err)
			continue
		}
		s.m.deadlocks.Inc()
		s.log.Info("deadlock: victim chosen", "transaction", v.Break.Waiter, "datanode", v.Break.Node,
			"waits", len(v.Cycle), "detail", v.Detail())
	}
}

// pollEdges reads the waits in progress of the datanodes in addrs (only
// those of ids, per datanode, when ids is not nil), with their start by
// this server's clock. A datanode that does not answer adds no edges.
func (s *Server) pollEdges(ctx context.Context, dn *dnClients, addrs map[uint32]string, ids map[uint32][]uint64) []deadlock.Edge {
	var mu sync.Mutex
	var edges []deadlock.Edge
	var wg sync.WaitGroup
	for num, addr := range addrs {
		if ids != nil && len(ids[num]) == 0 {
			continue
		}
		wg.Add(1)
		go func(num uint32, addr string) {
			defer wg.Done()
			c, err := dn.client(addr)
			if err != nil {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			resp, err := c.WaitEdges(rctx, &meridianpb.WaitEdgesRequest{Ids: ids[num]})
			if err != nil {
				s.log.Debug("wait edges", "datanode", num, "err", err)
				return
			}
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, e := range resp.Edges {
				edges = append(edges, deadlock.Edge{Node: num, ID: e.Id, Waiter: e.WaiterGxid, Holder: e.HolderGxid,
					WaiterPID: e.WaiterPid, HolderPID: e.HolderPid,
					Start:           now.Add(-time.Duration(e.WaitedUs) * time.Microsecond),
					DeadlockTimeout: time.Duration(e.DeadlockTimeoutUs) * time.Microsecond})
			}
		}(num, addr)
	}
	wg.Wait()
	return edges
}

// confirm reports whether every wait of a cycle is still in progress
// (asked after the poll that found them: see cm/deadlock).
func (s *Server) confirm(ctx context.Context, dn *dnClients, addrs map[uint32]string, cycle []deadlock.Edge) bool {
	ids := map[uint32][]uint64{}
	for _, e := range cycle {
		ids[e.Node] = append(ids[e.Node], e.ID)
	}
	still := map[[2]uint64]bool{}
	for _, e := range s.pollEdges(ctx, dn, addrs, ids) {
		still[[2]uint64{uint64(e.Node), e.ID}] = true
	}
	for _, e := range cycle {
		if !still[[2]uint64{uint64(e.Node), e.ID}] {
			return false
		}
	}
	return true
}
