package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/e2e/isolation"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// TestIsolation runs the isolation specs of testdata/isolation (the
// format of PostgreSQL's src/test/isolation) against a cluster of 2
// coordinators and 3 datanodes — the control connection on cn1, the
// sessions alternating between cn2 and cn1 — and compares the output with
// the expected files, which PostgreSQL 15's isolationtester made
// (scripts/isolation-expected.sh). A session counts as blocked while a
// datanode reports a wait for a row lock by its backend process id.
func TestIsolation(t *testing.T) {
	tc := startCluster(t, 2, 3)
	specs, err := filepath.Glob("testdata/isolation/*.spec")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no specs: %v", err)
	}
	checkSpread(t, tc, map[int64]bool{1: true, 2: true, 6: true})
	blocked := tc.lockWaits(t)
	for _, f := range specs {
		name := strings.TrimSuffix(filepath.Base(f), ".spec")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := isolation.Parse(string(src))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			r := &isolation.Runner{
				Connect: func(ctx context.Context, i int) (*pgconn.PgConn, error) {
					return pgconn.Connect(ctx, tc.dsn(i%2))
				},
				Blocked: blocked,
			}
			start := time.Now()
			got, err := r.Run(ctx, sp)
			if err != nil {
				t.Fatalf("%v\noutput so far:\n%s", err, got)
			}
			if d := isolation.Diff(isolation.ExpectedFile(f), got); d != "" {
				t.Fatal(d)
			}
			t.Logf("%s: %v", name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkSpread fails the test unless each of keys (int primary keys)
// hashes to a datanode of its own: the deadlock spec's cycles must cross
// datanodes.
func checkSpread(t *testing.T, tc *testCluster, keys map[int64]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := routing.Watch(ctx, tc.Cli, tc.Keys, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	owners := map[uint32]int64{}
	for k := range keys {
		g := w.Current().Owner(codec.Bucket([]types.Datum{k}))
		if other, ok := owners[g]; ok {
			t.Fatalf("keys %d and %d are both on datanode %d; the deadlock spec needs them apart", k, other, g)
		}
		owners[g] = k
	}
}

// lockWaits returns the runner's lock-wait check for this cluster: a
// session is blocked while a datanode lists a wait for a row lock by its
// backend process id (the WaitEdges the deadlock detector reads) on a lock
// another session holds.
func (tc *testCluster) lockWaits(t *testing.T) isolation.BlockedFunc {
	var clients []meridianpb.DataNodeClient
	for _, n := range tc.Nodes {
		if n.Role != "datanode" {
			continue
		}
		conn, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		clients = append(clients, meridianpb.NewDataNodeClient(conn))
	}
	return func(ctx context.Context, pid int64) (bool, error) {
		var mu sync.Mutex
		var firstErr error
		found := false
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func(c meridianpb.DataNodeClient) {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				resp, err := c.WaitEdges(cctx, &meridianpb.WaitEdgesRequest{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				for _, e := range resp.Edges {
					// As PostgreSQL's pg_isolation_test_session_is_blocked:
					// blocked by a session; a prepared transaction belongs
					// to none (holder pid 0).
					found = found || (e.WaiterPid == pid && e.HolderPid != 0)
				}
			}(c)
		}
		wg.Wait()
		if found {
			return true, nil
		}
		return false, firstErr
	}
}
