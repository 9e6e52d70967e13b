package server

import "github.com/prometheus/client_golang/prometheus"

// metrics of one GTM replica; registered on the replica's own registry.
type metrics struct {
	csns        prometheus.Counter
	rpcs        *prometheus.CounterVec
	rpcOK       prometheus.Counter
	rpcNotLead  prometheus.Counter
	rpcErr      prometheus.Counter
	batch       prometheus.Histogram
	isLeader    prometheus.Gauge
	hwm         prometheus.Gauge
	persists    *prometheus.CounterVec
	windowWaits prometheus.Counter
	terms       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		csns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_gtm_commit_csns_total",
			Help: "Commit CSNs handed out by this replica.",
		}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_gtm_rpcs_total",
			Help: "CSN requests (GetCSN calls and StreamCSN messages) answered, by result (ok, not_leader, error).",
		}, []string{"result"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meridian_gtm_batch_commits",
			Help:    "Commit CSNs asked for per request (0: snapshot only).",
			Buckets: append([]float64{0}, prometheus.ExponentialBuckets(1, 2, 14)...),
		}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_gtm_is_leader",
			Help: "1 while this replica is the GTM leader and serves CSNs.",
		}),
		hwm: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_gtm_hwm",
			Help: "High-water mark last persisted by this replica (CSNs below it may be handed out).",
		}),
		persists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_gtm_hwm_persists_total",
			Help: "Writes of the high-water mark to etcd, by result (ok, error).",
		}, []string{"result"}),
		windowWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_gtm_window_waits_total",
			Help: "CSN requests that waited for the high-water mark to be persisted.",
		}),
		terms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_gtm_leader_terms_total",
			Help: "Leadership terms this replica started.",
		}),
	}
	m.rpcOK = m.rpcs.WithLabelValues("ok")
	m.rpcNotLead = m.rpcs.WithLabelValues("not_leader")
	m.rpcErr = m.rpcs.WithLabelValues("error")
	reg.MustRegister(m.csns, m.rpcs, m.batch, m.isLeader, m.hwm, m.persists, m.windowWaits, m.terms)
	return m
}
