package storage

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TxnState is the state of a local transaction. The numeric values of
// TxnPrepared and TxnCommitted are stored in transaction records.
type TxnState uint8

const (
	// TxnInProgress: writing; memory only. Its versions are invisible to
	// others; a restart aborts it.
	TxnInProgress TxnState = 1
	// TxnPrepared: durable; readers of its versions wait for the outcome.
	TxnPrepared TxnState = 2
	// TxnCommitting: memory only; a one-phase commit is fetching its CSN.
	// Readers of its versions wait.
	TxnCommitting TxnState = 3
	// TxnCommitted: durable, with its CSN.
	TxnCommitted TxnState = 4
	// TxnAborted: its versions are invisible to all. Durable by absence:
	// an xid without a record is aborted.
	TxnAborted TxnState = 5
)

func (s TxnState) String() string {
	switch s {
	case TxnInProgress:
		return "in progress"
	case TxnPrepared:
		return "prepared"
	case TxnCommitting:
		return "committing"
	case TxnCommitted:
		return "committed"
	case TxnAborted:
		return "aborted"
	}
	return fmt.Sprintf("TxnState(%d)", uint8(s))
}

// maxTrackedKeys bounds the physical keys a transaction remembers for
// Abort and RollbackTo to delete. Versions past it stay behind after an
// abort, invisible (their xid is aborted) until a future cleaner removes
// them; a transaction past it cannot roll back to a savepoint. A variable
// for tests.
var maxTrackedKeys = 1 << 20

// Txn is a local transaction: the part of global transaction GXID that
// runs on this datanode. Its methods are safe for concurrent use (a
// statement's parallel fragments may write for the same transaction);
// writes racing with Prepare/Commit/Abort either finish before the state
// changes or fail with ErrTxnNotActive.
type Txn struct {
	e    *Engine
	gxid uint64
	xid  uint64

	state atomic.Uint32 // TxnState
	csn   atomic.Uint64 // set before state becomes TxnCommitted
	done  chan struct{} // closed when the transaction commits or aborts
	err   error         // why a broken Txn (see brokenTxn) is unusable

	// rw: writes hold it shared across their check-and-write; state
	// changes hold it exclusively, so that Prepare's sync covers every
	// write that succeeded.
	rw sync.RWMutex

	kmu       sync.Mutex
	keys      []written // versions written, for Abort and RollbackTo
	untracked bool      // more than maxTrackedKeys were written

	// minCmd: writes of commands below it are refused; they were rolled
	// back to a savepoint (RollbackTo), and a statement still running here
	// must not add to them. Guarded by rw.
	minCmd uint32

	locks []txnLock // row locks held, for release; guarded by kmu

	waiting atomic.Pointer[waitInst] // the wait for a row lock in progress (deadlock detection)
	pid     atomic.Int64             // backend process id of its session, as last seen

	primary    uint32    // set at Prepare or CommitAsPrimary: the group whose outcome decides
	preparedAt time.Time // when it was prepared (or loaded prepared at Open)
	// Explicit PREPARE TRANSACTION (PrepareExplicit): the user decides.
	// Set at prepare, read-only after.
	explicit     bool
	gid          string
	preparedWall time.Time // when it was prepared, as recorded
	// intent: an explicit transaction that COMMIT PREPARED marked
	// committing (MarkCommitIntent). Before, readers skip its versions as
	// those of a transaction in progress; after, they wait for the outcome.
	intent atomic.Bool
}

func newTxn(e *Engine, gxid, xid uint64) *Txn {
	t := &Txn{e: e, gxid: gxid, xid: xid, done: make(chan struct{})}
	t.state.Store(uint32(TxnInProgress))
	return t
}

// brokenTxn is returned by Engine.Txn when no transaction can be made:
// aborted from birth, every operation returns err.
func brokenTxn(e *Engine, gxid uint64, err error) *Txn {
	// Its xid matches no version (real xids count from 1, frozen
	// versions have frozenXID).
	t := &Txn{e: e, gxid: gxid, xid: math.MaxUint64, done: make(chan struct{}), err: err}
	t.state.Store(uint32(TxnAborted))
	close(t.done)
	return t
}

// GXID returns the global transaction id.
func (t *Txn) GXID() uint64 { return t.gxid }

// XID returns the local transaction id stamped on the versions it writes.
func (t *Txn) XID() uint64 { return t.xid }

// State returns the current state.
func (t *Txn) State() TxnState { return TxnState(t.state.Load()) }

