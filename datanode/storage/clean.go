package storage

import (
	"bytes"
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The old versions cleaner (VACUUM).
//
// The caller passes a horizon H: no snapshot in use, nor any snapshot taken
// from now on, is below H (the cluster's oldest snapshot, see
// internal/horizon; a datanode-local snapshot is never below the horizon
// either, see LocalSnapshot). For each key, versions newest first:
//
//	V0 = the newest version committed with CSN < H: every snapshot >= H
//	     sees V0 or a newer version, never one older than V0
//
//	version                                       action
//	aborted (anywhere)                            removed: no snapshot sees it
//	newer than V0, live or committed at >= H      kept
//	V0, a row                                     kept, frozen (writer xid := frozenXID)
//	V0, a tombstone                               removed: every snapshot >= H sees no row
//	older than V0, committed or aborted           removed
//	older than V0, live (prepared, in progress)   kept (cannot happen: writers queue)
//
// A frozen version reads as committed before every snapshot, so its
// writer's entry in the committed-xid table is no longer needed. After a
// pass over all the data, Clean prunes from that table (and deletes the
// durable record of) every xid committed below H that no version kept
// unfrozen still names. Three things make that safe:
//
//   - a transaction that commits with a CSN below H wrote all its versions
//     before it asked for the CSN, hence before the pass began (H is at
//     most the GTM's snapshot when H was computed): the pass saw them all;
//   - an index build copies versions with their writers' xids
//     (ScanAllVersions + WriteVersion), possibly behind the pass: a pass
//     that overlapped a copy prunes nothing;
//   - an iterator opened before a version was frozen still reads the old
//     xid: pruning waits until every read that started before the last
//     freeze has ended (readEpochs).
//
// The outcome of a transaction this datanode was the primary of (two-phase
// commit) may still be asked for by a participant (TxnStatus), so its
// record is rewritten as an outcome-only record instead of deleted.
//
// TRUNCATE and DROP (DeleteRange) exclude the cleaner (cleanMu), so that a
// freeze cannot bring back a key they removed.

// frozenXID is the writer of a frozen version: committed before every
// snapshot. Local xids start at 1.
const frozenXID uint64 = 0

// cleanChunk is how many keys one batch of the cleaner covers; the
// cleaner re-reads with a fresh iterator for each.
const cleanChunk = 512

// Span is a range of logical keys [Start, End); a nil End has no upper
// bound.
type Span struct {
	Start, End []byte
}

// CleanOptions says what a Clean does.
type CleanOptions struct {
	// Horizon: no snapshot in use or to come is below it.
	Horizon uint64
	// Spans to clean; none: all the data, after which the committed-xid
	// table is pruned.
	Spans []Span
	// FreezeAll freezes every version committed below the horizon (VACUUM);
	// otherwise only those of xids older than Config.FreezeMinAge xids, so
	// that a background pass does not rewrite data that was just written.
	FreezeAll bool
}

// CleanStats tells what a Clean did.
type CleanStats struct {
	Keys       int64 // logical keys looked at
	Removed    int64 // versions removed
	Frozen     int64 // versions frozen
	PrunedXids int64 // committed xids dropped from memory (full passes only)
}

// Clean removes the versions no snapshot at or above o.Horizon can see,
// and freezes the versions every such snapshot sees (see CleanOptions). It
// returns when done, or with ctx's error. One Clean runs at a time.
func (e *Engine) Clean(ctx context.Context, o CleanOptions) (CleanStats, error) {
	horizon, spans := o.Horizon, o.Spans
	var st CleanStats
	if err := e.enter(); err != nil {
		return st, err
	}
	defer e.exit()
	e.cleanRun.Lock()
	defer e.cleanRun.Unlock()
	full := len(spans) == 0
	if full {
		spans = []Span{{Start: nil, End: nil}}
	}
	c := &cleaner{e: e, h: horizon, st: &st, freezeBelow: math.MaxUint64}
	if last := e.xids.last(); !o.FreezeAll {
		c.freezeBelow = 0
		if last > e.cfg.FreezeMinAge {
			c.freezeBelow = last - e.cfg.FreezeMinAge
		}
	}
	if full {
		c.refs = map[uint64]struct{}{}
		c.copies = e.copies.Load()
	}
	for _, sp := range spans {
		lo, hi := dataLowest, []byte(nil)
		if sp.Start != nil {
			lo, hi = rangeBounds(sp.Start, sp.End)
		} else if sp.End != nil {
			_, hi = rangeBounds(nil, sp.End)
		}
		if err := c.span(ctx, lo, hi); err != nil {
			return st, err
		}
	}
	e.metrics.CleanedVersions.Add(float64(st.Removed))
	e.metrics.FrozenVersions.Add(float64(st.Frozen))
	if !full {
		return st, nil
	}
	n, err := e.pruneXids(ctx, horizon, c.refs, c.copies)
	st.PrunedXids = n
	return st, err
}

type cleaner struct {
	e           *Engine
	h           uint64
	freezeBelow uint64 // freeze the versions of xids below it
	st          *CleanStats
	refs        map[uint64]struct{} // xids named by versions kept unfrozen (full passes)
	copies      uint64              // e.copies when the pass began
	val         []byte
}

// span cleans physical range [lo, hi) chunk by chunk.
func (c *cleaner) span(ctx context.Context, lo, hi []byte) error {
	resume := lo
	for resume != nil {
		if ctx.Err() != nil {
			return canceled(ctx)
		}
		next, err := c.chunk(resume, hi)
		if err != nil {
			return err
		}
		resume = next
	}
	return nil
}

// chunk cleans up to cleanChunk keys from lo and returns where to go on
// (nil: done).
func (c *cleaner) chunk(lo, hi []byte) ([]byte, error) {
	e := c.e
	e.cleanMu.RLock()
	defer e.cleanMu.RUnlock()
	it, err := e.newIter(lo, hi)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	b := e.db.NewBatch()
	defer b.Close()
	var (
		prefix []byte
		group  []version
		keys   [][]byte
		next   []byte
		n      int
	)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		c.st.Keys++
		err := c.key(b, prefix, group, keys)
		group, keys = group[:0], keys[:0]
		return err
	}
	ok := it.First()
	for ; ok; ok = it.Next() {
		if !inGroup(it.Key(), prefix) {
			if err := flush(); err != nil {
				return nil, err
			}
			if n++; n > cleanChunk {
				next = bytes.Clone(it.Key())
				break
			}
			p, _, err := splitVersionKey(it.Key())
			if err != nil {
				return nil, err
			}
			prefix = append(prefix[:0], p...)
		}
		v, err := readVersion(it)
		if err != nil {
			return nil, err
		}
		if len(group) == 0 && v.hdr.xid == frozenXID && !v.hdr.tombstone {
			// A frozen row heading its key stays as it is (it is V0:
			// the rules only remove the versions after it), so neither
			// its key nor its value is copied — most keys of a pass.
			group = append(group, version{seq: v.seq, hdr: v.hdr})
			keys = append(keys, nil)
			continue
		}
		v.payload = bytes.Clone(v.payload)
		group = append(group, v)
		keys = append(keys, bytes.Clone(it.Key()))
	}
	if err := it.Error(); err != nil {
		return nil, ioError(err, "clean")
	}
	if next == nil {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if !b.Empty() {
		if err := b.Commit(pebble.NoSync); err != nil {
			return nil, ioError(err, "clean")
		}
	}
	return next, nil
}

// key applies the rules to the versions of one key, newest first.
func (c *cleaner) key(b *pebble.Batch, prefix []byte, group []version, keys [][]byte) error {
	e := c.e
	var cache statusCache
	below := false // V0 seen
	for i, v := range group {
		st := cache.lookup(e, v.hdr.xid)
		live := st.state == TxnInProgress || st.state == TxnPrepared || st.state == TxnCommitting
		switch {
		case st.state == TxnAborted:
			_ = b.Delete(keys[i], nil)
			c.st.Removed++
		case below:
			if live {
				c.ref(v.hdr.xid)
				continue
			}
			_ = b.Delete(keys[i], nil)
			c.st.Removed++
		case st.state == TxnCommitted && st.csn < c.h:
			below = true
			switch {
			case v.hdr.tombstone:
				_ = b.Delete(keys[i], nil)
				c.st.Removed++
			case v.hdr.xid != frozenXID && v.hdr.xid >= c.freezeBelow:
				c.ref(v.hdr.xid) // too young to freeze: keep its xid
			case v.hdr.xid != frozenXID:
				h := v.hdr
				h.xid, h.commandID = frozenXID, 0
				c.val = appendValue(c.val[:0], h, v.payload)
				_ = b.Set(keys[i], c.val, nil)
				c.st.Frozen++
			}
		default: // newer than V0: live, or committed at or above the horizon
			c.ref(v.hdr.xid)
		}
	}
	return nil
}

func (c *cleaner) ref(xid uint64) {
	if c.refs != nil && xid != frozenXID {
		c.refs[xid] = struct{}{}
	}
}

// pruneXids drops from the committed-xid table the xids committed below
// horizon that no kept version names, after a full pass, unless an index
// build copied versions meanwhile.
func (e *Engine) pruneXids(ctx context.Context, horizon uint64, refs map[uint64]struct{}, copies uint64) (int64, error) {
	if e.copying.Load() != 0 || e.copies.Load() != copies {
		return 0, nil // a copy overlapped the pass: try next time
	}
	// Reads that began before the freezes may still hold iterators that
	// show the old xids: let them finish.
	if err := e.readers.wait(ctx); err != nil {
		return 0, canceled(ctx)
	}
	if e.copying.Load() != 0 || e.copies.Load() != copies {
		return 0, nil
	}
	gone := e.xidTab.prunable(horizon, refs)
	if len(gone) == 0 {
		return 0, nil
	}
	b := e.db.NewBatch()
	defer b.Close()
	var outcomesGone []uint64
	for _, x := range gone {
		key := xidRecordKey(x.xid)
		v, closer, err := e.db.Get(key)
		if err == pebble.ErrNotFound {
			continue
		}
		if err != nil {
			return 0, ioError(err, "read transaction record %d", x.xid)
		}
		_, rec, derr := decodeXidRecord(key, v)
		_ = closer.Close()
		if derr != nil {
			return 0, derr
		}
		if rec.state == TxnCommitted && rec.primary != 0 {
			rec.state = txnOutcomeOnly
			_ = b.Set(key, rec.encode(), nil)
			continue
		}
		_ = b.Delete(key, nil)
		outcomesGone = append(outcomesGone, rec.gxid)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, ioError(err, "prune transaction records")
	}
	e.xidTab.drop(gone)
	e.gmu.Lock()
	for _, g := range outcomesGone {
		delete(e.outcomes, g)
	}
	e.gmu.Unlock()
	e.metrics.PrunedXids.Add(float64(len(gone)))
	return int64(len(gone)), nil
}

// readEpochs lets the cleaner wait until every read that started before a
// point has ended (an epoch-based grace period): reads count themselves
// in the counter of the epoch they started in.
type readEpochs struct {
	epoch atomic.Uint64
	n     [2]atomic.Int64
}

// enter registers a read and returns its epoch, for exit.
func (r *readEpochs) enter() uint64 {
	for {
		ep := r.epoch.Load()
		r.n[ep&1].Add(1)
		if r.epoch.Load() == ep {
			return ep
		}
		r.n[ep&1].Add(-1)
	}
}

func (r *readEpochs) exit(ep uint64) { r.n[ep&1].Add(-1) }

// wait starts a new epoch and waits until the reads of the previous one
// have ended. One caller at a time (the cleaner holds cleanRun).
func (r *readEpochs) wait(ctx context.Context) error {
	old := r.epoch.Add(1) - 1
	for r.n[old&1].Load() != 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// VersionsWritten counts the row versions written since Open (the
// cleaner's schedule).
func (e *Engine) VersionsWritten() uint64 { return e.written.Load() }

// LocalSnapshot returns a snapshot CSN for a read that touches only this
// datanode and took no snapshot from the GTM: the larger of floor (a CSN
// at most the GTM's snapshot at some moment before the read began; 0 if
// none) and one above the largest commit CSN published here. It is
// consistent: a transaction this datanode saw commit is visible; one seen
// prepared or committing is waited for and decided by its CSN; one seen in
// progress gets its CSN from the GTM later, above every CSN handed out
// before, so at or above the snapshot: it stays invisible at every key.
func (e *Engine) LocalSnapshot(floor uint64) uint64 {
	return max(e.maxCommitted.Load()+1, floor)
}

// noteCommitted raises the largest commit CSN published here; called
// before the commit becomes visible in the xid table.
func (e *Engine) noteCommitted(csn uint64) {
	for {
		cur := e.maxCommitted.Load()
		if csn <= cur || e.maxCommitted.CompareAndSwap(cur, csn) {
			return
		}
	}
}

// xidCSN is a committed xid and its CSN.
type xidCSN struct{ xid, csn uint64 }

// prunable lists the committed xids with a CSN below horizon that refs
// does not name.
func (x *xidTable) prunable(horizon uint64, refs map[uint64]struct{}) []xidCSN {
	var out []xidCSN
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		for xid, csn := range s.committed {
			if _, ok := refs[xid]; !ok && csn < horizon {
				out = append(out, xidCSN{xid, csn})
			}
		}
		s.mu.RUnlock()
	}
	return out
}

// drop removes committed xids from the table.
func (x *xidTable) drop(xs []xidCSN) {
	for _, c := range xs {
		s := x.shard(c.xid)
		s.mu.Lock()
		delete(s.committed, c.xid)
		s.mu.Unlock()
	}
}

// Compact rewrites the sstables that hold the spans' keys (none: all the
// data) into the bottom level of the LSM tree, and returns when done
// (VACUUM FULL). A seek then searches one sorted run instead of one per
// level it finds files in — after a bulk load, TPC-H's index lookups
// are about 15% faster — and the space of versions the cleaner removed
// is returned now rather than when Pebble's own compactions reach it.
func (e *Engine) Compact(ctx context.Context, spans []Span) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if len(spans) == 0 {
		spans = []Span{{}}
	}
	for _, sp := range spans {
		lo, hi := dataLowest, []byte(nil)
		if sp.Start != nil {
			lo, _ = rangeBounds(sp.Start, nil)
		}
		if sp.End != nil {
			_, hi = rangeBounds(nil, sp.End)
		} else {
			// Pebble compacts the files overlapping [lo, hi]: the last key
			// bounds the data.
			it, err := e.newIter(lo, nil)
			if err != nil {
				return err
			}
			if it.Last() {
				hi = append(hi, it.Key()...)
			}
			err = it.Close()
			if err != nil {
				return ioError(err, "compact")
			}
		}
		if hi == nil || mvccComparer.Compare(lo, hi) >= 0 {
			continue
		}
		if err := e.db.Compact(ctx, lo, hi, true); err != nil {
			if ctx.Err() != nil {
				return canceled(ctx)
			}
			return ioError(err, "compact")
		}
	}
	return nil
}
