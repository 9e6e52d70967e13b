package server

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/internal/etcdwatch"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// membership is the in-memory view of nodes/: who is registered, by name.
// The watch loop writes it; the election and HTTP handlers read it.
type membership struct {
	keys meta.Keys
	log  *slog.Logger
	m    *metrics

	mu      sync.Mutex
	nodes   map[string]*meridianpb.NodeInfo
	synced  bool
	changed chan struct{} // closed and replaced on every change
}

func newMembership(keys meta.Keys, m *metrics, log *slog.Logger) *membership {
	return &membership{keys: keys, log: log, m: m, nodes: map[string]*meridianpb.NodeInfo{}, changed: make(chan struct{})}
}

// source is the etcdwatch source that keeps the view.
func (v *membership) source(cli *clientv3.Client) etcdwatch.Source {
	return etcdwatch.Source{
		Key:  v.keys.Nodes(),
		Opts: []clientv3.OpOption{clientv3.WithPrefix()},
		Load: func(ctx context.Context) (int64, error) {
			resp, err := cli.Get(ctx, v.keys.Nodes(), clientv3.WithPrefix())
			if err != nil {
				return 0, err
			}
			v.reset(resp.Kvs)
			return resp.Header.Revision, nil
		},
		Apply:  v.apply,
		Broken: func(error) { v.setSynced(false) },
		Log:    v.log,
	}
}

// reset replaces the view with kvs, logging the differences.
func (v *membership) reset(kvs []*mvccpb.KeyValue) {
	next := make(map[string]*meridianpb.NodeInfo, len(kvs))
	for _, kv := range kvs {
		if info := v.decode(kv); info != nil {
			next[info.Name] = info
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, info := range v.nodes {
		if _, ok := next[name]; !ok {
			v.left(info)
		}
	}
	for name, info := range next {
		if old, ok := v.nodes[name]; !ok || !proto.Equal(old, info) {
			v.joined(old, info)
		}
	}
	v.nodes = next
	v.synced = true
	v.publishLocked()
}

func (v *membership) apply(evs []*clientv3.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ev := range evs {
		name := strings.TrimPrefix(string(ev.Kv.Key), v.keys.Nodes())
		if ev.Type == clientv3.EventTypeDelete {
			if old, ok := v.nodes[name]; ok {
				delete(v.nodes, name)
				v.left(old)
			}
			continue
		}
		info := v.decode(ev.Kv)
		if info == nil {
			continue
		}
		old := v.nodes[name]
		v.nodes[name] = info
		v.joined(old, info)
	}
	v.publishLocked()
}

func (v *membership) decode(kv *mvccpb.KeyValue) *meridianpb.NodeInfo {
	key := string(kv.Key)
	info := &meridianpb.NodeInfo{}
	if err := proto.Unmarshal(kv.Value, info); err != nil {
		v.log.Warn("ignoring undecodable node record", "key", key, "err", err)
		return nil
	}
	if name := strings.TrimPrefix(key, v.keys.Nodes()); info.Name != name {
		v.log.Warn("ignoring node record whose name is not its key", "key", key, "name", info.Name)
		return nil
	}
	return info
}

func (v *membership) joined(old, info *meridianpb.NodeInfo) {
	attrs := []any{"node", info.Name, "role", roleLabel(info.Role), "num", info.Num,
		"grpc", info.GrpcAddr, "pg", info.PgAddr, "http", info.HttpAddr}
	if old == nil {
		v.log.Info("node joined", attrs...)
		v.m.nodeEvents.WithLabelValues("join").Inc()
	} else {
		v.log.Info("node updated", attrs...)
	}
}

func (v *membership) left(info *meridianpb.NodeInfo) {
	v.log.Info("node left", "node", info.Name, "role", roleLabel(info.Role), "num", info.Num)
	v.m.nodeEvents.WithLabelValues("leave").Inc()
}

// publishLocked updates the gauges and wakes waiters.
func (v *membership) publishLocked() {
	counts := map[meridianpb.Role]int{}
	for _, info := range v.nodes {
		counts[info.Role]++
	}
	for r := range meridianpb.Role_name {
		role := meridianpb.Role(r)
		v.m.liveNodes.WithLabelValues(roleLabel(role)).Set(float64(counts[role]))
	}
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *membership) setSynced(ok bool) {
	v.mu.Lock()
	v.synced = ok
	v.mu.Unlock()
	if !ok {
		v.m.watchBreaks.Inc()
	}
}

// isSynced says whether the view reflects etcd (false before the first
// load and between a broken watch and the reload).
func (v *membership) isSynced() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.synced
}

// snapshot returns the registered nodes sorted by name, and a channel
// closed at the next change.
func (v *membership) snapshot() ([]*meridianpb.NodeInfo, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*meridianpb.NodeInfo, 0, len(v.nodes))
	for _, info := range v.nodes {
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b *meridianpb.NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, v.changed
}
