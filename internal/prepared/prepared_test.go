package prepared

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// fakeDNs records what each participant was told and checks the order
// the protocol promises: a CSN is taken only once every participant is
// marked, and each commits at one CSN.
type fakeDNs struct {
	t        *testing.T
	mu       sync.Mutex
	marked   map[uint32]bool
	commit   map[uint32]uint64
	aborted  map[uint32]bool
	down     map[uint32]bool
	groups   []uint32
	csnCalls atomic.Int32
	next     atomic.Uint64
}

func newFake(t *testing.T, groups ...uint32) *fakeDNs {
	f := &fakeDNs{t: t, marked: map[uint32]bool{}, commit: map[uint32]uint64{}, aborted: map[uint32]bool{}, down: map[uint32]bool{}, groups: groups}
	f.next.Store(100)
	return f
}

var errDown = pgerr.New(pgerr.ConnectionFailure, "datanode down")

func (f *fakeDNs) CommitIntent(_ context.Context, g uint32, _ uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[g] {
		return errDown
	}
	f.marked[g] = true
	return nil
}

func (f *fakeDNs) Commit(_ context.Context, g uint32, _, csn uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[g] {
		return errDown
	}
	if !f.marked[g] {
		f.t.Errorf("datanode %d committed without being marked", g)
	}
	if c, ok := f.commit[g]; ok && c != csn {
		f.t.Errorf("datanode %d committed at %d and at %d", g, c, csn)
	}
	f.commit[g] = csn
	return nil
}

func (f *fakeDNs) Abort(_ context.Context, g uint32, _ uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[g] {
		return errDown
	}
	if _, ok := f.commit[g]; ok {
		f.t.Errorf("datanode %d aborted after it committed", g)
	}
	f.aborted[g] = true
	return nil
}

// Commit is the GTM: every participant must be marked by now.
func (f *fakeDNs) commitCSN(context.Context) (uint64, error) {
	f.mu.Lock()
	for _, g := range f.groups {
		if !f.marked[g] {
			f.t.Errorf("CSN taken before datanode %d was marked", g)
		}
	}
	f.mu.Unlock()
	f.csnCalls.Add(1)
	return f.next.Add(1), nil
}

type csnFunc func(context.Context) (uint64, error)

func (c csnFunc) Commit(ctx context.Context) (uint64, error) { return c(ctx) }

func newStore(t *testing.T) *Store {
	return NewStore(etcdtest.Start(t), meta.NewKeys("test"))
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := &meridianpb.PreparedXact{Gid: "a/b", Gxid: 7, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARING, Datanodes: []uint32{1, 2}}
	if err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, rec); pgerr.Code(err) != pgerr.DuplicateObject {
		t.Fatalf("second create: %v, want 42710", err)
	}
	if err := st.Create(ctx, &meridianpb.PreparedXact{Gid: string(make([]byte, MaxGIDLen+1))}); pgerr.Code(err) != pgerr.InvalidParameterValue {
		t.Fatalf("long gid: %v, want 22023", err)
	}
	got, rev, err := st.Get(ctx, "a/b")
	if err != nil || got.Gxid != 7 || rev == 0 {
		t.Fatalf("get: %v %d %v", got, rev, err)
	}
	got.State = meridianpb.PreparedXactState_PREPARED_XACT_PREPARED
	if ok, err := st.Swap(ctx, rev, got); !ok || err != nil {
		t.Fatalf("swap: %v %v", ok, err)
	}
	if ok, _ := st.Swap(ctx, rev, got); ok {
		t.Fatal("swap at a stale revision succeeded")
	}
	if none, _, err := st.Get(ctx, "a"); none != nil || err != nil {
		t.Fatalf("get of a prefix: %v %v", none, err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != meridianpb.PreparedXactState_PREPARED_XACT_PREPARED {
		t.Fatalf("list: %v %v", list, err)
	}
	_, rev, _ = st.Get(ctx, "a/b")
	if ok, err := st.Delete(ctx, "a/b", rev); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
}

// Several finishers of one COMMIT_DECIDED transaction agree on one CSN;
// every participant is marked before any CSN is taken.
func TestFinishCommitRace(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	f := newFake(t, 1, 2, 3)
	rec := &meridianpb.PreparedXact{Gid: "g", Gxid: 9, State: meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED, Datanodes: f.groups}
	if err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			state, err := Finish(ctx, st, f, csnFunc(f.commitCSN), "g", 9)
			if err != nil || (state != meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED && state != meridianpb.PreparedXactState_PREPARED_XACT_UNKNOWN) {
				t.Errorf("finish: %v %v", state, err)
			}
		})
	}
	wg.Wait()
	if len(f.commit) != 3 {
		t.Fatalf("committed on %v", f.commit)
	}
	if rec, _, _ := st.Get(ctx, "g"); rec != nil {
		t.Fatalf("record left: %v", rec)
	}
}

