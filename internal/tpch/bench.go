package tpch

import (
	"context"
	"fmt"
)

// BenchOptions describes a benchmark of a Meridian cluster next to a
// throwaway PostgreSQL on the same machine.
type BenchOptions struct {
	MeridianURL string
	SF          float64
	Seed        uint64
	Jobs        int // parallel COPY connections per load
	Run         RunOptions
	Postgres    PostgresOptions
	Log         func(format string, args ...any)
}

// Bench starts a PostgreSQL server, loads the same data into Meridian and
// into it (one after the other), runs the queries on both (see Run) and
// stops the server. The targets are Meridian first, then PostgreSQL.
func Bench(ctx context.Context, opts BenchOptions, report func(Outcome)) ([]Target, []Outcome, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	g, err := NewGenerator(opts.SF, opts.Seed)
	if err != nil {
		return nil, nil, err
	}
	pg, err := StartPostgres(ctx, opts.Postgres)
	if err != nil {
		return nil, nil, err
	}
	defer pg.Stop()
	logf("PostgreSQL 15 on port %d", pg.Port)
	targets := []Target{{"meridian", opts.MeridianURL}, {"postgresql", pg.URL}}
	for _, t := range targets {
		d, err := DetectDialect(ctx, t.URL)
		if err != nil {
			return nil, nil, err
		}
		st, err := Load(ctx, t.URL, g, LoadOptions{Dialect: d, Jobs: opts.Jobs})
		if err != nil {
			return nil, nil, fmt.Errorf("load %s: %w", t.Name, err)
		}
		logf("loaded SF %g into %s (%s schema) in %.1f s: COPY %.1f s, indexes %.1f s, VACUUM ANALYZE %.1f s",
			opts.SF, t.Name, d, st.Elapsed.Seconds(), st.Copy.Seconds(), st.Index.Seconds(), st.Analyze.Seconds())
	}
	return targets, Run(ctx, targets, opts.Run, report), nil
}
