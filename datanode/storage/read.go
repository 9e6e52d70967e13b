package storage

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

const (
	// cancelCheckEvery: Scan checks its ctx every this many keys.
	cancelCheckEvery = 256
)

func (e *Engine) newIter(lo, hi []byte) (*pebble.Iterator, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, ioError(err, "new iterator")
	}
	return it, nil
}

// keyBounds returns the version-group prefix of logical key k and its end,
// sharing one allocation.
func keyBounds(k []byte) (prefix, end []byte) {
	buf := make([]byte, 0, 2*(len(k)+2)+seqLen)
	prefix = appendPrefix(buf, k)
	end = prefixEnd(prefix[len(prefix):], prefix)
	return prefix, end
}

// version is the decoded entry under a positioned iterator.
type version struct {
	seq     uint64
	hdr     versionHeader
	payload []byte // valid while the iterator stays put
}

func readVersion(it *pebble.Iterator) (version, error) {
	_, seq, err := splitVersionKey(it.Key())
	if err != nil {
		return version{}, err
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return version{}, ioError(err, "read %s", formatKey(it.Key()))
	}
	h, payload, err := decodeValue(v)
	if err != nil {
		return version{}, err
	}
	return version{seq: seq, hdr: h, payload: payload}, nil
}

// Get returns the value of logical key key in snapshot snap: the first
// visible version, newest first; found is false when there is none or it is
// a tombstone. seq identifies the version (pass it to Write as readSeq); it
// is 0 when found is false. The value is the caller's to keep.
// It waits on prepared and committing writers of versions it meets.
func (e *Engine) Get(ctx context.Context, snap Snapshot, key []byte) (value []byte, seq uint64, found bool, err error) {
	if err := e.enter(); err != nil {
		return nil, 0, false, err
	}
	defer e.exit()
	defer e.readers.exit(e.readers.enter())
	e.metrics.Reads.Inc()
	prefix, end := keyBounds(key)
	it, err := e.newIter(prefix, end)
	if err != nil {
		return nil, 0, false, err
	}
	defer it.Close()
	return e.get(ctx, it, snap, prefix, true)
}

// get is Get over an iterator bounded to the key's versions. It seeks
// by prefix, so that Pebble's bloom filters skip the sstables that hold
// no version of the key.
func (e *Engine) get(ctx context.Context, it *pebble.Iterator, snap Snapshot, prefix []byte, clone bool) (value []byte, seq uint64, found bool, err error) {
	var cache statusCache
	for ok := it.SeekPrefixGE(prefix); ok; ok = it.Next() {
		v, err := readVersion(it)
		if err != nil {
			return nil, 0, false, err
		}
		vis, err := e.isVisible(ctx, &snap, v.hdr, &cache)
		if err != nil {
			return nil, 0, false, err
		}
		if !vis {
			continue
		}
		if v.hdr.tombstone {
			return nil, 0, false, nil
		}
		if clone {
			return bytes.Clone(v.payload), v.seq, true, nil
		}
		return v.payload, v.seq, true, nil
	}
	if err := it.Error(); err != nil {
		return nil, 0, false, ioError(err, "get")
	}
	return nil, 0, false, nil
}

// Scan calls fn for each live row visible to snap with start <= key < end
// (end nil: no upper bound), in key order. key and value are only valid
// during the call; fn may call back into the engine. An error from fn stops
// the scan and is returned as is.
func (e *Engine) Scan(ctx context.Context, snap Snapshot, start, end []byte, fn func(key, value []byte, seq uint64) error) error {
	return e.scanRange(ctx, snap, start, end, true, fn)
}

// ScanValues is Scan for a reader of values only: fn's key is nil (the
// logical keys are not unescaped: 7% of a wide scan's time).
func (e *Engine) ScanValues(ctx context.Context, snap Snapshot, start, end []byte, fn func(key, value []byte, seq uint64) error) error {
	return e.scanRange(ctx, snap, start, end, false, fn)
}

