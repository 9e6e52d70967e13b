package catalog

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Sequences live in the catalog as descriptors (catalog/sequences/<id>)
// whose names share the relations' namespace; their state is the GTM's
// (gtm/seq/<id>). A sequence OWNED BY a column goes with its table.

// sequences is the loaded set of sequence descriptors.
type sequences struct {
	byID   map[uint32]*meridianpb.SequenceDesc
	byName map[string]*meridianpb.SequenceDesc // "schema.name"
}

func newSequences() sequences {
	return sequences{byID: map[uint32]*meridianpb.SequenceDesc{}, byName: map[string]*meridianpb.SequenceDesc{}}
}

func (s sequences) add(key string, val []byte) error {
	sd := &meridianpb.SequenceDesc{}
	if err := proto.Unmarshal(val, sd); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	s.byID[sd.Id] = sd
	s.byName[sd.Schema+"."+sd.Name] = sd
	return nil
}

// Sequence finds a sequence by schema and name.
func (c *Catalog) Sequence(schema, name string) (*meridianpb.SequenceDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sd, ok := c.seqs.byName[schema+"."+name]
	return sd, ok
}

// SequenceByID finds a sequence by id.
func (c *Catalog) SequenceByID(id uint32) (*meridianpb.SequenceDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sd, ok := c.seqs.byID[id]
	return sd, ok
}

// OwnedSequences lists the sequences owned by a table's columns.
func (c *Catalog) OwnedSequences(tableID uint32) []*meridianpb.SequenceDesc {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*meridianpb.SequenceDesc
	for _, sd := range c.seqs.byID {
		if sd.OwnerTable == tableID {
			out = append(out, sd)
		}
	}
	return out
}

// RelationExists reports whether a table, index, sequence or view has the
// name.
func (c *Catalog) RelationExists(schema, name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k := schema + "." + name
	_, t := c.byName[k]
	_, i := c.indexes[k]
	_, s := c.seqs.byName[k]
	_, v := c.views.byName[k]
	return t || i || s || v
}

// CreateSequence stores a new sequence. It fails with 42P07 when the name
// is taken.
func (c *Catalog) CreateSequence(ctx context.Context, sd *meridianpb.SequenceDesc) error {
	if !c.SchemaExists(sd.Schema) {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		if !c.SchemaExists(sd.Schema) {
			return pgerr.New(pgerr.UndefinedSchema, "schema %q does not exist", sd.Schema)
		}
	}
	sd.Version = 1
	nk := c.keys.Name(sd.Schema, sd.Name)
	tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(nk), "=", 0)).
		Then(clientv3.OpPut(c.keys.Sequence(sd.Id), marshal(sd)), clientv3.OpPut(nk, fmt.Sprintf("s:%d", sd.Id)), c.bump()).
		Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded {
		_ = c.Sync(ctx)
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", sd.Name)
	}
	return c.load1(ctx)
}

// UpdateSequence replaces a sequence's descriptor if nobody changed it
// since old was read (else 40001).
func (c *Catalog) UpdateSequence(ctx context.Context, old, sd *meridianpb.SequenceDesc) error {
	sd.Version = old.Version + 1
	k := c.keys.Sequence(sd.Id)
	resp, err := c.cli.Get(ctx, k)
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if len(resp.Kvs) == 0 {
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", sd.Name)
	}
	cur := &meridianpb.SequenceDesc{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, cur); err != nil {
		return err
	}
	if cur.Version != old.Version {
		return pgerr.New(pgerr.SerializationFailure, "sequence %q was changed concurrently", sd.Name)
	}
	tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(k, marshal(sd)), c.bump()).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded {
		return pgerr.New(pgerr.SerializationFailure, "sequence %q was changed concurrently", sd.Name)
	}
	return c.load1(ctx)
}

func (c *Catalog) dropSequenceOps(sd *meridianpb.SequenceDesc) []clientv3.Op {
	return []clientv3.Op{clientv3.OpDelete(c.keys.Sequence(sd.Id)), clientv3.OpDelete(c.keys.Name(sd.Schema, sd.Name))}
}

// DropSequences removes sequences and, in the same transaction, stores
// the tables whose column defaults used them (DROP SEQUENCE ... CASCADE
// drops those defaults). Their GTM state is the caller's to drop.
func (c *Catalog) DropSequences(ctx context.Context, seqs []*meridianpb.SequenceDesc, tables []*meridianpb.TableDesc) error {
	ops := []clientv3.Op{c.bump()}
	for _, sd := range seqs {
		ops = append(ops, c.dropSequenceOps(sd)...)
	}
	for _, td := range tables {
		td.Version++
		ops = append(ops, clientv3.OpPut(c.keys.Table(td.Id), marshal(td)))
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	return c.load1(ctx)
}
