package session

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/internal/horizon"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// txn is an explicit transaction block.
type txn struct {
	gxid     uint64
	iso      meridianpb.Isolation
	readOnly bool
	snapshot uint64 // REPEATABLE READ: taken at the first statement
	cmd      uint32
	writers  map[uint32]bool
	failed   bool
	start    time.Time
	// savepoints, oldest first (savepoint.go).
	savepoints []savepoint
	// hold keeps snapshot (from before it is asked for) in the cleaner's
	// horizon until the transaction ends.
	hold *horizon.Hold
	// lastLocked is the group of the last UPDATE or DELETE that wrote on
	// one group: the two-phase commit's primary (see commitGroups).
	lastLocked uint32
	// deferred are held-back inserts (deferred.go), deferredBytes the
	// size of their rows.
	deferred      []deferredWrite
	deferredBytes int
}

func parseIsolation(v string) (meridianpb.Isolation, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "read committed", "read uncommitted", "":
		return meridianpb.Isolation_READ_COMMITTED, nil
	case "repeatable read":
		return meridianpb.Isolation_REPEATABLE_READ, nil
	case "serializable":
		return meridianpb.Isolation_SERIALIZABLE, nil
	}
	return 0, pgerr.New(pgerr.InvalidParameterValue, "invalid value for parameter \"transaction_isolation\": %q", v)
}

func isoName(i meridianpb.Isolation) string {
	switch i {
	case meridianpb.Isolation_REPEATABLE_READ:
		return "repeatable read"
	case meridianpb.Isolation_SERIALIZABLE:
		return "serializable"
	}
	return "read committed"
}

// applyTxnOptions reads BEGIN / SET TRANSACTION options.
func applyTxnOptions(t *txn, opts []*pg_query.Node) error {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "transaction_isolation":
			iso, err := parseIsolation(argString(d.Arg))
			if err != nil {
				return err
			}
			t.iso = iso
		case "transaction_read_only":
			t.readOnly = argString(d.Arg) == "on" || argString(d.Arg) == "1" || argString(d.Arg) == "true"
		case "transaction_deferrable":
		}
	}
	return nil
}

func (s *Session) setTransaction(name string, args []*pg_query.Node) error {
	if name != "TRANSACTION" {
		if name == "SESSION CHARACTERISTICS" {
			t := &txn{}
			if err := applyTxnOptions(t, args); err != nil {
				return err
			}
			s.settings["default_transaction_isolation"] = isoName(t.iso)
			return nil
		}
		return pgerr.Unsupported("SET " + name)
	}
	if s.txn == nil {
		return pgerr.New(pgerr.NoActiveSQLTransaction, "SET TRANSACTION can only be used in transaction blocks")
	}
	if s.txn.cmd > 0 {
		return pgerr.New(pgerr.ActiveSQLTransaction, "SET TRANSACTION ISOLATION LEVEL must be called before any query")
	}
	if len(s.txn.savepoints) > 0 {
		for _, o := range args {
			if d := o.GetDefElem(); d != nil && d.Defname == "transaction_isolation" {
				return pgerr.New(pgerr.ActiveSQLTransaction, "SET TRANSACTION ISOLATION LEVEL must not be called in a subtransaction")
			}
		}
	}
	if err := applyTxnOptions(s.txn, args); err != nil {
		return err
	}
	s.settings["transaction_isolation"] = isoName(s.txn.iso)
	return nil
}

func (s *Session) begin(opts []*pg_query.Node) (warn bool, err error) {
	if s.txn != nil {
		return true, nil
	}
	iso, _ := parseIsolation(s.settings["default_transaction_isolation"])
	t := &txn{iso: iso, writers: map[uint32]bool{}, start: time.Now()}
	if err := applyTxnOptions(t, opts); err != nil {
		return false, err
	}
	s.txn = t
	s.settings["transaction_isolation"] = isoName(t.iso)
	return false, nil
}

// checkTxnState refuses statements in a failed transaction block.
func (s *Session) checkTxnState(st *Statement) error {
	if s.txn == nil || !s.txn.failed {
		return nil
	}
	if ts := st.parsed.Node.GetTransactionStmt(); ts != nil {
		switch ts.Kind {
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO, pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
			return nil
		}
	}
	return pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
}

