package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func clean(t *testing.T, e *Engine, horizon uint64, spans ...Span) CleanStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st, err := e.Clean(ctx, CleanOptions{Horizon: horizon, Spans: spans, FreezeAll: true})
	if err != nil {
		t.Fatalf("clean at %d: %v", horizon, err)
	}
	return st
}

// A background clean freezes only old xids' versions.
func TestCleanFreezeMinAge(t *testing.T) {
	e := openMem(t, nil)
	e.cfg.FreezeMinAge = 2
	put(t, e, 1, "a", "a", 10) // xid 1
	put(t, e, 2, "b", "b", 10) // xid 2
	put(t, e, 3, "c", "c", 10) // xid 3
	put(t, e, 4, "d", "d", 10) // xid 4: the last
	ctx := context.Background()
	st, err := e.Clean(ctx, CleanOptions{Horizon: 50})
	if err != nil {
		t.Fatal(err)
	}
	if st.Frozen != 1 || st.PrunedXids != 1 || committedXids(e) != 3 {
		t.Errorf("%+v, %d committed xids left; want xid 1 frozen and pruned, 3 left", st, committedXids(e))
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if got := get(t, e, at(51), k); got != k {
			t.Errorf("%s: %q", k, got)
		}
	}
}

func committedXids(e *Engine) int {
	_, c := e.xidTab.counts()
	return c
}

// Versions a snapshot at or above the horizon can see stay; the newest
// one below the horizon is frozen, older ones go.
func TestCleanKeepsVersionsAboveHorizon(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "k", "v10", 10)
	put(t, e, 2, "k", "v20", 20)
	put(t, e, 3, "k", "v30", 30)
	put(t, e, 4, "other", "o5", 5)
	st := clean(t, e, 25)
	if st.Removed != 1 || st.Frozen != 2 {
		t.Errorf("stats %+v, want 1 removed (v10), 2 frozen (v20, o5)", st)
	}
	if n := versions(t, e, "k"); n != 2 {
		t.Errorf("k has %d versions, want 2 (v20 frozen, v30)", n)
	}
	for _, c := range []struct {
		snap uint64
		want string
	}{{25, "v20"}, {30, "v20"}, {31, "v30"}, {Latest, "v30"}} {
		if got := get(t, e, at(c.snap), "k"); got != c.want {
			t.Errorf("at %d: %q, want %q", c.snap, got, c.want)
		}
	}
	if got := get(t, e, at(25), "other"); got != "o5" {
		t.Errorf("other at 25: %q", got)
	}
	// xids 1 (removed), 2 and 4 (frozen) are forgotten; 3 (above the
	// horizon) is kept.
	if st.PrunedXids != 3 || committedXids(e) != 1 {
		t.Errorf("pruned %d, %d committed xids left; want 3 and 1", st.PrunedXids, committedXids(e))
	}
	// A writer that read the frozen version still replaces it, and one
	// that read v30 conflicts-free.
	txn := e.Txn(5)
	_, seq, _, err := e.GetLatest(context.Background(), []byte("k"), txn)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Write(context.Background(), []byte("k"), []byte("v40"), 0, seq); err != nil {
		t.Fatal(err)
	}
	commitAt(t, txn, 40)
	if got := get(t, e, at(41), "k"); got != "v40" {
		t.Errorf("after update: %q", got)
	}
}

// A deleted row whose tombstone is below the horizon vanishes entirely.
func TestCleanRemovesTombstones(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "k", "v10", 10)
	put(t, e, 2, "k", "", 20) // delete
	put(t, e, 3, "young", "v10", 10)
	put(t, e, 4, "young", "", 30) // deleted above the horizon
	clean(t, e, 25)
	if n := versions(t, e, "k"); n != 0 {
		t.Errorf("k has %d versions, want 0", n)
	}
	if n := versions(t, e, "young"); n != 2 {
		t.Errorf("young has %d versions, want 2 (frozen row, tombstone at 30)", n)
	}
	if got := get(t, e, at(25), "young"); got != "v10" {
		t.Errorf("young at 25: %q, want v10", got)
	}
	if got := get(t, e, at(31), "young"); got != "" {
		t.Errorf("young at 31: %q, want no row", got)
	}
	// The key can be inserted again.
	txn := e.Txn(5)
	if err := txn.Insert(context.Background(), []byte("k"), []byte("again"), 0); err != nil {
		t.Fatal(err)
	}
	commitAt(t, txn, 40)
	if got := get(t, e, at(41), "k"); got != "again" {
		t.Errorf("k after insert: %q", got)
	}
}

