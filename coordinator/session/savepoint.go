package session

import (
	"context"
	"maps"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// invalidSavepointSpecification is SQLSTATE 3B001.
const invalidSavepointSpecification = "3B001"

// savepoint is a SAVEPOINT of a transaction block.
//
// Every statement of a block runs under its own command id (stmtTxn), and
// the datanodes stamp each row version with it. A savepoint records the
// first command id after it; ROLLBACK TO asks every datanode the block
// wrote on to remove the versions the block wrote with a command id from
// there on (storage.Txn.RollbackTo), which restores the rows, index
// entries and row locks as they were at the savepoint. No datanode is
// called at SAVEPOINT or RELEASE.
type savepoint struct {
	name string
	cmd  uint32 // the first command id after the savepoint
	// writers: the groups the block had written on when the savepoint was
	// taken. Those must still have the transaction at ROLLBACK TO; the
	// others may not have it yet (see exec.Executor.RollbackTo).
	writers map[uint32]bool
}

// findSavepoint returns the index of the newest savepoint called name
// (a newer one shadows an older one of the same name), or -1.
func (t *txn) findSavepoint(name string) int {
	for i := len(t.savepoints) - 1; i >= 0; i-- {
		if t.savepoints[i].name == name {
			return i
		}
	}
	return -1
}

func noSavepoint(name string) error {
	return pgerr.New(invalidSavepointSpecification, "savepoint %q does not exist", name)
}

// savepoint runs SAVEPOINT name.
func (s *Session) savepoint(name string) error {
	t := s.txn
	if t == nil {
		return pgerr.New(pgerr.NoActiveSQLTransaction, "SAVEPOINT can only be used in transaction blocks")
	}
	t.savepoints = append(t.savepoints, savepoint{name: name, cmd: t.cmd + 1, writers: maps.Clone(t.writers)})
	return nil
}

// releaseSavepoint runs RELEASE [SAVEPOINT] name: it destroys the
// savepoint and every later one, keeping their writes.
func (s *Session) releaseSavepoint(name string) error {
	t := s.txn
	if t == nil {
		return pgerr.New(pgerr.NoActiveSQLTransaction, "RELEASE SAVEPOINT can only be used in transaction blocks")
	}
	i := t.findSavepoint(name)
	if i < 0 {
		return noSavepoint(name)
	}
	t.savepoints = t.savepoints[:i]
	return nil
}

// rollbackTo runs ROLLBACK TO [SAVEPOINT] name: every write made after
// the savepoint is undone on every datanode the block wrote on, later
// savepoints are destroyed, the savepoint stays, and a failed block is
// usable again. If a datanode cannot undo (unreachable, or it lost the
// transaction), the block stays failed (or becomes so) with the savepoint
// and those before it: ROLLBACK TO can be tried again (it is idempotent),
// ROLLBACK ends the block. The later savepoints are gone either way, as
// some datanodes may already have undone the writes made after them.
func (s *Session) rollbackTo(ctx context.Context, name string) error {
	t := s.txn
	if t == nil {
		return pgerr.New(pgerr.NoActiveSQLTransaction, "ROLLBACK TO SAVEPOINT can only be used in transaction blocks")
	}
	i := t.findSavepoint(name)
	if i < 0 {
		return noSavepoint(name)
	}
	sp := t.savepoints[i]
	t.savepoints = t.savepoints[:i+1]
	if t.gxid != 0 && len(t.writers) > 0 {
		snap := s.e.routes.Current()
		err := parallel(s.writerGroups(), func(g uint32) error {
			c, err := s.e.dn(snap, g)
			if err != nil {
				return err
			}
			_, err = c.RollbackTo(ctx, &meridianpb.RollbackToRequest{
				Gxid: t.gxid, FromCommandId: sp.cmd, ThroughCommandId: t.cmd, MustExist: sp.writers[g]})
			return pgerr.FromStatus(err)
		})
		if err != nil {
			return errTimeout(ctx, err)
		}
	}
	t.failed = false
	return nil
}
