package cmtest

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Etcd is a running embedded etcd and a client connected to it. Both are
// closed by t.Cleanup.
type Etcd struct {
	t      testing.TB
	cfg    *embed.Config
	srv    *embed.Etcd
	proxy  *proxy
	direct string // etcd's own client URL
	Client *clientv3.Client
	// Endpoint is the address clients use (127.0.0.1:port). It leads to
	// etcd through a proxy, so that Restart and Cut can drop clients.
	Endpoint string
}

// Start starts a single-member etcd in t.TempDir() and returns it with a
// connected client.
func Start(t testing.TB) *Etcd {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cu := url.URL{Scheme: "http", Host: freeAddr(t)}
	pu := url.URL{Scheme: "http", Host: freeAddr(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e := &Etcd{t: t, cfg: cfg, direct: cu.Host}
	e.start()
	t.Cleanup(e.stop)
	e.proxy = startProxy(t, cu.Host)
	t.Cleanup(e.proxy.close)
	e.Endpoint = e.proxy.addr()
	e.Client = e.NewClient()
	return e
}

// NewClient returns another client of the same etcd, through the proxy,
// closed by t.Cleanup (a test may close it earlier).
func (e *Etcd) NewClient() *clientv3.Client { return e.newClient(e.Endpoint) }

// DirectClient returns a client that bypasses the proxy, so Cut does not
// cut it: the test's hand on etcd while the code under test is cut off.
func (e *Etcd) DirectClient() *clientv3.Client { return e.newClient(e.direct) }

func (e *Etcd) newClient(endpoint string) *clientv3.Client {
	e.t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		e.t.Fatalf("etcd client: %v", err)
	}
	e.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Restart stops etcd and starts it again on the same ports and data
// directory; clients lose their connections meanwhile and reconnect by
// themselves.
func (e *Etcd) Restart() {
	e.t.Helper()
	e.proxy.setPaused(true)
	e.stop()
	e.start()
	e.proxy.setPaused(false)
}

// Cut drops every client connection and refuses new ones until the
// returned function is called: etcd looks unreachable to every client but
// DirectClient ones.
func (e *Etcd) Cut() (restore func()) {
	e.proxy.setPaused(true)
	return func() { e.proxy.setPaused(false) }
}

func (e *Etcd) start() {
	e.t.Helper()
	srv, err := embed.StartEtcd(e.cfg)
	if err != nil {
		e.t.Fatalf("start etcd: %v", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(10 * time.Second):
		srv.Close()
		e.t.Fatalf("etcd not ready after 10s")
	}
	e.srv = srv
}

func (e *Etcd) stop() {
	if e.srv != nil {
		e.srv.Close()
		e.srv = nil
	}
}

// freeAddr returns a 127.0.0.1 port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
}
