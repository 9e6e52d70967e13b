package exec

import (
	"bytes"
	"context"
	"errors"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// DDL applies a physical schema change.
func (x *Executor) DDL(ctx context.Context, req *meridianpb.DDLRequest) error {
	switch op := req.Op.(type) {
	case *meridianpb.DDLRequest_ClearTable:
		p := codec.RowKeyPrefix(op.ClearTable.Id)
		if err := x.st.DeleteRange(p, codec.PrefixEnd(p)); err != nil {
			return err
		}
		for _, ix := range op.ClearTable.Indexes {
			p := codec.IndexPrefix(ix.Id)
			if err := x.st.DeleteRange(p, codec.PrefixEnd(p)); err != nil {
				return err
			}
		}
		for _, ix := range op.ClearTable.GlobalIndexes {
			p := codec.GlobalIndexPrefix(ix.Id)
			if err := x.st.DeleteRange(p, codec.PrefixEnd(p)); err != nil {
				return err
			}
		}
		return nil
	case *meridianpb.DDLRequest_DropIndex:
		// Index ids are unique: clear the local and the global key space.
		p := codec.IndexPrefix(op.DropIndex.IndexId)
		if err := x.st.DeleteRange(p, codec.PrefixEnd(p)); err != nil {
			return err
		}
		p = codec.GlobalIndexPrefix(op.DropIndex.IndexId)
		return x.st.DeleteRange(p, codec.PrefixEnd(p))
	case *meridianpb.DDLRequest_BuildIndex:
		return x.buildIndex(ctx, op.BuildIndex)
	}
	return pgerr.New(pgerr.ProtocolViolation, "empty DDL request")
}

var errDup = errors.New("duplicate")

// buildIndex writes an index entry for every version of every row, with
// the row version's own transaction, so the index sees what the table
// sees. A unique index first checks the latest committed rows.
func (x *Executor) buildIndex(ctx context.Context, b *meridianpb.BuildIndex) error {
	ti, err := x.tables.get(b.Table)
	if err != nil {
		return err
	}
	ix := ti.index(b.IndexId)
	if ix == nil {
		return pgerr.New(pgerr.UndefinedObject, "index %d not in table descriptor", b.IndexId)
	}
	p := codec.RowKeyPrefix(ti.desc.Id)
	if ix.Unique {
		seen := map[string]bool{}
		var dupErr error
		err := x.st.Scan(ctx, storage.Snapshot{CSN: ^uint64(0)}, p, codec.PrefixEnd(p), func(_, value []byte, _ uint64) error {
			row, err := ti.decode(value)
			if err != nil {
				return err
			}
			vals := indexVals(ix, row)
			k := string(codec.IndexKey(ix.Id, vals, true, nil))
			for _, v := range vals {
				if v == nil {
					return nil
				}
			}
			if seen[k] {
				dupErr = duplicateInBuild(ti, ix, vals)
				return errDup
			}
			seen[k] = true
			return nil
		})
		if dupErr != nil {
			return dupErr
		}
		if err != nil {
			return err
		}
	}
	// Versions come oldest first per row: mirror each as an index version
	// of the same transaction. A version whose indexed values differ from
	// the previous one's (or a deletion) also ends the previous entry, so
	// the index shows at every snapshot what the table shows.
	var lastRow []byte
	var lastKey []byte
	err = x.st.ScanAllVersions(ctx, p, codec.PrefixEnd(p), func(key, value []byte, xid uint64, cmd uint32, tomb bool, _ uint64) error {
		if !bytes.Equal(key, lastRow) {
			lastRow, lastKey = append(lastRow[:0], key...), nil
		}
		bucket, suffix := rowKeyParts(key)
		var ikey []byte
		if !tomb {
			row, err := ti.decode(value)
			if err != nil {
				return err
			}
			ikey = codec.IndexKey(ix.Id, indexVals(ix, row), ix.Unique, suffix)
		}
		if lastKey != nil && !bytes.Equal(lastKey, ikey) {
			if err := x.st.WriteVersion(lastKey, nil, xid, cmd, true); err != nil {
				return err
			}
		}
		if ikey != nil && !bytes.Equal(lastKey, ikey) {
			if err := x.st.WriteVersion(ikey, codec.IndexValue(bucket, suffix), xid, cmd, false); err != nil {
				return err
			}
		}
		lastKey = ikey
		return nil
	})
	if err != nil {
		return err
	}
	return x.st.Sync()
}

// Prepare, Commit and Abort drive a transaction's outcome on this node.
// primary is the datanode group whose outcome decides the transaction.
// gid, when set, is an explicit PREPARE TRANSACTION's identifier: the
// prepare is durable everywhere and only the user decides the outcome.
func (x *Executor) Prepare(gxid uint64, primary uint32, gid string) error {
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		return pgerr.New(pgerr.SerializationFailure, "transaction %d is no longer active on this datanode", gxid)
	}
	if gid != "" {
		return t.PrepareExplicit(gid)
	}
	if primary == x.Self && x.Self != 0 {
		// The primary is not prepared: it commits as primary once the
		// others are (CommitAsPrimary).
		return pgerr.New(pgerr.ProtocolViolation, "transaction %d: datanode group %d is its primary and is not prepared", gxid, primary)
	}
	return t.PrepareAs(primary)
}

