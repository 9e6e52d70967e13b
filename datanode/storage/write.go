package storage

import (
	"context"

	"github.com/cockroachdb/pebble/v2"
)

// Write writes a new version of key for command commandID: value, or a
// tombstone when value is nil. readSeq is the seq of the version the
// caller read and means to replace (0: "I saw no row").
//
// The newest version of a key is its row lock (PostgreSQL's xmax idea).
// Write looks at the newest non-aborted version V:
//
//   - V's writer is another live transaction (in progress, prepared,
//     committing): wait until it ends, then look again;
//   - V is t's own: write;
//   - V.seq != readSeq, or readSeq == 0 and V is a live committed row:
//     ErrWriteConflict (re-read under READ COMMITTED; SerializationFailure
//     under REPEATABLE READ);
//   - otherwise write.
//
// The version is appended without a sync (Prepare or the commit record
// syncs it); t remembers the key for Abort and RollbackTo. A write of a
// command that RollbackTo undid is refused with ErrTxnNotActive.
func (t *Txn) Write(ctx context.Context, key, value []byte, commandID uint32, readSeq uint64) error {
	return t.write(ctx, key, value, commandID, readSeq, false)
}

// Insert writes key as a new row: like Write with readSeq 0, but a live
// newest version (committed, or t's own) fails with ErrKeyExists, which
// the caller turns into 23505. A committed or own tombstone may be
// overwritten.
func (t *Txn) Insert(ctx context.Context, key, value []byte, commandID uint32) error {
	if value == nil {
		value = []byte{}
	}
	return t.write(ctx, key, value, commandID, 0, true)
}

func (t *Txn) write(ctx context.Context, key, value []byte, commandID uint32, readSeq uint64, insert bool) error {
	if t.err != nil {
		return t.err
	}
	e := t.e
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	prefix, end := keyBounds(key)
	s := e.stripe(key)
	for {
		if ctx.Err() != nil {
			return canceled(ctx)
		}
		undo := e.undoSignal()
		holder, err := t.tryWrite(s, prefix, end, value, commandID, readSeq, insert)
		if err != nil || holder == nil {
			return err
		}
		if err := e.waitFor(ctx, t, holder, undo); err != nil {
			return err
		}
	}
}

// tryWrite is Write's critical section, under t.rw (shared) and the key's
// stripe lock. It returns the live transaction to wait for, if any.
func (t *Txn) tryWrite(s *stripe, prefix, end, value []byte, commandID uint32, readSeq uint64, insert bool) (*Txn, error) {
	e := t.e
	t.rw.RLock()
	defer t.rw.RUnlock()
	if t.State() != TxnInProgress {
		return nil, notActive(t, "write")
	}
	if commandID < t.minCmd {
		return nil, rolledBack(t, commandID)
	}
	s.Lock()
	defer s.Unlock()
	n, err := e.newestVersion(prefix, end, t, false)
	if err != nil {
		return nil, err
	}
	if n.holder != nil {
		return n.holder, nil
	}
	live := n.found && !n.hdr.tombstone
	own := n.found && n.hdr.xid == t.xid
	switch {
	case insert:
		if live {
			return nil, ErrKeyExists
		}
	case own:
	case readSeq == 0:
		if live {
			e.metrics.Conflicts.Inc()
			return nil, ErrWriteConflict
		}
	case !n.found || n.seq != readSeq:
		e.metrics.Conflicts.Inc()
		return nil, ErrWriteConflict
	}
	pk, err := e.put(prefix, versionHeader{xid: t.xid, commandID: commandID, tombstone: value == nil}, value)
	if err != nil {
		return nil, err
	}
	t.remember(pk, commandID)
	return nil, nil
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
	return pk, nil
}
