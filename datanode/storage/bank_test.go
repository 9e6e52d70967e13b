package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBankInvariant runs concurrent transfers (one-phase and two-phase
// commits, READ COMMITTED retries) against concurrent snapshot scans: every
// snapshot must see the same total, which fails if a reader ever judged a
// committing or prepared writer "in progress" and then missed a CSN below
// its snapshot, or saw half of a transaction.
func TestBankInvariant(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()
	const accounts, initial = 8, 100
	var gtm atomic.Uint64 // the fake GTM: CSNs handed out
	gtm.Store(1)
	snapshot := func() Snapshot { return at(gtm.Load() + 1) }
	nextCSN := func(context.Context) (uint64, error) { return gtm.Add(1), nil }
	acct := func(i int) []byte { return []byte(fmt.Sprintf("acct/%02d", i)) }
	setup := e.Txn(1)
	for i := 0; i < accounts; i++ {
		if err := setup.Insert(ctx, acct(i), []byte(strconv.Itoa(initial)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := setup.CommitOnePhase(ctx, nextCSN); err != nil {
		t.Fatal(err)
	}

	var gxids atomic.Uint64
	gxids.Store(100)
	transfer := func(r *rand.Rand) error {
		a, b := r.IntN(accounts), r.IntN(accounts)
		if a == b {
			return nil
		}
		if a > b { // one lock order: no deadlocks
			a, b = b, a
		}
		amount := r.IntN(20) - 10
		txn := e.Txn(gxids.Add(1))
		for _, step := range []struct {
			key   []byte
			delta int
		}{{acct(a), -amount}, {acct(b), amount}} {
			for {
				v, seq, found, err := e.GetLatest(ctx, step.key, txn)
				if err != nil || !found {
					return fmt.Errorf("read %s: %v %v", step.key, found, err)
				}
				n, _ := strconv.Atoi(string(v))
				err = txn.Write(ctx, step.key, []byte(strconv.Itoa(n+step.delta)), 0, seq)
				if errors.Is(err, ErrWriteConflict) {
					continue
				}
				if err != nil {
					return err
				}
				break
			}
		}
		switch r.IntN(3) {
		case 0:
			if err := txn.Prepare(); err != nil {
				return err
			}
			csn, _ := nextCSN(ctx)
			return txn.Commit(ctx, csn)
		case 1:
			return txn.Abort()
		default:
			_, err := txn.CommitOnePhase(ctx, nextCSN)
			return err
		}
	}

	const writers, transfers = 3, 60
	var wg sync.WaitGroup
	errc := make(chan error, writers+1)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < transfers; i++ {
				if err := transfer(r); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	readerDone := make(chan struct{})
	scans := 0
	go func() {
		defer close(readerDone)
		for {
			snap := snapshot()
			total, rows := 0, 0
			err := e.Scan(ctx, snap, []byte("acct/"), []byte("acct0"), func(_, v []byte, _ uint64) error {
				n, err := strconv.Atoi(string(v))
				total += n
				rows++
				return err
			})
			if err == nil && (total != accounts*initial || rows != accounts) {
				err = fmt.Errorf("snapshot %d: %d rows, total %d", snap.CSN, rows, total)
			}
			if err != nil {
				errc <- err
				return
			}
			scans++
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if scans == 0 {
		t.Fatal("no scan ran")
	}
	t.Logf("%d consistent scans, %d CSNs", scans, gtm.Load())
}
