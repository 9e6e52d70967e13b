package health

import (
	"testing"

	"github.com/meridian-db/meridian/internal/meta"
)

func TestKeysAndValues(t *testing.T) {
	keys := meta.NewKeys("c1")
	if got, want := Key(keys, "dn1"), "/meridian/c1/health/dn1"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	if ok, _ := Parse(OK); !ok {
		t.Fatal("Parse(OK) not ok")
	}
	if ok, r := Parse(Down("connection refused")); ok || r != "connection refused" {
		t.Fatalf("Parse(Down) = %v, %q", ok, r)
	}
	if ok, _ := Parse("garbage"); ok {
		t.Fatal("garbage parsed as ok")
	}
}
