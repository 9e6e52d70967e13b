package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meridian-db/meridian/internal/tpch"
)

// tpchSF is the scale factor of the e2e run (the docs' benchmark uses 1).
const tpchSF = 0.01

// TestTPCH loads TPC-H at SF 0.01 into a cluster of one coordinator and
// three datanodes and into PostgreSQL 15, both through COPY, runs the 22
// queries on both (each with a 60 s statement_timeout) and fails for each
// query that errs on either side or whose results differ (see
// internal/tpch/compare.go for what counts as a difference).
func TestTPCH(t *testing.T) {
	if _, err := os.Stat(filepath.Join(tpch.DefaultPostgresBin, "postgres")); err != nil {
		t.Skipf("PostgreSQL 15 is not installed (.ci/run installs postgresql-15): %v", err)
	}
	tc := startCluster(t, 1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, err := tpch.StartPostgres(ctx, tpch.PostgresOptions{Settings: []string{"fsync=off", "full_page_writes=off"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})

	g, err := tpch.NewGenerator(tpchSF, tpch.DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	targets := []tpch.Target{{Name: "meridian", URL: tc.dsn(0)}, {Name: "postgresql", URL: pg.URL}}
	dialects := []tpch.Dialect{tpch.Meridian, tpch.PostgreSQL}
	var wg sync.WaitGroup
	loadErr := make([]error, len(targets))
	for i, tg := range targets {
		wg.Go(func() {
			start := time.Now()
			st, err := tpch.Load(ctx, tg.URL, g, tpch.LoadOptions{Dialect: dialects[i], Jobs: 2, ChunkRows: 20_000})
			if err != nil {
				loadErr[i] = err
				return
			}
			t.Logf("loaded SF %g into %s in %v (COPY %v)", tpchSF, tg.Name, time.Since(start).Round(time.Millisecond),
				st.Copy.Round(time.Millisecond))
		})
	}
	wg.Wait()
	for i, err := range loadErr {
		if err != nil {
			t.Fatalf("load into %s: %v", targets[i].Name, err)
		}
	}

	var passed, failed []string
	for _, q := range tpch.Queries() {
		ok := t.Run(q.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			o := tpch.Run(ctx, targets, tpch.RunOptions{Queries: []tpch.Query{q}, Timeout: 60 * time.Second}, nil)[0]
			if o.Errs[0] == nil && o.Errs[1] == nil {
				t.Logf("meridian %v, postgresql %v, %d rows", o.Times[0].Round(time.Millisecond),
					o.Times[1].Round(time.Millisecond), len(o.Results[1].Rows))
			}
			if err := o.Errs[1]; err != nil {
				t.Errorf("%v on PostgreSQL: %s", q, tpch.Describe(err))
			}
			if err := o.Errs[0]; err != nil {
				t.Errorf("%v on Meridian: %s", q, tpch.Describe(err))
			}
			if o.Diff != nil {
				t.Errorf("Meridian (got) and PostgreSQL (want) differ: %v", o.Diff)
			}
		})
		if ok {
			passed = append(passed, q.String())
		} else {
			failed = append(failed, q.String())
		}
	}
	t.Logf("%d of 22 queries agree with PostgreSQL: %v; failed: %v", len(passed), passed, failed)
}