// Versions of aborted transactions left behind (an abort that tracked too
// many keys, or a restart) are removed at any horizon.
func TestCleanRemovesAbortedVersions(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "k", "v10", 10)
	defer func(n int) { maxTrackedKeys = n }(maxTrackedKeys)
	maxTrackedKeys = 0
	txn := e.Txn(2)
	for _, k := range []string{"k", "new"} {
		if err := txn.Write(context.Background(), []byte(k), []byte("aborted"), 0, 0); err != nil && !errors.Is(err, ErrWriteConflict) {
			t.Fatal(err)
		}
	}
	_, seq, _, _ := e.GetLatest(context.Background(), []byte("k"), txn)
	if err := txn.Write(context.Background(), []byte("k"), []byte("aborted"), 0, seq); err != nil {
		t.Fatal(err)
	}
	if err := txn.Abort(); err != nil {
		t.Fatal(err)
	}
	if versions(t, e, "k") != 2 || versions(t, e, "new") != 1 {
		t.Fatalf("the abort removed its versions; the test needs them left behind")
	}
	st := clean(t, e, 5) // below every commit
	if versions(t, e, "k") != 1 || versions(t, e, "new") != 0 || st.Removed != 2 {
		t.Errorf("after clean: k %d, new %d versions (stats %+v); want 1 and 0", versions(t, e, "k"), versions(t, e, "new"), st)
	}
	if got := get(t, e, at(11), "k"); got != "v10" {
		t.Errorf("k at 11: %q", got)
	}
}

// Versions of prepared and in-progress transactions stay, and so does
// the committed version under them; the prepared one commits later.
func TestCleanKeepsPreparedAndInProgress(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "p", "p10", 10)
	put(t, e, 2, "q", "q10", 10)
	prep := e.Txn(3)
	_, seq, _, _ := e.GetLatest(context.Background(), []byte("p"), prep)
	if err := prep.Write(context.Background(), []byte("p"), []byte("p-prepared"), 0, seq); err != nil {
		t.Fatal(err)
	}
	if err := prep.PrepareAs(1); err != nil {
		t.Fatal(err)
	}
	live := e.Txn(4)
	_, seq, _, _ = e.GetLatest(context.Background(), []byte("q"), live)
	if err := live.Write(context.Background(), []byte("q"), nil, 0, seq); err != nil {
		t.Fatal(err)
	}
	clean(t, e, 1000)
	if versions(t, e, "p") != 2 || versions(t, e, "q") != 2 {
		t.Fatalf("p has %d, q %d versions; want 2 each", versions(t, e, "p"), versions(t, e, "q"))
	}
	if err := prep.Commit(context.Background(), 1001); err != nil {
		t.Fatal(err)
	}
	commitAt(t, live, 1002)
	if got := get(t, e, at(1001), "p"); got != "p10" {
		t.Errorf("p at 1001: %q, want p10", got)
	}
	if got := get(t, e, at(1002), "p"); got != "p-prepared" {
		t.Errorf("p at 1002: %q", got)
	}
	if got := get(t, e, at(1003), "q"); got != "" {
		t.Errorf("q at 1003: %q, want deleted", got)
	}
	// The horizon passes them: one version of p, none of q.
	st := clean(t, e, 2000)
	if versions(t, e, "p") != 1 || versions(t, e, "q") != 0 {
		t.Errorf("p has %d, q %d versions; want 1 and 0 (%+v)", versions(t, e, "p"), versions(t, e, "q"), st)
	}
	if committedXids(e) != 0 {
		t.Errorf("%d committed xids in memory, want 0", committedXids(e))
	}
}

