package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// metrics are the CM server's Prometheus metrics, registered on the
// server's own registry.
type metrics struct {
	liveNodes   *prometheus.GaugeVec
	nodeEvents  *prometheus.CounterVec
	isLeader    prometheus.Gauge
	initialized prometheus.Gauge
	watchBreaks prometheus.Counter
	deadlocks   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		liveNodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_cm_live_nodes",
			Help: "Nodes registered in etcd (live leases), by role.",
		}, []string{"role"}),
		nodeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_cm_node_events_total",
			Help: "Nodes seen joining or leaving, by event (join, leave).",
		}, []string{"event"}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_cm_is_leader",
			Help: "1 while this CM server is the elected leader.",
		}),
		initialized: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_cm_cluster_initialized",
			Help: "1 once this CM server has seen the cluster layout written.",
		}),
		watchBreaks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_cm_watch_breaks_total",
			Help: "Times the watch on nodes/ broke and the view was reloaded.",
		}),
		deadlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_cm_deadlocks_total",
			Help: "Deadlocks across datanodes broken by failing a victim's wait (40P01).",
		}),
	}
	reg.MustRegister(m.liveNodes, m.nodeEvents, m.isLeader, m.initialized, m.watchBreaks, m.deadlocks)
	for r := range meridianpb.Role_name {
		m.liveNodes.WithLabelValues(roleLabel(meridianpb.Role(r))).Set(0)
	}
	return m
}

// roleLabel is "datanode" for ROLE_DATANODE.
func roleLabel(r meridianpb.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}
