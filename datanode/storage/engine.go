package storage

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

const (
	// seqWindow and xidWindow are how far ahead of use the counters'
	// high-water marks are persisted: one synced write per window.
	seqWindow = 1 << 16
	xidWindow = 1 << 14
	// lockStripes is the number of stripes of the key mutexes and of the
	// row lock table; a power of two.
	lockStripes = 1024
	// maxWaitChain bounds the walk of the wait-for chain in local deadlock
	// detection.
	maxWaitChain = 1024
)

// Engine is a datanode's MVCC store on Pebble. All methods are safe for
// concurrent use. See doc.go.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	db      *pebble.DB
	metrics *Metrics

	seqs *counter // row version seqs
	xids *counter // local transaction ids

	xidTab xidTable
	// maxCommitted is the largest commit CSN published here (LocalSnapshot).
	maxCommitted atomic.Uint64

	// The cleaner (clean.go): cleanRun serializes Clean calls; cleanMu
	// (shared by the cleaner's batches) keeps DeleteRange out; readers
	// count reads per epoch; copying and copies count the version copies
	// of index builds in progress and started.
	cleanRun sync.Mutex
	cleanMu  sync.RWMutex
	readers  readEpochs
	copying  atomic.Int64
	copies   atomic.Uint64
	written  atomic.Uint64 // versions written since Open

	gmu    sync.Mutex
	byGXID map[uint64]*Txn // live transactions by global id
	// outcomes: commit CSN of every committed global transaction, so a
	// participant of a two-phase commit can learn the decision from the
	// primary; a global id neither live nor here is aborted.
	outcomes map[uint64]uint64
	// abortedG remembers the most recent aborted global ids (a bounded
	// FIFO) so that a late statement cannot resurrect one.
	abortedG     map[uint64]struct{}
	abortedOrder []uint64

	seed    maphash.Seed
	stripes [lockStripes]stripe

	// undo is closed (and replaced) whenever a transaction rolls back to
	// a savepoint: writers waiting on a row lock it released look again.
	undo atomic.Pointer[chan struct{}]

	// waits are the waits for row locks in progress, by id (waits.go).
	wmu     sync.Mutex
	waits   map[uint64]*waitInst
	waitSeq uint64

	// Shutdown: operations count themselves in ops; Close sets closing,
	// closes closedCh (ending waits) and waits for ops to drain.
	ops      atomic.Int64
	closing  atomic.Bool
	closedCh chan struct{}
	drained  chan struct{}
	closeMu  sync.Mutex
	closed   bool
	failure  atomic.Pointer[error] // first fatal error; every later operation returns it
}

// stripe serializes the check-and-write of the keys that hash to it and
// guards their entries in the row lock table (locks.go).
type stripe struct {
	sync.Mutex
	locks map[string]*lockEntry
	_     [48]byte
}

// Open opens (creating if needed) the store in cfg.Dir, loads the durable
// transaction records and resumes the counters above their high-water
// marks. Every xid without a durable record is from now on aborted.
func Open(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.NodeNum, "component", "storage")
	e := &Engine{
		cfg:      cfg,
		log:      log,
		metrics:  newMetrics(cfg.NodeNum),
		byGXID:   make(map[uint64]*Txn),
		seed:     maphash.MakeSeed(),
		closedCh: make(chan struct{}),
		drained:  make(chan struct{}, 1),
	}
	e.xidTab.init()
	// Wait ids start at the clock, so that ids of waits before a restart
	// are not reused by waits after it (the deadlock detector confirms
	// cycles by id).
	e.waitSeq = uint64(time.Now().UnixNano())
	undo := make(chan struct{})
	e.undo.Store(&undo)

	opts := &pebble.Options{
		FS:                 cfg.FS,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log},
		Comparer:           mvccComparer,
	}
	// Bloom filters over version-group prefixes let a point read skip the
	// sstables that hold no version of its key.
	block := cfg.BlockBytes
	if block == 0 {
		block = DefaultBlockBytes
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].FilterType = pebble.TableFilter
		opts.Levels[i].BlockSize = block
	}
	if cfg.CacheBytes > 0 {
		cache := pebble.NewCache(cfg.CacheBytes)
		defer cache.Unref()
		opts.Cache = cache
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, ioError(err, "open %s", cfg.Dir)
	}
	e.db = db
	fail := func(err error) (*Engine, error) {
		_ = db.Close()
		return nil, err
	}
	if err := checkFormat(db, cfg.Format); err != nil {
		return fail(err)
	}
	if e.seqs, err = loadCounter(db, seqHWMKey, seqWindow); err != nil {
		return fail(err)
	}
	if e.xids, err = loadCounter(db, xidHWMKey, xidWindow); err != nil {
		return fail(err)
	}
	prepared, committed, err := e.loadRecords()
	if err != nil {
		return fail(err)
	}
	preparedByXID := map[uint64]*Txn{}
	for _, t := range e.byGXID {
		preparedByXID[t.xid] = t
	}
	locks, err := e.loadLockRecords(preparedByXID)
	if err != nil {
		return fail(err)
	}
	if cfg.Registry != nil {
		e.metrics.lsm = newLSMCollector(cfg.NodeNum, e.lsmMetrics)
		if err := e.metrics.register(cfg.Registry); err != nil {
			return fail(err)
		}
	}
	log.Info("storage opened", "dir", cfg.Dir, "seq", e.seqs.last(), "xid", e.xids.last(),
		"committed_xids", committed, "prepared_xids", prepared, "prepared_row_locks", locks)
	return e, nil
}

