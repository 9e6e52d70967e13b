package catalog

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func TestTwoCoordinatorsSeeOneCatalog(t *testing.T) {
	cli := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys := meta.NewKeys("t1")
	a, err := Open(ctx, cli, keys, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, cli, keys, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	id, err := a.AllocIDs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	td := &meridianpb.TableDesc{Id: id, Schema: "public", Name: "kv",
		Columns: []*meridianpb.ColumnDesc{{Name: "k", TypeOid: types.Int8, Typmod: -1}},
		Indexes: []*meridianpb.IndexDesc{{Id: id + 1, Name: "kv_pkey", Columns: []int32{0}, Unique: true, Primary: true}}}
	if err := a.CreateTable(ctx, td); err != nil {
		t.Fatal(err)
	}
	// b may not have seen the watch event yet; Sync makes it current.
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := b.Table("public", "kv")
	if !ok || got.Id != id || got.Version != 1 {
		t.Fatalf("b sees %v %v", got, ok)
	}
	if tb, ok := b.IndexTable("public", "kv_pkey"); !ok || tb.Id != id {
		t.Fatalf("index name not visible: %v %v", tb, ok)
	}
	// Names are one namespace: a table named like the index is refused.
	dup := &meridianpb.TableDesc{Id: id + 5, Schema: "public", Name: "kv_pkey", Columns: td.Columns}
	if err := b.CreateTable(ctx, dup); pgerr.Code(err) != pgerr.DuplicateTable {
		t.Fatalf("duplicate name: %v", err)
	}
	// A concurrent change loses: update from a stale descriptor.
	nt := &meridianpb.TableDesc{Id: id, Schema: "public", Name: "kv", Columns: append(td.Columns, &meridianpb.ColumnDesc{Name: "v", TypeOid: types.Text, Typmod: -1})}
	if err := a.UpdateTable(ctx, got, nt); err != nil {
		t.Fatal(err)
	}
	stale := &meridianpb.TableDesc{Id: id, Schema: "public", Name: "kv", Columns: td.Columns}
	if err := b.UpdateTable(ctx, got, stale); pgerr.Code(err) != pgerr.SerializationFailure {
		t.Fatalf("stale update: %v", err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Table("public", "kv"); len(cur.Columns) != 2 || cur.Version != 2 {
		t.Fatalf("b sees %v", cur)
	}
	if err := b.DropTable(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Table("public", "kv"); ok {
		t.Fatal("dropped table still visible")
	}
	if _, ok := a.IndexTable("public", "kv_pkey"); ok {
		t.Fatal("dropped index name still reserved")
	}
}

func TestSchemas(t *testing.T) {
	cli := etcdtest.Start(t)
	ctx := context.Background()
	c, err := Open(ctx, cli, meta.NewKeys("t2"), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.SchemaExists("public") {
		t.Fatal("public schema missing")
	}
	if err := c.CreateSchema(ctx, "s1", false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateSchema(ctx, "s1", false); pgerr.Code(err) != pgerr.DuplicateSchema {
		t.Fatalf("duplicate schema: %v", err)
	}
	if err := c.CreateSchema(ctx, "s1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTable(ctx, &meridianpb.TableDesc{Id: 1, Schema: "nope", Name: "x"}); pgerr.Code(err) != pgerr.UndefinedSchema {
		t.Fatalf("missing schema: %v", err)
	}
}
