// Package cmdutil holds what every Meridian binary's main does the same
// way: the logger, the etcd client, a JSON config file under the flags,
// and waiting for SIGINT/SIGTERM.
package cmdutil

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/meridian-db/meridian/internal/etcdembed"
)

// Logger is the text logger on stderr every binary uses.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// Etcd dials etcd.
func Etcd(endpoints string, log *slog.Logger) (*clientv3.Client, error) {
	eps := strings.Split(endpoints, ",")
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Logger:      etcdembed.NewZapLogger(log.With("component", "etcd-client"), zapcore.ErrorLevel),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", eps, err)
	}
	return cli, nil
}

// LoadJSON fills cfg from a JSON file when path is not empty.
func LoadJSON(path string, cfg any) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// SignalContext ends on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// TuneGC sets the garbage collector's target to 200% unless GOGC is set:
// Meridian's servers allocate many short-lived objects per request and
// trade some memory for fewer collections.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// LimitHeap sets Go's soft memory limit to limit bytes unless GOMEMLIMIT
// is set (which wins), and returns the limit in force (math.MaxInt64:
// none).
func LimitHeap(limit int64) int64 {
	if os.Getenv("GOMEMLIMIT") == "" && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return debug.SetMemoryLimit(-1)
}
