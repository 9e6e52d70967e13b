package server

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/gtm/internal/leakcheck"
	"github.com/meridian-db/meridian/internal/etcdembed/etcdtest"
	"github.com/meridian-db/meridian/internal/meta"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// seqConn is a raw GTMSequences client of one replica.
type seqConn struct {
	t  *testing.T
	pb meridianpb.GTMSequencesClient
}

func dialSeq(t *testing.T, addr string) *seqConn {
	return &seqConn{t: t, pb: meridianpb.NewGTMSequencesClient(dial(t, addr).cc)}
}

func rpcCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (c *seqConn) create(id uint32, o *meridianpb.SequenceOptions) {
	c.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	if _, err := c.pb.CreateSequence(ctx, &meridianpb.CreateSequenceRequest{Id: id, Options: o}); err != nil {
		c.t.Fatalf("CreateSequence(%d): %v", id, err)
	}
}

func (c *seqConn) tryNext(id uint32, n uint64) (*meridianpb.NextValuesReply, error) {
	ctx, cancel := rpcCtx()
	defer cancel()
	return c.pb.NextValues(ctx, &meridianpb.NextValuesRequest{Id: id, Name: "s", Count: n})
}

// next returns the values of one grant.
func (c *seqConn) next(id uint32, n uint64) []int64 {
	c.t.Helper()
	r, err := c.tryNext(id, n)
	if err != nil {
		c.t.Fatalf("NextValues(%d, %d): %v", id, n, err)
	}
	if r.Count < 1 || r.Count > n {
		c.t.Fatalf("NextValues(%d, %d) granted %d values", id, n, r.Count)
	}
	out := make([]int64, r.Count)
	for i := range out {
		out[i] = r.First + int64(i)*r.Increment
	}
	return out
}

func storedSeq(t *testing.T, cli *clientv3.Client, keys meta.Keys, id uint32) *meridianpb.SequenceState {
	t.Helper()
	st, _ := storedSeqRev(t, cli, keys, id)
	return st
}

