package storage

import (
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// RollbackTo undoes what the transaction wrote from command from on: the
// work of the statements after a savepoint (ROLLBACK TO SAVEPOINT).
// Every version it wrote with a command id >= from is deleted, so each
// such key's previous version — committed, or the transaction's own from
// an earlier command — is again the newest: rows, index entries and row
// locks are as they were before command from; the row locks taken by
// SELECT ... FOR UPDATE/SHARE from command from on are released. Writers
// and lockers waiting for a row lock released this way look again.
//
// through is the last command the coordinator has started: writes of
// commands up to it that arrive afterwards are refused, since a statement
// that failed or was canceled on the coordinator may still be running
// here. Later statements use larger command ids.
//
// The deletions are written without a sync: a later Prepare or commit
// record syncs them before it (the WAL is ordered), and a crash before
// that aborts the transaction anyway. RollbackTo is idempotent. It fails
// when the transaction is not in progress, and when it wrote more versions
// than it tracks (maxTrackedKeys): then it can only abort.
func (t *Txn) RollbackTo(from, through uint32) error {
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
	if t.State() != TxnInProgress {
		return notActive(t, "roll back to savepoint")
	}
	if through >= t.minCmd && through < math.MaxUint32 {
		t.minCmd = through + 1
	}
	if err := t.undoVersions(from); err != nil {
		return err
	}
	t.releaseLocks(from)
	return nil
}

// undoVersions deletes the versions t wrote from command from on.
func (t *Txn) undoVersions(from uint32) error {
	e := t.e
	t.kmu.Lock()
	defer t.kmu.Unlock()
	if t.untracked {
		return pgerr.New(pgerr.ProgramLimitExceeded,
			"cannot roll back to savepoint: the transaction wrote more than %d row versions on this datanode", maxTrackedKeys).
			WithHint("Roll back the whole transaction.")
	}
	b := e.db.NewBatch()
	defer b.Close()
	for _, k := range t.keys {
		if k.cmd >= from {
			_ = b.Delete(k.pk, nil)
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return ioError(err, "roll back transaction %d to command %d", t.xid, from)
	}
	kept := t.keys[:0]
	for _, k := range t.keys {
		if k.cmd < from {
			kept = append(kept, k)
		}
	}
	clear(t.keys[len(kept):])
	t.keys = kept
	e.metrics.Undos.Inc()
	e.signalUndo()
	return nil
}

func rolledBack(t *Txn, cmd uint32) error {
	return fmt.Errorf("write: command %d of transaction %d (global %d) was rolled back to a savepoint: %w",
		cmd, t.xid, t.gxid, ErrTxnNotActive)
}
