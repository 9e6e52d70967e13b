package exec

import (
	"errors"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// RollbackTo undoes what global transaction gxid wrote here from command
// from on, and refuses late writes of commands up to through: ROLLBACK TO
// SAVEPOINT (see storage.Txn.RollbackTo).
//
// mustExist says the transaction wrote here before the savepoint. If this
// node no longer has it (it aborted, or a restart lost it), the writes the
// savepoint keeps are gone and the rollback fails with 40001: the
// transaction can only roll back. Otherwise a transaction this node does
// not know is started empty — the statement that would have started it
// failed before it arrived, or is still on its way — with the rolled-back
// commands fenced off, so that the coordinator can keep this node among
// the participants it commits or aborts.
func (x *Executor) RollbackTo(gxid uint64, from, through uint32, mustExist bool) error {
	if gxid == 0 {
		return pgerr.New(pgerr.ProtocolViolation, "rollback to savepoint without a transaction id")
	}
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		if mustExist {
			return pgerr.New(pgerr.SerializationFailure, "transaction %d is no longer active on this datanode", gxid)
		}
		t = x.st.Txn(gxid)
	}
	err := t.RollbackTo(from, through)
	if errors.Is(err, storage.ErrTxnNotActive) {
		return pgerr.Wrap(err, pgerr.SerializationFailure, "transaction %d is no longer active on this datanode", gxid)
	}
	return err
}
