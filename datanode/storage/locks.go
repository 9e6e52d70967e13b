package storage

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// LockMode is the strength of a row lock, as PostgreSQL's tuple lock
// modes, weakest first.
type LockMode uint8

const (
	// lockNone conflicts with nothing (an insert's place in a key's queue).
	lockNone LockMode = iota
	// LockKeyShare: SELECT ... FOR KEY SHARE.
	LockKeyShare
	// LockShare: SELECT ... FOR SHARE.
	LockShare
	// LockNoKeyUpdate: SELECT ... FOR NO KEY UPDATE, and an UPDATE that
	// changes no unique key.
	LockNoKeyUpdate
	// LockUpdate: SELECT ... FOR UPDATE, DELETE, an UPDATE of a unique
	// key, INSERT.
	LockUpdate
)

// lockConflicts is PostgreSQL's conflict table of row lock modes
// (symmetric).
var lockConflicts = [LockUpdate + 1][LockUpdate + 1]bool{
	LockKeyShare:    {LockUpdate: true},
	LockShare:       {LockNoKeyUpdate: true, LockUpdate: true},
	LockNoKeyUpdate: {LockShare: true, LockNoKeyUpdate: true, LockUpdate: true},
	LockUpdate:      {LockKeyShare: true, LockShare: true, LockNoKeyUpdate: true, LockUpdate: true},
}

// Conflicts reports whether a lock of mode m held by one transaction
// keeps another from taking mode o.
func (m LockMode) Conflicts(o LockMode) bool { return lockConflicts[m][o] }

func (m LockMode) String() string {
	switch m {
	case LockKeyShare:
		return "FOR KEY SHARE"
	case LockShare:
		return "FOR SHARE"
	case LockNoKeyUpdate:
		return "FOR NO KEY UPDATE"
	case LockUpdate:
		return "FOR UPDATE"
	}
	return fmt.Sprintf("LockMode(%d)", uint8(m))
}

// WaitPolicy says what Lock does when another transaction holds a
// conflicting lock.
type WaitPolicy uint8

const (
	// WaitBlock waits (bounded by the context, lock_timeout and deadlock
	// detection).
	WaitBlock WaitPolicy = iota
	// WaitNoWait fails at once with ErrLockNotAvailable (NOWAIT).
	WaitNoWait
	// WaitSkip fails at once with ErrSkipLocked (SKIP LOCKED: the caller
	// skips the row).
	WaitSkip
)

// lockEntry is the lock table's record of one key: the locks granted on
// it and the requests waiting for it, oldest first. It exists only while
// one of them does. Guarded by the key's stripe lock.
type lockEntry struct {
	held  []heldLock
	queue []*lockReq
	// changed is closed (and replaced) when a lock is released or a
	// request leaves the queue: the requests waiting behind look again.
	changed chan struct{}
}

type heldLock struct {
	txn  *Txn
	mode LockMode
	cmd  uint32 // the command that took it (ROLLBACK TO releases it)
}

// lockReq is a request waiting in a key's queue.
type lockReq struct {
	txn  *Txn
	mode LockMode
}

// txnLock is a lock a transaction holds, for release.
type txnLock struct {
	key  string
	mode LockMode
	cmd  uint32
}

func (s *stripe) entry(key string) *lockEntry {
	if s.locks == nil {
		s.locks = map[string]*lockEntry{}
	}
	le := s.locks[key]
	if le == nil {
		le = &lockEntry{changed: make(chan struct{})}
		s.locks[key] = le
	}
	return le
}

// tidy forgets key's entry once nothing is held or queued.
func (s *stripe) tidy(key string, le *lockEntry) {
	if len(le.held) == 0 && len(le.queue) == 0 && s.locks[key] == le {
		delete(s.locks, key)
	}
}

func (le *lockEntry) signal() {
	close(le.changed)
	le.changed = make(chan struct{})
}

