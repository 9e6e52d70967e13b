// Package cluster starts a whole Meridian cluster on one machine — embedded
// etcd, one or more GTM replicas, a CM server with an agent per node, datanodes and
// coordinators — either inside this process (om demo, in-process tests) or
// as separate processes of the real binaries (e2e tests). Both modes use
// the same layout, ports and flags.
//
//	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, CNs: 2, DNs: 3, GTMs: 2})
//	if err != nil { ... }
//	defer c.Close()
//	pgx.Connect(ctx, "postgres://meridian@"+c.PGAddrs()[0]+"/meridian")
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/meridian-db/meridian/cm/agent"
	"github.com/meridian-db/meridian/cm/routing"
	cmserver "github.com/meridian-db/meridian/cm/server"
	cnserver "github.com/meridian-db/meridian/coordinator/server"
	"github.com/meridian-db/meridian/coordinator/session"
	dnserver "github.com/meridian-db/meridian/datanode/server"
	gtmserver "github.com/meridian-db/meridian/gtm/server"
	"github.com/meridian-db/meridian/internal/etcdembed"
	"github.com/meridian-db/meridian/internal/meta"
)

// Options describes the cluster.
type Options struct {
	Dir     string // data directory (etcd, datanodes); kept across restarts
	CNs     int    // coordinators (default 2)
	DNs     int    // datanodes (default 3)
	Cluster string // cluster name (default "meridian")
	// BasePort fixes the ports: etcd BasePort, BasePort+1 (peer); GTM replicas
	// BasePort+9+i; datanodes BasePort+100+i; coordinators' PostgreSQL ports
	// PGPort+i-1; HTTP ports BasePort+200+k. 0 picks free ports.
	BasePort int
	PGPort   int // first coordinator's PostgreSQL port (default BasePort+300)
	// TxnMode is the cluster's transaction mode (gtm, gtm-lite (default)
	// or gtm-free), which the CM writes once, at cluster init: a cluster
	// restarted on its Dir keeps its mode.
	TxnMode string
	Log     *slog.Logger
	// CleanInterval is how often each datanode's old versions cleaner
	// runs (0: the datanode's default; negative: never, VACUUM only).
	CleanInterval time.Duration
	// BinDir, when set, runs GTM, CM, agents, datanodes and coordinators
	// as separate processes of the binaries there (etcd stays embedded).
	BinDir string
	// GTMs is the number of GTM replicas (default 1): gtm1, gtm2, ...;
	// they elect a leader through etcd (gtm1 first).
	GTMs int
	// CacheBytes is each datanode's Pebble block cache (default 64 MiB).
	CacheBytes int64
	// QueryMem is each datanode's query memory (0: the datanode's
	// default, dnserver.DefaultQueryMem).
	QueryMem int64
	// RowEngine turns the vectorized operators off (datanodes and coordinators).
	RowEngine bool
	// CNKnobs, in-process mode only, returns the testing knobs of a
	// coordinator by name (nil: none).
	CNKnobs func(name string) *session.TestingKnobs
}

