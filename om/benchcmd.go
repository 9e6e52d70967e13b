package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-db/meridian/om/bench"
)

// benchMain is `om bench`: see package om/bench.
func benchMain(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	modes := fs.String("modes", "gtm,gtm-lite,gtm-free", "transaction modes to compare, each on a fresh in-process cluster")
	url := fs.String("url", "", "run once against this cluster instead (postgres://...); its mode is its own")
	gtmHTTP := fs.String("gtm-http", "", "with --url: the GTM leader's HTTP address (host:port), for GTM requests per transaction")
	workload := fs.String("workload", "tpcb", "tpcb, select or transfer")
	duration := fs.Duration("duration", 30*time.Second, "measured run per mode")
	clients := fs.Int("clients", 8, "concurrent clients")
	dns := fs.Int("dns", 3, "datanodes of each fresh cluster")
	accounts := fs.Int("accounts", 100000, "rows of pgbench_accounts (100000 per pgbench scale unit)")
	dir := fs.String("dir", "", "directory for the fresh clusters' data (default: the system's temporary directory)")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg := bench.Config{Modes: strings.Split(*modes, ","), URL: *url, GTMHTTP: *gtmHTTP, Workload: *workload,
		Duration: *duration, Clients: *clients, DNs: *dns, Accounts: *accounts, Dir: *dir}
	fmt.Fprintf(os.Stderr, "om bench: %s, %d clients, %v per mode\n", cfg.Workload, cfg.Clients, cfg.Duration)
	rs, err := bench.Run(ctx, cfg)
	bench.Markdown(os.Stdout, rs)
	return err
}
