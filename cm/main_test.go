package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-db/meridian/cm/health"
	"github.com/meridian-db/meridian/cm/internal/cmtest"
	"github.com/meridian-db/meridian/internal/meta"
)

// The subcommands parse flags and a config file, run, and stop on SIGTERM.
func TestCommands(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	keys := meta.NewKeys("c1")
	node := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer node.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	conf := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(conf, []byte(`{"etcd": "`+e.Endpoint+`", "node": "dn1", "interval": "20ms", "cluster": "c1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func() error
		key  string
	}{
		{"server", func() error {
			return runServer([]string{"--name", "cm1", "--etcd", e.Endpoint, "--cluster", "c1", "--datanodes", "1"}, log)
		}, keys.Node("cm1")},
		{"agent", func() error {
			return runAgent([]string{"--config", conf, "--node-http", node.URL}, log)
		}, health.Key(keys, "dn1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.run() }()
			cmtest.Eventually(t, 5*time.Second, tc.key+" written", func() bool {
				select {
				case err := <-done:
					t.Fatalf("exited early: %v", err)
				default:
				}
				resp, err := cli.Get(cmtest.Context(t, 5*time.Second), tc.key)
				return err == nil && len(resp.Kvs) == 1
			})
			// The signal handler is installed before the key is written.
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still running 5s after SIGTERM")
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := runServer([]string{"--name", "cm1"}, log); err == nil {
		t.Fatal("server without --datanodes started")
	}
	if err := runAgent([]string{"--node", "dn1", "--node-http", "nope"}, log); err == nil {
		t.Fatal("agent with a bad --node-http started")
	}
	if err := runServer([]string{"--config", "/does/not/exist", "--name", "x", "--datanodes", "1"}, log); err == nil {
		t.Fatal("missing config file accepted")
	}
}