// blocker returns a transaction other than t that blocks a request of
// mode: one holding a conflicting lock, or, for a queued request req,
// one queued ahead of it for a conflicting mode (requests are served in
// order, as PostgreSQL's tuple lock queue). A request that is not queued
// yet is only checked against the holders: a lock compatible with them
// is granted at once. Holders that ended are dropped on the way.
func (le *lockEntry) blocker(t *Txn, mode LockMode, req *lockReq) *Txn {
	if le == nil {
		return nil
	}
	le.held = slices.DeleteFunc(le.held, func(h heldLock) bool { return h.txn.ended() })
	for _, h := range le.held {
		if h.txn != t && h.mode.Conflicts(mode) {
			return h.txn
		}
	}
	if req != nil {
		for _, q := range le.queue {
			if q == req {
				break
			}
			if q.txn != t && q.mode.Conflicts(mode) {
				return q.txn
			}
		}
	}
	return nil
}

// holds reports whether t holds a lock at least as strong as mode.
func (le *lockEntry) holds(t *Txn, mode LockMode) bool {
	if le == nil {
		return false
	}
	for _, h := range le.held {
		if h.txn == t && h.mode >= mode {
			return true
		}
	}
	return false
}

// enqueue puts req at the end of key's queue (once).
func (s *stripe) enqueue(key string, req *lockReq) *lockEntry {
	le := s.entry(key)
	if !slices.Contains(le.queue, req) {
		le.queue = append(le.queue, req)
	}
	return le
}

// dequeue takes req out of key's queue; the stripe lock is held.
func (s *stripe) dequeue(key string, req *lockReq) {
	le := s.locks[key]
	if le == nil || req == nil {
		return
	}
	if i := slices.Index(le.queue, req); i >= 0 {
		le.queue = slices.Delete(le.queue, i, i+1)
		le.signal()
		s.tidy(key, le)
	}
}

// grant records that t holds mode on key for command cmd; the stripe
// lock is held.
func (s *stripe) grant(t *Txn, key string, mode LockMode, cmd uint32) {
	le := s.entry(key)
	if le.holds(t, mode) {
		return
	}
	le.held = append(le.held, heldLock{txn: t, mode: mode, cmd: cmd})
	t.kmu.Lock()
	t.locks = append(t.locks, txnLock{key: key, mode: mode, cmd: cmd})
	t.kmu.Unlock()
	t.e.metrics.RowLocks.Inc()
}

// LockResult is what Lock found.
type LockResult struct {
	// Seq is the row's newest committed (or own) version, now locked.
	Seq uint64
	// Changed: Seq is not the version the caller read. Under READ
	// COMMITTED the caller re-checks Value (EvalPlanQual).
	Changed bool
	// Found: the row exists (it was not deleted). A deleted row is not
	// locked.
	Found bool
	// Value is the newest version's payload when Changed and Found.
	Value []byte
}

// Lock takes a row lock of mode on key for command cmd, held until the
// transaction ends (or ROLLBACK TO a savepoint before cmd). readSeq is the
// version the caller read (its snapshot's).
//
// A lock conflicts with the locks other transactions hold on key and with
// the newest version's live writer (a writer holds its row as
// LockNoKeyUpdate or LockUpdate). On a conflict Lock waits as policy says;
// waiters are served in order. Once free, if a transaction committed a
// newer version than readSeq, then with latest (READ COMMITTED) the newest
// version is locked and returned (Changed) for the caller to re-check, and
// without it (REPEATABLE READ) Lock fails with ErrWriteConflict. A row
// deleted since is not locked (Found false).
func (t *Txn) Lock(ctx context.Context, key []byte, mode LockMode, cmd uint32, readSeq uint64, policy WaitPolicy, latest bool) (LockResult, error) {
	if t.err != nil {
		return LockResult{}, t.err
	}
	if mode < LockKeyShare || mode > LockUpdate {
		return LockResult{}, fmt.Errorf("storage: lock mode %d", mode)
	}
	var res LockResult
	err := t.acquire(ctx, key, func(s *stripe, skey string, prefix, end []byte, req **lockReq) (*Txn, <-chan struct{}, error) {
		var blk *Txn
		var changed <-chan struct{}
		var err error
		res, blk, changed, err = t.tryLock(s, skey, prefix, end, mode, cmd, readSeq, latest, policy, req)
		return blk, changed, err
	})
	return res, err
}

