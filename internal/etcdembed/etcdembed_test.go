package etcdembed_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/meridian-db/meridian/internal/etcdembed"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, dir string) (*etcdembed.Etcd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return etcdembed.Start(ctx, etcdembed.Config{
		Dir:       dir,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
	})
}

// Data survives a restart on the same directory (om demo restarts).
func TestRestartKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	put := func(e *etcdembed.Etcd, k, v string) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	put(e, "/k", "v1")
	e.Close()

	e, err = start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), "/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart /k = %v, %v; want v1", resp, err)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []etcdembed.Config{
		{ClientURL: "http://127.0.0.1:1", PeerURL: "http://127.0.0.1:2"},          // no Dir
		{Dir: t.TempDir(), ClientURL: "127.0.0.1", PeerURL: "http://127.0.0.1:2"}, // no scheme
		{Dir: t.TempDir(), ClientURL: "http://127.0.0.1:1", PeerURL: "%zz"},       // bad URL
	} {
		if e, err := etcdembed.Start(ctx, cfg); err == nil {
			e.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

// A port taken by someone else is an error, not a hang.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := etcdembed.Start(ctx, etcdembed.Config{
		Dir:       t.TempDir(),
		ClientURL: "http://" + ln.Addr().String(),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
	})
	if err == nil {
		e.Close()
		t.Fatal("Start on a taken port succeeded")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestZapLoggerForwardsToSlog(t *testing.T) {
	var buf syncBuffer
	lg := etcdembed.NewZapLogger(slog.New(slog.NewTextHandler(&buf, nil)), zapcore.WarnLevel)
	lg.With(zap.String("member", "m1")).Warn("disk slow", zap.Int("ms", 42))
	lg.Info("dropped below the level")
	out := buf.String()
	for _, want := range []string{"level=WARN", `msg="disk slow"`, "member=m1", "ms=42"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %s", out, want)
		}
	}
	if strings.Contains(out, "dropped") {
		t.Errorf("log %q has an entry below the level", out)
	}
	etcdembed.NewZapLogger(nil, zapcore.DebugLevel).Error("into the void") // must not panic
}
