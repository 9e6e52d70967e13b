package etcdwatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Source describes what to follow.
type Source struct {
	// Key and Opts select the watched range (e.g. a prefix and
	// clientv3.WithPrefix()).
	Key  string
	Opts []clientv3.OpOption
	// Load reads the full state of the range at one revision, replaces the
	// caller's view with it and returns that revision.
	Load func(ctx context.Context) (rev int64, err error)
	// Apply applies the events of one watch response, in revision order.
	Apply func(events []*clientv3.Event)
	// Broken, if set, is told when the watch breaks; the next successful
	// Load means the view is current again.
	Broken func(err error)
	Log    *slog.Logger
}

// ErrCompacted is what Broken receives when the watch fell behind a
// compaction.
var ErrCompacted = errors.New("watch revision compacted")

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Run follows s from rev+1, rev being the revision of the caller's first
// Load, until ctx ends or cli is closed.
func Run(ctx context.Context, cli *clientv3.Client, s Source, rev int64) {
	backoff := minBackoff
	for {
		err := watch(ctx, cli, s, rev)
		if ctx.Err() != nil || cli.Ctx().Err() != nil {
			return
		}
		if s.Broken != nil {
			s.Broken(err)
		}
		s.Log.Warn("watch broken; reloading", "key", s.Key, "err", err)
		for {
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			if rev, err = s.Load(ctx); err == nil {
				backoff = minBackoff
				break
			}
			if ctx.Err() != nil || cli.Ctx().Err() != nil {
				return
			}
			s.Log.Warn("reload failed", "key", s.Key, "err", err)
		}
	}
}

// watch applies events after rev until the watch breaks, and says why.
func watch(ctx context.Context, cli *clientv3.Client, s Source, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := append(append([]clientv3.OpOption(nil), s.Opts...), clientv3.WithRev(rev+1))
	for resp := range cli.Watch(wctx, s.Key, opts...) {
		if resp.CompactRevision != 0 {
			return ErrCompacted
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if resp.Canceled {
			return errors.New("watch canceled")
		}
		if len(resp.Events) > 0 {
			s.Apply(resp.Events)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("watch channel closed")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