// A participant that is down leaves the record for the resolvers; a later
// Finish completes it; PREPARED is not Finish's to decide; an aborted one
// aborts everywhere.
func TestFinishUnfinished(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	f := newFake(t, 1, 2)
	f.down[2] = true
	if err := st.Create(ctx, &meridianpb.PreparedXact{Gid: "g", Gxid: 9, State: meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED, Datanodes: f.groups}); err != nil {
		t.Fatal(err)
	}
	if _, err := Finish(ctx, st, f, csnFunc(f.commitCSN), "g", 9); !errors.Is(err, ErrUnfinished) {
		t.Fatalf("finish with a participant down: %v", err)
	}
	if f.csnCalls.Load() != 0 {
		t.Fatal("a CSN was taken with a participant unmarked")
	}
	f.mu.Lock()
	f.down[2] = false
	f.mu.Unlock()
	if state, err := Finish(ctx, st, f, csnFunc(f.commitCSN), "g", 9); err != nil || state != meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED {
		t.Fatalf("finish: %v %v", state, err)
	}
	// Another transaction under the same gid is not ours to finish.
	if err := st.Create(ctx, &meridianpb.PreparedXact{Gid: "g", Gxid: 10, State: meridianpb.PreparedXactState_PREPARED_XACT_ABORTED, Datanodes: f.groups}); err != nil {
		t.Fatal(err)
	}
	if state, err := Finish(ctx, st, f, csnFunc(f.commitCSN), "g", 9); err != nil || state != meridianpb.PreparedXactState_PREPARED_XACT_UNKNOWN {
		t.Fatalf("finish of a gid reused: %v %v", state, err)
	}
	if err := st.Create(ctx, &meridianpb.PreparedXact{Gid: "h", Gxid: 11, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARED, Datanodes: f.groups}); err != nil {
		t.Fatal(err)
	}
	if _, err := Finish(ctx, st, f, csnFunc(f.commitCSN), "h", 11); !errors.Is(err, ErrNotDecided) {
		t.Fatalf("finish of a prepared one: %v", err)
	}
	g := newFake(t, 1, 2)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if state, err := Finish(cctx, st, g, csnFunc(g.commitCSN), "g", 10); err != nil || state != meridianpb.PreparedXactState_PREPARED_XACT_ABORTED {
		t.Fatalf("finish of an aborted one: %v %v", state, err)
	}
	if !g.aborted[1] || !g.aborted[2] || g.csnCalls.Load() != 0 {
		t.Fatalf("abort: %v, %d CSNs", g.aborted, g.csnCalls.Load())
	}
}

// The janitor finishes decided records left behind and PREPARING ones
// whose coordinator is gone, after they stayed unchanged for After; it
// leaves PREPARED ones and PREPARING ones of a live coordinator.
func TestJanitor(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	f := newFake(t, 1, 2)
	for _, r := range []*meridianpb.PreparedXact{
		{Gid: "done", Gxid: 1, State: meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED, Csn: 5, Datanodes: f.groups},
		{Gid: "orphan", Gxid: 2, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARING, Datanodes: f.groups},
		{Gid: "busy", Gxid: 3, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARING, Datanodes: f.groups},
		{Gid: "user", Gxid: 4, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARED, Datanodes: f.groups},
	} {
		if err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	f.marked[1], f.marked[2] = true, true // "done" was marked before its CSN
	g := newFake(t, 1, 2)                 // "orphan"'s participants
	j := &Janitor{Store: st, Participants: byTxn{1: f, 2: g}, CSNs: csnFunc(f.commitCSN), After: 50 * time.Millisecond,
		Gone: func(_ context.Context, gxid uint64) (bool, error) { return gxid == 2, nil },
		Log:  slog.New(slog.DiscardHandler)}
	j.Once(ctx) // first sighting: nothing yet
	if list, _ := st.List(ctx); len(list) != 4 {
		t.Fatalf("acted before After: %v", list)
	}
	time.Sleep(60 * time.Millisecond)
	j.Once(ctx)
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 || list[0].Gid != "busy" || list[1].Gid != "user" {
		t.Fatalf("records left: %v %v", list, err)
	}
	if f.commit[1] != 5 || f.commit[2] != 5 || !g.aborted[1] || !g.aborted[2] {
		t.Fatalf("participants: committed %v, aborted %v", f.commit, g.aborted)
	}
}

// byTxn sends each transaction to its own fake participants.
type byTxn map[uint64]*fakeDNs

func (b byTxn) CommitIntent(ctx context.Context, g uint32, gxid uint64) error {
	return b[gxid].CommitIntent(ctx, g, gxid)
}

func (b byTxn) Commit(ctx context.Context, g uint32, gxid, csn uint64) error {
	return b[gxid].Commit(ctx, g, gxid, csn)
}

func (b byTxn) Abort(ctx context.Context, g uint32, gxid uint64) error {
	return b[gxid].Abort(ctx, g, gxid)
}