// loadRecords loads every durable transaction record: committed xids into
// the xid table, prepared ones as live prepared transactions.
func (e *Engine) loadRecords() (prepared, committed int, err error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: xidRecLo, UpperBound: xidRecHi})
	if err != nil {
		return 0, 0, ioError(err, "load transaction records")
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, 0, ioError(err, "load transaction records")
		}
		xid, rec, err := decodeXidRecord(it.Key(), v)
		if err != nil {
			return 0, 0, err
		}
		switch rec.state {
		case TxnCommitted:
			e.xidTab.addCommitted(xid, rec.csn)
			e.noteOutcome(rec.gxid, rec.csn)
			e.noteCommitted(rec.csn)
			committed++
		case txnOutcomeOnly:
			e.noteOutcome(rec.gxid, rec.csn)
			e.noteCommitted(rec.csn)
		case TxnPrepared:
			t := newTxn(e, rec.gxid, xid)
			t.primary, t.preparedAt, t.preparedWall = rec.primary, time.Now(), time.Now()
			if rec.preparedAt != 0 {
				t.preparedWall = time.UnixMicro(rec.preparedAt)
			}
			t.explicit, t.gid = rec.flags&recExplicit != 0, rec.gid
			t.intent.Store(rec.flags&recCommitIntent != 0)
			t.state.Store(uint32(TxnPrepared))
			e.xidTab.addActive(t)
			if old := e.byGXID[rec.gxid]; old != nil {
				return 0, 0, corrupt("global transaction %d prepared as both xid %d and xid %d", rec.gxid, old.xid, xid)
			}
			e.byGXID[rec.gxid] = t
			prepared++
		}
	}
	if err := it.Error(); err != nil {
		return 0, 0, ioError(err, "load transaction records")
	}
	return prepared, committed, nil
}

// Flush writes the memtables to sstables and waits for it (benchmarks and
// tests of what reads from sstables).
func (e *Engine) Flush() error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if err := e.db.Flush(); err != nil {
		return ioError(err, "flush")
	}
	return nil
}

// Close ends waits in progress (they return ErrClosed), waits for running
// operations to return, and closes Pebble. Live transactions are left as
// they are: in-progress ones are aborted by the next Open, prepared ones
// stay prepared. Close is idempotent.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.closing.Store(true)
	close(e.closedCh)
	for e.ops.Load() != 0 {
		<-e.drained
	}
	if e.cfg.Registry != nil {
		e.metrics.unregister(e.cfg.Registry)
	}
	if err := e.db.Close(); err != nil {
		return ioError(err, "close")
	}
	e.log.Info("storage closed")
	return nil
}

// enter registers a running operation; it fails once Close has begun or
// the engine has failed.
func (e *Engine) enter() error {
	e.ops.Add(1)
	if e.closing.Load() {
		e.exit()
		return errClosed()
	}
	if f := e.failure.Load(); f != nil {
		e.exit()
		return *f
	}
	return nil
}

func (e *Engine) exit() {
	if e.ops.Add(-1) == 0 && e.closing.Load() {
		select {
		case e.drained <- struct{}{}:
		default:
		}
	}
}

