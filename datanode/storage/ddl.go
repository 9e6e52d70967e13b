package storage

import (
	"bytes"
	"context"

	"github.com/cockroachdb/pebble/v2"
)

// The operations in this file are not MVCC: they serve DDL (TRUNCATE, DROP,
// CREATE INDEX), which the caller serializes against the table's DML.

// DeleteRange removes every version of every logical key in [start, end)
// (end nil: no upper bound), durably, at once for all snapshots.
func (e *Engine) DeleteRange(start, end []byte) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	e.cleanMu.Lock() // no freeze may bring a removed key back
	defer e.cleanMu.Unlock()
	lo, hi := rangeBounds(start, end)
	if hi == nil {
		// No finite key bounds all logical keys: end just past the last one.
		it, err := e.newIter(lo, nil)
		if err != nil {
			return err
		}
		if it.Last() {
			hi = append(bytes.Clone(it.Key()), 0)
		}
		err = it.Error()
		_ = it.Close()
		if err != nil {
			return ioError(err, "delete range")
		}
		if hi == nil {
			return nil
		}
	}
	if err := e.db.DeleteRange(lo, hi, pebble.Sync); err != nil {
		return ioError(err, "delete range")
	}
	return nil
}

// ScanAllVersions calls fn for every version of every logical key in
// [start, end) (end nil: no upper bound) whose writer has not aborted,
// whatever its visibility: keys in order, and the versions of one key
// OLDEST FIRST, so that replaying them through WriteVersion (which stamps
// each with a fresh, larger seq) rebuilds the same newest-first order. The
// slices are only valid during the call.
func (e *Engine) ScanAllVersions(ctx context.Context, start, end []byte,
	fn func(key, value []byte, xid uint64, commandID uint32, tombstone bool, seq uint64) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	// The copies keep their writers' xids: the cleaner must not prune
	// them meanwhile (clean.go).
	e.copies.Add(1)
	e.copying.Add(1)
	defer e.copying.Add(-1)
	defer e.readers.exit(e.readers.enter())
	lo, hi := rangeBounds(start, end)
	it, err := e.newIter(lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()

	type held struct {
		seq      uint64
		hdr      versionHeader
		off, end int // payload in arena
	}
	var (
		prefix, lkey []byte
		group        []held // versions of the current key, newest first
		arena        []byte // their payloads
		n            int
	)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		var err error
		if lkey, err = appendUnescaped(lkey[:0], prefix); err != nil {
			return err
		}
		for i := len(group) - 1; i >= 0; i-- {
			g := group[i]
			if err := fn(lkey, arena[g.off:g.end:g.end], g.hdr.xid, g.hdr.commandID, g.hdr.tombstone, g.seq); err != nil {
				return err
			}
		}
		group, arena = group[:0], arena[:0]
		return nil
	}
	var cache statusCache
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%cancelCheckEvery == 0 && ctx.Err() != nil {
			return canceled(ctx)
		}
		if !inGroup(it.Key(), prefix) {
			if err := flush(); err != nil {
				return err
			}
			p, _, err := splitVersionKey(it.Key())
			if err != nil {
				return err
			}
			prefix = append(prefix[:0], p...)
		}
		v, err := readVersion(it)
		if err != nil {
			return err
		}
		if cache.lookup(e, v.hdr.xid).state == TxnAborted {
			continue
		}
		off := len(arena)
		arena = append(arena, v.payload...)
		group = append(group, held{seq: v.seq, hdr: v.hdr, off: off, end: len(arena)})
	}
	if err := it.Error(); err != nil {
		return ioError(err, "scan all versions")
	}
	return flush()
}

// Sync makes every write so far durable (WriteVersion and the other
// unsynced writes): call it when an index build has copied its versions,
// before the index is published.
func (e *Engine) Sync() error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if err := e.db.LogData(nil, pebble.Sync); err != nil {
		return ioError(err, "sync")
	}
	return nil
}

// WriteVersion appends a version of key with the given writer and command,
// under a fresh seq, without any conflict check (index builds copy heap
// versions with their xid so that visibility matches). The write is not
// synced: call Sync when done. A version of an xid that later aborts stays
// behind, invisible.
func (e *Engine) WriteVersion(key, value []byte, xid uint64, commandID uint32, tombstone bool) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	prefix, _ := keyBounds(key)
	if tombstone {
		value = nil
	}
	s := e.stripe(key)
	s.Lock()
	defer s.Unlock()
	_, err := e.put(prefix, versionHeader{xid: xid, commandID: commandID, tombstone: tombstone}, value)
	return err
}
