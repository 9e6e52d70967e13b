package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
)

func TestStartPutGet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, eps := etcdtest.StartWithEndpoints(t)
	if len(eps) != 1 {
		t.Fatalf("endpoints = %v, want one", eps)
	}
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	other := etcdtest.NewClient(t, eps)
	resp, err := other.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get /k = %v, want v", resp.Kvs)
	}
}

// Two etcds in one test binary get distinct ports and data.
func TestTwoInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, epa := etcdtest.StartWithEndpoints(t)
	b, epb := etcdtest.StartWithEndpoints(t)
	if epa[0] == epb[0] {
		t.Fatalf("both etcds at %s", epa[0])
	}
	if _, err := a.Put(ctx, "/only-a", "1"); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Get(ctx, "/only-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("second etcd sees the first one's key")
	}
}
