package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gauge reads one sample of a storage metric from reg (the first whose
// labels include the given ones).
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("metric %s%v not exported", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// Compact leaves the data in one sorted run at the bottom of the LSM tree
// (as the exported metrics say), every key's newest version readable, and
// a compaction of a span rewrites only what overlaps it.
func TestCompact(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := NewConfig()
	cfg.Dir = t.TempDir()
	cfg.Registry = reg
	cfg.NodeNum = 7
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Four overlapping flushes: each writes every key again.
	gxid := uint64(1)
	for round := 0; round < 4; round++ {
		for k := 0; k < 200; k++ {
			put(t, e, gxid, fmt.Sprintf("k%03d", k), fmt.Sprintf("v%d", round), uint64(10*round+10))
			gxid++
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	node := map[string]string{"node": "7"}
	files := func(level int) float64 {
		return gauge(t, reg, "meridian_storage_lsm_files", map[string]string{"node": "7", "level": fmt.Sprint(level)})
	}
	total := 0.0
	for l := 0; l < 7; l++ {
		total += files(l)
	}
	if total == 0 {
		t.Fatal("no sstables after four flushes")
	}
	ctx := context.Background()
	// A span compaction first: the data must not change.
	if err := e.Compact(ctx, []Span{{Start: []byte("k050"), End: []byte("k100")}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ra := gauge(t, reg, "meridian_storage_lsm_read_amplification", node); ra != 1 {
		t.Errorf("read amplification %v after Compact, want 1", ra)
	}
	if files(6) == 0 {
		t.Error("no sstable in the bottom level after Compact")
	}
	for l := 0; l < 6; l++ {
		if n := files(l); n != 0 {
			t.Errorf("%v sstables left in L%d after Compact", n, l)
		}
	}
	if gauge(t, reg, "meridian_storage_lsm_compactions_total", node) == 0 {
		t.Error("no compaction counted")
	}
	for k := 0; k < 200; k++ {
		key := fmt.Sprintf("k%03d", k)
		for round := 0; round < 4; round++ {
			if got, want := get(t, e, at(uint64(10*round+15)), key), fmt.Sprintf("v%d", round); got != want {
				t.Fatalf("%s at %d: %q, want %q", key, 10*round+15, got, want)
			}
		}
	}
	// A closed engine refuses.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(ctx, nil); err == nil {
		t.Error("Compact of a closed engine succeeded")
	}
}
