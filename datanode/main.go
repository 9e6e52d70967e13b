// Command datanode runs a Meridian datanode: Pebble storage and the
// fragment executor behind the DataNode gRPC service.
//
//	datanode --name dn1 --num 1 --listen 127.0.0.1:7001 --http 127.0.0.1:8101 --data data/dn1 --etcd 127.0.0.1:2379
package main

import (
	"flag"
	"os"

	"github.com/meridian-db/meridian/datanode/server"
	"github.com/meridian-db/meridian/internal/cmdutil"
)

func main() {
	cmdutil.TuneGC()
	log := cmdutil.Logger()
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("datanode", flag.ExitOnError)
	file := fs.String("config", "", "JSON config file (flags override it)")
	etcd := fs.String("etcd", "127.0.0.1:2379", "etcd endpoints, comma separated")
	name := fs.String("name", cfg.Name, "node name")
	num := fs.Uint("num", uint(cfg.Num), "datanode number (1..4095) = its group id, unique")
	cluster := fs.String("cluster", cfg.Cluster, "cluster name")
	listen := fs.String("listen", cfg.ListenAddr, "gRPC listen address")
	httpAddr := fs.String("http", cfg.HTTPAddr, "/metrics and /health address")
	data := fs.String("data", cfg.DataDir, "data directory")
	cache := fs.Int64("cache-bytes", cfg.CacheBytes, "Pebble block cache size")
	workMem := fs.Int64("work-mem", cfg.WorkMem, "memory budget of each query operator that holds rows, in bytes, before it spills to disk")
	queryMem := fs.Int64("query-mem", cfg.QueryMem, "memory, in bytes, that all the queries running here share for the rows their operators hold: beyond it operators spill to disk, or fail with 53200 when they cannot")
	rowEngine := fs.Bool("row-engine", false, "run every query operator on batches of rows: the vectorized (column batch) operators off")
	cleanEvery := fs.Duration("clean-interval", server.DefaultCleanInterval, "how often the old versions cleaner passes over all the data (negative: never; VACUUM still cleans)")
	_ = fs.Parse(os.Args[1:])
	if err := cmdutil.LoadJSON(*file, &cfg); err != nil {
		log.Error("datanode", "err", err)
		os.Exit(2)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			cfg.Name = *name
		case "num":
			cfg.Num = uint32(*num)
		case "cluster":
			cfg.Cluster = *cluster
		case "listen":
			cfg.ListenAddr = *listen
		case "http":
			cfg.HTTPAddr = *httpAddr
		case "data":
			cfg.DataDir = *data
		case "cache-bytes":
			cfg.CacheBytes = *cache
		case "work-mem":
			cfg.WorkMem = *workMem
		case "query-mem":
			cfg.QueryMem = *queryMem
		case "row-engine":
			cfg.RowEngine = *rowEngine
		case "clean-interval":
			cfg.CleanInterval = *cleanEvery
		}
	})
	cfg.Log = log
	if err := cfg.Validate(); err != nil {
		log.Error("datanode", "err", err)
		os.Exit(2)
	}
	// The Go heap holds the queries' rows (bounded by the query memory)
	// and what passes through: its soft limit is 2.25 times the query
	// memory (CockroachDB's ratio of --max-go-memory to --max-sql-memory),
	// so the collector works harder before the heap outgrows that — and at
	// least 256 MiB, room for the rest (connections, buffers, metadata)
	// when the query memory is small.
	queryMemory := cfg.QueryMem
	if queryMemory == 0 {
		queryMemory = server.DefaultQueryMem
	}
	heap := cmdutil.LimitHeap(max(queryMemory*9/4, 256<<20))
	log.Info("memory", "cache_bytes", cfg.CacheBytes, "query_mem", queryMemory, "go_memory_limit", heap)
	ctx, stop := cmdutil.SignalContext()
	defer stop()
	cli, err := cmdutil.Etcd(*etcd, log)
	if err != nil {
		log.Error("datanode", "err", err)
		os.Exit(1)
	}
	defer cli.Close()
	s, err := server.Start(ctx, cfg, cli)
	if err != nil {
		log.Error("datanode", "err", err)
		os.Exit(1)
	}
	<-ctx.Done()
	log.Info("signal received; shutting down")
	s.Close()
}
