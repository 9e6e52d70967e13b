package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/placement"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// fence is the leader's election key and its create revision: a write
// guarded by it happens only while this server is still the leader.
type fence struct {
	key string
	rev int64
}

func (f fence) cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)
}

// initCluster writes the initial layout unless it exists, retrying etcd
// errors until ctx ends. It returns nil once the layout exists.
func (s *Server) initCluster(ctx context.Context, f fence) error {
	for {
		err := s.tryInit(ctx, f)
		if err == nil || errors.Is(err, errLostLeadership) || ctx.Err() != nil {
			return err
		}
		s.log.Warn("cluster init failed; retrying", "err", err)
		if !sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (s *Server) tryInit(ctx context.Context, f fence) error {
	if done, err := s.checkInitialized(ctx); err != nil || done {
		return err
	}
	dns, err := s.waitDatanodes(ctx)
	if err != nil {
		return err
	}
	wrote, err := writeInit(ctx, s.cli, s.keys, s.cfg.Name, s.cfg.TxnMode, dns, f)
	if err != nil {
		return err
	}
	if wrote {
		s.log.Info("cluster initialized", "datanodes", len(dns), "bucket_map_version", 1)
		s.setInitialized()
		return nil
	}
	// The guard failed: either someone initialized first, or we are no
	// longer the leader.
	if done, err := s.checkInitialized(ctx); err != nil || done {
		return err
	}
	return errLostLeadership
}

func (s *Server) checkInitialized(ctx context.Context) (bool, error) {
	resp, err := s.cli.Get(ctx, s.keys.CMInitialized())
	if err != nil {
		return false, fmt.Errorf("read %s: %w", s.keys.CMInitialized(), err)
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	if !s.initialized.Load() {
		s.log.Info("cluster already initialized", "by", string(resp.Kvs[0].Value))
		if err := s.checkTxnMode(ctx); err != nil {
			return false, err
		}
	}
	s.setInitialized()
	return true, nil
}

// checkTxnMode compares the cluster's transaction mode with the
// configured one. A cluster initialized before the mode was a cluster
// setting gets the configured one.
func (s *Server) checkTxnMode(ctx context.Context) error {
	key := s.keys.Setting(meta.SettingTxnMode)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, s.cfg.TxnMode)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if resp.Succeeded {
		s.log.Info("cluster transaction mode set", "txn_mode", s.cfg.TxnMode)
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 && string(kvs[0].Value) != s.cfg.TxnMode {
		s.log.Warn("the cluster keeps the transaction mode chosen at init", "txn_mode", string(kvs[0].Value), "configured", s.cfg.TxnMode)
	}
	return nil
}

func (s *Server) setInitialized() {
	s.initialized.Store(true)
	s.m.initialized.Set(1)
}

// waitDatanodes waits until the membership view has Config.Datanodes
// datanodes with distinct numbers and returns them.
func (s *Server) waitDatanodes(ctx context.Context) ([]*meridianpb.NodeInfo, error) {
	want := s.cfg.Datanodes
	lastHave, lastErr := -1, ""
	for {
		nodes, changed := s.view.snapshot()
		dns, have, err := pickDatanodes(nodes, want)
		switch {
		case err != nil:
			if err.Error() != lastErr {
				s.log.Error("cannot initialize cluster", "err", err)
				lastErr = err.Error()
			}
		case dns != nil:
			return dns, nil
		default:
			if have != lastHave {
				s.log.Info("waiting for datanodes to initialize the cluster", "have", have, "want", want)
				lastHave = have
			}
			if k := s.cfg.Knobs; k != nil && k.OnInitWait != nil {
				k.OnInitWait(have, want)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pickDatanodes returns the want registered datanodes with the lowest
// numbers, or nil and how many there are if fewer. Two datanodes with the
// same number are an error.
func pickDatanodes(nodes []*meridianpb.NodeInfo, want int) ([]*meridianpb.NodeInfo, int, error) {
	var dns []*meridianpb.NodeInfo
	for _, n := range nodes {
		if n.Role == meridianpb.Role_ROLE_DATANODE {
			dns = append(dns, n)
		}
	}
	slices.SortFunc(dns, func(a, b *meridianpb.NodeInfo) int { return cmp.Compare(a.Num, b.Num) })
	for i := 1; i < len(dns); i++ {
		if dns[i].Num == dns[i-1].Num {
			return nil, len(dns), fmt.Errorf("%w: %s and %s have num %d", ErrDuplicateNum, dns[i-1].Name, dns[i].Name, dns[i].Num)
		}
	}
	if len(dns) < want {
		return nil, len(dns), nil
	}
	return dns[:want], len(dns), nil
}

// writeInit writes the initial layout over dns in one Txn, guarded by
// cm/initialized not existing and by f. It reports whether it wrote.
func writeInit(ctx context.Context, cli *clientv3.Client, keys meta.Keys, by, txnMode string, dns []*meridianpb.NodeInfo, f fence) (bool, error) {
	ops := make([]clientv3.Op, 0, len(dns)+2)
	gids := make([]uint32, 0, len(dns))
	for _, dn := range dns {
		g, err := proto.Marshal(&meridianpb.DNGroup{Id: dn.Num, Members: []string{dn.Name}, Leader: dn.Name})
		if err != nil {
			return false, err
		}
		ops = append(ops, clientv3.OpPut(keys.DNGroup(dn.Num), string(g)))
		gids = append(gids, dn.Num)
	}
	bm, err := proto.Marshal(&meridianpb.BucketMap{Version: 1, Owner: placement.Even(gids)})
	if err != nil {
		return false, err
	}
	ops = append(ops,
		clientv3.OpPut(keys.Buckets(), string(bm)),
		clientv3.OpPut(keys.Setting(meta.SettingTxnMode), txnMode),
		clientv3.OpPut(keys.CMInitialized(), by))
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(keys.CMInitialized()), "=", 0), f.cmp()).
		Then(ops...).
		Commit()
	if err != nil {
		return false, fmt.Errorf("write cluster layout: %w", err)
	}
	return resp.Succeeded, nil
}
