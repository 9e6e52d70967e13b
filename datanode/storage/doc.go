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
//	"a"      61 00 01 ^4    older version of "a"             bit 1: an update of no unique key
//	"a\x00"  61 00 FF 00 01 ^7
//	"ab"     61 62 00 01 ^8
//
//	00 00 01 "seq" / "xid"   counters' high-water marks
//	00 00 01 "fmt"           format of the values stored (Config.Format)
//	00 00 02 xid (8 B)       transaction record: state, gxid, CSN
//	00 00 03 xid (8 B) key   row lock of a prepared transaction: mode
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
// transactions that were in progress. Open loads all records into memory;
// the cleaner (clean.go) freezes old versions and prunes their xids.
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
// A row is locked in one of two ways, and a lock is never a version, so
// readers, snapshots and uniqueness checks do not see it:
//
//   - by its writer: the newest version of a key, while its writer is live,
//     is that writer's lock (PostgreSQL's xmax idea), as FOR UPDATE, or as
//     FOR NO KEY UPDATE when the version has the no-key flag (an UPDATE
//     that changed no unique key);
//   - in the row lock table: SELECT ... FOR UPDATE / FOR NO KEY UPDATE /
//     FOR SHARE / FOR KEY SHARE (Txn.Lock) record (transaction, mode,
//     command) under the key, in memory, striped like the key mutexes.
//
// The table:
//
//	stripe(key) ──> lockEntry{ held: [(txn, mode, cmd)...],  queue: [req...],  changed }
//	                           granted locks                 waiting requests,
//	                                                         oldest first
//
// Modes conflict as PostgreSQL's (KEY SHARE–UPDATE; SHARE–NO KEY UPDATE,
// UPDATE; NO KEY UPDATE and UPDATE with themselves and each other). A
// writer (Txn.Write, Txn.UpdateNoKey) or locker (Txn.Lock) takes the
// key's stripe mutex for its check-and-act only and is blocked by a
// conflicting held lock, by a live writer of the newest version (a writer
// by any; a locker by a conflicting one), or — once it has had to wait —
// by a conflicting request queued ahead of it, so waiters get the row in
// turn as in PostgreSQL's tuple lock queue. A fresh request compatible
// with the holders is granted at once. Inserts ignore row locks (a
// uniqueness check does not wait for lockers).
//
// A locker that finds a newer committed version than it read locks and
// returns it under READ COMMITTED (the caller re-checks its WHERE clause,
// PostgreSQL's EvalPlanQual) and fails with ErrWriteConflict under
// REPEATABLE READ; a deleted row is not locked. A writer in that case
// keeps the row locked and reports ErrWriteConflict, so its re-read and
// retry keep their turn.
//
// Locks are released when the transaction commits or aborts, and those
// taken from a command on by RollbackTo. A durable Prepare writes one
// record per locked key (00 00 03, in the prepare record's synced batch)
// and Open loads them back for the prepared transactions, so a prepared
// transaction holds its row locks across restarts, as in PostgreSQL; its
// commit or abort deletes them in the same batch as its record. An
// in-progress transaction's locks vanish with it in a restart, as it
// does. Limit: the table lives in memory, so a transaction that locks
// millions of rows costs memory in proportion (PostgreSQL keeps row locks
// in the rows).
//
// # Waits and deadlocks
//
// A blocked writer or locker waits outside the mutex for the blocker to
// end, for the key's locks to change, or for a savepoint rollback
// anywhere (then it looks again), bounded by its context (statement
// timeout, cancel: 57014), by WaitOptions.LockTimeout from the first wait
// of the acquisition (lock_timeout: 55P03), and by deadlock detection.
// NOWAIT and SKIP LOCKED do not wait (ErrLockNotAvailable,
// ErrSkipLocked). Each wait is registered with an id while it lasts (the
// same wait while the blocker stays the same): WaitEdges lists them as
// waiter → holder edges with their age and deadlock_timeout for the global
// detector (cm/deadlock), and BreakWait fails one with its verdict.
//
// As in PostgreSQL, a waiter whose deadlock_timeout expires checks once
// whether it closes a cycle of waits on this datanode and, if so, fails
// with 40P01; the cycle is accepted only if a second walk finds the same
// waits, so waits seen at different moments cannot make a phantom one.
// Cycles through several datanodes are the global detector's.
//
// # Cleaning
//
// Clean (clean.go) removes the versions no snapshot at or above a horizon
// can see (older than the newest version committed below it, aborted
// ones, tombstones below it), freezes the newest one below it (its writer
// becomes frozenXID, committed before every snapshot), and after a full
// pass prunes the committed-xid table of the xids no kept version names.
// LocalSnapshot is the snapshot of a read that took none from the GTM.
//
// # Point reads
//
// The comparer (mvccComparer) splits a key at the end of its version
// group's prefix, and every level has a bloom filter over those prefixes,
// so a point read (SeekPrefixGE) skips the sstables without the key.
package storage
