package pgwire

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's Prometheus metrics. Each Server has its own; they
// are registered in Config.Registry when it is set.
type Metrics struct {
	// Connections is the number of open client sockets (sessions, cancel
	// requests and connections still in startup).
	Connections prometheus.Gauge
	// Messages counts protocol messages received from clients.
	Messages prometheus.Counter
	// Errors counts ErrorResponse messages sent (ERROR and FATAL).
	Errors prometheus.Counter
	// Panics counts panics recovered in connection handlers; each closed
	// its connection.
	Panics prometheus.Counter
}

func newMetrics() *Metrics {
	return &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "meridian", Subsystem: "pgwire", Name: "connections",
			Help: "Open client connections of the PostgreSQL wire-protocol server.",
		}),
		Messages: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "meridian", Subsystem: "pgwire", Name: "messages_total",
			Help: "Protocol messages received from clients.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "meridian", Subsystem: "pgwire", Name: "errors_total",
			Help: "ErrorResponse messages sent to clients.",
		}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "meridian", Subsystem: "pgwire", Name: "panics_total",
			Help: "Panics recovered in connection handlers (each closed its connection).",
		}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Connections, m.Messages, m.Errors, m.Panics}
}

// register registers all the metrics in r, or none: a registry matches
// collectors by name, so on failure only the ones registered here are
// taken back, never another server's.
func (m *Metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return err
		}
		done = append(done, c)
	}
	return nil
}

func (m *Metrics) unregister(r prometheus.Registerer) {
	if r == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}
