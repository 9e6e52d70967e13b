package routing

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/internal/cmtest"
	"github.com/meridian-db/meridian/cm/placement"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

var keys = meta.NewKeys("test")

func logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func mustMarshal(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func groupOp(t *testing.T, gid uint32, leader string) clientv3.Op {
	return clientv3.OpPut(keys.DNGroup(gid), mustMarshal(t, &meridianpb.DNGroup{Id: gid, Members: []string{leader}, Leader: leader}))
}

func nodeOp(t *testing.T, name string, num uint32, addr string) clientv3.Op {
	return clientv3.OpPut(keys.Node(name), mustMarshal(t, &meridianpb.NodeInfo{Name: name, Role: meridianpb.Role_ROLE_DATANODE, Num: num, GrpcAddr: addr}))
}

func mapOp(t *testing.T, version uint64, owner []uint32) clientv3.Op {
	return clientv3.OpPut(keys.Buckets(), mustMarshal(t, &meridianpb.BucketMap{Version: version, Owner: owner}))
}

func txn(t *testing.T, cli *clientv3.Client, ops ...clientv3.Op) {
	t.Helper()
	if _, err := cli.Txn(cmtest.Context(t, 5*time.Second)).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
}

func waitVersion(t *testing.T, w *Watcher, v uint64) *Snapshot {
	t.Helper()
	cmtest.Eventually(t, 5*time.Second, "bucket map version", func() bool { return w.Current().Version() == v })
	return w.Current()
}

func checkOwners(t *testing.T, s *Snapshot, want []uint32) {
	t.Helper()
	for b := range uint32(meta.NumBuckets) {
		if got := s.Owner(b); got != want[b] {
			t.Fatalf("Owner(%d) = %d, want %d", b, got, want[b])
		}
	}
	if s.Owner(meta.NumBuckets) != NoGroup {
		t.Fatal("Owner out of range is not NoGroup")
	}
}

func TestWatch(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	// Unrelated keys are there before and change during the test.
	txn(t, cli, clientv3.OpPut(keys.CatalogVersion(), "1"), nodeOp(t, "dn1", 1, "10.0.0.1:7000"), nodeOp(t, "dn2", 2, "10.0.0.2:7000"))

	w, err := Watch(cmtest.Context(t, 5*time.Second), cli, keys, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	defer w.Close()

	s0 := w.Current()
	if s0.Ready() || s0.Version() != 0 || s0.Owner(0) != NoGroup || len(s0.Groups()) != 0 {
		t.Fatal("snapshot ready before the map exists")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := w.WaitReady(ctx); err != context.DeadlineExceeded {
		t.Fatalf("WaitReady before init = %v", err)
	}
	cancel()

	// The initial layout, as the CM writes it: one Txn.
	initial := placement.Even([]uint32{1, 2})
	txn(t, cli, groupOp(t, 1, "dn1"), groupOp(t, 2, "dn2"), mapOp(t, 1, initial))
	if err := w.WaitReady(cmtest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s0.Changed():
	default:
		t.Fatal("old snapshot's Changed not closed")
	}
	s1 := w.Current()
	if s1.Version() != 1 || !slices.Equal(s1.Groups(), []uint32{1, 2}) {
		t.Fatalf("version %d groups %v", s1.Version(), s1.Groups())
	}
	checkOwners(t, s1, initial)
	if a, ok := s1.Addr(1); !ok || a != "10.0.0.1:7000" {
		t.Fatalf("Addr(1) = %q %v", a, ok)
	}
	if _, ok := s1.Addr(3); ok {
		t.Fatal("Addr of an unknown group")
	}

	// Catalog changes pass through the same watch and are dropped.
	txn(t, cli, clientv3.OpPut(keys.CatalogVersion(), "2"))

	// Scale-out in one Txn: group 3, its node, the new map. The snapshot
	// that has the new map has the new group and its address too.
	notify := w.Notify()
	moved := placement.Apply(initial, placement.Rebalance(initial, []uint32{1, 2, 3}))
	txn(t, cli, nodeOp(t, "dn3", 3, "10.0.0.3:7000"), groupOp(t, 3, "dn3"), mapOp(t, 2, moved))
	<-notify
	s2 := w.Current()
	if s2.Version() != 2 {
		t.Fatalf("version %d after one Txn", s2.Version())
	}
	if s1.Version() != 1 || s1.Owner(meta.NumBuckets-1) != 2 {
		t.Fatal("old snapshot changed")
	}
	checkOwners(t, s2, moved)
	if a, ok := s2.Addr(3); !ok || a != "10.0.0.3:7000" || !slices.Equal(s2.Groups(), []uint32{1, 2, 3}) {
		t.Fatalf("group 3: %q %v, groups %v", a, ok, s2.Groups())
	}

	// Failover of group 1 to dn1b.
	txn(t, cli, nodeOp(t, "dn1b", 1, "10.0.0.11:7000"))
	txn(t, cli, groupOp(t, 1, "dn1b"))
	cmtest.Eventually(t, 5*time.Second, "new leader address", func() bool {
		a, _ := w.Current().Addr(1)
		return a == "10.0.0.11:7000"
	})
	if l, _ := w.Current().Leader(1); l != "dn1b" {
		t.Fatalf("leader %q", l)
	}
	// The leader leaves: no address.
	if _, err := cli.Delete(cmtest.Context(t, 5*time.Second), keys.Node("dn1b")); err != nil {
		t.Fatal(err)
	}
	cmtest.Eventually(t, 5*time.Second, "no address for a leader that left", func() bool {
		_, ok := w.Current().Addr(1)
		return !ok
	})

	// A malformed map is ignored; the last good one stays.
	before := w.Current().Revision()
	txn(t, cli, clientv3.OpPut(keys.Buckets(), "garbage"), clientv3.OpPut(keys.Setting("x"), "y"))
	cmtest.Eventually(t, 5*time.Second, "garbage seen", func() bool { return w.Current().Revision() > before })
	if s := w.Current(); !s.Ready() || s.Version() != 2 {
		t.Fatalf("after garbage: ready %v version %d", s.Ready(), s.Version())
	}
	// Deleting the map makes the snapshot not ready.
	if _, err := cli.Delete(cmtest.Context(t, 5*time.Second), keys.Buckets()); err != nil {
		t.Fatal(err)
	}
	cmtest.Eventually(t, 5*time.Second, "not ready without map", func() bool { return !w.Current().Ready() })
}

// The watcher catches up after etcd restarts, and after missing events
// that were compacted away while it was cut off.
func TestSurvivesRestartAndCompaction(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	txn(t, cli, nodeOp(t, "dn1", 1, "a:1"), groupOp(t, 1, "dn1"), mapOp(t, 1, placement.Even([]uint32{1})))
	w, err := Watch(cmtest.Context(t, 5*time.Second), cli, keys, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	defer w.Close()
	waitVersion(t, w, 1)

	e.Restart()
	two := placement.Even([]uint32{1, 2})
	txn(t, cli, nodeOp(t, "dn2", 2, "b:1"), groupOp(t, 2, "dn2"), mapOp(t, 2, two))
	checkOwners(t, waitVersion(t, w, 2), two)

	// Cut the watcher off, change and compact behind its back.
	restore := e.Cut()
	direct := e.DirectClient()
	three := placement.Even([]uint32{1, 2, 3})
	txn(t, direct, nodeOp(t, "dn3", 3, "c:1"), groupOp(t, 3, "dn3"), mapOp(t, 3, three))
	resp, err := direct.Put(cmtest.Context(t, 5*time.Second), keys.Setting("x"), "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Compact(cmtest.Context(t, 5*time.Second), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	restore()
	s := waitVersion(t, w, 3)
	checkOwners(t, s, three)
	if a, ok := s.Addr(3); !ok || a != "c:1" {
		t.Fatalf("Addr(3) = %q %v", a, ok)
	}
}

func TestWaitReadyClosed(t *testing.T) {
	e := cmtest.Start(t)
	w, err := Watch(cmtest.Context(t, 5*time.Second), e.Client, keys, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cmtest.CheckLeaks(t)()
	done := make(chan error, 1)
	go func() { done <- w.WaitReady(context.Background()) }()
	w.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("WaitReady after Close = %v", err)
	}
	w.Close()
}
