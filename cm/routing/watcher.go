package routing

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/internal/etcdwatch"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Watcher follows the routing state of one cluster.
type Watcher struct {
	cli  *clientv3.Client
	keys meta.Keys
	log  *slog.Logger
	cur  atomic.Pointer[Snapshot]

	// state is owned by the watch goroutine (and by Watch before it).
	state state

	cancel    context.CancelFunc
	closed    chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// state is the mutable picture the snapshots are made from.
type state struct {
	rev     int64
	version uint64
	owner   []uint32 // replaced, never modified: snapshots share it
	groups  map[uint32]*meridianpb.DNGroup
	nodes   map[string]string // node name → gRPC address
}

// Watch loads the routing state of keys' cluster and follows it until
// Close. ctx bounds the first load only. log may be nil (slog.Default()).
func Watch(ctx context.Context, cli *clientv3.Client, keys meta.Keys, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{cli: cli, keys: keys, log: log.With("component", "routing"), closed: make(chan struct{})}
	src := etcdwatch.Source{
		Key:   keys.Prefix(),
		Opts:  []clientv3.OpOption{clientv3.WithPrefix()},
		Load:  w.load,
		Apply: w.apply,
		Log:   w.log,
	}
	rev, err := w.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: load %s: %w", keys.Prefix(), err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		etcdwatch.Run(runCtx, cli, src, rev)
	}()
	return w, nil
}

// Current returns the latest snapshot; it is never nil.
func (w *Watcher) Current() *Snapshot { return w.cur.Load() }

// Notify returns a channel closed at the first change after the snapshot
// that is current now. To pair a notification with the snapshot it
// follows, prefer Current().Changed() on the snapshot in hand.
func (w *Watcher) Notify() <-chan struct{} { return w.Current().Changed() }

// WaitReady waits until the bucket map exists.
func (w *Watcher) WaitReady(ctx context.Context) error {
	for {
		s := w.Current()
		if s.Ready() {
			return nil
		}
		select {
		case <-s.Changed():
		case <-ctx.Done():
			return ctx.Err()
		case <-w.closed:
			return ErrClosed
		}
	}
}

// Close stops following etcd; Current keeps returning the last snapshot.
// It returns when the watch goroutine has ended and is idempotent.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() {
		w.cancel()
		w.wg.Wait()
		close(w.closed)
	})
}

// load reads buckets, dngroups/ and nodes/ at one revision and publishes.
func (w *Watcher) load(ctx context.Context) (int64, error) {
	resp, err := w.cli.Txn(ctx).Then(
		clientv3.OpGet(w.keys.Buckets()),
		clientv3.OpGet(w.keys.DNGroups(), clientv3.WithPrefix()),
		clientv3.OpGet(w.keys.Nodes(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, err
	}
	st := state{
		rev:     resp.Header.Revision,
		version: w.state.version,
		owner:   w.state.owner,
		groups:  map[uint32]*meridianpb.DNGroup{},
		nodes:   map[string]string{},
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		w.setBuckets(&st, kvs[0])
	} else {
		st.version, st.owner = 0, nil
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		w.setGroup(&st, kv)
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		w.setNode(&st, kv)
	}
	w.state = st
	w.publish()
	return st.rev, nil
}

// apply applies one watch response and publishes if a routing key changed.
func (w *Watcher) apply(evs []*clientv3.Event) {
	st := &w.state
	changed := false
	for _, ev := range evs {
		key := string(ev.Kv.Key)
		del := ev.Type == clientv3.EventTypeDelete
		switch {
		case key == w.keys.Buckets():
			if del {
				st.version, st.owner = 0, nil
			} else {
				w.setBuckets(st, ev.Kv)
			}
		case strings.HasPrefix(key, w.keys.DNGroups()):
			if del {
				if gid, ok := w.groupID(key); ok {
					delete(st.groups, gid)
				}
			} else {
				w.setGroup(st, ev.Kv)
			}
		case strings.HasPrefix(key, w.keys.Nodes()):
			if del {
				delete(st.nodes, strings.TrimPrefix(key, w.keys.Nodes()))
			} else {
				w.setNode(st, ev.Kv)
			}
		default:
			continue
		}
		changed = true
		st.rev = max(st.rev, ev.Kv.ModRevision)
	}
	if changed {
		w.publish()
	}
}

func (w *Watcher) setBuckets(st *state, kv *mvccpb.KeyValue) {
	bm := &meridianpb.BucketMap{}
	if err := proto.Unmarshal(kv.Value, bm); err != nil {
		w.log.Error("ignoring undecodable bucket map", "key", string(kv.Key), "err", err)
		return
	}
	if len(bm.Owner) != meta.NumBuckets {
		w.log.Error("ignoring bucket map of wrong size", "entries", len(bm.Owner), "want", meta.NumBuckets, "version", bm.Version)
		return
	}
	if st.owner != nil && bm.Version < st.version {
		w.log.Warn("bucket map version went back", "from", st.version, "to", bm.Version)
	}
	st.version, st.owner = bm.Version, bm.Owner
}

func (w *Watcher) groupID(key string) (uint32, bool) {
	gid, err := strconv.ParseUint(strings.TrimPrefix(key, w.keys.DNGroups()), 10, 32)
	if err != nil {
		w.log.Warn("ignoring dngroup with a bad key", "key", key)
		return 0, false
	}
	return uint32(gid), true
}

func (w *Watcher) setGroup(st *state, kv *mvccpb.KeyValue) {
	gid, ok := w.groupID(string(kv.Key))
	if !ok {
		return
	}
	g := &meridianpb.DNGroup{}
	if err := proto.Unmarshal(kv.Value, g); err != nil {
		w.log.Error("ignoring undecodable dngroup", "key", string(kv.Key), "err", err)
		return
	}
	st.groups[gid] = g
}

func (w *Watcher) setNode(st *state, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	info := &meridianpb.NodeInfo{}
	if err := proto.Unmarshal(kv.Value, info); err != nil {
		w.log.Warn("ignoring undecodable node record", "key", key, "err", err)
		return
	}
	st.nodes[strings.TrimPrefix(key, w.keys.Nodes())] = info.GrpcAddr
}

// publish makes a snapshot of w.state current and closes the old one's
// Changed channel.
func (w *Watcher) publish() {
	st := &w.state
	s := &Snapshot{
		rev:     st.rev,
		version: st.version,
		owner:   st.owner,
		groups:  slices.Sorted(maps.Keys(st.groups)),
		leader:  make(map[uint32]string, len(st.groups)),
		addr:    make(map[uint32]string, len(st.groups)),
		changed: make(chan struct{}),
	}
	for gid, g := range st.groups {
		s.leader[gid] = g.Leader
		if a := st.nodes[g.Leader]; g.Leader != "" && a != "" {
			s.addr[gid] = a
		}
	}
	if old := w.cur.Swap(s); old != nil {
		close(old.changed)
	}
}