// CSN returns the commit CSN once committed (0 before).
func (t *Txn) CSN() uint64 {
	if t.State() != TxnCommitted {
		return 0
	}
	return t.csn.Load()
}

// Done returns a channel closed when the transaction has committed or
// aborted.
func (t *Txn) Done() <-chan struct{} { return t.done }

// ended reports whether the transaction has committed or aborted.
func (t *Txn) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// SetPID records the backend process id of the session running the
// transaction, named in deadlock reports and wait edges.
func (t *Txn) SetPID(pid int64) {
	if pid != 0 && t.err == nil {
		t.pid.Store(pid)
	}
}

// written is a version the transaction wrote: its physical key and the
// command that wrote it.
type written struct {
	pk  []byte
	cmd uint32
}

func (t *Txn) remember(pk []byte, cmd uint32) {
	t.kmu.Lock()
	if len(t.keys) < maxTrackedKeys {
		t.keys = append(t.keys, written{pk: pk, cmd: cmd})
	} else {
		t.untracked = true
	}
	t.kmu.Unlock()
}

// Prepare makes the transaction durable as prepared (first phase of 2PC):
// its record is written and the WAL synced, which also makes its earlier
// unsynced writes durable. From now on it cannot write, readers of its
// versions wait for the outcome, and it survives restarts until Commit or
// Abort. Preparing a prepared transaction is a no-op.
func (t *Txn) Prepare() error { return t.PrepareAs(0) }

// PrepareAs prepares with the datanode group whose outcome decides the
// transaction (two-phase commit's primary participant), recorded durably
// so an in-doubt transaction can be resolved after any crash.
func (t *Txn) PrepareAs(primary uint32) error { return t.prepare(primary, "") }

// PrepareExplicit is PREPARE TRANSACTION 'gid': a durable prepare whose
// outcome only the user decides (COMMIT PREPARED / ROLLBACK PREPARED), so
// no participant is primary. Until MarkCommitIntent, readers skip its
// versions as those of a transaction in progress — no commit CSN can exist
// for it before every participant is marked — while writers still wait
// for its row locks, as in PostgreSQL.
func (t *Txn) PrepareExplicit(gid string) error {
	if gid == "" || len(gid) > maxGIDLen {
		return fmt.Errorf("storage: prepare transaction %d: identifier of %d bytes", t.xid, len(gid))
	}
	return t.prepare(0, gid)
}

