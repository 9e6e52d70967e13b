package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Named errors of the storage engine. Test them with errors.Is; the
// SQLSTATE, where the engine knows it, is attached where the error is made.
var (
	// ErrWriteConflict: the newest version of the key is not the one the
	// writer read (a concurrent transaction committed a change). The caller
	// re-reads under READ COMMITTED or fails with SerializationFailure under
	// REPEATABLE READ. It carries no SQLSTATE of its own.
	ErrWriteConflict = errors.New("storage: write conflict: the row was changed by a concurrent transaction")
	// ErrKeyExists: Insert found a live newest version (committed or the
	// transaction's own). The caller turns it into 23505 with the
	// constraint's name.
	ErrKeyExists = errors.New("storage: key exists")
	// ErrDeadlock: a wait is part of a cycle of transactions that wait
	// for each other, and was chosen to give up (by the local check at
	// deadlock_timeout, or by the global detector). Returned wrapped with
	// SQLSTATE 40P01.
	ErrDeadlock = errors.New("storage: deadlock detected")
	// ErrLockNotAvailable: Lock with WaitNoWait met a conflicting lock.
	// The caller reports 55P03 naming the relation.
	ErrLockNotAvailable = errors.New("storage: could not obtain lock on row")
	// ErrSkipLocked: Lock with WaitSkip met a conflicting lock; the caller
	// skips the row.
	ErrSkipLocked = errors.New("storage: row is locked")
	// ErrLockTimeout: a wait for a row lock lasted longer than the
	// statement's lock_timeout. Returned wrapped with SQLSTATE 55P03.
	ErrLockTimeout = errors.New("storage: lock timeout")
	// ErrTxnNotActive: the operation is not allowed in the transaction's
	// state (a write after Prepare, a Commit of an unprepared transaction,
	// any use after commit or abort).
	ErrTxnNotActive = errors.New("storage: transaction state does not allow this operation")
	// ErrClosed: the engine is closed or closing. Returned wrapped with
	// SQLSTATE 57P01.
	ErrClosed = errors.New("storage: engine closed")
	// ErrCorrupt: a stored key or value does not decode. Returned wrapped
	// with SQLSTATE XX000.
	ErrCorrupt = errors.New("storage: corrupt data")
)

// SerializationFailure wraps err (normally ErrWriteConflict) as the
// SQLSTATE 40001 error PostgreSQL reports when a REPEATABLE READ
// transaction tries to change a row that a concurrent transaction changed.
func SerializationFailure(err error) *pgerr.Error {
	e := pgerr.Wrap(err, pgerr.SerializationFailure, "")
	e.Message = "could not serialize access due to concurrent update"
	return e
}

func canceled(ctx context.Context) error {
	err := context.Cause(ctx)
	if err == nil {
		err = context.Canceled
	}
	msg := "canceling statement due to user request"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg = "canceling statement due to statement timeout"
	}
	e := pgerr.Wrap(err, pgerr.QueryCanceled, "")
	e.Message = msg
	return e
}

func errClosed() error {
	return pgerr.Wrap(ErrClosed, pgerr.AdminShutdown, "")
}

func ioError(err error, format string, args ...any) error {
	return pgerr.Wrap(err, pgerr.IOError, "storage: "+format, args...)
}

func corrupt(format string, args ...any) error {
	return pgerr.Wrap(ErrCorrupt, pgerr.InternalError, format, args...)
}

func errLockTimeout() error {
	e := pgerr.Wrap(ErrLockTimeout, pgerr.LockNotAvailable, "")
	e.Message = "canceling statement due to lock timeout"
	return e
}

func notActive(t *Txn, op string) error {
	return fmt.Errorf("%s: transaction %d (global %d) is %s: %w", op, t.xid, t.gxid, t.State(), ErrTxnNotActive)
}