// Frozen versions and pruned xids survive a restart; the outcome of a
// two-phase transaction this node was primary of is kept for its
// participants, the others are forgotten.
func TestCleanPruneSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir)
	put(t, e, 1, "a", "a10", 10)
	primary := e.Txn(2)
	if err := primary.Write(context.Background(), []byte("b"), []byte("b20"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.CommitAsPrimary(context.Background(), 7, func(context.Context) (uint64, error) { return 20, nil }); err != nil {
		t.Fatal(err)
	}
	put(t, e, 3, "c", "c30", 30)
	st := clean(t, e, 25)
	if st.PrunedXids != 2 {
		t.Errorf("pruned %d xids, want 2", st.PrunedXids)
	}
	if s, csn := e.Outcome(2); s != TxnCommitted || csn != 20 {
		t.Errorf("outcome of the primary's transaction: %v@%d, want committed@20", s, csn)
	}
	if s, _ := e.Outcome(1); s != TxnAborted {
		t.Errorf("outcome of a forgotten one-phase transaction: %v, want aborted (unknown)", s)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir)
	defer e.Close()
	if committedXids(e) != 1 {
		t.Errorf("%d committed xids after restart, want 1", committedXids(e))
	}
	for k, want := range map[string]string{"a": "a10", "b": "b20", "c": "c30"} {
		if got := get(t, e, at(31), k); got != want {
			t.Errorf("%s after restart: %q, want %q", k, got, want)
		}
	}
	if s, csn := e.Outcome(2); s != TxnCommitted || csn != 20 {
		t.Errorf("outcome after restart: %v@%d, want committed@20", s, csn)
	}
	if got := e.LocalSnapshot(0); got != 31 {
		t.Errorf("local snapshot after restart: %d, want 31", got)
	}
}

// Pruning waits for reads that began before the freeze: such a read still
// sees the old xids and must find them.
func TestCleanPruneWaitsForOlderReads(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "a", "a", 10)
	put(t, e, 2, "b", "b", 10)
	inScan, release := make(chan struct{}), make(chan struct{})
	scanned := make(chan []string, 1)
	go func() {
		var keys []string
		err := e.Scan(context.Background(), at(100), []byte("a"), nil, func(k, _ []byte, _ uint64) error {
			if len(keys) == 0 {
				close(inScan)
				<-release
			}
			keys = append(keys, string(k))
			return nil
		})
		if err != nil {
			keys = append(keys, err.Error())
		}
		scanned <- keys
	}()
	<-inScan
	done := make(chan CleanStats, 1)
	go func() {
		st, _ := e.Clean(context.Background(), CleanOptions{Horizon: 50, FreezeAll: true})
		done <- st
	}()
	select {
	case st := <-done:
		t.Fatalf("Clean returned (%+v) while an older read was open", st)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if keys := <-scanned; len(keys) != 2 {
		t.Errorf("the open scan saw %v, want [a b]", keys)
	}
	select {
	case st := <-done:
		if st.PrunedXids != 2 || st.Frozen != 2 {
			t.Errorf("stats %+v, want 2 frozen, 2 pruned", st)
		}
	case <-time.After(testTimeout):
		t.Fatal("Clean did not return after the read ended")
	}
}

// An index build that copies versions (with their xids) during a pass
// keeps the pass from pruning.
func TestCleanDoesNotPruneDuringCopy(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "a", "a", 10)
	inCopy, release := make(chan struct{}), make(chan struct{})
	copied := make(chan error, 1)
	go func() {
		copied <- e.ScanAllVersions(context.Background(), []byte("a"), []byte("b"), func(_, v []byte, xid uint64, cmd uint32, tomb bool, _ uint64) error {
			close(inCopy)
			<-release
			return e.WriteVersion([]byte("ix"), v, xid, cmd, tomb)
		})
	}()
	<-inCopy
	st := clean(t, e, 50)
	close(release)
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	if st.PrunedXids != 0 {
		t.Errorf("pruned %d xids during a copy", st.PrunedXids)
	}
	if got := get(t, e, at(51), "ix"); got != "a" {
		t.Errorf("copied version: %q, want a", got)
	}
	// The next pass freezes the copy too and prunes.
	if st := clean(t, e, 50); st.PrunedXids != 1 {
		t.Errorf("second pass pruned %d, want 1", st.PrunedXids)
	}
	if got := get(t, e, at(51), "ix"); got != "a" {
		t.Errorf("copy after prune: %q, want a", got)
	}
}

// Spans clean only their keys and prune nothing.
func TestCleanSpan(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "a", "a10", 10)
	put(t, e, 2, "a", "a20", 20)
	put(t, e, 3, "b", "b10", 10)
	put(t, e, 4, "b", "b20", 20)
	st := clean(t, e, 30, Span{Start: []byte("a"), End: []byte("b")})
	if versions(t, e, "a") != 1 || versions(t, e, "b") != 2 || st.PrunedXids != 0 {
		t.Errorf("a %d, b %d versions, %+v", versions(t, e, "a"), versions(t, e, "b"), st)
	}
}

// LocalSnapshot is above every commit published here and at least the
// floor.
func TestLocalSnapshot(t *testing.T) {
	e := openMem(t, nil)
	if got := e.LocalSnapshot(0); got != 1 {
		t.Errorf("empty: %d", got)
	}
	put(t, e, 1, "a", "a", 40)
	put(t, e, 2, "a", "b", 30) // a CSN handed out earlier, published later
	if got := e.LocalSnapshot(0); got != 41 {
		t.Errorf("after commits at 40 and 30: %d, want 41", got)
	}
	if got := e.LocalSnapshot(100); got != 100 {
		t.Errorf("with floor 100: %d", got)
	}
}

// A scan at a local snapshot sees a transaction that commits during the
// scan at none of its keys (the latest committed state would show it at
// the keys read after the commit).
func TestLocalSnapshotIsConsistent(t *testing.T) {
	e := openMem(t, nil)
	put(t, e, 1, "a", "old", 10)
	put(t, e, 2, "b", "old", 10)
	snap := at(e.LocalSnapshot(0)) // 11
	txn := e.Txn(3)
	for _, k := range []string{"a", "b"} {
		_, seq, _, err := e.GetLatest(context.Background(), []byte(k), txn)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Write(context.Background(), []byte(k), []byte("new"), 0, seq); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	err := e.Scan(context.Background(), snap, []byte("a"), nil, func(k, v []byte, _ uint64) error {
		if string(k) == "a" {
			// The GTM hands the commit a CSN above every one handed out
			// before, hence at or above the snapshot.
			commitAt(t, txn, 11)
		}
		seen = append(seen, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "a=old" || seen[1] != "b=old" {
		t.Errorf("scan at the local snapshot saw %v, want a=old b=old", seen)
	}
	if got := get(t, e, at(e.LocalSnapshot(0)), "b"); got != "new" {
		t.Errorf("a later local snapshot: b=%q, want new", got)
	}
	if got := get(t, e, at(Latest), "a"); got != "new" {
		t.Errorf("latest: a=%q", got)
	}
}
