package e2e

import (
	"context"
	"testing"

	"github.com/meridian-db/meridian/om/cluster"
)

func TestTmpStartFailure(t *testing.T) {
	for _, b := range []string{"/nonexistent", "/tmp/partbin"} {
		c, err := cluster.Start(context.Background(), cluster.Options{Dir: t.TempDir(), BinDir: b})
		t.Log(c, err)
	}
}
