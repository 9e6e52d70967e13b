// Command coordinator runs a Meridian coordinator: the PostgreSQL wire
// endpoint that plans statements and runs them over the datanodes.
//
//	coordinator --name cn1 --num 1 --pg 127.0.0.1:5432 --http 127.0.0.1:8201 --etcd 127.0.0.1:2379
package main

import (
	"flag"
	"os"
	"strings"

	"github.com/meridian-db/meridian/coordinator/server"
	"github.com/meridian-db/meridian/coordinator/session"
	"github.com/meridian-db/meridian/internal/cmdutil"
)

func main() {
	cmdutil.TuneGC()
	log := cmdutil.Logger()
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("coordinator", flag.ExitOnError)
	file := fs.String("config", "", "JSON config file (flags override it)")
	etcd := fs.String("etcd", "127.0.0.1:2379", "etcd endpoints, comma separated")
	name := fs.String("name", cfg.Name, "node name")
	num := fs.Uint("num", uint(cfg.Num), "coordinator number (1..65535), unique")
	cluster := fs.String("cluster", cfg.Cluster, "cluster name")
	pg := fs.String("pg", cfg.PGAddr, "PostgreSQL wire listen address")
	httpAddr := fs.String("http", cfg.HTTPAddr, "/metrics and /health address")
	auth := fs.String("auth", cfg.AuthMethod, "trust or scram-sha-256")
	users := fs.String("users", "", "user:password pairs, comma separated (scram-sha-256)")
	mode := fs.String("txn-mode", cfg.TxnMode, "if set, the mode the cluster must have been initialized with (gtm, gtm-lite or gtm-free)")
	maxMsg := fs.Int("max-message-size", cfg.MaxMessageSize, "largest client message in bytes")
	rowEngine := fs.Bool("row-engine", cfg.RowEngine, "run the query operators on batches of rows only (the vectorized operators off)")
	_ = fs.Parse(os.Args[1:])
	if err := cmdutil.LoadJSON(*file, &cfg); err != nil {
		log.Error("coordinator", "err", err)
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
		case "pg":
			cfg.PGAddr = *pg
		case "http":
			cfg.HTTPAddr = *httpAddr
		case "auth":
			cfg.AuthMethod = *auth
		case "txn-mode":
			cfg.TxnMode = *mode
		case "max-message-size":
			cfg.MaxMessageSize = *maxMsg
		case "row-engine":
			cfg.RowEngine = *rowEngine
		case "users":
			cfg.Users = map[string]string{}
			for _, p := range strings.Split(*users, ",") {
				if u, pw, ok := strings.Cut(p, ":"); ok {
					cfg.Users[u] = pw
				}
			}
		}
	})
	cfg.Log = log
	if spec := os.Getenv("MERIDIAN_TESTING_CRASH_AT"); spec != "" {
		// Tests only: die at a step of every two-phase commit (docs/operations.md).
		k, err := session.CrashKnobs(spec, func(step session.CommitStep, gxid uint64, group uint32) {
			log.Error("MERIDIAN_TESTING_CRASH_AT: exiting", "step", step, "gxid", gxid, "group", group)
			os.Exit(70)
		})
		if err != nil {
			log.Error("coordinator", "err", err)
			os.Exit(2)
		}
		cfg.Knobs = k
	}
	if err := cfg.Validate(); err != nil {
		log.Error("coordinator", "err", err)
		os.Exit(2)
	}
	ctx, stop := cmdutil.SignalContext()
	defer stop()
	cli, err := cmdutil.Etcd(*etcd, log)
	if err != nil {
		log.Error("coordinator", "err", err)
		os.Exit(1)
	}
	defer cli.Close()
	s, err := server.Start(ctx, cfg, cli)
	if err != nil {
		log.Error("coordinator", "err", err)
		os.Exit(1)
	}
	<-ctx.Done()
	log.Info("signal received; shutting down")
	s.Close()
}