func (o *Options) defaults() {
	if o.CNs == 0 {
		o.CNs = 2
	}
	if o.GTMs == 0 {
		o.GTMs = 1
	}
	if o.DNs == 0 {
		o.DNs = 3
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.Cluster == "" {
		o.Cluster = "meridian"
	}
	if o.TxnMode == "" {
		o.TxnMode = "gtm-lite"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.BasePort != 0 && o.PGPort == 0 {
		o.PGPort = o.BasePort + 300
	}
}

// Node is one process of the cluster (GTM, CM, agent, datanode or
// coordinator) in either mode.
type Node struct {
	Name string
	Role string // gtm, cm, agent, datanode, coordinator
	Addr string // main address: gRPC, or PostgreSQL for coordinators
	HTTP string // /metrics and /health
	// Env is added to the environment of the node's process (process
	// mode) when it starts next.
	Env   []string
	proc  *proc  // process mode
	stop  func() // in-process mode
	crash func() // in-process mode: stop as a killed process would (GTM)
}

// Cluster is a running cluster.
type Cluster struct {
	opts  Options
	log   *slog.Logger
	etcd  *etcdembed.Etcd
	Cli   *clientv3.Client
	Keys  meta.Keys
	Nodes []*Node
}

// port returns a fixed port from the base, or a free one.
func (o *Options) port(offset int) (int, error) {
	if o.BasePort != 0 {
		return o.BasePort + offset, nil
	}
	return FreePort()
}

// FreePort returns an unused TCP port on 127.0.0.1, below the kernel's
// ephemeral range when it can: a node that is killed and restarted gets
// its ports back, and a port of the ephemeral range may meanwhile have
// become the local end of some outgoing connection (a restarted GTM
// failed to bind its HTTP port so in a CI run). A port is handed out once
// per process: the check closes its listener, so a second pick of the
// same number would look free until the first node binds it.
func FreePort() (int, error) {
	if lo := ephemeralLow(); lo > 12000 {
		portsMu.Lock()
		defer portsMu.Unlock()
		for range 64 {
			p := 10000 + rand.IntN(lo-10000)
			if portsGiven[p] {
				continue
			}
			if ln, err := net.Listen("tcp", addr(p)); err == nil {
				ln.Close()
				portsGiven[p] = true
				return p, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (0 when
// unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}

func addr(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }

// Start starts the cluster and waits until every coordinator accepts SQL
// on an initialized bucket map.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, log: opts.Log, Keys: meta.NewKeys(opts.Cluster)}
	started := c // the error returns below set c to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	ec, err := opts.port(0)
	if err != nil {
		return nil, err
	}
	ep, err := opts.port(1)
	if err != nil {
		return nil, err
	}
	c.etcd, err = etcdembed.Start(ctx, etcdembed.Config{Dir: filepath.Join(opts.Dir, "etcd"),
		ClientURL: "http://" + addr(ec), PeerURL: "http://" + addr(ep), Log: opts.Log})
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	c.Cli, err = clientv3.New(clientv3.Config{Endpoints: c.etcd.Endpoints(), DialTimeout: 5 * time.Second,
		Logger: etcdembed.NewZapLogger(opts.Log, zapcore.ErrorLevel)})
	if err != nil {
		return nil, err
	}
	httpPort := 200
	nextHTTP := func() (string, error) {
		p, err := opts.port(httpPort)
		httpPort++
		return addr(p), err
	}
	// GTM replicas.
	for i := 1; i <= opts.GTMs; i++ {
		gp, err := opts.port(9 + i)
		if err != nil {
			return nil, err
		}
		gh, err := nextHTTP()
		if err != nil {
			return nil, err
		}
		if err := c.add(ctx, &Node{Name: fmt.Sprintf("gtm%d", i), Role: "gtm", Addr: addr(gp), HTTP: gh}); err != nil {
			return nil, err
		}
	}
	ch, err := nextHTTP()
	if err != nil {
		return nil, err
	}
	if err := c.add(ctx, &Node{Name: "cm1", Role: "cm", HTTP: ch}); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.DNs; i++ {
		p, err := opts.port(100 + i)
		if err != nil {
			return nil, err
		}
		h, err := nextHTTP()
		if err != nil {
			return nil, err
		}
		if err := c.add(ctx, &Node{Name: fmt.Sprintf("dn%d", i), Role: "datanode", Addr: addr(p), HTTP: h}); err != nil {
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.CNs; i++ {
		var p int
		if opts.PGPort != 0 {
			p = opts.PGPort + i - 1
		} else if p, err = FreePort(); err != nil {
			return nil, err
		}
		h, err := nextHTTP()
		if err != nil {
			return nil, err
		}
		if err := c.add(ctx, &Node{Name: fmt.Sprintf("cn%d", i), Role: "coordinator", Addr: addr(p), HTTP: h}); err != nil {
			return nil, err
		}
	}
	// A CM agent per datanode and coordinator.
	for _, n := range append([]*Node(nil), c.Nodes...) {
		if n.Role != "datanode" && n.Role != "coordinator" && n.Role != "gtm" {
			continue
		}
		if err := c.add(ctx, &Node{Name: "agent-" + n.Name, Role: "agent", HTTP: n.HTTP}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WaitReady waits until the CM has written the bucket map.
func (c *Cluster) WaitReady(ctx context.Context) error {
	w, err := routing.Watch(ctx, c.Cli, c.Keys, c.log)
	if err != nil {
		return err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return w.WaitReady(ctx)
}

// PGAddrs are the coordinators' PostgreSQL addresses.
func (c *Cluster) PGAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.Role == "coordinator" {
			out = append(out, n.Addr)
		}
	}
	return out
}

// Node finds a node by name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Etcd are the etcd endpoints.
func (c *Cluster) Etcd() []string { return c.etcd.Endpoints() }

// Close stops everything: coordinators first, then agents, datanodes, CM,
// GTM, and etcd last.
func (c *Cluster) Close() {
	order := []string{"coordinator", "agent", "datanode", "cm", "gtm"}
	for _, role := range order {
		for i := len(c.Nodes) - 1; i >= 0; i-- {
			if n := c.Nodes[i]; n.Role == role {
				c.stopNode(n)
			}
		}
	}
	if c.Cli != nil {
		_ = c.Cli.Close()
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
}

func (c *Cluster) stopNode(n *Node) {
	if n.proc != nil {
		n.proc.terminate()
		n.proc = nil
	}
	if n.stop != nil {
		n.stop()
		n.stop, n.crash = nil, nil
	}
}

// Kill stops a node abruptly (SIGKILL in process mode).
func (c *Cluster) Kill(name string) error {
	n := c.Node(name)
	if n == nil {
		return fmt.Errorf("no node %q", name)
	}
	if n.proc != nil {
		n.proc.kill()
		n.proc = nil
		return nil
	}
	if n.crash != nil {
		n.crash()
		n.crash, n.stop = nil, nil
		return nil
	}
	c.stopNode(n)
	return nil
}

// GTMLeader returns the name of the GTM replica that leads (by the
// election key in etcd), or "" when none does.
func (c *Cluster) GTMLeader(ctx context.Context) (string, error) {
	resp, err := c.Cli.Get(ctx, c.Keys.GTMLeader()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	addr := string(resp.Kvs[0].Value)
	for _, n := range c.Nodes {
		if n.Role == "gtm" && n.Addr == addr {
			return n.Name, nil
		}
	}
	return "", fmt.Errorf("GTM leader at %s is not a node of this cluster", addr)
}

// Restart starts a stopped node again with the same configuration.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	n := c.Node(name)
	if n == nil {
		return fmt.Errorf("no node %q", name)
	}
	c.stopNode(n)
	return c.startNode(ctx, n)
}

func (c *Cluster) add(ctx context.Context, n *Node) error {
	c.Nodes = append(c.Nodes, n)
	return c.startNode(ctx, n)
}

func (c *Cluster) startNode(ctx context.Context, n *Node) error {
	if c.opts.BinDir != "" {
		return c.startProc(ctx, n)
	}
	return c.startInProcess(ctx, n)
}

func (c *Cluster) num(n *Node) uint32 {
	var k uint32
	fmt.Sscanf(n.Name[2:], "%d", &k)
	return k
}

func (c *Cluster) startInProcess(ctx context.Context, n *Node) error {
	o := c.opts
	switch n.Role {
	case "gtm":
		cfg := gtmserver.NewConfig()
		cfg.Name, cfg.Cluster, cfg.ListenAddr, cfg.HTTPAddr, cfg.Log = n.Name, o.Cluster, n.Addr, n.HTTP, c.log
		s, err := gtmserver.Start(ctx, cfg, c.Cli)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.stop, n.crash = s.Close, s.Crash
	case "cm":
		cfg := cmserver.NewConfig()
		cfg.Name, cfg.Cluster, cfg.HTTPAddr, cfg.Datanodes, cfg.Logger = n.Name, o.Cluster, n.HTTP, o.DNs, c.log
		cfg.TxnMode = o.TxnMode
		s, err := cmserver.Start(ctx, cfg, c.Cli)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.stop = s.Close
	case "datanode":
		cfg := dnserver.NewConfig()
		cfg.Name, cfg.Num, cfg.Cluster, cfg.ListenAddr, cfg.HTTPAddr = n.Name, c.num(n), o.Cluster, n.Addr, n.HTTP
		cfg.DataDir, cfg.Log, cfg.CacheBytes = filepath.Join(o.Dir, n.Name), c.log, o.CacheBytes
		cfg.CleanInterval = o.CleanInterval
		if o.QueryMem > 0 {
			cfg.QueryMem = o.QueryMem
		}
		cfg.RowEngine = o.RowEngine
		s, err := dnserver.Start(ctx, cfg, c.Cli)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.stop = s.Close
	case "coordinator":
		cfg := cnserver.NewConfig()
		cfg.Name, cfg.Num, cfg.Cluster, cfg.PGAddr, cfg.HTTPAddr, cfg.Log = n.Name, c.num(n), o.Cluster, n.Addr, n.HTTP, c.log
		cfg.RowEngine = o.RowEngine
		if o.CNKnobs != nil {
			cfg.Knobs = o.CNKnobs(n.Name)
		}
		s, err := cnserver.Start(ctx, cfg, c.Cli)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.stop = s.Close
	case "agent":
		cfg := agent.NewConfig()
		cfg.Name, cfg.Cluster, cfg.NodeName, cfg.NodeHTTP, cfg.Logger = n.Name, o.Cluster, n.Name[len("agent-"):], "http://"+n.HTTP, c.log
		cfg.Interval = time.Second
		a, err := agent.Start(ctx, cfg, c.Cli)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.stop = a.Close
	}
	return nil
}
