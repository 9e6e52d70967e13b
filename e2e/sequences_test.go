package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSequencesGlobal: concurrent inserts into a serial table through two
// coordinators get unique ids, increasing within each session; the ids
// stay unique while the GTM is killed and restarted under load, and after
// a coordinator is killed and restarted.
func TestSequencesGlobal(t *testing.T) {
	tc := startCluster(t, 2, 2)
	setup := tc.connect(t, 0)
	mustExec(t, setup, "CREATE TABLE ev (id bigserial, cn int, w int) DISTRIBUTE BY HASH(id)")
	mustExec(t, setup, "CREATE SEQUENCE other CACHE 20")

	var (
		restarted atomic.Bool  // the process of the phase is back
		after     atomic.Int64 // statements acknowledged since
		mu        sync.Mutex
		ids       = map[int64]string{} // id → the writer that got it
		dupes     []string
	)
	record := func(who string, vs []int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range vs {
			if w, dup := ids[v]; dup {
				dupes = append(dupes, fmt.Sprintf("id %d by %s and %s", v, w, who))
			}
			ids[v] = who
		}
	}

	// load runs writers on both coordinators, each inserting rows one
	// statement at a time (some multi-row, some INSERT ... SELECT) and
	// checking that its ids increase, for at least perWriter statements
	// and until during returns. tolerate: statements may fail (a process
	// is down); their rows are not counted.
	load := func(phase string, perWriter int, tolerate bool, during func()) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		done := make(chan struct{})
		var failed sync.Map
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who := fmt.Sprintf("%s/writer %d (cn%d)", phase, w, w%2+1)
				conn, err := connectRetry(tc, w%2)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", who, err)
					return
				}
				defer conn.Close(context.Background())
				var last int64
				for i := 0; ; i++ {
					if i >= perWriter {
						select {
						case <-done:
							return
						default:
						}
					}
					sql := "INSERT INTO ev (cn, w) VALUES ($1, $2) RETURNING id"
					switch i % 5 {
					case 3:
						sql = "INSERT INTO ev (cn, w) VALUES ($1, $2), ($1, $2), ($1, $2) RETURNING id"
					case 4:
						sql = "INSERT INTO ev (cn, w) SELECT $1::int, $2::int FROM (VALUES (1), (2)) v(x) RETURNING id"
					}
					ctx, cancel := queryCtx()
					got, err := returnedIDs(ctx, conn, sql, w%2+1, w)
					cancel()
					if err != nil {
						if tolerate {
							failed.Store(who+fmt.Sprint(i), true)
							time.Sleep(50 * time.Millisecond)
							if conn.IsClosed() {
								if conn, err = connectRetry(tc, w%2); err != nil {
									errs <- fmt.Errorf("%s: %w", who, err)
									return
								}
							}
							continue
						}
						errs <- fmt.Errorf("%s: %s: %w", who, sql, err)
						return
					}
					slices.Sort(got) // RETURNING rows come from several datanodes
					if len(got) > 0 && got[0] <= last {
						errs <- fmt.Errorf("%s: id %d after %d in one session", who, got[0], last)
						return
					}
					if len(got) > 0 {
						last = got[len(got)-1]
					}
					record(who, got)
					if restarted.Load() {
						after.Add(1)
					}
				}
			}()
		}
		if during != nil {
			during()
		}
		close(done)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(dupes) > 0 {
			t.Fatalf("%s: duplicate ids: %v", phase, dupes[:min(len(dupes), 10)])
		}
		if t.Failed() {
			t.FailNow()
		}
		// The table holds exactly the acknowledged ids, each once.
		var n, distinct int64
		ctx, cancel := queryCtx()
		defer cancel()
		conn, err := connectRetry(tc, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM ev").Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != distinct || (!tolerate && n != int64(len(ids))) {
			t.Fatalf("%s: %d rows, %d distinct ids, %d acknowledged", phase, n, distinct, len(ids))
		}
		nfailed := 0
		failed.Range(func(any, any) bool { nfailed++; return true })
		t.Logf("%s: %d rows, all ids distinct (%d statements failed while a process was down)", phase, n, nfailed)
	}

	load("steady", 60, false, nil)

	// Kill -9 the GTM while the writers run, and start it again: the new
	// incarnation continues above every limit the old one stored.
	load("gtm restart", 20, true, func() {
		time.Sleep(300 * time.Millisecond)
		tc.kill(t, "gtm1")
		time.Sleep(200 * time.Millisecond)
		tc.restart(t, "gtm1")
		restarted.Store(true)
		// Writers go on until they have written well after the restart
		// (the new GTM leads once the old one's election lease expired).
		deadline := time.Now().Add(30 * time.Second)
		for after.Load() < 60 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	if after.Load() < 60 {
		t.Fatalf("only %d inserts were acknowledged after the GTM restart", after.Load())
	}
	t.Logf("%d statements acknowledged after the GTM restart", after.Load())
	load("after gtm restart", 30, false, nil)

	// Kill -9 a coordinator: its cached values are lost, none is reused.
	tc.kill(t, "cn1")
	tc.restart(t, "cn1")
	load("after cn1 restart", 30, false, nil)
	// The restarted GTM handed out runs, so values of the new incarnation
	// are among those checked. (Coordinators may serve the loads right
	// after the GTM restart from runs they fetched before it — a run
	// grows to 16,384 values — but the restarted cn1 has none left.)
	if g := gtmGrants(t, tc); g < 1 {
		t.Fatalf("the restarted GTM handed out %v runs of values", g)
	}

	// With the GTM down, a nextval that needs a run ends with the
	// statement's timeout (57014), and works again once the GTM is back.
	conn, err := connectRetry(tc, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	mustExec(t, conn, "CREATE SEQUENCE fresh")
	tc.kill(t, "gtm1")
	mustExec(t, conn, "SET statement_timeout = '500ms'")
	ctx, cancel := queryCtx()
	start := time.Now()
	_, err = conn.Exec(ctx, "SELECT nextval('fresh')")
	cancel()
	if sqlState(err) != "57014" || time.Since(start) > 10*time.Second {
		t.Fatalf("nextval without a GTM: %v after %v; want 57014 after about 500ms", err, time.Since(start))
	}
	tc.restart(t, "gtm1")
	mustExec(t, conn, "SET statement_timeout = 0")
	eventually(t, 60*time.Second, "nextval after the GTM is back", func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "SELECT nextval('fresh')")
		return err
	})

	// A sequence used through both coordinators directly.
	seen := map[int64]bool{}
	for i := range 100 {
		conn, err := connectRetry(tc, i%2)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := queryCtx()
		var v int64
		err = conn.QueryRow(ctx, "SELECT nextval('other')").Scan(&v)
		cancel()
		conn.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if seen[v] {
			t.Fatalf("nextval('other') returned %d twice", v)
		}
		seen[v] = true
	}
}

// connectRetry connects to coordinator i, retrying while it (re)starts.
func connectRetry(tc *testCluster, i int) (*pgx.Conn, error) {
	var conn *pgx.Conn
	err := poll(90*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, tc.dsn(i))
		if err != nil {
			return err
		}
		conn = c
		return nil
	})
	return conn, err
}

func returnedIDs(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]int64, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// gtmGrants reads how many runs of sequence values gtm1 (this incarnation)
// handed out, from its /metrics.
func gtmGrants(t *testing.T, tc *testCluster) float64 {
	t.Helper()
	v, ok := scrape(t, "http://"+tc.Node("gtm1").HTTP+"/metrics")["meridian_gtm_sequence_grants_total"]
	if !ok {
		t.Fatal("gtm1's /metrics has no meridian_gtm_sequence_grants_total")
	}
	return v
}
