// Package storage is the datanode's MVCC storage engine: multi-version rows
// on Pebble, stamped with local transaction ids whose fate (and commit
// sequence number, CSN, from the GTM) decides which snapshots see them.
//
// The SQL executor above passes opaque logical keys and values (the bucket
// and table are in the key's prefix); this package keeps every version of
// every key, decides visibility, serializes writers on a row, and records
// transaction outcomes durably.
//
// # Layout
//
// A logical key is escaped (0x00 becomes 0x00 0xFF) and terminated by
// 0x00 0x01. Escaped keys are prefix-free and sort like the logical keys,
// so the versions of one key are contiguous; the version's seq, inverted,
// puts the newest first:
//
//	physical key                                       value
//	+-----------------------+---------+-------------+  +--------+-------+-------+---------+
//	| escape(logical key)   | 00 01   | ^seq  (8 B) |  | xid    | cmdID | flags | payload |
//	+-----------------------+---------+-------------+  | 8 B    | 4 B   | 1 B   |         |
//	                                                   +--------+-------+-------+---------+
//	"a"      61 00 01 ^9    newest version of "a"      flags bit 0: tombstone (no row)
//	"a"      61 00 01 ^4    older version of "a"
//	"a\x00"  61 00 FF 00 01 ^7
//	"ab"     61 62 00 01 ^8
//
//	00 00 01 "seq" / "xid"   counters' high-water marks
//	00 00 02 xid (8 B)       transaction record: state, gxid, CSN
//
// No data key starts with 0x00 0x00, so the system keys sort before all
// data and no logical range can reach them. seq is a per-engine counter and
// xid a per-engine transaction counter; both persist a high-water mark a
// window ahead of use (like the GTM's CSN window), so neither repeats
// across restarts.
//
// # Transactions
//
//	              Prepare (sync)          Commit(csn) (sync)
//	in progress ───────────────> prepared ──────────────────> committed@csn
//	     │ │                         │
//	     │ └─ CommitOnePhase ──> committing ── getCSN, record (sync) ──┘
//	     │                           │ (getCSN fails)
//	     └────────── Abort ──────────┴──────────────────────────> aborted
//
// In-progress and committing live only in memory. Prepared and committed
// are durable records; aborted is durable by absence: an xid without a
// record is aborted, which is exactly what a restart must make of the
// transactions that were in progress. Open loads all records into memory
// (limit: the committed map grows until a future cleaner freezes old xids).
// Versions are written without a sync; the synced prepare or commit record
// behind them in the WAL makes them durable. Abort deletes the versions it
// remembers; any it cannot are invisible anyway.
//
// RollbackTo (ROLLBACK TO SAVEPOINT) deletes the versions an in-progress
// transaction wrote from a given command id on, using the same list of
// written keys: each key's previous version is the newest again, which
// restores the row, its index entries and its row lock. It also raises a
// fence below which the transaction's writes are refused (a canceled
// statement may still be running), and wakes the writers waiting for row
// locks so that those it released are taken. The deletions need no sync:
// they precede in the WAL the prepare or commit record that syncs them.
//
// # Visibility
//
// A snapshot is (CSN, own transaction, command id). Versions of a key are
// read newest first; the first visible one is the row (a tombstone: no
// row). Version v written by xid X is visible when
//
//	X is the snapshot's own txn   v.commandID < snapshot.CommandID
//	X committed at c              c < snapshot.CSN   (Latest = MaxUint64 sees all)
//	X in progress / aborted       never
//	X prepared / committing       wait until X ends, then decide again
//
// Waiting on prepared and committing writers is what makes CSN snapshots
// safe: a transaction marks itself committing before it asks the GTM for
// its CSN, so a reader that saw it "in progress" took its snapshot before
// that CSN existed, and one that meets it later waits for the number.
//
// # Writes and row locks
//
// There is no lock table beyond the data: the newest version of a key is
// its row lock, as PostgreSQL's xmax. A writer (Txn.Write, Txn.Insert)
// takes a striped mutex for the key's check-and-append only, looks at the
// newest non-aborted version and either waits for its live writer (outside
// the mutex, ctx-cancellable, with local deadlock detection), writes, or
// reports ErrWriteConflict (the row changed since readSeq) or ErrKeyExists.
//
// # Not here yet
//
// Old versions are never garbage-collected (no vacuum); transaction records
// are never frozen; Pebble uses the default comparer, so bloom filters do
// not help point lookups of a key's versions (a comparer with a Split at
// the terminator would); deadlocks across datanodes are left to statement
// timeouts.
package storage
