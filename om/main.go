// Command om is Meridian's operator CLI.
//
//	om demo [--dir DIR] [--cns 2] [--dns 3] [--base-port 15400] [--pg-port 15432]
//	    runs a whole cluster in this process (embedded etcd, GTM, CM with
//	    agents, datanodes, coordinators) until Ctrl-C; data stays in DIR.
//	om bench [--modes gtm,gtm-lite,gtm-free] [--workload tpcb|select|transfer]
//	    [--duration 30s] [--clients 8] [--dns 3] [--url URL]
//	    compares the transaction modes, each on a fresh in-process
//	    cluster (om/bench), and prints a Markdown table.
//	om tpch gen|load|run|bench|sql ...
//	    the TPC-H kit: generate, load, run and compare the 22 queries
//	    (internal/tpch).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/meridian-db/meridian/internal/cmdutil"
	"github.com/meridian-db/meridian/om/cluster"
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage: om <command> [flags]

commands:
  demo    run a whole cluster on this machine until Ctrl-C
  bench   compare the transaction modes on an OLTP workload (om bench -h)
  tpch    TPC-H: generate, load, run and compare the 22 queries (om tpch help)`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "demo":
		cmdutil.TuneGC()
		if err := demo(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "om demo:", err)
			os.Exit(1)
		}
	case "bench":
		cmdutil.TuneGC()
		if err := benchMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "om bench:", err)
			os.Exit(1)
		}
	case "tpch":
		if err := tpchMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "om tpch:", err)
			os.Exit(1)
		}
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "om: unknown command %q\n", os.Args[1])
		usage()
	}
}

func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	dir := fs.String("dir", "meridian-demo", "data directory (kept across restarts)")
	cns := fs.Int("cns", 2, "coordinators")
	dns := fs.Int("dns", 3, "datanodes")
	gtms := fs.Int("gtms", 1, "GTM replicas (they elect a leader through etcd)")
	base := fs.Int("base-port", 15400, "first of the fixed ports (etcd, GTM, datanodes, HTTP)")
	pg := fs.Int("pg-port", 15432, "PostgreSQL port of the first coordinator (the next ones follow)")
	mode := fs.String("txn-mode", "gtm-lite", "gtm, gtm-lite or gtm-free")
	binDir := fs.String("bin-dir", "", "run each node as a process of the binaries in this directory (gtm, cm, datanode, coordinator) instead of in this process")
	cache := fs.Int64("cache-mb", 256, "each datanode's block cache, in MiB")
	queryMem := fs.Int64("query-mem-mb", 0, "the memory each datanode's queries share for the rows their operators hold, in MiB (0: the datanode's default, 1024)")
	rowEngine := fs.Bool("row-engine", false, "run the query operators on batches of rows only, on the datanodes and the coordinators (the vectorized operators off)")
	verbose := fs.Bool("v", false, "log at info level")
	_ = fs.Parse(args)
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Printf("starting Meridian: %d coordinators, %d datanodes, data in %s ...\n", *cns, *dns, *dir)
	c, err := cluster.Start(ctx, cluster.Options{Dir: *dir, CNs: *cns, DNs: *dns, GTMs: *gtms, BasePort: *base, PGPort: *pg, TxnMode: *mode, Log: log, BinDir: *binDir, CacheBytes: *cache << 20, QueryMem: *queryMem << 20, RowEngine: *rowEngine})
	if err != nil {
		return err
	}
	fmt.Printf("etcd: %v\n", c.Etcd())
	for _, n := range c.Nodes {
		switch n.Role {
		case "gtm", "datanode":
			fmt.Printf("%-4s %-11s grpc %s  http %s\n", n.Name, n.Role, n.Addr, n.HTTP)
		}
	}
	fmt.Println("ready. connect with:")
	for _, a := range c.PGAddrs() {
		host, port := splitHostPort(a)
		fmt.Printf("  psql -h %s -p %s -U meridian meridian\n", host, port)
	}
	fmt.Println("Ctrl-C stops the cluster.")
	<-ctx.Done()
	fmt.Println("\nstopping ...")
	c.Close()
	fmt.Println("stopped.")
	return nil
}

func splitHostPort(a string) (string, string) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i], a[i+1:]
		}
	}
	return a, ""
}
