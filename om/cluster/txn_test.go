package cluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cnserver "github.com/meridian-db/meridian/coordinator/server"
	"github.com/meridian-db/meridian/internal/meta"
)

func startTest(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts.Dir = t.TempDir()
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func connect(t *testing.T, c *Cluster, notices *[]string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig("postgres://meridian@" + c.PGAddrs()[0] + "/meridian?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if notices != nil {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { *notices = append(*notices, n.Message) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// The transaction mode is chosen at cluster init and stored in etcd;
// SHOW meridian.txn_mode shows it; a coordinator configured with another
// fails to start; one configured with none follows the cluster.
func TestTxnModeIsAClusterSetting(t *testing.T) {
	c := startTest(t, Options{CNs: 1, DNs: 1, TxnMode: "gtm-free", CleanInterval: -1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := c.Cli.Get(ctx, c.Keys.Setting(meta.SettingTxnMode))
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "gtm-free" {
		t.Fatalf("settings/txn_mode: %v, %v", resp, err)
	}
	conn := connect(t, c, nil)
	if got := queryString(t, conn, "SHOW meridian.txn_mode"); got != "gtm-free" {
		t.Errorf("SHOW meridian.txn_mode = %q", got)
	}
	_, err = conn.Exec(ctx, "SET meridian.txn_mode = 'gtm'")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P02" {
		t.Errorf("SET meridian.txn_mode: %v, want 55P02", err)
	}
	cfg := cnserver.NewConfig()
	cfg.Name, cfg.Num, cfg.Cluster, cfg.PGAddr, cfg.HTTPAddr = "cn9", 9, c.opts.Cluster, "127.0.0.1:0", ""
	cfg.Log = c.log
	cfg.TxnMode = "gtm"
	if s, err := cnserver.Start(ctx, cfg, c.Cli); !errors.Is(err, cnserver.ErrTxnModeMismatch) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("coordinator with --txn-mode gtm on a gtm-free cluster: %v, want ErrTxnModeMismatch", err)
	}
	cfg.TxnMode = ""
	s, err := cnserver.Start(ctx, cfg, c.Cli)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

var removedRE = regexp.MustCompile(`removed (\d+) dead row versions`)

func vacuum(t *testing.T, conn *pgx.Conn, notices *[]string, table string) int {
	t.Helper()
	*notices = nil
	mustExec(t, conn, "VACUUM (VERBOSE) "+table)
	for _, n := range *notices {
		if m := removedRE.FindStringSubmatch(n); m != nil {
			v, _ := strconv.Atoi(m[1])
			return v
		}
	}
	t.Fatalf("VACUUM VERBOSE said %q", *notices)
	return 0
}

// VACUUM removes dead versions, but not those a REPEATABLE READ
// transaction's snapshot still reads: it keeps seeing its snapshot.
func TestVacuumKeepsWhatSnapshotsRead(t *testing.T) {
	for _, mode := range []string{"gtm-lite", "gtm"} {
		t.Run(mode, func(t *testing.T) {
			c := startTest(t, Options{CNs: 1, DNs: 2, TxnMode: mode, CleanInterval: -1})
			var notices []string
			w := connect(t, c, &notices)
			r := connect(t, c, nil)
			mustExec(t, w, "CREATE TABLE acct (id int PRIMARY KEY, bal int)")
			mustExec(t, w, "INSERT INTO acct SELECT g, 100 FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10)) AS v(g)")
			mustExec(t, r, "BEGIN ISOLATION LEVEL REPEATABLE READ")
			before := queryString(t, r, "SELECT sum(bal)::text || '/' || count(*)::text FROM acct")
			if before != "1000/10" {
				t.Fatalf("before: %s", before)
			}
			for i := 0; i < 5; i++ {
				mustExec(t, w, "UPDATE acct SET bal = bal + 1")
			}
			mustExec(t, w, "DELETE FROM acct WHERE id <= 3")
			held := vacuum(t, w, &notices, "acct")
			if got := queryString(t, r, "SELECT sum(bal)::text || '/' || count(*)::text FROM acct"); got != before {
				t.Errorf("the REPEATABLE READ reader sees %s after VACUUM, want its snapshot's %s", got, before)
			}
			if got := queryString(t, r, "SELECT bal::text FROM acct WHERE id = 2"); got != "100" {
				t.Errorf("point read of a deleted row in the old snapshot: %s, want 100", got)
			}
			mustExec(t, r, "COMMIT")
			freed := vacuum(t, w, &notices, "acct")
			// 10 rows × 5 superseded versions + 3 deleted rows' last
			// version and tombstone + their primary key entries.
			if held != 0 || freed < 50+6 {
				t.Errorf("removed %d versions while the snapshot was held (want 0), %d after (want >= 56)", held, freed)
			}
			if got := queryString(t, w, "SELECT sum(bal)::text || '/' || count(*)::text FROM acct"); got != "735/7" {
				t.Errorf("after VACUUM: %s, want 735/7", got)
			}
			if got := queryString(t, w, "SELECT count(*)::text FROM acct WHERE id = 2"); got != "0" {
				t.Errorf("deleted row found by its key after VACUUM: %s", got)
			}
			mustExec(t, w, "INSERT INTO acct VALUES (2, 7)")
			if got := queryString(t, w, "SELECT bal::text FROM acct WHERE id = 2"); got != "7" {
				t.Errorf("re-inserted row: %s", got)
			}
			// A full VACUUM also forgets transaction ids.
			notices = nil
			mustExec(t, w, "VACUUM VERBOSE")
			if len(notices) != 1 || !regexp.MustCompile(`forgot [1-9]\d* transaction ids`).MatchString(notices[0]) {
				t.Errorf("VACUUM VERBOSE: %q, want some transaction ids forgotten", notices)
			}
			if got := queryString(t, w, "SELECT sum(bal)::text || '/' || count(*)::text FROM acct"); got != "742/8" {
				t.Errorf("after full VACUUM: %s, want 742/8", got)
			}
		})
	}
}
