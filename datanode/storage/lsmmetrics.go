package storage

import (
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// lsmCollector exports the shape of the engine's LSM tree, read from
// Pebble when scraped: files and bytes per level, read amplification (the
// sorted runs a read may have to look in), compactions and the block
// cache's hits and misses. Read amplification is what a lookup's seek
// pays for: one search per sorted run.
type lsmCollector struct {
	metrics func() *pebble.Metrics // nil when the engine is closing

	files, bytes, sublevels *prometheus.Desc
	readAmp, compactions    *prometheus.Desc
	cacheBytes              *prometheus.Desc
	cacheHits, cacheMisses  *prometheus.Desc
}

func newLSMCollector(node uint32, metrics func() *pebble.Metrics) *lsmCollector {
	labels := prometheus.Labels{"node": strconv.FormatUint(uint64(node), 10)}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("meridian_storage_"+name, help, vars, labels)
	}
	return &lsmCollector{
		metrics:     metrics,
		files:       d("lsm_files", "Sstables in each level of the LSM tree.", "level"),
		bytes:       d("lsm_bytes", "Bytes of the sstables in each level of the LSM tree.", "level"),
		sublevels:   d("lsm_sublevels", "Sorted runs in each level (L0 may have several).", "level"),
		readAmp:     d("lsm_read_amplification", "Sorted runs a read may search: L0's sublevels plus the other non-empty levels."),
		compactions: d("lsm_compactions_total", "Compactions the engine has run since it opened."),
		cacheBytes:  d("block_cache_bytes", "Bytes held by the block cache."),
		cacheHits:   d("block_cache_hits_total", "Block cache hits since the engine opened."),
		cacheMisses: d("block_cache_misses_total", "Block cache misses since the engine opened."),
	}
}

func (c *lsmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.files, c.bytes, c.sublevels, c.readAmp, c.compactions, c.cacheBytes, c.cacheHits, c.cacheMisses} {
		ch <- d
	}
}

func (c *lsmCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics()
	if m == nil {
		return
	}
	for i, l := range m.Levels {
		level := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(c.files, prometheus.GaugeValue, float64(l.TablesCount), level)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(l.TablesSize), level)
		ch <- prometheus.MustNewConstMetric(c.sublevels, prometheus.GaugeValue, float64(l.Sublevels), level)
	}
	ch <- prometheus.MustNewConstMetric(c.readAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(c.cacheBytes, prometheus.GaugeValue, float64(m.BlockCache.Size))
	ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(m.BlockCache.Hits))
	ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(m.BlockCache.Misses))
}

// lsmMetrics reads Pebble's metrics, or nil once the engine is closing.
func (e *Engine) lsmMetrics() *pebble.Metrics {
	if e.enter() != nil {
		return nil
	}
	defer e.exit()
	return e.db.Metrics()
}
