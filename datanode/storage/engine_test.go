package storage

import (
	"context"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestConfigValidate(t *testing.T) {
	cfg := NewConfig()
	if err := cfg.Validate(); err == nil {
		t.Fatal("empty Dir accepted")
	}
	cfg.Dir, cfg.CacheBytes = "x", -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CacheBytes") {
		t.Fatalf("negative cache: %v", err)
	}
	if _, err := Open(cfg); err == nil {
		t.Fatal("Open accepted an invalid config")
	}
}

// TestMetricsRegistry: two engines share a registry (told apart by the
// node label); Close unregisters, so a reopen registers again.
func TestMetricsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	fs := vfs.NewMem()
	open := func(node uint32) *Engine {
		cfg := NewConfig()
		cfg.Dir, cfg.FS, cfg.NodeNum, cfg.Registry = "db"+string(rune('0'+node)), fs, node, reg
		e, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1, e2 := open(1), open(2)
	put(t, e1, 1, "k", "v", 5)
	if got := get(t, e1, at(Latest), "k"); got != "v" {
		t.Fatal(got)
	}
	if n := counterValue(t, e1.Metrics().Writes); n != 1 {
		t.Fatalf("writes = %v", n)
	}
	if n := counterValue(t, e1.Metrics().Commits); n != 1 {
		t.Fatalf("commits = %v", n)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range families {
		if f.GetName() == "meridian_storage_writes_total" {
			series = len(f.GetMetric())
		}
	}
	if series != 2 {
		t.Fatalf("%d writes_total series, want one per node", series)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	e1 = open(1)
	if got := get(t, e1, at(Latest), "k"); got != "v" {
		t.Fatalf("after reopen: %q", got)
	}
	for _, e := range []*Engine{e1, e2} {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A closed engine hands out unusable transactions.
	txn := e1.Txn(7)
	wantIs(t, txn.Insert(context.Background(), []byte("k"), []byte("v"), 0), ErrClosed)
	if _, ok := e1.LookupTxn(7); ok {
		t.Fatal("closed engine registered a transaction")
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
