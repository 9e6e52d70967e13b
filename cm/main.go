package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/meridian-db/meridian/cm/agent"
	"github.com/meridian-db/meridian/cm/server"
)

const usage = `usage: cm server [flags]   run a CM server
       cm agent [flags]    run a CM agent
run "cm server -h" or "cm agent -h" for flags`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:], log)
	case "agent":
		err = runAgent(os.Args[2:], log)
	case "-h", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "cm: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Error("cm failed", "err", err)
		os.Exit(1)
	}
}

// common are the settings both subcommands have besides their Config.
type common struct {
	etcd   string
	config string
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.etcd, "etcd", "127.0.0.1:2379", "etcd endpoints, comma-separated host:port")
	fs.StringVar(&c.config, "config", "", "JSON file with the settings (flags override it)")
}

// load decodes the --config file, if any, into each of dsts, and returns
// the etcd endpoints: the file's "etcd" unless --etcd was given.
func (c *common) load(fs *flag.FlagSet, dsts ...any) (etcd string, err error) {
	etcd = c.etcd
	if c.config == "" {
		return etcd, nil
	}
	b, err := os.ReadFile(c.config)
	if err != nil {
		return "", err
	}
	var extra struct {
		Etcd string `json:"etcd"`
	}
	for _, dst := range append(dsts, &extra) {
		if err := json.Unmarshal(b, dst); err != nil {
			return "", fmt.Errorf("%s: %w", c.config, err)
		}
	}
	if extra.Etcd != "" && !setFlags(fs)["etcd"] {
		etcd = extra.Etcd
	}
	return etcd, nil
}

func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func runServer(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("cm server", flag.ContinueOnError)
	var c common
	c.flags(fs)
	def := server.NewConfig()
	name := fs.String("name", "", "node name of this CM server (required)")
	httpAddr := fs.String("http", def.HTTPAddr, "listen address of /metrics and /health")
	cluster := fs.String("cluster", def.Cluster, "cluster name (etcd prefix /meridian/<cluster>/)")
	datanodes := fs.Int("datanodes", 0, "how many datanodes form the initial cluster (required)")
	ttl := fs.Int("lease-ttl", def.LeaseTTL, "registration and election lease TTL, seconds")
	mode := fs.String("txn-mode", def.TxnMode, "the cluster's transaction mode, written once at cluster init: gtm, gtm-lite or gtm-free")
	deadlocks := fs.Duration("deadlock-interval", server.DefaultDeadlockInterval,
		"how often the leader polls the datanodes for deadlocks across them (negative: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := def
	cfg.DeadlockInterval = *deadlocks
	etcd, err := c.load(fs, &cfg)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	for flagName, apply := range map[string]func(){
		"name":      func() { cfg.Name = *name },
		"http":      func() { cfg.HTTPAddr = *httpAddr },
		"cluster":   func() { cfg.Cluster = *cluster },
		"datanodes": func() { cfg.Datanodes = *datanodes },
		"lease-ttl": func() { cfg.LeaseTTL = *ttl },
		"txn-mode":  func() { cfg.TxnMode = *mode },
	} {
		if set[flagName] {
			apply()
		}
	}
	cfg.Logger = log
	if err := cfg.Validate(); err != nil {
		return err
	}
	return run(etcd, log, func(ctx context.Context, cli *clientv3.Client) (func(), error) {
		s, err := server.Start(ctx, cfg, cli)
		if err != nil {
			return nil, err
		}
		return s.Close, nil
	})
}

func runAgent(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("cm agent", flag.ContinueOnError)
	var c common
	c.flags(fs)
	def := agent.NewConfig()
	name := fs.String("name", "", "name of this agent (default agent-<node>)")
	node := fs.String("node", "", "name of the node to watch (required)")
	nodeHTTP := fs.String("node-http", "", "base URL of the node's HTTP server, http://host:port (required)")
	cluster := fs.String("cluster", def.Cluster, "cluster name (etcd prefix /meridian/<cluster>/)")
	interval := fs.Duration("interval", def.Interval, "time between probes")
	timeout := fs.Duration("timeout", def.Timeout, "timeout of one probe")
	ttl := fs.Int("lease-ttl", def.LeaseTTL, "health key lease TTL, seconds")
	httpAddr := fs.String("http", "", "listen address of the agent's own /metrics (none if empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := def
	// Durations are strings ("1s") in the file.
	var durations struct {
		Interval string `json:"interval"`
		Timeout  string `json:"timeout"`
	}
	etcd, err := c.load(fs, &cfg, &durations)
	if err != nil {
		return err
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{durations.Interval, &cfg.Interval}, {durations.Timeout, &cfg.Timeout}} {
		if d.s != "" {
			if *d.dst, err = time.ParseDuration(d.s); err != nil {
				return fmt.Errorf("%s: %w", c.config, err)
			}
		}
	}
	set := setFlags(fs)
	for flagName, apply := range map[string]func(){
		"name":      func() { cfg.Name = *name },
		"node":      func() { cfg.NodeName = *node },
		"node-http": func() { cfg.NodeHTTP = *nodeHTTP },
		"cluster":   func() { cfg.Cluster = *cluster },
		"interval":  func() { cfg.Interval = *interval },
		"timeout":   func() { cfg.Timeout = *timeout },
		"lease-ttl": func() { cfg.LeaseTTL = *ttl },
		"http":      func() { cfg.HTTPAddr = *httpAddr },
	} {
		if set[flagName] {
			apply()
		}
	}
	if cfg.Name == "" && cfg.NodeName != "" {
		cfg.Name = "agent-" + cfg.NodeName
	}
	cfg.Logger = log
	if err := cfg.Validate(); err != nil {
		return err
	}
	return run(etcd, log, func(ctx context.Context, cli *clientv3.Client) (func(), error) {
		a, err := agent.Start(ctx, cfg, cli)
		if err != nil {
			return nil, err
		}
		return a.Close, nil
	})
}

// run connects to etcd, starts the component and closes it on SIGINT or
// SIGTERM.
func run(etcd string, log *slog.Logger, start func(context.Context, *clientv3.Client) (func(), error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var endpoints []string
	for _, e := range strings.Split(etcd, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return errors.New("no etcd endpoints (--etcd)")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	closeFn, err := start(ctx, cli)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("signal received; shutting down")
	closeFn()
	return nil
}