// storedSeqRev reads a sequence record and its mod revision.
func storedSeqRev(t *testing.T, cli *clientv3.Client, keys meta.Keys, id uint32) (*meridianpb.SequenceState, int64) {
	t.Helper()
	resp, err := cli.Get(context.Background(), keys.GTMSequence(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0
	}
	st := &meridianpb.SequenceState{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, st); err != nil {
		t.Fatal(err)
	}
	return st, resp.Kvs[0].ModRevision
}

func ascending(cache int64) *meridianpb.SequenceOptions {
	return &meridianpb.SequenceOptions{TypeOid: 20, Increment: 1, MinValue: 1, MaxValue: math.MaxInt64, Start: 1, Cache: cache}
}

func TestSequenceService(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	cfg := testConfig("gtm-1")
	cfg.SequenceWindow = 100
	s := startServer(t, eps, cfg)
	waitLeader(t, s)
	c := dialSeq(t, s.Addr())
	keys := meta.NewKeys(cfg.Cluster)

	c.create(7, ascending(1))
	c.create(7, ascending(1)) // a retried create
	ctx, cancel := rpcCtx()
	defer cancel()
	if _, err := c.pb.CreateSequence(ctx, &meridianpb.CreateSequenceRequest{Id: 7, Options: ascending(5)}); err == nil {
		t.Fatal("a create with other options over an existing sequence succeeded")
	}

	// Runs follow each other; the record stays ahead of them.
	var want int64 = 1
	for i := range 50 {
		for _, v := range c.next(7, uint64(i%9+1)) {
			if v != want {
				t.Fatalf("value %d, want %d", v, want)
			}
			want++
		}
	}
	st := storedSeq(t, cli, keys, 7)
	if st.Limit < uint64(want-1) {
		t.Fatalf("stored limit %d below the %d values handed out", st.Limit, want-1)
	}
	// 240 values with a window of 100 take three writes (the create and two
	// windows), not one per run.
	body := httpGet(t, "http://"+s.HTTPAddr()+"/metrics")
	if !strings.Contains(body, `meridian_gtm_sequence_persists_total{result="ok"} 3`) {
		t.Errorf("expected 3 sequence persists in\n%s", grepLines(body, "sequence"))
	}

	// setval and its bounds.
	if _, err := c.pb.SetValue(ctx, &meridianpb.SetValueRequest{Id: 7, Name: "s", Value: 1000, IsCalled: true}); err != nil {
		t.Fatal(err)
	}
	if v := c.next(7, 1); v[0] != 1001 {
		t.Fatalf("after setval(1000): %d", v[0])
	}
	_, err := c.pb.SetValue(ctx, &meridianpb.SetValueRequest{Id: 7, Name: "s", Value: 0})
	if pe := pgerr.FromStatus(err); pgerr.Code(pe) != pgerr.NumericValueOutOfRange ||
		pe.Error() != `setval: value 0 is out of bounds for sequence "s" (1..9223372036854775807)` {
		t.Fatalf("setval(0): %v", pe)
	}

	// ALTER keeps the last value; its bounds must hold it.
	o := ascending(1)
	o.Increment = 10
	r, err := c.pb.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: 7, Name: "s", Options: o})
	if err != nil {
		t.Fatal(err)
	}
	if r.Generation != 3 { // create, setval, alter
		t.Errorf("generation %d, want 3", r.Generation)
	}
	if v := c.next(7, 2); v[0] != 1011 || v[1] != 1021 {
		t.Fatalf("after ALTER INCREMENT 10: %v", v)
	}
	o2 := ascending(1)
	o2.MaxValue = 500
	o2.Increment = 10
	_, err = c.pb.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: 7, Name: "s", Options: o2})
	if pe := pgerr.FromStatus(err); pe == nil || pe.Error() != "RESTART value (1021) cannot be greater than MAXVALUE (500)" {
		t.Fatalf("ALTER MAXVALUE below the last value: %v", pe)
	}
	if _, err := c.pb.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: 7, Name: "s", Options: o2, Restart: true, RestartWith: true, RestartValue: 495}); err != nil {
		t.Fatal(err)
	}
	if v := c.next(7, 5); len(v) != 1 || v[0] != 495 {
		t.Fatalf("after RESTART WITH 495 (max 500, increment 10): %v; want just 495", v)
	}
	_, err = c.tryNext(7, 1)
	if pe := pgerr.FromStatus(err); pgerr.Code(pe) != pgerr.SequenceGeneratorLimitExceeded {
		t.Fatalf("exhausted: %v", pe)
	}

	// Drop, and a sequence that does not exist.
	if _, err := c.pb.DropSequence(ctx, &meridianpb.DropSequenceRequest{Id: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.pb.DropSequence(ctx, &meridianpb.DropSequenceRequest{Id: 7}); err != nil {
		t.Fatalf("second drop: %v", err)
	}
	if storedSeq(t, cli, keys, 7) != nil {
		t.Fatal("record left after drop")
	}
	_, err = c.tryNext(7, 1)
	if pgerr.Code(pgerr.FromStatus(err)) != pgerr.UndefinedTable {
		t.Fatalf("next of a dropped sequence: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A follower refuses sequence calls the way it refuses CSN calls.
func TestSequenceFollowerUnavailable(t *testing.T) {
	_, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	a := startServer(t, eps, testConfig("gtm-a"))
	waitLeader(t, a)
	b := startServer(t, eps, testConfig("gtm-b"))
	dialSeq(t, a.Addr()).create(1, ascending(1))
	_, err := dialSeq(t, b.Addr()).tryNext(1, 1)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("follower answered %v; want Unavailable", err)
	}
}

// Values stay unique across failover and restart: a successor continues
// above the limit its predecessor stored, whether that one closed or
// crashed, and no term writes a record once deposed.
func TestSequenceFailoverNoRepeat(t *testing.T) {
	cli, eps := etcdtest.StartWithEndpoints(t)
	leakcheck.Check(t)
	keys := meta.NewKeys("meridian")
	seen := map[int64]string{}
	var maxSeen int64
	serve := func(s *Server, create bool) {
		waitLeader(t, s)
		c := dialSeq(t, s.Addr())
		if create {
			c.create(42, ascending(1))
			o := ascending(1)
			o.Increment, o.MinValue, o.MaxValue, o.Start = -3, math.MinInt64, -1, -1
			c.create(43, o)
		}
		for i := range 40 {
			for _, id := range []uint32{42, 43} {
				for _, v := range c.next(id, uint64(i%7+1)) {
					if w, dup := seen[v]; dup {
						t.Fatalf("%s: value %d of sequence %d handed out again (first by %s)", s.cfg.Name, v, id, w)
					}
					seen[v] = s.cfg.Name
					if id == 42 {
						if v <= maxSeen {
							t.Fatalf("%s: value %d not above %d: a new term went back", s.cfg.Name, v, maxSeen)
						}
						maxSeen = v
					}
				}
			}
		}
	}
	cfg := func(name string) Config {
		c := testConfig(name)
		c.SequenceWindow = 25
		return c
	}
	a := startServer(t, eps, cfg("gtm-a"))
	serve(a, true)
	b := startServer(t, eps, cfg("gtm-b"))
	a.Crash() // no resign: b takes over after the lease TTL
	serve(b, false)
	if st := storedSeq(t, cli, keys, 42); uint64(maxSeen) > st.Limit {
		t.Fatalf("value %d handed out beyond the stored limit %d", maxSeen, st.Limit)
	}
	b.Close()
	c := startServer(t, eps, cfg("gtm-a")) // a restarted
	serve(c, false)

	// A deposed term cannot write: its records stay as the new term left
	// them.
	t0 := c.cur.Load()
	if _, err := cli.Delete(context.Background(), t0.key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the term to end", func() bool { return c.cur.Load() != t0 })
	q := &seqService{s: c, m: newSeqMetrics()}
	e := q.entry(t0, 42)
	st, rev := storedSeqRev(t, cli, keys, 42)
	e.loaded, e.a, e.rev = true, loadSeq(st), rev
	err := q.store(t0, 42, e, e.a.record(1<<40))
	e.mu.Unlock()
	if err == nil || status.Code(err) != codes.Unavailable {
		t.Fatalf("a deposed term stored a sequence record: %v", err)
	}
	serve(c, false) // re-elected: still above everything
}
