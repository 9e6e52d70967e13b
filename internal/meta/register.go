package meta

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Register writes info at nodes/<name> under a lease of ttl seconds and
// keeps the lease alive until ctx ends; then the key is revoked. If the
// lease is lost (etcd unreachable longer than ttl) it registers again.
// It returns once the first registration succeeded.
func Register(ctx context.Context, cli *clientv3.Client, keys Keys, info *meridianpb.NodeInfo, ttl int64, log *slog.Logger) error {
	val, err := proto.Marshal(info)
	if err != nil {
		return err
	}
	key := keys.Node(info.Name)
	grant := func() (<-chan *clientv3.LeaseKeepAliveResponse, clientv3.LeaseID, error) {
		lease, err := cli.Grant(ctx, ttl)
		if err != nil {
			return nil, 0, fmt.Errorf("grant lease: %w", err)
		}
		if _, err := cli.Put(ctx, key, string(val), clientv3.WithLease(lease.ID)); err != nil {
			return nil, 0, fmt.Errorf("register %s: %w", key, err)
		}
		ka, err := cli.KeepAlive(ctx, lease.ID)
		if err != nil {
			return nil, 0, fmt.Errorf("keepalive: %w", err)
		}
		return ka, lease.ID, nil
	}
	ka, id, err := grant()
	if err != nil {
		return err
	}
	go func() {
		for {
			for range ka {
			}
			if ctx.Err() != nil {
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, _ = cli.Revoke(rctx, id)
				cancel()
				return
			}
			log.Warn("node lease lost; registering again", "key", key)
			for {
				var err error
				ka, id, err = grant()
				if err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
	}()
	return nil
}

// LiveCoordinators reads the registered coordinators: number → the first
// transaction counter of their current incarnation
// (NodeInfo.FirstGxidCounter).
func LiveCoordinators(ctx context.Context, cli *clientv3.Client, keys Keys) (map[uint32]uint64, error) {
	resp, err := cli.Get(ctx, keys.Nodes(), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	live := map[uint32]uint64{}
	for _, kv := range resp.Kvs {
		var n meridianpb.NodeInfo
		if err := proto.Unmarshal(kv.Value, &n); err != nil || n.Role != meridianpb.Role_ROLE_COORDINATOR {
			continue
		}
		live[n.Num] = n.FirstGxidCounter
	}
	return live, nil
}

// Orphan reports whether the coordinator that began global transaction
// gxid (number gxid>>48) is gone or restarted since (the transaction's
// counter is below its incarnation's first), given LiveCoordinators.
func Orphan(gxid uint64, live map[uint32]uint64) bool {
	cn, counter := uint32(gxid>>48), gxid&(1<<48-1)
	first, ok := live[cn]
	return !ok || counter < first
}

// WaitSetting returns the value of settings/<name>, waiting (bounded by
// ctx) until it is written if it is not yet (a cluster not initialized).
func WaitSetting(ctx context.Context, cli *clientv3.Client, keys Keys, name string) (string, error) {
	key := keys.Setting(name)
	for {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", key, err)
		}
		if len(resp.Kvs) > 0 {
			return string(resp.Kvs[0].Value), nil
		}
		wctx, cancel := context.WithCancel(ctx)
		wch := cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Kv != nil && len(ev.Kv.Value) > 0 {
					cancel()
					return string(ev.Kv.Value), nil
				}
			}
		}
		cancel()
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("waiting for %s (is the cluster initialized?): %w", key, err)
		}
	}
}
