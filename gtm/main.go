// Command gtm runs one GTM replica: the CSN service of a Meridian cluster.
// Run two or three; etcd elects the leader.
//
//	gtm --name gtm-1 --listen 10.0.0.5:6600 --http :6601 --etcd http://etcd:2379
package main

import (
	"bytes"
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
	"go.uber.org/zap/zapcore"

	"github.com/meridian-db/meridian/gtm/server"
	"github.com/meridian-db/meridian/internal/etcdembed"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, os.Args[1:]); err != nil {
		log.Error("gtm", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	cfg.Log = log
	if err := cfg.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.EtcdEndpoints,
		DialTimeout: 5 * time.Second,
		Logger:      etcdembed.NewZapLogger(log.With("component", "etcd-client"), zapcore.ErrorLevel),
	})
	if err != nil {
		return fmt.Errorf("etcd client for %v: %w", cfg.EtcdEndpoints, err)
	}
	defer func() { _ = cli.Close() }()

	s, err := server.Start(ctx, cfg, cli)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("signal received; shutting down")
	s.Close()
	return nil
}

// parseConfig builds the config: defaults, then the --config JSON file,
// then the other flags given on the command line.
func parseConfig(args []string) (server.Config, error) {
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("gtm", flag.ContinueOnError)
	var (
		file    = fs.String("config", "", "JSON file overriding the defaults (flags override it)")
		name    = fs.String("name", cfg.Name, "replica name (node key and log tag)")
		listen  = fs.String("listen", cfg.ListenAddr, "gRPC listen address")
		adv     = fs.String("advertise", cfg.AdvertiseAddr, "gRPC address other nodes dial (default: the listen address)")
		httpA   = fs.String("http", cfg.HTTPAddr, "/metrics and /health address (empty: off)")
		etcd    = fs.String("etcd", strings.Join(cfg.EtcdEndpoints, ","), "etcd endpoints, comma separated")
		cluster = fs.String("cluster", cfg.Cluster, "cluster name (etcd prefix /meridian/<cluster>/)")
		window  = fs.Uint64("window", cfg.Window, "CSNs per persisted high-water-mark step")
		ttl     = fs.Int64("lease-ttl", cfg.LeaseTTL, "leader lease TTL in seconds")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", *file, err)
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			cfg.Name = *name
		case "listen":
			cfg.ListenAddr = *listen
		case "advertise":
			cfg.AdvertiseAddr = *adv
		case "http":
			cfg.HTTPAddr = *httpA
		case "etcd":
			cfg.EtcdEndpoints = splitList(*etcd)
		case "cluster":
			cfg.Cluster = *cluster
		case "window":
			cfg.Window = *window
		case "lease-ttl":
			cfg.LeaseTTL = *ttl
		case "config":
		default:
			ferr = errors.Join(ferr, fmt.Errorf("flag %s not mapped", f.Name))
		}
	})
	return cfg, ferr
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