// statementFailed marks the transaction block failed. Without a
// savepoint the block can only roll back, so its writes (their row locks)
// are released at once. With one, they stay on the datanodes for ROLLBACK
// TO SAVEPOINT to undo those of the failed statement and of the others
// after the savepoint (ROLLBACK or COMMIT aborts them all).
func (s *Session) statementFailed(ctx context.Context, err error) {
	if s.txn == nil || s.txn.failed {
		return
	}
	if len(s.txn.savepoints) == 0 {
		s.abortWriters(context.Background())
	}
	s.txn.failed = true
}

// stmtKind is what a statement does with the rows it touches.
type stmtKind int

const (
	stmtRead   stmtKind = iota // reads (SELECT)
	stmtWrite                  // reads the rows it writes (UPDATE, DELETE)
	stmtInsert                 // writes without reading: no snapshot needed
)

// stmtTxn is the transaction context of one statement touching ntargets
// datanode groups. What each mode does (docs/architecture.md, Modes):
//
//	                       REPEATABLE READ        READ COMMITTED statement
//	gtm                    one GTM snapshot       a GTM snapshot, always
//	gtm-lite (default)     per transaction        one datanode, or inserts only:
//	                       (at its first          the datanode's local snapshot;
//	gtm-free               statement), in         else a GTM snapshot
//	                       every mode             reads: local snapshots on each
//	                                              datanode; writes: GTM snapshot
//
// A local snapshot (SnapshotCsn = max) is consistent on its datanode
// (storage.Engine.LocalSnapshot); it is never used inside a REPEATABLE
// READ transaction, which has its global snapshot.
//
// Every snapshot is held in the coordinator's horizon tracker until the
// statement (ctx) or the transaction ends, from before it is asked for,
// so the datanodes' cleaners keep what it can read (internal/horizon).
func (s *Session) stmtTxn(ctx context.Context, ntargets int, kind stmtKind) (*meridianpb.TxnContext, error) {
	write := kind != stmtRead
	mode := s.e.mode()
	local := mode != ModeGTM && (ntargets == 1 || kind == stmtInsert || (mode == ModeGTMFree && !write))
	tc := &meridianpb.TxnContext{Coordinator: s.e.cfg.Name, CommandId: 1}
	s.waitSettings(tc)
	t := s.txn
	if t == nil {
		tc.Isolation, _ = parseIsolation(s.settings["default_transaction_isolation"])
		if write {
			tc.Gxid = s.e.newGxid()
		}
	} else {
		if write && t.readOnly {
			return nil, pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute a write statement in a read-only transaction")
		}
		t.cmd++
		tc.CommandId, tc.Isolation = t.cmd, t.iso
		if write && t.gxid == 0 {
			t.gxid = s.e.newGxid()
		}
		tc.Gxid = t.gxid
	}
	hz := s.e.horizon
	switch {
	case t != nil && t.iso != meridianpb.Isolation_READ_COMMITTED:
		// REPEATABLE READ: one snapshot, taken by the first statement.
		if t.snapshot == 0 {
			if t.hold == nil {
				t.hold, _ = hz.Acquire()
			}
			snap, err := s.e.gtm.Snapshot(ctx)
			if err != nil {
				return nil, err
			}
			hz.Set(t.hold, snap)
			t.snapshot = snap
		}
		tc.SnapshotCsn = t.snapshot
	case local:
		h, floor := hz.Acquire()
		context.AfterFunc(ctx, func() { hz.Release(h) })
		tc.SnapshotCsn, tc.MinSnapshotCsn = math.MaxUint64, floor
	default:
		h, _ := hz.Acquire()
		context.AfterFunc(ctx, func() { hz.Release(h) })
		snap, err := s.e.gtm.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		hz.Set(h, snap)
		tc.SnapshotCsn = snap
	}
	return tc, nil
}

// continuing tells, for each target, whether the transaction sent writes
// or row locks there before (TxnContext.continues): a datanode that
// restarted since must refuse the request rather than begin the
// transaction again without them.
func (s *Session) continuing(targets []target) map[uint32]bool {
	out := map[uint32]bool{}
	if s.txn != nil {
		for _, t := range targets {
			out[t.group] = s.txn.writers[t.group]
		}
	}
	return out
}

