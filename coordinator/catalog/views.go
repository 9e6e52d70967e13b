package catalog

import (
	"context"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Views live in the catalog as descriptors (catalog/views/<id>) whose
// names share the relations' namespace ("v:<id>" in catalog/names). A
// view has no data: the planner expands each reference to it.

// views is the loaded set of view descriptors.
type views struct {
	byID   map[uint32]*meridianpb.ViewDesc
	byName map[string]*meridianpb.ViewDesc // "schema.name"
}

func newViews() views {
	return views{byID: map[uint32]*meridianpb.ViewDesc{}, byName: map[string]*meridianpb.ViewDesc{}}
}

func (v views) add(key string, val []byte) error {
	vd := &meridianpb.ViewDesc{}
	if err := proto.Unmarshal(val, vd); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	v.byID[vd.Id] = vd
	v.byName[vd.Schema+"."+vd.Name] = vd
	return nil
}

// View finds a view by schema and name.
func (c *Catalog) View(schema, name string) (*meridianpb.ViewDesc, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	vd, ok := c.views.byName[schema+"."+name]
	return vd, ok
}

// ViewDependents lists the views whose queries name the table or view id,
// directly.
func (c *Catalog) ViewDependents(id uint32) []*meridianpb.ViewDesc {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*meridianpb.ViewDesc
	for _, vd := range c.views.byID {
		if slices.Contains(vd.DependsOn, id) {
			out = append(out, vd)
		}
	}
	slices.SortFunc(out, func(a, b *meridianpb.ViewDesc) int { return int(a.Id) - int(b.Id) })
	return out
}

// CreateView stores a new view, or replaces old (CREATE OR REPLACE VIEW)
// if nobody changed it since it was read (else 40001). A new view fails
// with 42P07 when the name is taken.
func (c *Catalog) CreateView(ctx context.Context, vd *meridianpb.ViewDesc, old *meridianpb.ViewDesc) error {
	if !c.SchemaExists(vd.Schema) {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		if !c.SchemaExists(vd.Schema) {
			return pgerr.New(pgerr.UndefinedSchema, "schema %q does not exist", vd.Schema)
		}
	}
	var cmp clientv3.Cmp
	var ops []clientv3.Op
	if old == nil {
		vd.Version = 1
		nk := c.keys.Name(vd.Schema, vd.Name)
		cmp = clientv3.Compare(clientv3.CreateRevision(nk), "=", 0)
		ops = []clientv3.Op{clientv3.OpPut(c.keys.View(vd.Id), marshal(vd)), clientv3.OpPut(nk, fmt.Sprintf("v:%d", vd.Id)), c.bump()}
	} else {
		vd.Id, vd.Version = old.Id, old.Version+1
		k := c.keys.View(vd.Id)
		resp, err := c.cli.Get(ctx, k)
		if err != nil {
			return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
		}
		cur := &meridianpb.ViewDesc{}
		if len(resp.Kvs) == 0 || proto.Unmarshal(resp.Kvs[0].Value, cur) != nil || cur.Version != old.Version {
			return pgerr.New(pgerr.SerializationFailure, "view %q was changed concurrently", vd.Name)
		}
		cmp = clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)
		ops = []clientv3.Op{clientv3.OpPut(k, marshal(vd)), c.bump()}
	}
	tr, err := c.cli.Txn(ctx).If(cmp).Then(ops...).Commit()
	if err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	if !tr.Succeeded {
		_ = c.Sync(ctx)
		if old != nil {
			return pgerr.New(pgerr.SerializationFailure, "view %q was changed concurrently", vd.Name)
		}
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", vd.Name)
	}
	return c.load1(ctx)
}

// DropViews removes views.
func (c *Catalog) DropViews(ctx context.Context, vds []*meridianpb.ViewDesc) error {
	if len(vds) == 0 {
		return nil
	}
	ops := []clientv3.Op{c.bump()}
	for _, vd := range vds {
		ops = append(ops, clientv3.OpDelete(c.keys.View(vd.Id)), clientv3.OpDelete(c.keys.Name(vd.Schema, vd.Name)))
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return pgerr.Wrap(err, pgerr.ConnectionFailure, "catalog")
	}
	return c.load1(ctx)
}