// fail records a fatal error: the engine can no longer tell what is durable
// (a commit record's write failed after the CSN was assigned), so every
// later operation returns err, as PostgreSQL PANICs on a failed WAL flush.
func (e *Engine) fail(err error) {
	if e.failure.CompareAndSwap(nil, &err) {
		e.log.Error("storage failed; restart the datanode", "err", err)
	}
}

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Txn returns the live local transaction of global transaction gxid,
// creating it with a new local xid on first use. If the engine is closed
// or the xid cannot be allocated, the returned Txn is already aborted and
// every operation on it returns the reason.
func (e *Engine) Txn(gxid uint64) *Txn {
	e.gmu.Lock()
	defer e.gmu.Unlock()
	if t := e.byGXID[gxid]; t != nil {
		return t
	}
	if _, gone := e.abortedG[gxid]; gone {
		// A late statement of an aborted transaction must not start it
		// again (its locks would never be released).
		return brokenTxn(e, gxid, fmt.Errorf("%w: global transaction %d was aborted", ErrTxnNotActive, gxid))
	}
	if err := e.enter(); err != nil {
		return brokenTxn(e, gxid, err)
	}
	defer e.exit()
	xid, err := e.xids.next()
	if err != nil {
		return brokenTxn(e, gxid, err)
	}
	t := newTxn(e, gxid, xid)
	e.xidTab.addActive(t)
	e.byGXID[gxid] = t
	return t
}

// LookupTxn returns the live (in-progress, prepared or committing) local
// transaction of gxid.
func (e *Engine) LookupTxn(gxid uint64) (*Txn, bool) {
	e.gmu.Lock()
	defer e.gmu.Unlock()
	t, ok := e.byGXID[gxid]
	return t, ok
}

// InProgressTxns lists the global ids of in-progress (not prepared)
// transactions.
func (e *Engine) InProgressTxns() []uint64 {
	e.gmu.Lock()
	defer e.gmu.Unlock()
	var out []uint64
	for g, t := range e.byGXID {
		if t.State() == TxnInProgress {
			out = append(out, g)
		}
	}
	return out
}

// PreparedInfo identifies a prepared transaction for recovery.
type PreparedInfo struct {
	GXID       uint64
	XID        uint64
	Primary    uint32    // the datanode group whose outcome decides (0: explicit)
	PreparedAt time.Time // when it was prepared, or when this node started
	// Wall is when it was prepared, as recorded (across restarts).
	Wall time.Time
	// GID is the identifier of an explicit PREPARE TRANSACTION ("" for an
	// automatic two-phase commit); Committing, that COMMIT PREPARED marked
	// it (MarkCommitIntent).
	GID        string
	Explicit   bool
	Committing bool
}

// noteAborted remembers an aborted global transaction.
func (e *Engine) noteAborted(gxid uint64) {
	if gxid == 0 {
		return
	}
	const keep = 1 << 16
	e.gmu.Lock()
	if e.abortedG == nil {
		e.abortedG = map[uint64]struct{}{}
	}
	if _, ok := e.abortedG[gxid]; !ok {
		e.abortedG[gxid] = struct{}{}
		e.abortedOrder = append(e.abortedOrder, gxid)
		if len(e.abortedOrder) > keep {
			delete(e.abortedG, e.abortedOrder[0])
			e.abortedOrder = e.abortedOrder[1:]
		}
	}
	e.gmu.Unlock()
}

// noteOutcome records a committed global transaction.
func (e *Engine) noteOutcome(gxid, csn uint64) {
	if gxid == 0 {
		return
	}
	e.gmu.Lock()
	if e.outcomes == nil {
		e.outcomes = map[uint64]uint64{}
	}
	e.outcomes[gxid] = csn
	e.gmu.Unlock()
}

// Outcome tells what became of a global transaction on this node:
// TxnInProgress, TxnPrepared or TxnCommitting while it is live,
// TxnCommitted with its CSN, else TxnAborted (aborted, or never seen:
// presumed abort).
func (e *Engine) Outcome(gxid uint64) (TxnState, uint64) {
	e.gmu.Lock()
	defer e.gmu.Unlock()
	if t := e.byGXID[gxid]; t != nil {
		st := t.State()
		return st, t.csn.Load()
	}
	if csn, ok := e.outcomes[gxid]; ok {
		return TxnCommitted, csn
	}
	return TxnAborted, 0
}