// Commit commits a prepared transaction at csn, or (csn == 0) a one-phase
// transaction with a CSN from the GTM. Committing again at the same CSN is
// a no-op; a transaction that is gone (aborted, or lost in a restart
// before it was prepared) cannot commit: 40001.
func (x *Executor) Commit(ctx context.Context, gxid, csn uint64) (uint64, error) {
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		if st, done := x.st.Outcome(gxid); st == storage.TxnCommitted && (csn == 0 || done == csn) {
			return done, nil
		}
		return 0, pgerr.New(pgerr.SerializationFailure, "transaction %d was aborted before it could commit", gxid)
	}
	if csn == 0 {
		return t.CommitOnePhase(ctx, x.gtm.Commit)
	}
	commit := t.Commit
	if p := t.Primary(); p != 0 && p != x.Self {
		commit = t.CommitLazy
	}
	if err := commit(ctx, csn); err != nil {
		if errors.Is(err, storage.ErrTxnNotActive) {
			return 0, pgerr.Wrap(err, pgerr.SerializationFailure, "transaction %d was aborted before it could commit", gxid)
		}
		return 0, err
	}
	return csn, nil
}

// CommitAsPrimary commits the primary participant of a two-phase
// transaction whose other participants are prepared, with a CSN from the
// GTM taken here (storage.Txn.CommitAsPrimary): the primary needs no
// prepare round trip of its own.
func (x *Executor) CommitAsPrimary(ctx context.Context, gxid uint64, primary uint32) (uint64, error) {
	if primary != x.Self || x.Self == 0 {
		return 0, pgerr.New(pgerr.ProtocolViolation, "transaction %d: commit as primary %d sent to datanode group %d", gxid, primary, x.Self)
	}
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		// Committed already (as Commit, a repeated request succeeds), or
		// gone: aborted, or lost in a restart.
		if st, done := x.st.Outcome(gxid); st == storage.TxnCommitted {
			return done, nil
		}
		return 0, pgerr.New(pgerr.SerializationFailure, "transaction %d was aborted before it could commit", gxid)
	}
	csn, err := t.CommitAsPrimary(ctx, primary, x.gtm.Commit)
	if errors.Is(err, storage.ErrTxnNotActive) {
		return 0, pgerr.Wrap(err, pgerr.SerializationFailure, "transaction %d was aborted before it could commit", gxid)
	}
	return csn, err
}

// CommitDecided commits an explicit PREPARE TRANSACTION at csn, the CSN
// its etcd record holds (COMMITTED). Every participant was marked
// committing before that CSN was taken, and a transaction marked
// committing is never aborted, so when this node no longer knows the
// transaction it committed it earlier — its outcome may since have been
// pruned (only two-phase commit primaries keep outcomes) — and there is
// nothing left to do. Without that, a record whose finisher died after
// some participants committed could never be finished.
func (x *Executor) CommitDecided(ctx context.Context, gxid, csn uint64) error {
	if _, ok := x.st.LookupTxn(gxid); !ok {
		return nil
	}
	if _, err := x.Commit(ctx, gxid, csn); err != nil {
		if st, done := x.st.Outcome(gxid); st == storage.TxnCommitted && done == csn {
			return nil // committed meanwhile
		}
		return err
	}
	return nil
}

// CommitIntent marks an explicitly prepared transaction committing
// (COMMIT PREPARED, before its CSN is taken). A transaction that already
// committed here is fine; one that is gone otherwise cannot commit.
func (x *Executor) CommitIntent(gxid uint64) error {
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		if st, _ := x.st.Outcome(gxid); st == storage.TxnCommitted {
			return nil
		}
		return pgerr.New(pgerr.InternalError, "prepared transaction %d is not prepared on datanode %d", gxid, x.Self)
	}
	if err := t.MarkCommitIntent(); err != nil {
		if errors.Is(err, storage.ErrTxnNotActive) {
			if st, _ := x.st.Outcome(gxid); st == storage.TxnCommitted {
				return nil
			}
			return pgerr.Wrap(err, pgerr.InternalError, "prepared transaction %d cannot be marked committing on datanode %d", gxid, x.Self)
		}
		return err
	}
	return nil
}

// Prepared lists the transactions prepared here.
func (x *Executor) Prepared() []*meridianpb.PreparedTxn {
	var out []*meridianpb.PreparedTxn
	for _, p := range x.st.PreparedTxns() {
		out = append(out, &meridianpb.PreparedTxn{Gxid: p.GXID, Xid: p.XID, Primary: p.Primary,
			PreparedUnixMicros: p.Wall.UnixMicro(), Gid: p.GID, Committing: p.Committing})
	}
	return out
}

// Abort rolls a transaction back; unknown transactions are ignored.
func (x *Executor) Abort(gxid uint64) error {
	t, ok := x.st.LookupTxn(gxid)
	if !ok {
		return nil
	}
	return t.Abort()
}