func (t *Txn) prepare(primary uint32, gid string) error {
	if t.err != nil {
		return t.err
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t.rw.Lock()
	defer t.rw.Unlock()
	switch t.State() {
	case TxnPrepared:
		return nil
	case TxnInProgress:
	default:
		return notActive(t, "prepare")
	}
	now := time.Now()
	// The record and the row locks in one synced batch: a prepared
	// transaction keeps its locks across restarts.
	b := e.db.NewBatch()
	defer b.Close()
	rec := xidRecord{state: TxnPrepared, gxid: t.gxid, primary: primary, preparedAt: now.UnixMicro(), gid: gid}
	if gid != "" {
		rec.flags = recExplicit
	}
	_ = b.Set(xidRecordKey(t.xid), rec.encode(), nil)
	t.putLockRecords(b)
	if err := b.Commit(pebble.Sync); err != nil {
		return ioError(err, "prepare transaction %d", t.xid)
	}
	t.primary, t.preparedAt, t.preparedWall = primary, now, now
	t.explicit, t.gid = gid != "", gid
	if t.explicit {
		// It belongs to no session any more (PostgreSQL's prepared
		// transactions have no backend): wait edges show no holder pid.
		t.pid.Store(0)
	}
	t.state.Store(uint32(TxnPrepared))
	return nil
}

// MarkCommitIntent is COMMIT PREPARED's first step on each participant of
// an explicit transaction, before the commit CSN is taken: it rewrites the
// prepare record with the intent (synced) and from then on readers of the
// transaction's versions wait for its outcome. Together with "no CSN
// before every participant is marked", this keeps snapshots exact: a
// reader that skipped a version while the transaction was unmarked took
// its snapshot before the CSN was taken, so the CSN is not below it.
// Marking a marked transaction is a no-op; the mark is never removed.
func (t *Txn) MarkCommitIntent() error {
	if t.err != nil {
		return t.err
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t.rw.Lock()
	defer t.rw.Unlock()
	if t.State() != TxnPrepared {
		return notActive(t, "mark committing")
	}
	if !t.explicit {
		return fmt.Errorf("mark committing: transaction %d (global %d) was not prepared by PREPARE TRANSACTION: %w", t.xid, t.gxid, ErrTxnNotActive)
	}
	if t.intent.Load() {
		return nil
	}
	rec := xidRecord{state: TxnPrepared, gxid: t.gxid, flags: recExplicit | recCommitIntent,
		preparedAt: t.preparedWall.UnixMicro(), gid: t.gid}
	if err := e.db.Set(xidRecordKey(t.xid), rec.encode(), pebble.Sync); err != nil {
		return ioError(err, "mark transaction %d committing", t.xid)
	}
	t.intent.Store(true)
	return nil
}

// Explicit reports whether the transaction was prepared by PREPARE
// TRANSACTION, and its identifier.
func (t *Txn) Explicit() (gid string, ok bool) {
	t.rw.RLock()
	defer t.rw.RUnlock()
	return t.gid, t.explicit
}

// idle reports an explicit prepared transaction not marked committing:
// readers skip its versions.
func (t *Txn) idle() bool {
	return t.explicit && !t.intent.Load()
}

// Commit commits a prepared transaction with the CSN the coordinator got
// from the GTM (second phase of 2PC); the record is synced before it
// returns. Committing a committed transaction with the same CSN is a no-op.
func (t *Txn) Commit(ctx context.Context, csn uint64) error { return t.commit(ctx, csn, true) }

// CommitLazy commits a prepared non-primary participant without waiting
// for the commit record to reach the disk: the primary's synced commit is
// the decision, and if this node loses the record in a crash, the
// transaction is prepared again after the restart and its resolver
// commits it at the primary's CSN.
func (t *Txn) CommitLazy(ctx context.Context, csn uint64) error { return t.commit(ctx, csn, false) }

func (t *Txn) commit(ctx context.Context, csn uint64, sync bool) error {
	if t.err != nil {
		return t.err
	}
	if csn == math.MaxUint64 {
		return fmt.Errorf("storage: commit of transaction %d: CSN %d is reserved for \"latest\" snapshots", t.xid, csn)
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if err := ctx.Err(); err != nil {
		return canceled(ctx)
	}
	t.rw.Lock()
	defer t.rw.Unlock()
	switch t.State() {
	case TxnCommitted:
		if t.csn.Load() == csn {
			return nil
		}
		return notActive(t, "commit")
	case TxnPrepared:
	default:
		return notActive(t, "commit")
	}
	return t.writeCommit(csn, sync)
}

// CommitOnePhase commits a transaction that wrote only on this datanode:
// it marks it committing (readers that meet its versions now wait, so none
// can decide "in progress, invisible" and then see a CSN below its
// snapshot), calls getCSN (the GTM), syncs the committed record and wakes
// the waiters. If getCSN fails the transaction is aborted and the error
// returned.
func (t *Txn) CommitOnePhase(ctx context.Context, getCSN func(context.Context) (uint64, error)) (uint64, error) {
	return t.commitOnePhase(ctx, 0, getCSN)
}

// CommitAsPrimary is the primary participant's commit of a two-phase
// transaction whose other participants are all prepared: it needs no
// prepare of its own. Like CommitOnePhase it marks the transaction
// committing, takes the CSN from getCSN after that (so after every
// participant prepared) and syncs the committed record — which is the
// transaction's decision, kept for the participants' resolvers
// (TxnStatus; see clean.go). If the node stops before the record is synced
// the transaction is gone: the presumed abort the participants learn.
func (t *Txn) CommitAsPrimary(ctx context.Context, primary uint32, getCSN func(context.Context) (uint64, error)) (uint64, error) {
	if primary == 0 {
		return 0, fmt.Errorf("storage: commit of transaction %d as primary: no primary group", t.xid)
	}
	return t.commitOnePhase(ctx, primary, getCSN)
}

func (t *Txn) commitOnePhase(ctx context.Context, primary uint32, getCSN func(context.Context) (uint64, error)) (uint64, error) {
	if t.err != nil {
		return 0, t.err
	}
	e := t.e
	if err := e.enter(); err != nil {
		return 0, err
	}
	defer e.exit()
	if err := ctx.Err(); err != nil {
		return 0, canceled(ctx)
	}
	t.rw.Lock()
	defer t.rw.Unlock()
	if t.State() != TxnInProgress {
		return 0, notActive(t, "commit")
	}
	if primary != 0 {
		t.primary = primary
	}
	t.state.Store(uint32(TxnCommitting))
	csn, err := getCSN(ctx)
	if err == nil && csn == math.MaxUint64 {
		err = fmt.Errorf("storage: GTM returned reserved CSN %d", csn)
	}
	if err != nil {
		if aerr := t.abortLocked(); aerr != nil {
			e.log.Error("abort after failed CSN fetch", "xid", t.xid, "err", aerr)
		}
		return 0, fmt.Errorf("storage: commit of transaction %d: get CSN: %w", t.xid, err)
	}
	if err := t.writeCommit(csn, true); err != nil {
		return 0, err
	}
	return csn, nil
}

// writeCommit syncs the committed record and publishes the commit. A
// failed WAL write or sync is fatal inside Pebble (Logger.Fatalf, see
// pebbleLogger); should an error come back instead, the outcome is unknown
// and the engine fails (every later operation errs) rather than guess.
func (t *Txn) writeCommit(csn uint64, sync bool) error {
	e := t.e
	rec := xidRecord{state: TxnCommitted, gxid: t.gxid, csn: csn}
	if t.State() == TxnCommitting && t.primary != 0 {
		// The primary of a two-phase commit (CommitAsPrimary):
		// participants may ask for this outcome (TxnStatus) as long as
		// they live, so the cleaner keeps it (clean.go).
		rec.primary = t.primary
	}
	opts := pebble.Sync
	if !sync {
		opts = pebble.NoSync
	}
	b := e.db.NewBatch()
	defer b.Close()
	_ = b.Set(xidRecordKey(t.xid), rec.encode(), nil)
	if t.State() == TxnPrepared {
		t.deleteLockRecords(b)
	}
	if err := b.Commit(opts); err != nil {
		err = ioError(err, "commit transaction %d", t.xid)
		e.fail(err)
		return err
	}
	t.csn.Store(csn)
	e.noteCommitted(csn) // before the commit shows: see LocalSnapshot
	t.state.Store(uint32(TxnCommitted))
	e.xidTab.finish(t.xid, true, csn)
	e.noteOutcome(t.gxid, csn)
	e.forget(t)
	t.dropKeys()
	close(t.done)
	t.releaseLocks(0)
	e.metrics.Commits.Inc()
	return nil
}

// Abort aborts the transaction: its versions become invisible at once,
// are deleted (those it remembers), a prepared transaction's record is
// removed with a sync, and waiters wake. Aborting an aborted transaction is
// a no-op; a committed or committing one cannot abort.
func (t *Txn) Abort() error {
	if t.err != nil {
		return nil
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t.rw.Lock()
	defer t.rw.Unlock()
	switch t.State() {
	case TxnAborted:
		return nil
	case TxnInProgress, TxnPrepared:
	default:
		return notActive(t, "abort")
	}
	if t.intent.Load() {
		// COMMIT PREPARED decided it: CommitDecided relies on that.
		return notActive(t, "abort (COMMIT PREPARED is committing it)")
	}
	return t.abortLocked()
}

// abortLocked aborts; t.rw is held. The state changes in memory first, so
// the transaction is aborted even if the cleanup write fails: an xid
// without a durable record is aborted after a restart anyway. Only the
// deletion of a prepared record must reach the disk.
func (t *Txn) abortLocked() error {
	e := t.e
	wasPrepared := t.State() == TxnPrepared
	t.state.Store(uint32(TxnAborted))
	e.xidTab.finish(t.xid, false, 0)
	e.forget(t)
	e.noteAborted(t.gxid)
	close(t.done)
	e.metrics.Aborts.Inc()

	b := e.db.NewBatch()
	defer b.Close()
	t.kmu.Lock()
	for _, k := range t.keys {
		_ = b.Delete(k.pk, nil)
	}
	t.kmu.Unlock()
	t.dropKeys()
	opts := pebble.NoSync
	if wasPrepared {
		_ = b.Delete(xidRecordKey(t.xid), nil)
		t.deleteLockRecords(b)
		opts = pebble.Sync
	}
	t.releaseLocks(0)
	if b.Empty() {
		return nil
	}
	if err := b.Commit(opts); err != nil {
		err = ioError(err, "abort transaction %d", t.xid)
		if wasPrepared {
			e.fail(err)
		}
		return err
	}
	return nil
}

func (t *Txn) dropKeys() {
	t.kmu.Lock()
	t.keys = nil
	t.kmu.Unlock()
}

// Primary is the datanode group named at prepare (0 before).
func (t *Txn) Primary() uint32 {
	t.rw.RLock()
	defer t.rw.RUnlock()
	return t.primary
}

func (t *Txn) String() string {
	return fmt.Sprintf("txn(xid %d, global %d, %s)", t.xid, t.gxid, t.State())
}