// acquire runs try (a critical section under the key's stripe lock) until
// it returns no transaction to wait for, waiting for each one it returns;
// req is t's place in the key's queue, left when acquire returns.
func (t *Txn) acquire(ctx context.Context, key []byte,
	try func(s *stripe, skey string, prefix, end []byte, req **lockReq) (*Txn, <-chan struct{}, error)) error {
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	prefix, end := keyBounds(key)
	s := e.stripe(key)
	skey := string(key)
	var req *lockReq
	defer func() {
		if req != nil {
			s.Lock()
			s.dequeue(skey, req)
			s.Unlock()
		}
	}()
	var ws waitState
	defer ws.done(e)
	for {
		if ctx.Err() != nil {
			return canceled(ctx)
		}
		undo := e.undoSignal()
		blk, changed, err := try(s, skey, prefix, end, &req)
		if err != nil || blk == nil {
			return err
		}
		if err := e.waitLock(ctx, &ws, t, blk, changed, undo); err != nil {
			return err
		}
	}
}

// tryLock is Lock's critical section, under t.rw (shared) and the key's
// stripe lock. It returns the transaction to wait for and the channel
// that signals a change of the key's locks, or the result.
func (t *Txn) tryLock(s *stripe, key string, prefix, end []byte, mode LockMode, cmd uint32, readSeq uint64, latest bool,
	policy WaitPolicy, req **lockReq) (LockResult, *Txn, <-chan struct{}, error) {
	e := t.e
	t.rw.RLock()
	defer t.rw.RUnlock()
	if t.State() != TxnInProgress {
		return LockResult{}, nil, nil, notActive(t, "lock")
	}
	if cmd < t.minCmd {
		return LockResult{}, nil, nil, rolledBack(t, cmd)
	}
	s.Lock()
	defer s.Unlock()
	le := s.locks[key]
	blk := le.blocker(t, mode, *req)
	var rs rowState
	if blk == nil {
		var err error
		if rs, err = e.rowState(prefix, end, t); err != nil {
			return LockResult{}, nil, nil, err
		}
		if rs.writer != nil && rs.writerHdr.lockMode().Conflicts(mode) {
			blk = rs.writer
		}
	}
	if blk != nil {
		switch policy {
		case WaitNoWait:
			return LockResult{}, nil, nil, ErrLockNotAvailable
		case WaitSkip:
			return LockResult{}, nil, nil, ErrSkipLocked
		}
		if *req == nil {
			*req = &lockReq{txn: t, mode: mode}
		}
		le = s.enqueue(key, *req)
		return LockResult{}, blk, le.changed, nil
	}
	// Free: leave the queue, and let those behind look again.
	s.dequeue(key, *req)
	*req = nil
	res := LockResult{Seq: rs.seq, Found: rs.found && !rs.hdr.tombstone}
	if !rs.found || rs.seq != readSeq {
		res.Changed = true
		if !latest {
			e.metrics.Conflicts.Inc()
			return LockResult{}, nil, nil, ErrWriteConflict
		}
		if !res.Found {
			return res, nil, nil, nil
		}
		res.Value = rs.payload
	}
	s.grant(t, key, mode, cmd)
	return res, nil, nil, nil
}

// rowState describes a key for a locker: the live writer of its newest
// version, if another transaction's, and the newest version that is
// committed or the asker's own.
type rowState struct {
	writer    *Txn
	writerHdr versionHeader
	found     bool
	seq       uint64
	hdr       versionHeader
	payload   []byte
}