// continued returns tc for a datanode that the transaction did (or did
// not) write on before.
func continued(tc *meridianpb.TxnContext, continues bool) *meridianpb.TxnContext {
	if !continues {
		return tc
	}
	c := proto.Clone(tc).(*meridianpb.TxnContext)
	c.Continues = true
	return c
}

// endTxn forgets the transaction block and releases its snapshot.
func (s *Session) endTxn() {
	if t := s.txn; t != nil && t.hold != nil {
		s.e.horizon.Release(t.hold)
	}
	s.txn = nil
	s.settings["transaction_isolation"] = s.settings["default_transaction_isolation"]
}

// noteWriters records the groups an explicit transaction wrote on.
func (s *Session) noteWriters(targets []target) {
	if s.txn == nil {
		return
	}
	for _, t := range targets {
		s.txn.writers[t.group] = true
	}
}

// parallel runs f for every group, returning the first error.
func parallel(groups []uint32, f func(g uint32) error) error {
	if len(groups) == 1 {
		return f(groups[0])
	}
	var wg sync.WaitGroup
	errs := make([]error, len(groups))
	for i, g := range groups {
		wg.Add(1)
		go func(i int, g uint32) {
			defer wg.Done()
			errs[i] = f(g)
		}(i, g)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// commitGroups commits gxid on the groups that wrote: one-phase on one
// group, two-phase on several. held are writes the transaction held back
// (deferred.go), by group: each group's go with its PREPARE, or with its
// COMMIT (one-phase, or the primary's), and run there first.
//
// The primary is prefer if it is among groups, else the lowest group. A
// transaction's block passes the group of its last single-group UPDATE or
// DELETE: the primary commits (and releases its row locks) one round trip
// before the others, and the row locked last is the likeliest to be
// contended (pgbench's branch row).
//
// Two-phase: PREPARE on every participant but the primary (each naming
// the primary, the first group), then COMMIT on the primary, which takes
// the commit CSN from the GTM itself: its committed record is the
// decision, and it needs no prepare of its own (storage's
// CommitAsPrimary). If the primary commits, the statement has committed;
// the other participants are committed now, or — when one is unreachable —
// by its own resolver, which asks the primary. If the primary's commit
// fails, the primary is asked what became of the transaction (primaryOutcome):
// aborted, and the rest is aborted and the client gets the error;
// committed, and the rest is committed; unknown, and the participants stay
// prepared for their resolvers.
func (s *Session) commitGroups(ctx context.Context, gxid uint64, groups []uint32, prefer uint32, held map[uint32][]*meridianpb.ExecRequest) error {
	if len(groups) == 0 {
		return nil
	}
	sort.Slice(groups, func(i, j int) bool {
		if (groups[i] == prefer) != (groups[j] == prefer) {
			return groups[i] == prefer
		}
		return groups[i] < groups[j]
	})
	snap := s.e.routes.Current()
	call := func(g uint32, f func(c meridianpb.DataNodeClient) error) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return err
		}
		return pgerr.FromStatus(f(c))
	}
	if len(groups) == 1 {
		err := call(groups[0], func(c meridianpb.DataNodeClient) error {
			_, err := c.Commit(ctx, &meridianpb.TxnRequest{Gxid: gxid, Writes: held[groups[0]]})
			return err
		})
		if err != nil {
			s.abortGroups(gxid, groups)
		}
		return err
	}
	primary, others := groups[0], groups[1:]
	err := parallel(others, func(g uint32) error {
		if err := s.e.knob(ctx, StepBeforePrepare, gxid, g); err != nil {
			return err
		}
		err := call(g, func(c meridianpb.DataNodeClient) error {
			_, err := c.Prepare(ctx, &meridianpb.TxnRequest{Gxid: gxid, Primary: primary, Writes: held[g]})
			return err
		})
		if err != nil {
			return err
		}
		return s.e.knob(ctx, StepPrepared, gxid, g)
	})
	if err == nil {
		err = s.e.knob(ctx, StepAllPrepared, gxid, 0)
	}
	if errors.Is(err, errHalted) {
		return err
	}
	if err != nil {
		s.abortGroups(gxid, groups)
		return err
	}
	var csn uint64
	err = call(primary, func(c meridianpb.DataNodeClient) error {
		resp, err := c.Commit(ctx, &meridianpb.TxnRequest{Gxid: gxid, Primary: primary, Writes: held[primary]})
		csn = resp.GetCsn()
		return err
	})
	if err != nil {
		st, done := s.primaryOutcome(gxid, primary, err)
		switch st {
		case meridianpb.TxnState_TXN_ABORTED:
			s.abortGroups(gxid, others)
			return err
		case meridianpb.TxnState_TXN_COMMITTED:
			csn = done
		default:
			// The participants stay prepared; their resolvers follow
			// the primary.
			return pgerr.Wrap(err, pgerr.ConnectionFailure, "outcome of the commit is unknown")
		}
	}
	if err := s.e.knob(ctx, StepPrimaryCommitted, gxid, primary); err != nil {
		return err
	}
	return parallel(others, func(g uint32) error {
		if err := s.e.knob(ctx, StepBeforeCommit, gxid, g); err != nil {
			return err
		}
		err := call(g, func(c meridianpb.DataNodeClient) error {
			_, err := c.Commit(ctx, &meridianpb.TxnRequest{Gxid: gxid, Csn: csn})
			return err
		})
		if err != nil {
			s.e.log.Warn("participant not committed yet; its resolver will finish", "gxid", gxid, "group", g, "err", err)
			return nil
		}
		return s.e.knob(ctx, StepCommitted, gxid, g)
	})
}

