// Package catalog is the coordinator's view of the schema, stored in etcd
// (see internal/meta) and shared by every coordinator.
//
// Each coordinator keeps the whole catalog in memory and watches etcd for
// changes. Writers change it in etcd transactions that bump
// catalog/version; a reader that misses a name (or a column) calls Sync,
// which compares its version with etcd's in one linearizable read and
// reloads when behind, so a table created through one coordinator is
// usable through another in the very next statement.
package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Catalog is a cached, watched copy of the cluster catalog.
type Catalog struct {
	cli  *clientv3.Client
	keys meta.Keys
	log  *slog.Logger

	mu        sync.RWMutex
	version   int64 // mod revision of catalog/version at the last load
	loadedRev int64 // etcd revision of the last applied load
	tables    map[uint32]*meridianpb.TableDesc
	byName    map[string]*meridianpb.TableDesc // "schema.name"
	indexes   map[string]*meridianpb.TableDesc // "schema.index" → table
	schemas   map[string]bool
	stats     map[uint32]*meridianpb.TableStatistics
	seqs      sequences
	views     views

	cancel context.CancelFunc
	done   chan struct{}
}

// Open loads the catalog and starts watching it.
func Open(ctx context.Context, cli *clientv3.Client, keys meta.Keys, log *slog.Logger) (*Catalog, error) {
	c := &Catalog{cli: cli, keys: keys, log: log, done: make(chan struct{})}
	// The public schema always exists.
	if _, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(keys.Schema("public")), "=", 0)).
		Then(clientv3.OpPut(keys.Schema("public"), marshal(&meridianpb.SchemaDesc{Name: "public"})),
			clientv3.OpPut(keys.CatalogVersion(), "1")).Commit(); err != nil {
		return nil, fmt.Errorf("catalog init: %w", err)
	}
	rev, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.watch(wctx, rev)
	return c, nil
}

// Close stops the watch.
func (c *Catalog) Close() {
	c.cancel()
	<-c.done
}

func marshal(m proto.Message) string {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (c *Catalog) load(ctx context.Context) (int64, error) {
	resp, err := c.cli.Get(ctx, c.keys.Catalog(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("load catalog: %w", err)
	}
	tables := map[uint32]*meridianpb.TableDesc{}
	byName := map[string]*meridianpb.TableDesc{}
	indexes := map[string]*meridianpb.TableDesc{}
	schemas := map[string]bool{}
	stats := map[uint32]*meridianpb.TableStatistics{}
	seqs := newSequences()
	vws := newViews()
	var version int64
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case strings.HasPrefix(k, c.keys.Tables()):
			td := &meridianpb.TableDesc{}
			if err := proto.Unmarshal(kv.Value, td); err != nil {
				return 0, fmt.Errorf("decode %s: %w", k, err)
			}
			tables[td.Id] = td
			byName[td.Schema+"."+td.Name] = td
			for _, ix := range AllIndexes(td) {
				indexes[td.Schema+"."+ix.Name] = td
			}
		case strings.HasPrefix(k, c.keys.TableStats()):
			st := &meridianpb.TableStatistics{}
			if err := proto.Unmarshal(kv.Value, st); err != nil {
				return 0, fmt.Errorf("decode %s: %w", k, err)
			}
			stats[st.TableId] = st
		case strings.HasPrefix(k, c.keys.Sequences()):
			if err := seqs.add(k, kv.Value); err != nil {
				return 0, err
			}
		case strings.HasPrefix(k, c.keys.Views()):
			if err := vws.add(k, kv.Value); err != nil {
				return 0, err
			}
		case strings.HasPrefix(k, c.keys.Schemas()):
			schemas[strings.TrimPrefix(k, c.keys.Schemas())] = true
		case k == c.keys.CatalogVersion():
			version = kv.ModRevision
		}
	}
	c.mu.Lock()
	// Loads race (the watcher and a session's Sync): never go back to an
	// older catalog than one already applied.
	if resp.Header.Revision >= c.loadedRev {
		c.tables, c.byName, c.indexes, c.schemas, c.stats, c.version = tables, byName, indexes, schemas, stats, version
		c.seqs = seqs
		c.views = vws
		c.loadedRev = resp.Header.Revision
	}
	c.mu.Unlock()
	return resp.Header.Revision, nil
}

