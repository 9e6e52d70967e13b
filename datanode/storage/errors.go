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
	// ErrDeadlock: waiting would close a cycle of local transactions that
	// wait for each other. Returned wrapped with SQLSTATE 40P01.
	ErrDeadlock = errors.New("storage: deadlock detected")
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

func deadlock(waiter, holder *Txn) error {
	e := pgerr.Wrap(ErrDeadlock, pgerr.DeadlockDetected, "")
	e.Message = "deadlock detected"
	return e.WithDetail("Transaction %d (global %d) waits for transaction %d (global %d), which waits for it in turn.",
		waiter.xid, waiter.gxid, holder.xid, holder.gxid)
}

func notActive(t *Txn, op string) error {
	return fmt.Errorf("%s: transaction %d (global %d) is %s: %w", op, t.xid, t.gxid, t.State(), ErrTxnNotActive)
}