// primaryOutcome settles a two-phase transaction whose commit on the
// primary failed with err. A 40001 is the primary's own abort. Otherwise
// the transaction may still be in progress there (a held-back write failed,
// the statement was cancelled before the commit began) — a state no
// resolver ends while the coordinator lives — or have committed before the
// connection failed: it is aborted on the primary, which refuses once the
// commit has begun, and the primary then tells the outcome (TxnStatus).
// Anything else, an unreachable primary included, is TXN_UNKNOWN.
func (s *Session) primaryOutcome(gxid uint64, primary uint32, err error) (meridianpb.TxnState, uint64) {
	if pgerr.Code(err) == pgerr.SerializationFailure {
		return meridianpb.TxnState_TXN_ABORTED, 0
	}
	c, cerr := s.e.dn(s.e.routes.Current(), primary)
	if cerr != nil {
		return meridianpb.TxnState_TXN_UNKNOWN, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Abort(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	resp, serr := c.TxnStatus(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	if serr != nil {
		return meridianpb.TxnState_TXN_UNKNOWN, 0
	}
	switch resp.State {
	case meridianpb.TxnState_TXN_ABORTED, meridianpb.TxnState_TXN_COMMITTED:
		return resp.State, resp.Csn
	}
	return meridianpb.TxnState_TXN_UNKNOWN, 0
}

// abortGroups rolls gxid back on groups (best effort).
func (s *Session) abortGroups(gxid uint64, groups []uint32) {
	snap := s.e.routes.Current()
	_ = parallel(groups, func(g uint32) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Abort(ctx, &meridianpb.TxnRequest{Gxid: gxid})
		return err
	})
}

func (s *Session) writerGroups() []uint32 {
	var gs []uint32
	for g := range s.txn.writers {
		gs = append(gs, g)
	}
	return gs
}

func (s *Session) abortWriters(ctx context.Context) {
	s.dropDeferred()
	if s.txn.gxid != 0 && len(s.txn.writers) > 0 {
		s.abortGroups(s.txn.gxid, s.writerGroups())
	}
	s.txn.writers = map[uint32]bool{}
}

// commit ends the transaction block; a failed block rolls back.
func (s *Session) commit(ctx context.Context) (string, error) {
	t := s.txn
	s.endTxn()
	if t == nil {
		return "COMMIT", nil
	}
	if t.gxid == 0 {
		if t.failed {
			return "ROLLBACK", nil
		}
		return "COMMIT", nil
	}
	s.txn = t
	groups := s.writerGroups()
	held := s.takeDeferred()
	s.txn = nil
	if t.failed {
		// Writes left for a ROLLBACK TO SAVEPOINT that did not come.
		if len(groups) > 0 {
			s.abortGroups(t.gxid, groups)
		}
		return "ROLLBACK", nil
	}
	if err := s.commitGroups(ctx, t.gxid, groups, t.lastLocked, held); err != nil {
		return "", err
	}
	return "COMMIT", nil
}

func (s *Session) rollback(ctx context.Context) {
	if s.txn == nil {
		return
	}
	s.abortWriters(ctx)
	s.endTxn()
}
