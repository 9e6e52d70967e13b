package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-db/meridian/internal/tpch"
)

const tpchUsage = `usage: om tpch <command> [flags]

commands:
  gen    --sf 1 --dir DIR               write the eight tables as COPY text files (DIR/lineitem.tbl, ...)
  load   --sf 0.1 --url URL              create the schema and load generated rows with COPY, then index and VACUUM ANALYZE (Meridian: FULL)
  run    --url URL [--compare-url URL2]  run the 22 queries, print each one's time (and OK/DIFF against URL2)
  bench  --url MERIDIAN_URL --sf 1       start a PostgreSQL 15, load both, run the queries on both, print a table
  sql    N                               print query N

Run "om tpch <command> -h" for a command's flags.`

// errFailed makes om exit with status 1 after a report that shows failures.
var errFailed = errors.New("some queries failed or differ")

func tpchMain(args []string) error {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, tpchUsage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "gen":
		return tpchGen(ctx, args[1:])
	case "load":
		return tpchLoad(ctx, args[1:])
	case "run":
		return tpchRun(ctx, args[1:])
	case "bench":
		return tpchBench(ctx, args[1:])
	case "sql":
		return tpchSQL(args[1:])
	case "-h", "--help", "help":
		fmt.Println(tpchUsage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "om tpch: unknown command %q\n%s\n", args[0], tpchUsage)
	os.Exit(2)
	return nil
}

func generatorFlags(fs *flag.FlagSet, sf float64) (*float64, *uint64) {
	return fs.Float64("sf", sf, "scale factor (1 is about 1 GB; 0.01 and 0.1 work)"),
		fs.Uint64("seed", tpch.DefaultSeed, "generator seed (the same scale factor and seed give the same data)")
}

func tpchGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tpch gen", flag.ExitOnError)
	sf, seed := generatorFlags(fs, 1)
	dir := fs.String("dir", "tpch-data", "output directory")
	tables := fs.String("tables", "", "comma-separated tables (default all eight)")
	jobs := fs.Int("jobs", 2, "tables written at the same time")
	_ = fs.Parse(args)
	list := tpch.Tables()
	if *tables != "" {
		list = nil
		for _, name := range strings.Split(*tables, ",") {
			t, err := tpch.ParseTable(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			list = append(list, t)
		}
	}
	start := time.Now()
	g, err := tpch.NewGenerator(*sf, *seed)
	if err != nil {
		return err
	}
	rows, err := tpch.WriteFiles(ctx, g, *dir, list, *jobs)
	if err != nil {
		return err
	}
	for _, t := range list {
		fmt.Printf("%-9v %10d rows  %s\n", t, rows[t], *dir+"/"+tpch.FileName(t))
	}
	fmt.Printf("SF %g in %.1f s\n", *sf, time.Since(start).Seconds())
	return nil
}

func tpchLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tpch load", flag.ExitOnError)
	sf, seed := generatorFlags(fs, 0.1)
	url := fs.String("url", "postgres://meridian@127.0.0.1:15432/meridian?sslmode=disable", "server to load (Meridian or PostgreSQL)")
	jobs := fs.Int("jobs", 2, "parallel COPY connections")
	dialect := fs.String("dialect", "auto", "schema: auto (from the server's version), meridian or postgresql")
	_ = fs.Parse(args)
	g, err := tpch.NewGenerator(*sf, *seed)
	if err != nil {
		return err
	}
	var d tpch.Dialect
	switch *dialect {
	case "auto":
		if d, err = tpch.DetectDialect(ctx, *url); err != nil {
			return err
		}
	case "meridian":
		d = tpch.Meridian
	case "postgresql", "postgres":
		d = tpch.PostgreSQL
	default:
		return fmt.Errorf("--dialect %q: want auto, meridian or postgresql", *dialect)
	}
	fmt.Printf("loading SF %g (%s schema) ...\n", *sf, d)
	st, err := tpch.Load(ctx, *url, g, tpch.LoadOptions{Dialect: d, Jobs: *jobs,
		Log: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }})
	if err != nil {
		return err
	}
	fmt.Printf("done in %.1f s: COPY %.1f s, indexes %.1f s, VACUUM ANALYZE %.1f s\n",
		st.Elapsed.Seconds(), st.Copy.Seconds(), st.Index.Seconds(), st.Analyze.Seconds())
	return nil
}

// runFlags are the flags of run and bench.
type runFlags struct {
	queries        *string
	warmup, repeat *int
	timeout        *time.Duration
	peakRSS        *string
}

func addRunFlags(fs *flag.FlagSet, warmup int) runFlags {
	return runFlags{
		queries: fs.String("queries", "", "comma-separated query numbers (default 1..22)"),
		warmup:  fs.Int("warmup", warmup, "untimed runs of each query first"),
		repeat:  fs.Int("repeat", 1, "timed runs of each query; the fastest is reported"),
		timeout: fs.Duration("timeout", 30*time.Minute, "statement_timeout of each query"),
		peakRSS: fs.String("peak-rss-pids", "", "comma-separated process ids (the first server's datanodes): report each one's peak resident memory per query (Linux)"),
	}
}

