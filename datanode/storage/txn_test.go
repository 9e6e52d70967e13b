package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// TestReaderWaitsOnPrepared: a reader that meets a prepared version waits,
// then decides by the outcome.
func TestReaderWaitsOnPrepared(t *testing.T) {
	for _, c := range []struct {
		name    string
		resolve func(*Txn) error
		want    string
	}{
		{"commit below snapshot", func(x *Txn) error { return x.Commit(context.Background(), 15) }, "new"},
		{"commit above snapshot", func(x *Txn) error { return x.Commit(context.Background(), 25) }, "old"},
		{"abort", func(x *Txn) error { return x.Abort() }, "old"},
	} {
		t.Run(c.name, func(t *testing.T) {
			waits := newWaitRecorder()
			e := openMem(t, waits.knobs())
			put(t, e, 1, "k", "old", 5)
			w := e.Txn(2)
			if err := w.Write(context.Background(), []byte("k"), []byte("new"), 0, seqOf(t, e, "k")); err != nil {
				t.Fatal(err)
			}
			if err := w.Prepare(); err != nil {
				t.Fatal(err)
			}
			got := make(chan string, 1)
			errc := make(chan error, 1)
			go func() {
				v, _, _, err := e.Get(context.Background(), at(20), []byte("k"))
				got <- string(v)
				errc <- err
			}()
			waits.waitFor(t, w.XID())
			if err := c.resolve(w); err != nil {
				t.Fatal(err)
			}
			if err := result(t, errc); err != nil {
				t.Fatal(err)
			}
			if v := <-got; v != c.want {
				t.Fatalf("reader saw %q, want %q", v, c.want)
			}
		})
	}
}

