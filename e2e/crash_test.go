package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/types"
)

// TestCoordinatorCrashDuringCommit kills a coordinator process (it exits
// on MERIDIAN_TESTING_CRASH_AT) at steps of a three-datanode commit —
// after PREPARE on two of the three datanodes, after PREPARE on all, after
// the primary's commit (the decision), after the commit on one of the two
// other participants — restarts it, and checks through the other
// coordinator that the transaction is all or nothing and that the
// datanodes resolved it on their own, within seconds.
func TestCoordinatorCrashDuringCommit(t *testing.T) {
	cases := []struct{ at, want string }{
		{"before-prepare:3", "aborted"},
		{"all-prepared", "aborted"},
		{"primary-committed", "committed"},
		{"before-commit:3", "committed"},
	}
	tc := startCluster(t, 2, 3)
	cn1 := tc.connect(t, 0)
	mustExec(t, cn1, "CREATE TABLE crash (k bigint PRIMARY KEY, n int NOT NULL) DISTRIBUTE BY HASH(k)")
	keys := tc.keysPerDatanode(t, len(cases))
	victim := tc.Node("cn2")
	for i, c := range cases {
		t.Run(c.at, func(t *testing.T) {
			victim.Env = []string{"MERIDIAN_TESTING_CRASH_AT=" + c.at}
			tc.restart(t, "cn2")
			exits := tc.logCount("cn2", crashMark)
			conn := tc.connect(t, 1)
			ks := keys[i]
			ctx, cancel := queryCtx()
			_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO crash VALUES (%d, %d), (%d, %d), (%d, %d)", ks[0], i, ks[1], i, ks[2], i))
			cancel()
			crashed := time.Now()
			if err == nil {
				t.Fatalf("the INSERT succeeded: cn2 did not exit at %s", c.at)
			}
			if tc.logCount("cn2", crashMark) != exits+1 {
				t.Fatalf("the INSERT failed (%v) but cn2 did not exit at %s", err, c.at)
			}
			victim.Env = nil
			tc.restart(t, "cn2")
			var outcome string
			eventually(t, 30*time.Second, "resolution", func(ctx context.Context) error {
				var err error
				outcome, err = crashOutcome(ctx, cn1, i, ks)
				return err
			})
			t.Logf("client: %v; outcome %s, resolved %v after the crash", describe(err), outcome, time.Since(crashed).Round(10*time.Millisecond))
			if outcome != c.want {
				t.Fatalf("outcome %s, want %s", outcome, c.want)
			}
		})
	}
}

// crashMark is what the coordinator logs when it exits at a crash step.
const crashMark = "MERIDIAN_TESTING_CRASH_AT: exiting"

// logCount counts the lines of a node's log that contain s.
func (tc *testCluster) logCount(node, s string) int {
	b, err := os.ReadFile(filepath.Join(tc.dir, node+".log"))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}

// crashOutcome tells whether statement n's rows are all there (with none
// left prepared anywhere), or none and its keys free to write again.
func crashOutcome(ctx context.Context, conn *pgx.Conn, n int, ks [3]int64) (string, error) {
	var prepared, rows int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM meridian_prepared_xacts").Scan(&prepared); err != nil {
		return "", err
	}
	if prepared != 0 {
		return "", fmt.Errorf("%d transactions still prepared", prepared)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM crash WHERE n = $1", n).Scan(&rows); err != nil {
		return "", err
	}
	switch rows {
	case 3:
		return "committed", nil
	case 0:
		if _, err := conn.Exec(ctx, "SET lock_timeout = '500ms'"); err != nil {
			return "", err
		}
		defer conn.Exec(context.Background(), "RESET lock_timeout")
		if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO crash VALUES (%d, -1), (%d, -1), (%d, -1)", ks[0], ks[1], ks[2])); err != nil {
			return "", fmt.Errorf("its keys cannot be written yet: %w", err)
		}
		return "aborted", nil
	}
	return "", fmt.Errorf("%d of the 3 rows are visible: not all or nothing", rows)
}

// keysPerDatanode returns n triples of bigint keys whose rows land on
// datanodes 1, 2 and 3, in that order.
func (tc *testCluster) keysPerDatanode(t *testing.T, n int) [][3]int64 {
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
	byGroup := map[uint32][]int64{}
	for k := int64(1); len(byGroup[1]) < n || len(byGroup[2]) < n || len(byGroup[3]) < n; k++ {
		g := w.Current().Owner(codec.Bucket([]types.Datum{k}))
		byGroup[g] = append(byGroup[g], k)
	}
	out := make([][3]int64, n)
	for i := range out {
		out[i] = [3]int64{byGroup[1][i], byGroup[2][i], byGroup[3][i]}
	}
	return out
}
