package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/cm/internal/cmtest"
	"github.com/meridian-db/meridian/cm/placement"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t *testing.T, name string, datanodes int) Config {
	cfg := NewConfig()
	cfg.Name = name
	cfg.Cluster = "test"
	cfg.Datanodes = datanodes
	cfg.LeaseTTL = 2
	cfg.Logger = testLogger(t)
	return cfg
}

func startServer(t *testing.T, cfg Config, cli *clientv3.Client) *Server {
	t.Helper()
	s, err := Start(cmtest.Context(t, 10*time.Second), cfg, cli)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// register registers a node until the returned function is called.
func register(t *testing.T, cli *clientv3.Client, keys meta.Keys, info *meridianpb.NodeInfo) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := meta.Register(ctx, cli, keys, info, 2, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		cancel()
		t.Fatal(err)
	}
	return cancel
}

func dn(name string, num uint32) *meridianpb.NodeInfo {
	return &meridianpb.NodeInfo{Name: name, Role: meridianpb.Role_ROLE_DATANODE, Num: num, GrpcAddr: "127.0.0.1:1" + name}
}

func get(t *testing.T, cli *clientv3.Client, key string) *clientv3.GetResponse {
	t.Helper()
	resp, err := cli.Get(cmtest.Context(t, 5*time.Second), key)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestValidate(t *testing.T) {
	good := NewConfig()
	good.Name, good.Datanodes = "cm1", 3
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no name":      func(c *Config) { c.Name = "" },
		"slash":        func(c *Config) { c.Name = "a/b" },
		"no cluster":   func(c *Config) { c.Cluster = "" },
		"bad http":     func(c *Config) { c.HTTPAddr = "nope" },
		"no datanodes": func(c *Config) { c.Datanodes = 0 },
		"too many":     func(c *Config) { c.Datanodes = placement.NumBuckets + 1 },
		"ttl":          func(c *Config) { c.LeaseTTL = 0 },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// Two CM servers race; the layout is written once, only after the third
// datanode registered, and a new leader does not write it again.
func TestInitOnceAfterDatanodes(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("test")
	var waitingWith atomic.Int32
	waitingWith.Store(-1)
	knobs := &TestingKnobs{OnInitWait: func(have, want int) { waitingWith.Store(int32(have)) }}

	var servers []*Server
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, name := range []string{"cm1", "cm2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := testConfig(t, name, 3)
			cfg.Knobs = knobs
			s, err := Start(cmtest.Context(t, 10*time.Second), cfg, cli)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			servers = append(servers, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	checkLeaks := cmtest.CheckLeaks(t)
	defer checkLeaks()
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	// Datanode numbers are the group ids; other roles do not count.
	stops = append(stops,
		register(t, cli, keys, dn("dn-a", 30)),
		register(t, cli, keys, dn("dn-b", 10)),
		register(t, cli, keys, &meridianpb.NodeInfo{Name: "cn1", Role: meridianpb.Role_ROLE_COORDINATOR, Num: 20}))
	cmtest.Eventually(t, 5*time.Second, "leader waits with 2 datanodes", func() bool { return waitingWith.Load() == 2 })
	if n := len(get(t, cli, keys.CMInitialized()).Kvs); n != 0 {
		t.Fatal("cluster initialized with 2 of 3 datanodes")
	}
	if n := len(get(t, cli, keys.Buckets()).Kvs); n != 0 {
		t.Fatal("bucket map written with 2 of 3 datanodes")
	}
	var leader, standby *Server
	for _, s := range servers {
		if s.IsLeader() {
			leader = s
		} else {
			standby = s
		}
	}
	if leader == nil || standby == nil {
		t.Fatal("want one leader and one standby")
	}

	stops = append(stops, register(t, cli, keys, dn("dn-c", 20)))
	cmtest.Eventually(t, 5*time.Second, "cluster initialized", func() bool {
		return len(get(t, cli, keys.CMInitialized()).Kvs) == 1
	})
	if !leader.Initialized() {
		// The leader marks itself right after its Txn.
		cmtest.Eventually(t, 5*time.Second, "leader initialized", leader.Initialized)
	}
	checkLayout(t, cli, keys, map[uint32]string{10: "dn-b", 20: "dn-c", 30: "dn-a"})
	init := get(t, cli, keys.CMInitialized()).Kvs[0]
	if string(init.Value) != leader.cfg.Name {
		t.Fatalf("initialized by %q, leader is %s", init.Value, leader.cfg.Name)
	}

	// Failover: the standby takes over at once (the leader resigns) and
	// finds the layout in place.
	leader.Close()
	cmtest.Eventually(t, 5*time.Second, "standby leads", standby.IsLeader)
	cmtest.Eventually(t, 5*time.Second, "standby sees init", standby.Initialized)
	for _, k := range []string{keys.CMInitialized(), keys.Buckets(), keys.DNGroup(10)} {
		if kv := get(t, cli, k).Kvs[0]; kv.Version != 1 {
			t.Fatalf("%s written %d times", k, kv.Version)
		}
	}
}

// checkLayout checks dngroups/ and buckets against the datanodes
// (num → name), written exactly once.
func checkLayout(t *testing.T, cli *clientv3.Client, keys meta.Keys, dns map[uint32]string) {
	t.Helper()
	resp, err := cli.Get(cmtest.Context(t, 5*time.Second), keys.DNGroups(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != len(dns) {
		t.Fatalf("%d dngroups, want %d", len(resp.Kvs), len(dns))
	}
	var gids []uint32
	for _, kv := range resp.Kvs {
		g := &meridianpb.DNGroup{}
		if err := proto.Unmarshal(kv.Value, g); err != nil {
			t.Fatal(err)
		}
		name, ok := dns[g.Id]
		if !ok || string(kv.Key) != keys.DNGroup(g.Id) || g.Leader != name || !slices.Equal(g.Members, []string{name}) {
			t.Fatalf("bad group at %s: %v", kv.Key, g)
		}
		if kv.Version != 1 {
			t.Fatalf("%s written %d times", kv.Key, kv.Version)
		}
		gids = append(gids, g.Id)
	}
	kv := get(t, cli, keys.Buckets()).Kvs[0]
	bm := &meridianpb.BucketMap{}
	if err := proto.Unmarshal(kv.Value, bm); err != nil {
		t.Fatal(err)
	}
	if bm.Version != 1 || kv.Version != 1 {
		t.Fatalf("bucket map version %d, key written %d times", bm.Version, kv.Version)
	}
	if err := placement.Check(bm.Owner, gids); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bm.Owner, placement.Even(gids)) {
		t.Fatal("bucket map is not placement.Even over the groups")
	}
}

// Many writers race on the guarded Txn: exactly one writes; a stale fence
// never does.
func TestWriteInitGuard(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("test")
	ctx := cmtest.Context(t, 10*time.Second)
	resp, err := cli.Put(ctx, "/fence", "x")
	if err != nil {
		t.Fatal(err)
	}
	good := fence{key: "/fence", rev: resp.Header.Revision}
	dns := []*meridianpb.NodeInfo{dn("dn1", 1), dn("dn2", 2)}

	if ok, err := writeInit(ctx, cli, keys, "stale", "gtm-lite", dns, fence{key: "/fence", rev: good.rev - 1}); err != nil || ok {
		t.Fatalf("stale fence: wrote=%v err=%v", ok, err)
	}
	if len(get(t, cli, keys.Buckets()).Kvs) != 0 {
		t.Fatal("stale fence wrote the bucket map")
	}

	var wrote atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := writeInit(ctx, cli, keys, "racer", "gtm-lite", dns, good)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wrote.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wrote.Load(); n != 1 {
		t.Fatalf("%d writers succeeded, want 1", n)
	}
	checkLayout(t, cli, keys, map[uint32]string{1: "dn1", 2: "dn2"})
}

func TestPickDatanodes(t *testing.T) {
	cn := &meridianpb.NodeInfo{Name: "cn1", Role: meridianpb.Role_ROLE_COORDINATOR, Num: 1}
	got, have, err := pickDatanodes([]*meridianpb.NodeInfo{dn("a", 3), cn, dn("b", 1), dn("c", 2)}, 2)
	if err != nil || have != 3 || len(got) != 2 || got[0].Name != "b" || got[1].Name != "c" {
		t.Fatalf("pick 2 of 3: %v %d %v", got, have, err)
	}
	if got, have, err := pickDatanodes([]*meridianpb.NodeInfo{dn("a", 3), cn}, 2); got != nil || have != 1 || err != nil {
		t.Fatalf("pick 2 of 1: %v %d %v", got, have, err)
	}
	if _, _, err := pickDatanodes([]*meridianpb.NodeInfo{dn("a", 3), dn("b", 3)}, 1); !errors.Is(err, ErrDuplicateNum) {
		t.Fatalf("duplicate num: %v", err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The membership view follows joins and leaves into the gauges, and the
// server registers itself.
func TestMembershipMetrics(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("test")
	s := startServer(t, testConfig(t, "cm1", 5), cli)
	defer cmtest.CheckLeaks(t)()
	defer s.Close()

	stop1 := register(t, cli, keys, dn("dn1", 1))
	stop2 := register(t, cli, keys, dn("dn2", 2))
	defer stop2()
	metrics := func() string {
		_, body := httpGet(t, "http://"+s.HTTPAddr()+"/metrics")
		return body
	}
	cmtest.Eventually(t, 5*time.Second, "2 datanodes and 1 cm in metrics", func() bool {
		m := metrics()
		return strings.Contains(m, `meridian_cm_live_nodes{role="datanode"} 2`) &&
			strings.Contains(m, `meridian_cm_live_nodes{role="cm"} 1`) &&
			strings.Contains(m, `meridian_cm_is_leader 1`)
	})
	stop1()
	cmtest.Eventually(t, 5*time.Second, "1 datanode after a leave", func() bool {
		m := metrics()
		return strings.Contains(m, `meridian_cm_live_nodes{role="datanode"} 1`) &&
			strings.Contains(m, `meridian_cm_node_events_total{event="leave"} 1`)
	})
	var names []string
	for _, n := range s.Nodes() {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"cm1", "dn2"}) {
		t.Fatalf("nodes %v", names)
	}
	if code, body := httpGet(t, "http://"+s.HTTPAddr()+"/health"); code != http.StatusOK {
		t.Fatalf("/health %d %s", code, body)
	}
	info := &meridianpb.NodeInfo{}
	if err := proto.Unmarshal(get(t, cli, keys.Node("cm1")).Kvs[0].Value, info); err != nil {
		t.Fatal(err)
	}
	if info.Role != meridianpb.Role_ROLE_CM || info.HttpAddr != s.HTTPAddr() {
		t.Fatalf("registered %v", info)
	}
}

// Close deregisters and releases leadership; a server can start again
// under the same name in the same process.
func TestCloseAndRestart(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("test")
	defer cmtest.CheckLeaks(t)()
	for range 2 {
		s := startServer(t, testConfig(t, "cm1", 1), cli)
		cmtest.Eventually(t, 5*time.Second, "leader", s.IsLeader)
		s.Close()
		s.Close()
		if n := len(get(t, cli, keys.Node("cm1")).Kvs); n != 0 {
			t.Fatal("still registered after Close")
		}
		resp, err := cli.Get(cmtest.Context(t, 5*time.Second), keys.CMLeader(), clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 0 {
			t.Fatal("election key left after Close")
		}
	}
}

// Start gives up when its ctx ends before etcd answers.
func TestStartCanceled(t *testing.T) {
	e := cmtest.Start(t)
	restore := e.Cut()
	defer restore()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	defer cmtest.CheckLeaks(t)()
	if _, err := Start(ctx, testConfig(t, "cm1", 1), e.Client); err == nil {
		t.Fatal("Start succeeded without etcd")
	}
}

// A leader whose election lease is lost while it waits for datanodes
// steps down; the new leader initializes, once.
func TestLostLeadership(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("test")
	s1 := startServer(t, testConfig(t, "cm1", 1), cli)
	cmtest.Eventually(t, 5*time.Second, "cm1 leads", s1.IsLeader)
	s2 := startServer(t, testConfig(t, "cm2", 1), cli)
	defer cmtest.CheckLeaks(t)()
	defer s1.Close()
	defer s2.Close()

	resp, err := cli.Get(cmtest.Context(t, 5*time.Second), keys.CMLeader(), clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "cm1" {
		t.Fatalf("leader key: %v %v", resp, err)
	}
	if _, err := cli.Revoke(cmtest.Context(t, 5*time.Second), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	cmtest.Eventually(t, 5*time.Second, "cm2 leads, cm1 does not", func() bool { return s2.IsLeader() && !s1.IsLeader() })

	stop := register(t, cli, keys, dn("dn1", 1))
	defer stop()
	cmtest.Eventually(t, 5*time.Second, "cm2 initialized", s2.Initialized)
	checkLayout(t, cli, keys, map[uint32]string{1: "dn1"})
	if got := string(get(t, cli, keys.CMInitialized()).Kvs[0].Value); got != "cm2" {
		t.Fatalf("initialized by %s", got)
	}
	if s1.IsLeader() {
		t.Fatal("two leaders")
	}
}
