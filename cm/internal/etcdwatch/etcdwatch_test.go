package etcdwatch

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-db/meridian/cm/internal/cmtest"
)

// view is a map of the keys under a prefix, kept by Run.
type view struct {
	mu     sync.Mutex
	m      map[string]string
	loads  int
	broken int
}

func (v *view) source(cli *clientv3.Client, prefix string) Source {
	return Source{
		Key:  prefix,
		Opts: []clientv3.OpOption{clientv3.WithPrefix()},
		Load: func(ctx context.Context) (int64, error) {
			resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
			if err != nil {
				return 0, err
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			v.m = map[string]string{}
			for _, kv := range resp.Kvs {
				v.m[string(kv.Key)] = string(kv.Value)
			}
			v.loads++
			return resp.Header.Revision, nil
		},
		Apply: func(evs []*clientv3.Event) {
			v.mu.Lock()
			defer v.mu.Unlock()
			for _, ev := range evs {
				if ev.Type == clientv3.EventTypeDelete {
					delete(v.m, string(ev.Kv.Key))
				} else {
					v.m[string(ev.Kv.Key)] = string(ev.Kv.Value)
				}
			}
		},
		Broken: func(error) { v.mu.Lock(); v.broken++; v.mu.Unlock() },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (v *view) equals(want map[string]string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Equal(v.m, want)
}

func (v *view) counts() (loads, broken int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.loads, v.broken
}

func put(t *testing.T, cli *clientv3.Client, k, val string) int64 {
	t.Helper()
	resp, err := cli.Put(cmtest.Context(t, 5*time.Second), k, val)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func run(t *testing.T, cli *clientv3.Client, s Source, rev int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, cli, s, rev) }()
	return func() { cancel(); <-done }
}

func TestFollow(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	defer cmtest.CheckLeaks(t)()
	v := &view{}
	s := v.source(cli, "/p/")
	put(t, cli, "/p/a", "1")
	rev, err := s.Load(cmtest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, cli, s, rev)
	defer stop()
	put(t, cli, "/p/b", "2")
	put(t, cli, "/other", "x")
	if _, err := cli.Delete(cmtest.Context(t, 5*time.Second), "/p/a"); err != nil {
		t.Fatal(err)
	}
	cmtest.Eventually(t, 5*time.Second, "view follows puts and deletes", func() bool {
		return v.equals(map[string]string{"/p/b": "2"})
	})
}

// A watch that starts below the compacted revision reloads and converges.
func TestCompacted(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	defer cmtest.CheckLeaks(t)()
	v := &view{}
	s := v.source(cli, "/p/")
	rev, err := s.Load(cmtest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/p/a", "1")
	put(t, cli, "/p/a", "2")
	last := put(t, cli, "/p/b", "3")
	if _, err := cli.Compact(cmtest.Context(t, 5*time.Second), last); err != nil {
		t.Fatal(err)
	}
	stop := run(t, cli, s, rev)
	defer stop()
	cmtest.Eventually(t, 5*time.Second, "view reloaded after compaction", func() bool {
		return v.equals(map[string]string{"/p/a": "2", "/p/b": "3"})
	})
	if loads, broken := v.counts(); loads != 2 || broken != 1 {
		t.Fatalf("loads=%d broken=%d, want 2 and 1", loads, broken)
	}
}

// The view keeps following across an etcd restart.
func TestEtcdRestart(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.Client
	defer cmtest.CheckLeaks(t)()
	v := &view{}
	s := v.source(cli, "/p/")
	put(t, cli, "/p/a", "1")
	rev, err := s.Load(cmtest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, cli, s, rev)
	defer stop()
	e.Restart()
	put(t, cli, "/p/b", "2")
	cmtest.Eventually(t, 10*time.Second, "view follows after restart", func() bool {
		return v.equals(map[string]string{"/p/a": "1", "/p/b": "2"})
	})
}

// Run returns when the client is closed, even without ctx ending.
func TestClientClosed(t *testing.T) {
	e := cmtest.Start(t)
	cli := e.NewClient()
	v := &view{}
	s := v.source(cli, "/p/")
	rev, err := s.Load(cmtest.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); Run(context.Background(), cli, s, rev) }()
	_ = cli.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after its client closed")
	}
}