func (e *Engine) rowState(prefix, end []byte, self *Txn) (rowState, error) {
	var rs rowState
	defer e.readers.exit(e.readers.enter())
	it, err := e.newIter(prefix, end)
	if err != nil {
		return rs, err
	}
	defer it.Close()
	for ok := it.SeekPrefixGE(prefix); ok; ok = it.Next() {
		v, err := readVersion(it)
		if err != nil {
			return rs, err
		}
		if v.hdr.xid != self.xid {
			st := e.xidTab.lookup(v.hdr.xid)
			switch st.state {
			case TxnAborted:
				continue
			case TxnInProgress, TxnPrepared, TxnCommitting:
				// Live writers do not stack: the next one below is
				// committed (or aborted).
				rs.writer, rs.writerHdr = st.txn, v.hdr
				continue
			}
		}
		rs.found, rs.seq, rs.hdr, rs.payload = true, v.seq, v.hdr, bytes.Clone(v.payload)
		return rs, nil
	}
	if err := it.Error(); err != nil {
		return rs, ioError(err, "read row for lock")
	}
	return rs, nil
}

// releaseLocks releases the row locks t took from command from on, and
// wakes the requests waiting for them.
func (t *Txn) releaseLocks(from uint32) {
	t.kmu.Lock()
	var gone []txnLock
	kept := t.locks[:0]
	for _, l := range t.locks {
		if l.cmd >= from {
			gone = append(gone, l)
		} else {
			kept = append(kept, l)
		}
	}
	clear(t.locks[len(kept):])
	t.locks = kept
	t.kmu.Unlock()
	for _, l := range gone {
		s := t.e.stripe([]byte(l.key))
		s.Lock()
		if le := s.locks[l.key]; le != nil {
			n := len(le.held)
			le.held = slices.DeleteFunc(le.held, func(h heldLock) bool { return h.txn == t && h.cmd >= from })
			if len(le.held) != n {
				le.signal()
			}
			s.tidy(l.key, le)
		}
		s.Unlock()
	}
}

// lockRecords returns the durable records of t's row locks (the
// strongest mode per key), written with its prepare record.
func (t *Txn) lockRecords() map[string]LockMode {
	t.kmu.Lock()
	defer t.kmu.Unlock()
	if len(t.locks) == 0 {
		return nil
	}
	out := make(map[string]LockMode, len(t.locks))
	for _, l := range t.locks {
		out[l.key] = max(out[l.key], l.mode)
	}
	return out
}

// putLockRecords adds t's row lock records to b (Prepare).
func (t *Txn) putLockRecords(b *pebble.Batch) {
	for k, m := range t.lockRecords() {
		_ = b.Set(lockRecordKey(t.xid, []byte(k)), []byte{byte(m)}, nil)
	}
}

// deleteLockRecords adds the deletion of t's row lock records to b (the
// commit or abort of a prepared transaction).
func (t *Txn) deleteLockRecords(b *pebble.Batch) {
	for k := range t.lockRecords() {
		_ = b.Delete(lockRecordKey(t.xid, []byte(k)), nil)
	}
}

// loadLockRecords restores the row locks of the prepared transactions
// (Open): a prepared transaction keeps its locks across restarts, as in
// PostgreSQL. A record whose transaction is not prepared is removed (the
// commit or abort that ends a prepared transaction deletes its records in
// the same batch, so there should be none).
func (e *Engine) loadLockRecords(prepared map[uint64]*Txn) (int, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lockRecLo, UpperBound: lockRecHi})
	if err != nil {
		return 0, ioError(err, "load row locks")
	}
	defer it.Close()
	n := 0
	b := e.db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		xid, k, mode, err := decodeLockRecord(it.Key(), it.Value())
		if err != nil {
			return 0, err
		}
		t := prepared[xid]
		if t == nil {
			_ = b.Delete(bytes.Clone(it.Key()), nil)
			continue
		}
		s := e.stripe(k)
		s.Lock()
		s.grant(t, string(k), mode, 0)
		s.Unlock()
		n++
	}
	if err := it.Error(); err != nil {
		return 0, ioError(err, "load row locks")
	}
	if !b.Empty() {
		if err := b.Commit(pebble.Sync); err != nil {
			return 0, ioError(err, "remove stale row locks")
		}
	}
	return n, nil
}