func (f runFlags) options() (tpch.RunOptions, error) {
	opts := tpch.RunOptions{Warmup: *f.warmup, Repeat: *f.repeat, Timeout: *f.timeout}
	if *f.peakRSS != "" {
		for _, s := range strings.Split(*f.peakRSS, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || pid <= 0 {
				return opts, fmt.Errorf("--peak-rss-pids: %q is not a process id", s)
			}
			opts.PeakRSS = append(opts.PeakRSS, pid)
		}
	}
	if *f.queries != "" {
		for _, s := range strings.Split(*f.queries, ",") {
			n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(s), "Q"))
			if err != nil {
				return opts, fmt.Errorf("--queries: %q is not a query number", s)
			}
			q, err := tpch.QueryByNum(n)
			if err != nil {
				return opts, err
			}
			opts.Queries = append(opts.Queries, q)
		}
	}
	return opts, nil
}

// progress prints a line per query as it finishes.
func progress(targets []tpch.Target) func(tpch.Outcome) {
	return func(o tpch.Outcome) {
		var parts []string
		for i, t := range targets {
			if o.Errs[i] != nil {
				parts = append(parts, fmt.Sprintf("%s error", t.Name))
			} else {
				parts = append(parts, fmt.Sprintf("%s %.3f s", t.Name, o.Times[i].Seconds()))
			}
		}
		status := ""
		if len(targets) == 2 && o.Errs[0] == nil && o.Errs[1] == nil {
			status = "  OK"
			if o.Diff != nil {
				status = "  DIFF"
			}
		}
		fmt.Fprintf(os.Stderr, "%-4v %s%s\n", o.Query, strings.Join(parts, ", "), status)
	}
}

func report(targets []tpch.Target, outs []tpch.Outcome, markdown bool) error {
	tpch.WriteReport(os.Stdout, targets, outs, markdown)
	for _, o := range outs {
		if o.Failed() {
			return errFailed
		}
	}
	return nil
}

func tpchRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tpch run", flag.ExitOnError)
	url := fs.String("url", "postgres://meridian@127.0.0.1:15432/meridian?sslmode=disable", "server to run the queries on")
	name := fs.String("name", "", "the server's name in the report (default meridian or postgresql, from its version)")
	compare := fs.String("compare-url", "", "a second server (e.g. PostgreSQL with the same data): time it too and compare results")
	compareName := fs.String("compare-name", "", "the second server's name in the report")
	markdown := fs.Bool("markdown", false, "print a Markdown table")
	rf := addRunFlags(fs, 0)
	_ = fs.Parse(args)
	opts, err := rf.options()
	if err != nil {
		return err
	}
	targets := []tpch.Target{{Name: *name, URL: *url}}
	if *compare != "" {
		targets = append(targets, tpch.Target{Name: *compareName, URL: *compare})
	}
	for i := range targets {
		if targets[i].Name != "" {
			continue
		}
		d, err := tpch.DetectDialect(ctx, targets[i].URL)
		if err != nil {
			return err
		}
		targets[i].Name = d.String()
		if i == 1 && targets[1].Name == targets[0].Name {
			targets[1].Name += "-2"
		}
	}
	outs := tpch.Run(ctx, targets, opts, progress(targets))
	return report(targets, outs, *markdown)
}

func tpchBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tpch bench", flag.ExitOnError)
	sf, seed := generatorFlags(fs, 1)
	url := fs.String("url", "postgres://meridian@127.0.0.1:15432/meridian?sslmode=disable", "Meridian coordinator")
	jobs := fs.Int("jobs", 2, "parallel COPY connections per load")
	pgBin := fs.String("pg-bin", tpch.DefaultPostgresBin, "PostgreSQL 15 server binaries (initdb, postgres)")
	pgSettings := fs.String("pg-settings", "", "comma-separated PostgreSQL settings name=value (default: PostgreSQL's defaults)")
	rf := addRunFlags(fs, 1)
	_ = fs.Parse(args)
	opts, err := rf.options()
	if err != nil {
		return err
	}
	var setup []string // how the servers were started and loaded, for the report
	bo := tpch.BenchOptions{MeridianURL: *url, SF: *sf, Seed: *seed, Jobs: *jobs, Run: opts,
		Postgres: tpch.PostgresOptions{BinDir: *pgBin},
		Log: func(f string, a ...any) {
			setup = append(setup, fmt.Sprintf(f, a...))
			fmt.Fprintln(os.Stderr, setup[len(setup)-1])
		}}
	if *pgSettings != "" {
		bo.Postgres.Settings = strings.Split(*pgSettings, ",")
	}
	targets := []tpch.Target{{Name: "meridian"}, {Name: "postgresql"}}
	targets, outs, err := tpch.Bench(ctx, bo, progress(targets))
	if err != nil {
		return err
	}
	fmt.Printf("TPC-H SF %g, %d warm-up and %d timed run(s) per query (fastest reported), queries interleaved\n",
		*sf, *rf.warmup, max(*rf.repeat, 1))
	for _, l := range setup {
		fmt.Println(l)
	}
	fmt.Println()
	return report(targets, outs, true)
}

func tpchSQL(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: om tpch sql N")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(args[0], "Q"))
	if err != nil {
		return fmt.Errorf("%q is not a query number", args[0])
	}
	q, err := tpch.QueryByNum(n)
	if err != nil {
		return err
	}
	fmt.Printf("-- TPC-H Q%d (validation parameters)\n%s;\n", q.Num, q.SQL)
	return nil
}