func (c *Catalog) watch(ctx context.Context, rev int64) {
	defer close(c.done)
	for ctx.Err() == nil {
		wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), c.keys.CatalogVersion(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			if len(wr.Events) > 0 {
				if r, err := c.load(ctx); err == nil {
					rev = r
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if r, err := c.load(ctx); err == nil {
			rev = r
		}
	}
}

// Sync makes the cache at least as new as etcd's catalog (one
// linearizable read; a reload only when behind).
func (c *Catalog) Sync(ctx context.Context) error {
	resp, err := c.cli.Get(ctx, c.keys.CatalogVersion())
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	c.mu.RLock()
	cur := c.version
	c.mu.RUnlock()
	if len(resp.Kvs) > 0 && resp.Kvs[0].ModRevision != cur {
		_, err := c.load(ctx)
		return err
	}
	return nil
}

// Table finds a table by schema and name.
func (c *Catalog) Table(schema, name string) (*meridianpb.TableDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.byName[schema+"."+name]
	return t, ok
}

// TableByID finds a table by id.
func (c *Catalog) TableByID(id uint32) (*meridianpb.TableDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tables[id]
	return t, ok
}

// IndexTable finds the table that owns an index.
func (c *Catalog) IndexTable(schema, name string) (*meridianpb.TableDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.indexes[schema+"."+name]
	return t, ok
}

// SchemaExists reports whether a schema exists.
func (c *Catalog) SchemaExists(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.schemas[name]
}

// Tables lists every table.
func (c *Catalog) Tables() []*meridianpb.TableDesc {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*meridianpb.TableDesc, 0, len(c.tables))
	for _, t := range c.tables {
		out = append(out, t)
	}
	return out
}

// AllocIDs reserves n consecutive ids for tables and indexes.
func (c *Catalog) AllocIDs(ctx context.Context, n int) (uint32, error) {
	for {
		resp, err := c.cli.Get(ctx, c.keys.CatalogNextID())
		if err != nil {
			return 0, pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
		}
		next := uint64(100)
		var rev int64
		if len(resp.Kvs) > 0 {
			next, _ = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 32)
			rev = resp.Kvs[0].ModRevision
		}
		tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(c.keys.CatalogNextID()), "=", rev)).
			Then(clientv3.OpPut(c.keys.CatalogNextID(), strconv.FormatUint(next+uint64(n), 10))).Commit()
		if err != nil {
			return 0, pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
		}
		if tr.Succeeded {
			return uint32(next), nil
		}
	}
}

// CreateSchema adds a schema.
func (c *Catalog) CreateSchema(ctx context.Context, name string, ifNotExists bool) error {
	k := c.keys.Schema(name)
	tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, marshal(&meridianpb.SchemaDesc{Name: name})), c.bump()).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded && !ifNotExists {
		return pgerr.New(pgerr.DuplicateSchema, "schema %q already exists", name)
	}
	return c.load1(ctx)
}

func (c *Catalog) bump() clientv3.Op {
	return clientv3.OpPut(c.keys.CatalogVersion(), "x")
}

func (c *Catalog) load1(ctx context.Context) error {
	_, err := c.load(ctx)
	return err
}

// CreateTable stores a new table (its indexes' names reserved too), and
// with it the sequences its serial and identity columns own. It fails
// with 42P07 when a name is taken.
func (c *Catalog) CreateTable(ctx context.Context, td *meridianpb.TableDesc, owned ...*meridianpb.SequenceDesc) error {
	if !c.SchemaExists(td.Schema) {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		if !c.SchemaExists(td.Schema) {
			return pgerr.New(pgerr.UndefinedSchema, "schema %q does not exist", td.Schema)
		}
	}
	td.Version = 1
	var cmps []clientv3.Cmp
	ops := []clientv3.Op{clientv3.OpPut(c.keys.Table(td.Id), marshal(td)), c.bump()}
	names := []string{td.Name}
	ops = append(ops, clientv3.OpPut(c.keys.Name(td.Schema, td.Name), fmt.Sprintf("t:%d", td.Id)))
	for _, ix := range AllIndexes(td) {
		names = append(names, ix.Name)
		ops = append(ops, clientv3.OpPut(c.keys.Name(td.Schema, ix.Name), fmt.Sprintf("i:%d", td.Id)))
	}
	for _, sd := range owned {
		sd.Version = 1
		names = append(names, sd.Name)
		ops = append(ops, clientv3.OpPut(c.keys.Sequence(sd.Id), marshal(sd)),
			clientv3.OpPut(c.keys.Name(sd.Schema, sd.Name), fmt.Sprintf("s:%d", sd.Id)))
	}
	for _, n := range names {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.keys.Name(td.Schema, n)), "=", 0))
	}
	tr, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		for _, n := range names {
			if c.RelationExists(td.Schema, n) {
				return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", n)
			}
		}
		return pgerr.New(pgerr.DuplicateTable, "relation name already exists among %v", names)
	}
	return c.load1(ctx)
}