// TestReaderWaitsOnCommitting: during a one-phase commit's CSN fetch,
// readers wait rather than judge the writer in progress.
func TestReaderWaitsOnCommitting(t *testing.T) {
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	w := e.Txn(1)
	if err := w.Insert(context.Background(), []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	fetching, release := make(chan struct{}), make(chan uint64)
	commitErr := make(chan error, 1)
	go func() {
		_, err := w.CommitOnePhase(context.Background(), func(context.Context) (uint64, error) {
			close(fetching)
			return <-release, nil
		})
		commitErr <- err
	}()
	<-fetching
	if w.State() != TxnCommitting {
		t.Fatalf("state %v during CSN fetch", w.State())
	}
	got := make(chan string, 1)
	go func() {
		v, _, _, err := e.Get(context.Background(), at(20), []byte("k"))
		if err != nil {
			v = []byte(err.Error())
		}
		got <- string(v)
	}()
	waits.waitFor(t, w.XID())
	release <- 10
	if err := result(t, commitErr); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "v" {
		t.Fatalf("reader saw %q", v)
	}
	if w.State() != TxnCommitted || w.CSN() != 10 {
		t.Fatalf("after commit: %v csn %d", w.State(), w.CSN())
	}
}

// TestWriteWrite: the second writer of a row waits for the first; then it
// conflicts if the first committed, or proceeds if it aborted.
func TestWriteWrite(t *testing.T) {
	for _, firstCommits := range []bool{true, false} {
		name := map[bool]string{true: "first commits", false: "first aborts"}[firstCommits]
		t.Run(name, func(t *testing.T) {
			waits := newWaitRecorder()
			e := openMem(t, waits.knobs())
			ctx := context.Background()
			put(t, e, 1, "k", "v0", 5)
			_, seq0, _, err := e.Get(ctx, at(10), []byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			t1, t2 := e.Txn(2), e.Txn(3)
			if err := t1.Write(ctx, []byte("k"), []byte("v1"), 0, seq0); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- t2.Write(ctx, []byte("k"), []byte("v2"), 0, seq0) }()
			waits.waitFor(t, t1.XID())
			if firstCommits {
				commitAt(t, t1, 20)
				err := result(t, errc)
				wantIs(t, err, ErrWriteConflict)
				wantCode(t, SerializationFailure(err), pgerr.SerializationFailure)
				if !errors.Is(SerializationFailure(err), ErrWriteConflict) {
					t.Fatal("SerializationFailure lost its cause")
				}
				// READ COMMITTED: re-read the latest version and retry.
				v, seq, found, err := e.GetLatest(ctx, []byte("k"), t2)
				if err != nil || !found || string(v) != "v1" {
					t.Fatalf("GetLatest = %q %v %v", v, found, err)
				}
				if err := t2.Write(ctx, []byte("k"), []byte("v2"), 0, seq); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := t1.Abort(); err != nil {
					t.Fatal(err)
				}
				if err := result(t, errc); err != nil {
					t.Fatalf("second writer after abort: %v", err)
				}
			}
			commitAt(t, t2, 30)
			if got := get(t, e, at(Latest), "k"); got != "v2" {
				t.Fatalf("final value %q", got)
			}
		})
	}
}

func TestWriteReadSeqRules(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()
	put(t, e, 1, "k", "v0", 5)
	seq0 := seqOf(t, e, "k")
	put(t, e, 2, "k", "v1", 6)
	txn := e.Txn(3)
	// Stale readSeq, and "I saw no row" over a live row.
	wantIs(t, txn.Write(ctx, []byte("k"), []byte("x"), 0, seq0), ErrWriteConflict)
	wantIs(t, txn.Write(ctx, []byte("k"), []byte("x"), 0, 0), ErrWriteConflict)
	// A readSeq for a key without versions.
	wantIs(t, txn.Write(ctx, []byte("nokey"), []byte("x"), 0, 12345), ErrWriteConflict)
	// Current readSeq, then the own version may be rewritten regardless.
	if err := txn.Write(ctx, []byte("k"), []byte("x"), 0, seqOf(t, e, "k")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Write(ctx, []byte("k"), nil, 1, 0); err != nil {
		t.Fatal(err)
	}
	commitAt(t, txn, 7)
	// readSeq 0 over a committed tombstone is fine.
	txn = e.Txn(4)
	if err := txn.Write(ctx, []byte("k"), []byte("again"), 0, 0); err != nil {
		t.Fatal(err)
	}
	commitAt(t, txn, 8)
	if got := get(t, e, at(9), "k"); got != "again" {
		t.Fatalf("got %q", got)
	}
	if got := e.Metrics(); got == nil {
		t.Fatal("no metrics")
	}
}

func TestInsert(t *testing.T) {
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	ctx := context.Background()
	k := []byte("k")

	t1 := e.Txn(1)
	if err := t1.Insert(ctx, k, []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	wantIs(t, t1.Insert(ctx, k, []byte("b"), 1), ErrKeyExists) // own live row
	commitAt(t, t1, 10)

	t2 := e.Txn(2)
	wantIs(t, t2.Insert(ctx, k, []byte("b"), 0), ErrKeyExists) // committed live row
	// Delete and re-insert in one transaction.
	_, seq, _, _ := e.GetLatest(ctx, k, t2)
	if err := t2.Write(ctx, k, nil, 1, seq); err != nil {
		t.Fatal(err)
	}
	if err := t2.Insert(ctx, k, []byte("c"), 2); err != nil {
		t.Fatalf("insert over own delete: %v", err)
	}
	if err := t2.Write(ctx, k, nil, 3, 0); err != nil {
		t.Fatal(err)
	}
	commitAt(t, t2, 20)

	// Insert after a committed delete.
	t3 := e.Txn(3)
	if err := t3.Insert(ctx, k, []byte("d"), 0); err != nil {
		t.Fatalf("insert after committed delete: %v", err)
	}
	// A concurrent insert waits for t3: ErrKeyExists if it commits.
	t4 := e.Txn(4)
	errc := make(chan error, 1)
	go func() { errc <- t4.Insert(ctx, k, []byte("e"), 0) }()
	waits.waitFor(t, t3.XID())
	commitAt(t, t3, 30)
	wantIs(t, result(t, errc), ErrKeyExists)

	// ... and proceeds if it aborts.
	t5 := e.Txn(5)
	if err := t5.Insert(ctx, []byte("k2"), []byte("f"), 0); err != nil {
		t.Fatal(err)
	}
	go func() { errc <- t4.Insert(ctx, []byte("k2"), []byte("g"), 0) }()
	waits.waitFor(t, t5.XID())
	if err := t5.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, errc); err != nil {
		t.Fatal(err)
	}
	commitAt(t, t4, 40)
	if got := get(t, e, at(Latest), "k2"); got != "g" {
		t.Fatalf("k2 = %q", got)
	}
	if got := get(t, e, at(Latest), "k"); got != "d" {
		t.Fatalf("k = %q", got)
	}
}

// TestCancelWait: a cancelled wait returns 57014 promptly, for a writer and
// for a reader.
func TestCancelWait(t *testing.T) {
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	holder := e.Txn(1)
	if err := holder.Insert(context.Background(), []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Txn(2).Write(ctx, []byte("k"), []byte("w"), 0, 0) }()
	waits.waitFor(t, holder.XID())
	cancel()
	err := result(t, errc)
	wantCode(t, err, pgerr.QueryCanceled)
	wantIs(t, err, context.Canceled)

	if err := holder.Prepare(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		_, _, _, err := e.Get(ctx, at(Latest), []byte("k"))
		errc <- err
	}()
	waits.waitFor(t, holder.XID())
	cancel()
	wantCode(t, result(t, errc), pgerr.QueryCanceled)

	// Close ends waits too.
	go func() {
		_, _, _, err := e.Get(context.Background(), at(Latest), []byte("k"))
		errc <- err
	}()
	waits.waitFor(t, holder.XID())
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	err = result(t, errc)
	wantIs(t, err, ErrClosed)
	wantCode(t, err, pgerr.AdminShutdown)
	_, _, _, err = e.Get(context.Background(), at(Latest), []byte("k"))
	wantIs(t, err, ErrClosed)
}

// TestDeadlock: as in PostgreSQL, the waiter whose deadlock_timeout
// expires first checks for a cycle and fails with 40P01; the other one
// gets the row once the victim aborts.
func TestDeadlock(t *testing.T) {
	for _, firstIsVictim := range []bool{true, false} {
		waits := newWaitRecorder()
		e := openMem(t, waits.knobs())
		ctx := context.Background()
		quick := WithWaitOptions(ctx, WaitOptions{DeadlockTimeout: 20 * time.Millisecond, PID: 11})
		patient := WithWaitOptions(ctx, WaitOptions{DeadlockTimeout: time.Hour, PID: 12})
		ctx1, ctx2 := quick, patient
		if !firstIsVictim {
			ctx1, ctx2 = patient, quick
		}
		t1, t2 := e.Txn(1), e.Txn(2)
		if err := t1.Insert(ctx, []byte("a"), []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		if err := t2.Insert(ctx, []byte("b"), []byte("2"), 0); err != nil {
			t.Fatal(err)
		}
		errc1, errc2 := make(chan error, 1), make(chan error, 1)
		go func() { errc1 <- t1.Write(ctx1, []byte("b"), []byte("1"), 0, 0) }()
		waits.waitFor(t, t2.XID())
		go func() { errc2 <- t2.Write(ctx2, []byte("a"), []byte("2"), 0, 0) }()
		victim, survivor, verr, serr := t1, t2, errc1, errc2
		if !firstIsVictim {
			victim, survivor, verr, serr = t2, t1, errc2, errc1
		}
		err := result(t, verr)
		wantIs(t, err, ErrDeadlock)
		wantCode(t, err, pgerr.DeadlockDetected)
		if d := pgerr.As(err).Detail; !strings.Contains(d, "Process 11") || !strings.Contains(d, "Process 12") {
			t.Fatalf("detail %q does not name both processes", d)
		}
		if err := victim.Abort(); err != nil {
			t.Fatal(err)
		}
		// The victim's insert is gone, so the survivor writes it as a new row.
		if err := result(t, serr); err != nil {
			t.Fatal(err)
		}
		commitAt(t, survivor, 5)
	}
}

func TestTxnLifecycle(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()

	t1 := e.Txn(100)
	if again := e.Txn(100); again != t1 {
		t.Fatal("Txn(gxid) made a second transaction")
	}
	if got, ok := e.LookupTxn(100); !ok || got != t1 {
		t.Fatal("LookupTxn")
	}
	wantIs(t, t1.Commit(ctx, 5), ErrTxnNotActive) // not prepared
	if err := t1.Insert(ctx, []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := t1.Prepare(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Prepare(); err != nil {
		t.Fatalf("second prepare: %v", err)
	}
	wantIs(t, t1.Insert(ctx, []byte("k2"), []byte("v"), 0), ErrTxnNotActive)
	if _, err := t1.CommitOnePhase(ctx, fixedCSN(1)); !errors.Is(err, ErrTxnNotActive) {
		t.Fatalf("one-phase commit of prepared: %v", err)
	}
	if got := e.PreparedTxns(); len(got) != 1 || got[0].GXID != 100 || got[0].XID != t1.XID() || got[0].PreparedAt.IsZero() {
		t.Fatalf("PreparedTxns = %+v", got)
	}
	if err := t1.Commit(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(ctx, 7); err != nil {
		t.Fatalf("repeated commit: %v", err)
	}
	wantIs(t, t1.Commit(ctx, 8), ErrTxnNotActive)
	wantIs(t, t1.Abort(), ErrTxnNotActive)
	wantIs(t, t1.Write(ctx, []byte("k"), nil, 1, 0), ErrTxnNotActive)
	if _, ok := e.LookupTxn(100); ok {
		t.Fatal("committed transaction still live")
	}
	if len(e.PreparedTxns()) != 0 {
		t.Fatal("PreparedTxns after commit")
	}
	select {
	case <-t1.Done():
	default:
		t.Fatal("Done not closed")
	}

	// A failed CSN fetch aborts.
	t2 := e.Txn(101)
	if err := t2.Insert(ctx, []byte("k3"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	gtmDown := errors.New("gtm down")
	_, err := t2.CommitOnePhase(ctx, func(context.Context) (uint64, error) { return 0, gtmDown })
	wantIs(t, err, gtmDown)
	if t2.State() != TxnAborted {
		t.Fatalf("state after failed CSN fetch: %v", t2.State())
	}
	if got := get(t, e, at(Latest), "k3"); got != "" {
		t.Fatalf("k3 = %q", got)
	}
	if e.Txn(101) == t2 {
		t.Fatal("aborted transaction reused")
	}
}

// TestConcurrentWriters: many goroutines increment shared counters; every
// increment that commits is counted once (no lost update).
func TestConcurrentWriters(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()
	keys := []string{"c0", "c1", "c2"}
	for i, k := range keys {
		put(t, e, uint64(1000+i), k, "0", 1)
	}
	var csn atomicCSN
	csn.v.Store(10)
	const workers, perWorker = 4, 25
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			var err error
			for i := 0; i < perWorker && err == nil; i++ {
				err = increment(ctx, e, uint64(w*perWorker+i+1), keys[i%len(keys)], &csn)
			}
			errc <- err
		}()
	}
	for w := 0; w < workers; w++ {
		if err := result(t, errc); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, k := range keys {
		total += atoiT(t, get(t, e, at(Latest), k))
	}
	if total != workers*perWorker {
		t.Fatalf("total %d, want %d", total, workers*perWorker)
	}
}

// TestAbortEndsOwnWait: a transaction aborted while one of its writes waits
// stops that wait.
func TestAbortEndsOwnWait(t *testing.T) {
	waits := newWaitRecorder()
	e := openMem(t, waits.knobs())
	ctx := context.Background()
	holder := e.Txn(1)
	if err := holder.Insert(ctx, []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	waiter := e.Txn(2)
	errc := make(chan error, 1)
	go func() { errc <- waiter.Write(ctx, []byte("k"), []byte("w"), 0, 0) }()
	waits.waitFor(t, holder.XID())
	if err := waiter.Abort(); err != nil {
		t.Fatal(err)
	}
	wantIs(t, result(t, errc), ErrTxnNotActive)
}

func TestOutcomeOfGlobalTransactions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)
	committed := e.Txn(7)
	if err := committed.Insert(ctx, []byte("a"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := committed.PrepareAs(3); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Outcome(7); st != TxnPrepared {
		t.Fatalf("prepared outcome: %v", st)
	}
	if err := committed.Commit(ctx, 42); err != nil {
		t.Fatal(err)
	}
	inDoubt := e.Txn(8)
	if err := inDoubt.Insert(ctx, []byte("b"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := inDoubt.PrepareAs(5); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e = openDir(t, dir)
	defer e.Close()
	if st, csn := e.Outcome(7); st != TxnCommitted || csn != 42 {
		t.Fatalf("committed outcome after restart: %v %d", st, csn)
	}
	if st, _ := e.Outcome(9); st != TxnAborted {
		t.Fatalf("unknown transaction: %v, want presumed abort", st)
	}
	p := e.PreparedTxns()
	if len(p) != 1 || p[0].GXID != 8 || p[0].Primary != 5 {
		t.Fatalf("in-doubt after restart: %+v", p)
	}
}

func TestCommitAsPrimaryAndLazyCommit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openDir(t, dir)
	// While the primary waits for its CSN, readers of its rows wait; its
	// outcome is committing; it cannot be aborted.
	p := e.Txn(1)
	if err := p.Insert(ctx, []byte("p"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	inGTM, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := p.CommitAsPrimary(ctx, 1, func(context.Context) (uint64, error) {
			close(inGTM)
			<-release
			return 20, nil
		})
		done <- err
	}()
	<-inGTM
	if st, _ := e.Outcome(1); st != TxnCommitting {
		t.Fatalf("primary waiting for its CSN: outcome %v, want committing", st)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, _, _, err := e.Get(wctx, Snapshot{CSN: Latest}, []byte("p"))
	cancel()
	wantCode(t, err, "57014") // the reader waited until its deadline
	aborted := make(chan error, 1)
	go func() { aborted <- p.Abort() }()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-aborted; !errors.Is(err, ErrTxnNotActive) {
		t.Fatalf("abort of a committing primary: %v, want ErrTxnNotActive", err)
	}
	// A participant commits lazily.
	q := e.Txn(2)
	if err := q.Insert(ctx, []byte("q"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := q.PrepareAs(1); err != nil {
		t.Fatal(err)
	}
	if err := q.CommitLazy(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if v, _, ok, err := e.Get(ctx, Snapshot{CSN: 21}, []byte("q")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("lazily committed row: %q %v %v", v, ok, err)
	}
	// A primary whose node stops before its commit is gone: presumed abort.
	r := e.Txn(3)
	if err := r.Insert(ctx, []byte("r"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openDir(t, dir)
	defer e.Close()
	if st, csn := e.Outcome(1); st != TxnCommitted || csn != 20 {
		t.Fatalf("primary's commit after restart: %v %d", st, csn)
	}
	if st, _ := e.Outcome(3); st != TxnAborted {
		t.Fatalf("uncommitted primary survived a restart: %v", st)
	}
	if _, _, ok, _ := e.Get(ctx, Snapshot{CSN: Latest}, []byte("r")); ok {
		t.Fatal("row of an uncommitted primary is visible")
	}
	if st, csn := e.Outcome(2); st != TxnCommitted || csn != 20 {
		t.Fatalf("lazy commit after restart: %v %d", st, csn)
	}
}

func TestAbortedTransactionIsNotResurrected(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()
	tx := e.Txn(42)
	if err := tx.Insert(ctx, []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(); err != nil {
		t.Fatal(err)
	}
	late := e.Txn(42)
	if err := late.Insert(ctx, []byte("k2"), []byte("v"), 0); !errors.Is(err, ErrTxnNotActive) {
		t.Fatalf("late write of an aborted transaction: %v", err)
	}
	if _, ok := e.LookupTxn(42); ok {
		t.Fatal("aborted transaction is live again")
	}
}
