package storage

import (
	"context"

	"github.com/cockroachdb/pebble/v2"
)

// Write writes a new version of key for command commandID: value, or a
// tombstone when value is nil. readSeq is the seq of the version the
// caller read and means to replace (0: "I saw no row").
//
// The newest version of a key is its writer's row lock (PostgreSQL's xmax
// idea); the row lock table (locks.go) holds the locks of SELECT ... FOR
// UPDATE/SHARE. Write takes the row as LockUpdate: it waits while another
// transaction holds a conflicting lock, or wrote the newest non-aborted
// version V and is live (in progress, prepared, committing), or is queued
// ahead for the key; waiters are served in order. Then:
//
//   - V is t's own: write;
//   - V.seq != readSeq, or readSeq == 0 and V is a live committed row:
//     ErrWriteConflict (re-read under READ COMMITTED; SerializationFailure
//     under REPEATABLE READ). t keeps the row locked, so that its re-read
//     and retry keep their turn;
//   - otherwise write.
//
// The version is appended without a sync (Prepare or the commit record
// syncs it); t remembers the key for Abort and RollbackTo. A write of a
// command that RollbackTo undid is refused with ErrTxnNotActive.
func (t *Txn) Write(ctx context.Context, key, value []byte, commandID uint32, readSeq uint64) error {
	return t.write(ctx, key, value, commandID, readSeq, false, LockUpdate)
}

// UpdateNoKey is Write for an UPDATE that changes no unique key: while t
// lives it holds the row as LockNoKeyUpdate, which FOR KEY SHARE lockers
// do not conflict with.
func (t *Txn) UpdateNoKey(ctx context.Context, key, value []byte, commandID uint32, readSeq uint64) error {
	if value == nil {
		return t.Write(ctx, key, value, commandID, readSeq)
	}
	return t.write(ctx, key, value, commandID, readSeq, false, LockNoKeyUpdate)
}

// Insert writes key as a new row: like Write with readSeq 0, but a live
// newest version (committed, or t's own) fails with ErrKeyExists, which
// the caller turns into 23505, and row locks do not count (as
// PostgreSQL's uniqueness check ignores lockers). A committed or own
// tombstone may be overwritten.
func (t *Txn) Insert(ctx context.Context, key, value []byte, commandID uint32) error {
	if value == nil {
		value = []byte{}
	}
	// Row locks do not keep a key from being inserted (they are not
	// versions): only a live writer of the key is waited for.
	return t.write(ctx, key, value, commandID, 0, true, lockNone)
}

func (t *Txn) write(ctx context.Context, key, value []byte, commandID uint32, readSeq uint64, insert bool, mode LockMode) error {
	if t.err != nil {
		return t.err
	}
	return t.acquire(ctx, key, func(s *stripe, skey string, prefix, end []byte, req **lockReq) (*Txn, <-chan struct{}, error) {
		return t.tryWrite(s, skey, prefix, end, value, commandID, readSeq, insert, mode, req)
	})
}

// tryWrite is Write's critical section, under t.rw (shared) and the key's
// stripe lock. It returns the live transaction to wait for, if any, with
// the channel that signals a change of the key's locks.
func (t *Txn) tryWrite(s *stripe, key string, prefix, end, value []byte, commandID uint32, readSeq uint64, insert bool,
	mode LockMode, req **lockReq) (*Txn, <-chan struct{}, error) {
	e := t.e
	t.rw.RLock()
	defer t.rw.RUnlock()
	if t.State() != TxnInProgress {
		return nil, nil, notActive(t, "write")
	}
	if commandID < t.minCmd {
		return nil, nil, rolledBack(t, commandID)
	}
	s.Lock()
	defer s.Unlock()
	blk := s.locks[key].blocker(t, mode, *req)
	var n newest
	if blk == nil {
		var err error
		if n, err = e.newestVersion(prefix, end, t, false); err != nil {
			return nil, nil, err
		}
		blk = n.holder // every writer conflicts with a live writer
	}
	if blk != nil {
		if *req == nil {
			*req = &lockReq{txn: t, mode: mode}
		}
		return blk, s.enqueue(key, *req).changed, nil
	}
	s.dequeue(key, *req)
	*req = nil
	live := n.found && !n.hdr.tombstone
	own := n.found && n.hdr.xid == t.xid
	switch {
	case insert:
		if live {
			return nil, nil, ErrKeyExists
		}
	case own:
	case readSeq == 0 && !live:
	case readSeq == 0, !n.found || n.seq != readSeq:
		e.metrics.Conflicts.Inc()
		s.grant(t, key, mode, commandID)
		return nil, nil, ErrWriteConflict
	}
	h := versionHeader{xid: t.xid, commandID: commandID, tombstone: value == nil, noKey: mode == LockNoKeyUpdate}
	pk, err := e.put(prefix, h, value)
	if err != nil {
		return nil, nil, err
	}
	t.remember(pk, commandID)
	return nil, nil, nil
}

// put appends a version under a fresh seq and returns its physical key.
// The caller holds the key's stripe lock, so seqs of one key increase in
// write order.
func (e *Engine) put(prefix []byte, h versionHeader, payload []byte) ([]byte, error) {
	seq, err := e.seqs.next()
	if err != nil {
		return nil, err
	}
	pk := appendSeq(append(make([]byte, 0, len(prefix)+seqLen), prefix...), seq)
	val := appendValue(make([]byte, 0, valueHeaderLen+len(payload)), h, payload)
	if err := e.db.Set(pk, val, pebble.NoSync); err != nil {
		return nil, ioError(err, "write %s", formatKey(pk))
	}
	e.metrics.Writes.Inc()
	e.written.Add(1)
	return pk, nil
}

// KV is a key and the value to write under it.
type KV struct {
	Key, Value []byte
}

// PutNew writes the first version of keys that cannot exist yet — their
// logical keys hold an id this datanode just allocated (AllocIDs), such
// as a new row's key or its entries in non-unique indexes — in one
// batch, with no read and no row lock to take: nobody else can know the
// keys before the transaction commits. Like Write, it does not sync.
func (t *Txn) PutNew(items []KV, commandID uint32) error {
	if len(items) == 0 {
		return nil
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t.rw.RLock()
	defer t.rw.RUnlock()
	if t.err != nil {
		return t.err
	}
	if t.State() != TxnInProgress {
		return notActive(t, "write")
	}
	if commandID < t.minCmd {
		return rolledBack(t, commandID)
	}
	first, err := e.seqs.nextN(uint64(len(items)))
	if err != nil {
		return err
	}
	b := e.db.NewBatch()
	defer b.Close()
	h := versionHeader{xid: t.xid, commandID: commandID}
	pks := make([][]byte, len(items))
	var val []byte
	for i, it := range items {
		pk := appendSeq(appendPrefix(make([]byte, 0, 2*len(it.Key)+2+seqLen), it.Key), first+uint64(i))
		val = appendValue(val[:0], h, it.Value)
		if err := b.Set(pk, val, nil); err != nil {
			return ioError(err, "write %s", formatKey(pk))
		}
		pks[i] = pk
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return ioError(err, "write batch")
	}
	e.metrics.Writes.Add(float64(len(items)))
	e.written.Add(uint64(len(items)))
	for _, pk := range pks {
		t.remember(pk, commandID)
	}
	return nil
}