// UpdateTable replaces a table's descriptor if nobody changed it since
// old was read (else 40001, the caller retries); added index names are
// reserved and dropped ones released.
func (c *Catalog) UpdateTable(ctx context.Context, old, td *meridianpb.TableDesc) error {
	td.Version = old.Version + 1
	k := c.keys.Table(td.Id)
	resp, err := c.cli.Get(ctx, k)
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if len(resp.Kvs) == 0 {
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", td.Name)
	}
	cur := &meridianpb.TableDesc{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, cur); err != nil {
		return err
	}
	if cur.Version != old.Version {
		return pgerr.New(pgerr.SerializationFailure, "table %q was changed concurrently", td.Name)
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)}
	ops := []clientv3.Op{clientv3.OpPut(k, marshal(td)), c.bump()}
	oldIx := map[string]bool{}
	for _, ix := range AllIndexes(old) {
		oldIx[ix.Name] = true
	}
	newIx := map[string]bool{}
	for _, ix := range AllIndexes(td) {
		newIx[ix.Name] = true
		if !oldIx[ix.Name] {
			nk := c.keys.Name(td.Schema, ix.Name)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(nk), "=", 0))
			ops = append(ops, clientv3.OpPut(nk, fmt.Sprintf("i:%d", td.Id)))
		}
	}
	for n := range oldIx {
		if !newIx[n] {
			ops = append(ops, clientv3.OpDelete(c.keys.Name(td.Schema, n)))
		}
	}
	tr, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		return pgerr.New(pgerr.DuplicateTable, "relation name already exists, or table %q changed concurrently", td.Name)
	}
	return c.load1(ctx)
}

// DropTable removes a table and its names, and the sequences it owns
// (OwnedSequences: their GTM state is the caller's to drop).
func (c *Catalog) DropTable(ctx context.Context, td *meridianpb.TableDesc) error {
	ops := []clientv3.Op{clientv3.OpDelete(c.keys.Table(td.Id)), clientv3.OpDelete(c.keys.Name(td.Schema, td.Name)),
		clientv3.OpDelete(c.keys.TableStat(td.Id)), c.bump()}
	for _, sd := range c.OwnedSequences(td.Id) {
		ops = append(ops, c.dropSequenceOps(sd)...)
	}
	for _, ix := range AllIndexes(td) {
		ops = append(ops, clientv3.OpDelete(c.keys.Name(td.Schema, ix.Name)))
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	return c.load1(ctx)
}

// TableStats returns what the last ANALYZE of a table found (nil: never
// analyzed).
func (c *Catalog) TableStats(id uint32) *meridianpb.TableStatistics {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stats[id]
}

// PutStats stores a table's statistics. The catalog version moves, so
// every coordinator plans with them from its next statement on.
func (c *Catalog) PutStats(ctx context.Context, st *meridianpb.TableStatistics) error {
	// Only while the table exists: a concurrent DROP wins.
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(c.keys.Table(st.TableId)), ">", 0)).
		Then(clientv3.OpPut(c.keys.TableStat(st.TableId), marshal(st)), c.bump()).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !resp.Succeeded {
		return pgerr.New(pgerr.UndefinedTable, "table %d was dropped during ANALYZE", st.TableId)
	}
	return c.load1(ctx)
}

// Version identifies the catalog's state: it changes with every schema
// change and every ANALYZE.
func (c *Catalog) Version() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// AllIndexes returns a table's local and global indexes (the names of
// both share the schema's relation namespace).
func AllIndexes(td *meridianpb.TableDesc) []*meridianpb.IndexDesc {
	if len(td.GlobalIndexes) == 0 {
		return td.Indexes
	}
	return append(append(make([]*meridianpb.IndexDesc, 0, len(td.Indexes)+len(td.GlobalIndexes)), td.Indexes...), td.GlobalIndexes...)
}
