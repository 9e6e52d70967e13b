package storage

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus counters. They hang off the Engine
// (no process globals) and carry the node number as a constant label.
type Metrics struct {
	Reads        prometheus.Counter
	Writes       prometheus.Counter
	Waits        prometheus.Counter
	Conflicts    prometheus.Counter
	Deadlocks    prometheus.Counter
	RowLocks     prometheus.Counter
	LockTimeouts prometheus.Counter
	Commits      prometheus.Counter
	Aborts       prometheus.Counter
	Undos        prometheus.Counter
	// The cleaner (clean.go).
	CleanedVersions prometheus.Counter
	FrozenVersions  prometheus.Counter
	PrunedXids      prometheus.Counter
	// The LSM tree's shape (set by Open once Pebble is open).
	lsm *lsmCollector
}

func newMetrics(node uint32) *Metrics {
	labels := prometheus.Labels{"node": strconv.FormatUint(uint64(node), 10)}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace:   "meridian",
			Subsystem:   "storage",
			Name:        name,
			Help:        help,
			ConstLabels: labels,
		})
	}
	return &Metrics{
		Reads:           c("reads_total", "MVCC reads: point reads (Get, GetLatest) and scans."),
		Writes:          c("writes_total", "Row versions written (Write, Insert, WriteVersion)."),
		Waits:           c("waits_total", "Times an operation blocked on the end of another transaction."),
		Conflicts:       c("write_conflicts_total", "Writes refused with ErrWriteConflict."),
		Deadlocks:       c("deadlocks_total", "Waits failed with 40P01: they were part of a cycle of waiting transactions."),
		RowLocks:        c("row_locks_total", "Row locks taken by SELECT ... FOR UPDATE/SHARE (and by writers that must re-read a changed row)."),
		LockTimeouts:    c("lock_timeouts_total", "Waits for a row lock failed by lock_timeout."),
		Commits:         c("commits_total", "Transactions committed (one- or two-phase)."),
		Aborts:          c("aborts_total", "Transactions aborted."),
		Undos:           c("savepoint_rollbacks_total", "Rollbacks to a savepoint that undid row versions."),
		CleanedVersions: c("cleaned_versions_total", "Row versions the cleaner removed: dead to every snapshot."),
		FrozenVersions:  c("frozen_versions_total", "Row versions the cleaner froze: visible to every snapshot, writer forgotten."),
		PrunedXids:      c("pruned_xids_total", "Committed transaction ids dropped from memory after all their versions were frozen or removed."),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.Reads, m.Writes, m.Waits, m.Conflicts, m.Deadlocks, m.RowLocks, m.LockTimeouts, m.Commits, m.Aborts, m.Undos,
		m.CleanedVersions, m.FrozenVersions, m.PrunedXids}
	if m.lsm != nil {
		cs = append(cs, m.lsm)
	}
	return cs
}

func (m *Metrics) register(r *prometheus.Registry) error {
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return errors.Join(errors.New("storage: register metrics"), err)
		}
		done = append(done, c)
	}
	return nil
}

func (m *Metrics) unregister(r *prometheus.Registry) {
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}
