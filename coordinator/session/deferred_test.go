package session_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDeferredInsertDatanodeDown: an INSERT held back by the coordinator
// (deferred.go) is answered at once; when its datanode is gone by COMMIT,
// COMMIT fails and nothing of the block commits — not the UPDATE on
// another datanode, not the insert.
func TestDeferredInsertDatanodeDown(t *testing.T) {
	c := startClusterCNs(t, 1, nil)
	ctx := context.Background()
	conn := connect(t, dsnOf(c, 0, "meridian"))
	exec(t, conn, "CREATE TABLE dacct (k bigint PRIMARY KEY, v int NOT NULL)")
	exec(t, conn, "CREATE TABLE dhist (k bigint, v int)")
	ks := keysPerDatanode(t, c, 1)
	exec(t, conn, fmt.Sprintf("INSERT INTO dacct VALUES (%d, 0)", ks[0][0]))

	exec(t, conn, "BEGIN")
	exec(t, conn, fmt.Sprintf("UPDATE dacct SET v = 1 WHERE k = %d", ks[0][0]))
	if got := tag(t, conn, fmt.Sprintf("INSERT INTO dhist VALUES (%d, 1)", ks[0][2])); got != "INSERT 0 1" {
		t.Fatalf("tag of the held-back insert: %q", got)
	}
	if err := c.Kill("dn3"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err == nil {
		t.Fatal("COMMIT succeeded with the held-back insert's datanode down")
	} else if code(err) != "08006" {
		t.Fatalf("COMMIT: %v (want 08006)", err)
	}
	var v int
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT v FROM dacct WHERE k = %d", ks[0][0])).Scan(&v); err != nil || v != 0 {
		t.Fatalf("the UPDATE of the failed block: v = %d, %v", v, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := c.Restart(rctx, "dn3")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = conn.QueryRow(ctx, "SELECT count(*) FROM dhist").Scan(&n)
		if code(err) != "08006" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || n != 0 {
		t.Fatalf("rows of the held-back insert after the failed COMMIT: %d, %v", n, err)
	}
	// The block's row lock is gone: the key can be written again.
	exec(t, conn, fmt.Sprintf("UPDATE dacct SET v = 2 WHERE k = %d", ks[0][0]))
}