// PreparedTxns lists the prepared transactions, by xid, for the
// coordinator to resolve (after a restart: the in-doubt ones).
func (e *Engine) PreparedTxns() []PreparedInfo {
	e.gmu.Lock()
	var out []PreparedInfo
	for _, t := range e.byGXID {
		if t.State() == TxnPrepared {
			out = append(out, PreparedInfo{GXID: t.gxid, XID: t.xid, Primary: t.primary, PreparedAt: t.preparedAt,
				Wall: t.preparedWall, GID: t.gid, Explicit: t.explicit, Committing: t.intent.Load()})
		}
	}
	e.gmu.Unlock()
	slices.SortFunc(out, func(a, b PreparedInfo) int { return cmp.Compare(a.XID, b.XID) })
	return out
}

func (e *Engine) forget(t *Txn) {
	e.gmu.Lock()
	if e.byGXID[t.gxid] == t {
		delete(e.byGXID, t.gxid)
	}
	e.gmu.Unlock()
}

func (e *Engine) stripe(key []byte) *stripe {
	return &e.stripes[maphash.Bytes(e.seed, key)&(lockStripes-1)]
}

// undoSignal returns a channel that is closed at the next rollback to a
// savepoint (of any transaction). A writer takes it before it reads the
// row lock it may wait for, so a lock released after that read wakes it.
func (e *Engine) undoSignal() <-chan struct{} { return *e.undo.Load() }

// signalUndo wakes the writers waiting when a rollback to a savepoint
// released row locks; they look again (the others wait again).
func (e *Engine) signalUndo() {
	next := make(chan struct{})
	close(*e.undo.Swap(&next))
}

// String describes the engine for logs.
func (e *Engine) String() string {
	a, c := e.xidTab.counts()
	return fmt.Sprintf("storage(node %d, %s, %s, %d live, %d committed xids)", e.cfg.NodeNum, e.seqs, e.xids, a, c)
}

// pebbleLogger sends Pebble's messages to slog. Pebble calls Fatalf when
// its write-ahead log cannot be written or synced; the pipeline is broken
// and committed data may be in doubt, so Fatalf logs and panics (PostgreSQL
// PANICs on a failed WAL flush): the datanode restarts and recovers from
// its WAL.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "source", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "source", "pebble")
	panic(msg)
}

// AllocIDs reserves n row ids unique in the cluster: the node number in
// the top 16 bits, a never-repeating local sequence below. It returns
// the first; the n ids are consecutive.
func (e *Engine) AllocIDs(n int) (uint64, error) {
	if n <= 0 {
		return 0, nil
	}
	first, err := e.seqs.nextN(uint64(n))
	if err != nil {
		return 0, err
	}
	return uint64(e.cfg.NodeNum)<<48 | (first & (1<<48 - 1)), nil
}

// ErrFormat is returned by Open for a store whose data is in another
// format than the caller's (Config.Format).
var ErrFormat = errors.New("storage: data directory in another format")

// checkFormat compares the format recorded in db with want (see
// Config.Format), recording it in a store without data.
func checkFormat(db *pebble.DB, want uint64) error {
	if want == 0 {
		return nil
	}
	have := uint64(0)
	v, closer, err := db.Get(dataFormatKey)
	switch {
	case err == pebble.ErrNotFound:
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: dataLowest})
		if err != nil {
			return ioError(err, "new iterator")
		}
		empty := !it.First()
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return ioError(err, "read the first data key")
		}
		if empty {
			if err := db.Set(dataFormatKey, binary.BigEndian.AppendUint64(nil, want), pebble.Sync); err != nil {
				return ioError(err, "record the data format")
			}
			return nil
		}
		have = 1 // written before formats were recorded
	case err != nil:
		return ioError(err, "read the data format")
	default:
		if len(v) == 8 {
			have = binary.BigEndian.Uint64(v)
		}
		closer.Close()
		if len(v) != 8 {
			return corrupt("data format record of %d bytes", len(v))
		}
	}
	if have != want {
		return fmt.Errorf("%w: its rows are in format %d, this build reads format %d; load the data again into a new data directory (or run the build that wrote it to dump it)", ErrFormat, have, want)
	}
	return nil
}