func (e *Engine) scanRange(ctx context.Context, snap Snapshot, start, end []byte, keys bool, fn func(key, value []byte, seq uint64) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	defer e.readers.exit(e.readers.enter())
	e.metrics.Reads.Inc()
	lo, hi := rangeBounds(start, end)
	it, err := e.newIter(lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	return e.scan(ctx, it, snap, nil, nil, keys, fn)
}

// scan is Scan over an iterator bounded to the range (lo nil), or over an
// unbounded one from physical key lo to hi (exclusive). keys: fn is given
// each row's logical key (else nil).
func (e *Engine) scan(ctx context.Context, it *pebble.Iterator, snap Snapshot, lo, hi []byte, keys bool,
	fn func(key, value []byte, seq uint64) error) error {
	var (
		cache  statusCache
		prefix []byte // version-group prefix of the current key, when copied
		lkey   []byte // its logical key
		n      int
	)
	var ok bool
	if lo == nil {
		ok = it.First()
	} else {
		ok = it.SeekGE(lo)
	}
	// within tells whether a positioned iterator is still in the range.
	within := func(ok bool) bool { return ok && (hi == nil || bytes.Compare(it.Key(), hi) < 0) }
	// emit hands a visible version to fn; p is its key's version-group
	// prefix.
	emit := func(p []byte, v version) error {
		if v.hdr.tombstone {
			return nil
		}
		var k []byte
		if keys {
			var err error
			if lkey, err = appendUnescaped(lkey[:0], p); err != nil {
				return err
			}
			k = lkey
		}
		return fn(k, v.payload, v.seq)
	}
	ok = within(ok)
	for ok {
		if n++; n%cancelCheckEvery == 0 && ctx.Err() != nil {
			return canceled(ctx)
		}
		p, _, err := splitVersionKey(it.Key())
		if err != nil {
			return err
		}
		v, err := readVersion(it)
		if err != nil {
			return err
		}
		vis, err := e.isVisible(ctx, &snap, v.hdr, &cache)
		if err != nil {
			return err
		}
		if vis {
			// The common case, the newest version visible: the key is
			// not unescaped unless asked for. The next entry is most
			// often the next key's (one version): Next, and NextPrefix
			// (mvccComparer's ImmediateSuccessor is the prefix's end)
			// only from an older version of this key — Pebble's
			// NextPrefix also checks every level for an error first.
			if err := emit(p, v); err != nil {
				return err
			}
			prefix = append(prefix[:0], p...) // p is the iterator's, valid until it moves
			if ok = within(it.Next()); ok && inGroup(it.Key(), prefix) {
				ok = within(it.NextPrefix())
			}
			continue
		}
		// Find the key's first visible version among the older ones.
		prefix = append(prefix[:0], p...)
		for {
			if ok = within(it.Next()); !ok || !inGroup(it.Key(), prefix) {
				break
			}
			if v, err = readVersion(it); err != nil {
				return err
			}
			if vis, err = e.isVisible(ctx, &snap, v.hdr, &cache); err != nil {
				return err
			}
			if vis {
				if err := emit(prefix, v); err != nil {
					return err
				}
				ok = within(it.NextPrefix())
				break
			}
		}
	}
	if err := it.Error(); err != nil {
		return ioError(err, "scan")
	}
	return nil
}

// inGroup reports whether physical key pk is a version of the key whose
// version-group prefix is prefix (prefixes are prefix-free).
func inGroup(pk, prefix []byte) bool {
	return len(pk) == len(prefix)+seqLen && bytes.HasPrefix(pk, prefix)
}

// newest describes the newest non-aborted version of a key.
type newest struct {
	found   bool
	seq     uint64
	hdr     versionHeader
	payload []byte // copied when asked for
	holder  *Txn   // set instead when that version's writer is another live transaction
}

// newestVersion finds the newest version of the key with prefix/end that
// was not written by an aborted transaction. self is the asking
// transaction (its own versions are never waited on).
func (e *Engine) newestVersion(prefix, end []byte, self *Txn, wantValue bool) (newest, error) {
	defer e.readers.exit(e.readers.enter())
	it, err := e.newIter(prefix, end)
	if err != nil {
		return newest{}, err
	}
	defer it.Close()
	// A prefix seek: bloom filters skip the sstables without the key.
	for ok := it.SeekPrefixGE(prefix); ok; ok = it.Next() {
		v, err := readVersion(it)
		if err != nil {
			return newest{}, err
		}
		if self == nil || v.hdr.xid != self.xid {
			st := e.xidTab.lookup(v.hdr.xid)
			switch st.state {
			case TxnAborted:
				continue
			case TxnInProgress, TxnPrepared, TxnCommitting:
				return newest{holder: st.txn}, nil
			}
		}
		n := newest{found: true, seq: v.seq, hdr: v.hdr}
		if wantValue {
			n.payload = bytes.Clone(v.payload)
		}
		return n, nil
	}
	if err := it.Error(); err != nil {
		return newest{}, ioError(err, "read latest version")
	}
	return newest{}, nil
}

// GetLatest returns the newest version of key that is committed or txn's
// own (any command), skipping aborted ones: the row as an updater sees it
// (READ COMMITTED re-checks). It waits on prepared and committing writers
// and, like Write, on other in-progress writers of the key. found is false
// when there is no such version or it is a tombstone. txn may be nil.
func (e *Engine) GetLatest(ctx context.Context, key []byte, txn *Txn) (value []byte, seq uint64, found bool, err error) {
	if err := e.enter(); err != nil {
		return nil, 0, false, err
	}
	defer e.exit()
	e.metrics.Reads.Inc()
	prefix, end := keyBounds(key)
	var ws waitState
	defer ws.done(e)
	for {
		undo := e.undoSignal()
		n, err := e.newestVersion(prefix, end, txn, true)
		if err != nil {
			return nil, 0, false, err
		}
		if n.holder != nil {
			if txn == nil {
				err = e.waitEnd(ctx, n.holder)
			} else {
				err = e.waitLock(ctx, &ws, txn, n.holder, nil, undo)
			}
			if err != nil {
				return nil, 0, false, err
			}
			continue
		}
		if !n.found || n.hdr.tombstone {
			return nil, 0, false, nil
		}
		return n.payload, n.seq, true, nil
	}
}

// Reader serves many reads of one snapshot (index lookups) through two
// reused Pebble iterators, one for scans and one for point reads (a scan's
// callback may read points), instead of building an iterator per read.
// It is not safe for concurrent use; Close it when done.
type Reader struct {
	e      *Engine
	snap   Snapshot
	scanIt *pebble.Iterator
	getIt  *pebble.Iterator
	getKey []byte // Get's seek key, reused
	lo, hi []byte // Scan's bounds, reused
	closed bool
}

// NewReader returns a reader of snap. The engine counts it as running
// until it is closed.
func (e *Engine) NewReader(snap Snapshot) (*Reader, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	return &Reader{e: e, snap: snap}, nil
}

// Get is Engine.Get in the reader's snapshot. Its iterator has no bounds:
// a prefix seek stays within the key's versions anyway, and without a
// SetBounds between them Pebble serves a seek to a larger key than the
// last by stepping forward (TrySeekUsingNext), which makes the row reads
// of an index lookup — row ids mostly ascending — cheaper.
func (r *Reader) Get(ctx context.Context, key []byte) (value []byte, seq uint64, found bool, err error) {
	return r.get(ctx, key, true)
}

// GetView is Get without the copy of the value, which is valid only until
// the reader's next Get or GetView (its Scan has an iterator of its own,
// so a Scan callback may read the value of a GetView it made).
func (r *Reader) GetView(ctx context.Context, key []byte) (value []byte, seq uint64, found bool, err error) {
	return r.get(ctx, key, false)
}

func (r *Reader) get(ctx context.Context, key []byte, clone bool) (value []byte, seq uint64, found bool, err error) {
	r.e.metrics.Reads.Inc()
	if r.getIt == nil {
		it, err := r.e.newIter(nil, nil)
		if err != nil {
			return nil, 0, false, err
		}
		r.getIt = it
	}
	// SeekPrefixGE keeps a copy of the prefix, so the buffer is reused.
	r.getKey = appendPrefix(r.getKey[:0], key)
	return r.e.get(ctx, r.getIt, r.snap, r.getKey, clone)
}

// Scan is Engine.Scan in the reader's snapshot. Its iterator has no
// bounds either: it seeks to start and stops at end, so that a scan that
// starts in the file or block the last one ended in finds it loaded (an
// index join's lookups come in key order, see sql/exec.IndexJoin).
func (r *Reader) Scan(ctx context.Context, start, end []byte, fn func(key, value []byte, seq uint64) error) error {
	return r.scan(ctx, start, end, true, fn)
}

// ScanValues is Scan for a reader of values only: fn's key is nil.
func (r *Reader) ScanValues(ctx context.Context, start, end []byte, fn func(key, value []byte, seq uint64) error) error {
	return r.scan(ctx, start, end, false, fn)
}

func (r *Reader) scan(ctx context.Context, start, end []byte, keys bool, fn func(key, value []byte, seq uint64) error) error {
	r.e.metrics.Reads.Inc()
	if end == nil {
		return fmt.Errorf("storage: reader scan from %q without an end", start)
	}
	r.lo, r.hi = appendPrefix(r.lo[:0], start), appendPrefix(r.hi[:0], end)
	lo, hi := r.lo, r.hi
	if r.scanIt == nil {
		it, err := r.e.newIter(nil, nil)
		if err != nil {
			return err
		}
		r.scanIt = it
	}
	return r.e.scan(ctx, r.scanIt, r.snap, lo, hi, keys, fn)
}

// Close releases the iterators.
func (r *Reader) Close() {
	if r.closed {
		return
	}
	r.closed = true
	for _, it := range []*pebble.Iterator{r.scanIt, r.getIt} {
		if it != nil {
			_ = it.Close()
		}
	}
	r.e.exit()
}
