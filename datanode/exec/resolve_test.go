package exec

import (
	"context"
	"log/slog"
	"testing"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

func openEngine(t testing.TB) *storage.Engine {
	t.Helper()
	cfg := storage.NewConfig()
	cfg.Dir = t.TempDir()
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestResolver drives the in-doubt resolution of both outcomes: a
// participant follows a primary that committed (as primary, never
// prepared), and one whose primary never got its commit has the primary
// abort the transaction once its coordinator is gone, then aborts too.
func TestResolver(t *testing.T) {
	ctx := context.Background()
	prim := &Executor{Self: 1, st: openEngine(t), gtm: fixedCSNs(77)}
	part := &Executor{Self: 2, st: openEngine(t)}
	status := func(ctx context.Context, primary uint32, gxid uint64) (meridianpb.TxnState, uint64, error) {
		st, csn := prim.Outcome(gxid)
		return st, csn, nil
	}
	live := map[uint32]uint64{0: 0} // the coordinator of gxids 10 and 11
	log := slog.New(slog.DiscardHandler)
	rq := &Resolver{X: part, Self: 2, After: 0, Status: status, Log: log,
		AbortAt: func(_ context.Context, g uint32, gxid uint64) error {
			if g != 1 {
				t.Errorf("abort sent to group %d, not the primary", g)
			}
			return prim.Abort(gxid)
		},
		Coordinators: func(context.Context) (map[uint32]uint64, error) { return live, nil }}

	write := func(x *Executor, gxid uint64, key string) {
		if err := x.st.Txn(gxid).Insert(ctx, []byte(key), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Transaction 10 committed on the primary; the participant missed the commit.
	write(prim, 10, "a")
	write(part, 10, "b")
	if err := part.Prepare(10, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := prim.Prepare(10, 1, ""); err == nil {
		t.Fatal("the primary accepted a prepare")
	}
	if csn, err := prim.CommitAsPrimary(ctx, 10, 1); err != nil || csn != 77 {
		t.Fatalf("commit as primary: %d %v", csn, err)
	}
	prim.gtm = fixedCSNs(99) // a repeated commit answers the CSN it committed at
	if csn, err := prim.CommitAsPrimary(ctx, 10, 1); err != nil || csn != 77 {
		t.Fatalf("repeated commit as primary: %d %v", csn, err)
	}
	// Transaction 11: the coordinator died after preparing the participant.
	write(prim, 11, "c")
	write(part, 11, "d")
	if err := part.Prepare(11, 1, ""); err != nil {
		t.Fatal(err)
	}
	// While the coordinator lives (and within the grace), the participant
	// waits for the primary's commit.
	rq.Once(ctx)
	if st, _ := part.Outcome(11); st != meridianpb.TxnState_TXN_PREPARED {
		t.Fatalf("participant decided early: %v", st)
	}
	if st, _ := prim.Outcome(11); st != meridianpb.TxnState_TXN_IN_PROGRESS {
		t.Fatalf("primary decided early: %v", st)
	}
	if st, csn := part.Outcome(10); st != meridianpb.TxnState_TXN_COMMITTED || csn != 77 {
		t.Fatalf("participant did not follow the committed primary: %v %d", st, csn)
	}
	live = map[uint32]uint64{} // the coordinator is gone
	rq.Once(ctx)
	if st, _ := prim.Outcome(11); st != meridianpb.TxnState_TXN_ABORTED {
		t.Fatalf("primary did not abort: %v", st)
	}
	if st, _ := part.Outcome(11); st != meridianpb.TxnState_TXN_ABORTED {
		t.Fatalf("participant did not follow the aborted primary: %v", st)
	}
	// A late commit from the coordinator is refused.
	if _, err := prim.CommitAsPrimary(ctx, 11, 1); err == nil {
		t.Fatal("commit after the primary aborted succeeded")
	}
	snap := storage.Snapshot{CSN: storage.Latest}
	for key, want := range map[string]bool{"a": true, "b": true, "c": false, "d": false} {
		x := prim
		if key == "b" || key == "d" {
			x = part
		}
		_, _, ok, err := x.st.Get(ctx, snap, []byte(key))
		if err != nil || ok != want {
			t.Fatalf("row %s visible=%v (err %v), want %v", key, ok, err, want)
		}
	}
}

// TestOrphans: an in-progress transaction whose coordinator is gone, or
// restarted since it began, is rolled back once it has looked orphaned for
// After; one of a live coordinator is left alone.
func TestOrphans(t *testing.T) {
	ctx := context.Background()
	x := &Executor{Self: 1, st: openEngine(t)}
	live := map[uint32]uint64{1: 1000} // coordinator 1 restarted: its ids now start at counter 1000
	r := &Resolver{X: x, Self: 1, After: 0, Log: slog.New(slog.DiscardHandler),
		Status: func(context.Context, uint32, uint64) (meridianpb.TxnState, uint64, error) {
			return meridianpb.TxnState_TXN_UNKNOWN, 0, nil
		},
		Coordinators: func(context.Context) (map[uint32]uint64, error) { return live, nil }}
	gx := func(cn uint32, counter uint64) uint64 { return uint64(cn)<<48 | counter }
	current, oldIncarnation, gone := gx(1, 1500), gx(1, 500), gx(2, 1500)
	for i, g := range []uint64{current, oldIncarnation, gone} {
		if err := x.st.Txn(g).Insert(ctx, []byte{byte('a' + i)}, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if !Orphan(gone, live) || !Orphan(oldIncarnation, live) || Orphan(current, live) {
		t.Fatal("Orphan misjudges")
	}
	r.Once(ctx) // first sighting
	r.Once(ctx) // still orphaned: rolled back (After is 0)
	for g, want := range map[uint64]meridianpb.TxnState{
		current:        meridianpb.TxnState_TXN_IN_PROGRESS,
		oldIncarnation: meridianpb.TxnState_TXN_ABORTED,
		gone:           meridianpb.TxnState_TXN_ABORTED,
	} {
		if st, _ := x.Outcome(g); st != want {
			t.Fatalf("gxid %x: %v, want %v", g, st, want)
		}
	}
}

// localParts reaches executors directly, as the datanode's peers would.
type localParts map[uint32]*Executor

func (p localParts) CommitIntent(_ context.Context, g uint32, gxid uint64) error {
	return p[g].CommitIntent(gxid)
}

func (p localParts) Commit(ctx context.Context, g uint32, gxid, csn uint64) error {
	_, err := p[g].Commit(ctx, gxid, csn)
	return err
}

func (p localParts) Abort(_ context.Context, g uint32, gxid uint64) error { return p[g].Abort(gxid) }

type fixedCSNs uint64

func (c fixedCSNs) Commit(context.Context) (uint64, error) { return uint64(c), nil }

// TestResolverExplicit: transactions prepared by PREPARE TRANSACTION are
// never presumed aborted; the resolver follows their etcd record: it
// leaves PREPARED ones, aborts those whose PREPARE TRANSACTION did not
// finish or that have no record, and finishes decided ones.
func TestResolverExplicit(t *testing.T) {
	ctx := context.Background()
	parts := localParts{1: {Self: 1, st: openEngine(t)}, 2: {Self: 2, st: openEngine(t)}}
	store := prepared.NewStore(etcdtest.Start(t), meta.NewKeys("test"))
	log := slog.New(slog.DiscardHandler)
	res := map[uint32]*Resolver{}
	for g, x := range parts {
		res[g] = &Resolver{X: x, Self: g, After: 0, Log: log, Xacts: store, Participants: parts, CSNs: fixedCSNs(500),
			Status: func(context.Context, uint32, uint64) (meridianpb.TxnState, uint64, error) {
				t.Error("an explicit transaction's primary was asked")
				return 0, 0, nil
			}}
	}
	once := func() {
		for _, g := range []uint32{1, 2} {
			res[g].Once(ctx)
		}
	}
	prepare := func(gxid uint64, gid string, state meridianpb.PreparedXactState, record bool) {
		t.Helper()
		for g, x := range parts {
			if err := x.st.Txn(gxid).Insert(ctx, []byte(gid), []byte{byte(g)}, 0); err != nil {
				t.Fatal(err)
			}
			if err := x.Prepare(gxid, 0, gid); err != nil {
				t.Fatal(err)
			}
		}
		if record {
			if err := store.Create(ctx, &meridianpb.PreparedXact{Gid: gid, Gxid: gxid, State: state, Datanodes: []uint32{1, 2}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	prepare(10, "kept", meridianpb.PreparedXactState_PREPARED_XACT_PREPARED, true)
	prepare(11, "half", meridianpb.PreparedXactState_PREPARED_XACT_PREPARING, true)
	prepare(12, "decided", meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED, true)
	prepare(13, "lost", 0, false)
	once() // decided: first sighting
	once()
	want := map[uint64]meridianpb.TxnState{
		10: meridianpb.TxnState_TXN_PREPARED,
		11: meridianpb.TxnState_TXN_ABORTED,
		12: meridianpb.TxnState_TXN_COMMITTED,
		13: meridianpb.TxnState_TXN_ABORTED,
	}
	for g, x := range parts {
		for gxid, w := range want {
			st, csn := x.Outcome(gxid)
			if st != w || (w == meridianpb.TxnState_TXN_COMMITTED && csn != 500) {
				t.Errorf("datanode %d, transaction %d: %v@%d, want %v", g, gxid, st, csn, w)
			}
		}
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 1 || list[0].Gid != "kept" {
		t.Fatalf("records left: %v %v", list, err)
	}
}

// TestCommitDecidedAfterPrune: a participant that committed an explicit
// prepared transaction and whose cleaner pruned its outcome must still
// accept the decided commit of a later finisher (the finisher that
// committed it died before deleting the etcd record); and a transaction
// marked committing can no longer be aborted.
func TestCommitDecidedAfterPrune(t *testing.T) {
	ctx := context.Background()
	x := &Executor{Self: 1, st: openEngine(t)}
	if err := x.st.Txn(20).Insert(ctx, []byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := x.Prepare(20, 0, "g1"); err != nil {
		t.Fatal(err)
	}
	if err := x.CommitIntent(20); err != nil {
		t.Fatal(err)
	}
	if err := x.Abort(20); err == nil {
		t.Fatal("a transaction marked committing was aborted")
	}
	if err := x.CommitDecided(ctx, 20, 50); err != nil {
		t.Fatal(err)
	}
	if st, err := x.st.Clean(ctx, storage.CleanOptions{Horizon: 60, FreezeAll: true}); err != nil || st.PrunedXids == 0 {
		t.Fatalf("clean: %+v %v; want the committed xid pruned", st, err)
	}
	if st, _ := x.Outcome(20); st != meridianpb.TxnState_TXN_ABORTED {
		t.Fatalf("outcome after pruning: %v; the test needs it forgotten", st)
	}
	if _, err := x.Commit(ctx, 20, 50); err == nil {
		t.Fatal("an undecided commit of a forgotten transaction succeeded")
	}
	if err := x.CommitDecided(ctx, 20, 50); err != nil {
		t.Fatalf("decided commit of a committed, forgotten transaction: %v", err)
	}
}
