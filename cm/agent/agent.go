package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/health"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/serve"
)

// Agent is a running agent.
type Agent struct {
	cfg   Config
	cli   *clientv3.Client
	key   string
	log   *slog.Logger
	m     *metrics
	probe *prober
	http  *serve.HTTP // nil without Config.HTTPAddr

	// Owned by the loop goroutine (and Start before it).
	lease clientv3.LeaseID
	ka    <-chan *clientv3.LeaseKeepAliveResponse

	mu        sync.Mutex
	published string // last value written to etcd, "" if none

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type metrics struct {
	up       prometheus.Gauge
	probes   *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_agent_node_up",
			Help: "1 if the last probe of the node's /health succeeded.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_agent_probes_total",
			Help: "Probes of the node's /health, by result (ok, down).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meridian_agent_probe_seconds",
			Help:    "Time one probe of the node's /health took.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
	}
	reg.MustRegister(m.up, m.probes, m.duration)
	return m
}

// Start starts an agent of cfg on cli: it probes the node once and
// publishes the result before returning. ctx bounds the start only; the
// agent runs until Close.
func Start(ctx context.Context, cfg Config, cli *clientv3.Client) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "cm-agent", "agent", cfg.Name, "node", cfg.NodeName)
	reg := serve.NewRegistry()
	a := &Agent{
		cfg:   cfg,
		cli:   cli,
		key:   health.Key(meta.NewKeys(cfg.Cluster), cfg.NodeName),
		log:   log,
		m:     newMetrics(reg),
		probe: newProber(cfg),
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	detach := context.AfterFunc(ctx, cancel)
	defer detach()
	fail := func(err error) (*Agent, error) {
		cancel()
		a.revoke()
		if a.http != nil {
			_ = a.http.Close()
		}
		return nil, fmt.Errorf("cm agent %s: %w", cfg.Name, err)
	}

	if err := a.grant(runCtx); err != nil {
		return fail(err)
	}
	if err := a.publish(runCtx, a.check(runCtx)); err != nil {
		return fail(err)
	}
	if cfg.HTTPAddr != "" {
		var err error
		if a.http, err = serve.StartHTTP(cfg.HTTPAddr, reg, nil, log); err != nil {
			return fail(err)
		}
	}
	if !detach() {
		return fail(ctx.Err())
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.loop(runCtx)
	}()
	log.Info("cm agent started", "probe", a.probe.url, "key", a.key, "interval", cfg.Interval)
	return a, nil
}

// Close stops probing, revokes the lease (the health key goes with it)
// and stops HTTP. It is idempotent.
func (a *Agent) Close() {
	a.closeOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		a.revoke()
		if a.http != nil {
			_ = a.http.Close()
		}
		a.log.Info("cm agent stopped")
	})
}

// Status is the value last published for the node.
func (a *Agent) Status() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.published
}

// HTTPAddr is the address of the agent's /metrics, "" without one.
func (a *Agent) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}

func (a *Agent) loop(ctx context.Context) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-a.ka:
			if ok {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("agent lease lost; granting a new one")
			a.regrant(ctx)
		case <-t.C:
			v := a.check(ctx)
			if ctx.Err() != nil {
				return
			}
			if v != a.Status() {
				if err := a.publish(ctx, v); err != nil && ctx.Err() == nil {
					a.log.Warn("publish health", "err", err)
				}
			}
		}
	}
}

// check probes the node once and records the metrics.
func (a *Agent) check(ctx context.Context) string {
	start := time.Now()
	v := a.probe.probe(ctx)
	a.m.duration.Observe(time.Since(start).Seconds())
	if v == health.OK {
		a.m.up.Set(1)
		a.m.probes.WithLabelValues("ok").Inc()
	} else {
		a.m.up.Set(0)
		a.m.probes.WithLabelValues("down").Inc()
	}
	return v
}

// grant takes a new lease and keeps it alive until ctx ends.
func (a *Agent) grant(ctx context.Context) error {
	lease, err := a.cli.Grant(ctx, int64(a.cfg.LeaseTTL))
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	ka, err := a.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return fmt.Errorf("keep lease alive: %w", err)
	}
	a.lease, a.ka = lease.ID, ka
	return nil
}

// regrant replaces a lost lease and publishes the current value under the
// new one, retrying until ctx ends.
func (a *Agent) regrant(ctx context.Context) {
	granted := false
	for {
		var err error
		if !granted {
			err = a.grant(ctx)
			granted = err == nil
		}
		if granted {
			a.mu.Lock()
			a.published = ""
			a.mu.Unlock()
			if err = a.publish(ctx, a.check(ctx)); err == nil {
				return
			}
		}
		a.log.Warn("renew agent lease", "err", err)
		t := time.NewTimer(a.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// publish writes v at the health key under the agent's lease.
func (a *Agent) publish(ctx context.Context, v string) error {
	if _, err := a.cli.Put(ctx, a.key, v, clientv3.WithLease(a.lease)); err != nil {
		return fmt.Errorf("put %s: %w", a.key, err)
	}
	a.mu.Lock()
	old := a.published
	a.published = v
	a.mu.Unlock()
	if old != v {
		if v == health.OK {
			a.log.Info("node healthy")
		} else {
			a.log.Warn("node unhealthy", "health", v)
		}
	}
	return nil
}

func (a *Agent) revoke() {
	if a.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = a.cli.Revoke(ctx, a.lease)
}
