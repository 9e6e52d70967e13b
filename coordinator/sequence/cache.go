package sequence

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Source hands out runs of a sequence's values: the GTM (gtm/client).
type Source interface {
	NextValues(ctx context.Context, id uint32, name string, n uint64) (*meridianpb.NextValuesReply, error)
}

// Cache is a coordinator's cache of sequence values, shared by its
// sessions: the driver of one Ranges per sequence. A session that finds
// a sequence's run empty fetches the next from the GTM; the others wait
// for that fetch rather than send their own. It is safe for concurrent
// use.
type Cache struct {
	src Source
	now func() time.Time

	mu   sync.Mutex
	seqs map[uint32]*cached

	watchCancel context.CancelFunc
	watchDone   chan struct{}
}

type cached struct {
	r        Ranges
	fetching chan struct{} // closed when the fetch in flight ends; nil: none
}

// NewCache returns a cache that fetches from src.
func NewCache(src Source) *Cache {
	return &Cache{src: src, now: time.Now, seqs: map[uint32]*cached{}}
}

func (c *Cache) get(id uint32) *cached {
	s := c.seqs[id]
	if s == nil {
		s = &cached{}
		c.seqs[id] = s
	}
	return s
}

// Next returns the next value of sequence id (name is for messages;
// cache is its CACHE option).
func (c *Cache) Next(ctx context.Context, id uint32, name string, cache int64) (int64, error) {
	if c.src == nil {
		return 0, pgerr.New(pgerr.ConnectionFailure, "no GTM to take sequence values from")
	}
	for {
		c.mu.Lock()
		s := c.get(id)
		if v, ok := s.r.Take(); ok {
			c.mu.Unlock()
			return v, nil
		}
		if ch := s.fetching; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		ch := make(chan struct{})
		s.fetching = ch
		n := s.r.Want(cache)
		c.mu.Unlock()

		g, err := c.src.NextValues(ctx, id, name, n)

		c.mu.Lock()
		s.fetching = nil
		close(ch)
		if err == nil {
			s.r.Add(Grant{First: g.First, Count: g.Count, Increment: g.Increment, Gen: g.Generation}, c.now())
		}
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

// Invalidate drops the cached values of sequence id from generations
// before gen: after a setval or ALTER SEQUENCE (here, or seen in etcd).
func (c *Cache) Invalidate(id uint32, gen uint64) {
	c.mu.Lock()
	c.get(id).r.Invalidate(gen)
	c.mu.Unlock()
}

// Surrender takes sequence id's cached values out of the cache, for
// giving them back to the GTM (ALTER SEQUENCE): no session gets them.
func (c *Cache) Surrender(id uint32) Grant {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.seqs[id]; s != nil {
		return s.r.Surrender()
	}
	return Grant{}
}

// Forget drops everything about sequence id (it was dropped).
func (c *Cache) Forget(id uint32) {
	c.mu.Lock()
	delete(c.seqs, id)
	c.mu.Unlock()
}

// Cached is how many values of sequence id are cached here.
func (c *Cache) Cached(id uint32) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.seqs[id]; s != nil {
		return s.r.Cached()
	}
	return 0
}

// Watch follows the GTM's sequence records in etcd until Close: a record
// with a newer generation (a setval or ALTER SEQUENCE through any
// coordinator) drops the values cached here from before it, and a deleted
// one forgets the sequence. A coordinator thus stops handing out values
// of a reset sequence's old runs within the watch's delay.
func (c *Cache) Watch(cli *clientv3.Client, keys meta.Keys, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	c.watchCancel, c.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(c.watchDone)
		c.watch(ctx, cli, keys, log)
	}()
}

// Close stops Watch.
func (c *Cache) Close() {
	if c.watchCancel != nil {
		c.watchCancel()
		<-c.watchDone
		c.watchCancel = nil
	}
}

func (c *Cache) watch(ctx context.Context, cli *clientv3.Client, keys meta.Keys, log *slog.Logger) {
	prefix := keys.GTMSequences()
	for ctx.Err() == nil {
		// Catch up with every record (after a start or a broken watch),
		// then follow the changes from there.
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("read sequence records", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, kv := range resp.Kvs {
			c.apply(prefix, kv.Key, kv.Value)
		}
		wch := cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					if id, ok := seqID(prefix, ev.Kv.Key); ok {
						c.Forget(id)
					}
					continue
				}
				c.apply(prefix, ev.Kv.Key, ev.Kv.Value)
			}
		}
	}
}

func (c *Cache) apply(prefix string, key, val []byte) {
	id, ok := seqID(prefix, key)
	if !ok {
		return
	}
	st := &meridianpb.SequenceState{}
	if proto.Unmarshal(val, st) != nil {
		return
	}
	c.Invalidate(id, st.Generation)
}

func seqID(prefix string, key []byte) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimPrefix(string(key), prefix), 10, 32)
	return uint32(v), err == nil
}
