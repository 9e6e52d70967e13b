package exec

import (
	"bytes"
	"context"
	"errors"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Global unique indexes (TableDesc.global_indexes) keep their entries in
// the bucket of the index key (codec.GlobalIndexKey), usually on another
// datanode than the row. The datanode that writes a row does not write
// them: it reports the entry changes the row needs (globalOps, returned in
// ExecResponse.index_ops), and the coordinator sends them, in the same
// transaction, to the datanodes that own the entries' buckets, where
// globalIndexWrite applies them with the same MVCC insert (and its wait for
// in-flight writers of the key) that checks local unique indexes.
//
//	coordinator ──Insert/Update/Delete──> row's datanode: rows, local indexes
//	            <── index_ops (insert / delete entry, values, row location)
//	            ──GlobalIndexWrite──────> entry's datanode: deletes, then inserts
//	            ──PREPARE / COMMIT on all of them (two-phase commit)

// globalOps collects the entry changes of one statement.
type globalOps struct {
	ops []*meridianpb.GlobalIndexOp
}

// add records the change of ix's entry for row (nothing when the key
// holds a NULL: such keys have no entry).
func (g *globalOps) add(ix *meridianpb.IndexDesc, row []types.Datum, rowBucket uint32, suffix []byte, del bool) {
	vals := indexVals(ix, row)
	if codec.HasNull(vals) {
		return
	}
	g.ops = append(g.ops, &meridianpb.GlobalIndexOp{IndexId: ix.Id, Values: codec.EncodeRow(nil, vals),
		Bucket: codec.Bucket(vals), RowBucket: rowBucket, RowSuffix: suffix, Delete: del})
}

// inserted records the entries of a new row.
func (g *globalOps) inserted(ti *tableInfo, row []types.Datum, bucket uint32, suffix []byte) {
	for _, ix := range ti.global {
		g.add(ix, row, bucket, suffix, false)
	}
}

// updated records the entries an update changes: those whose key
// changed, or all of them when the row moved to a new key (from suffix
// to newSuffix: a clustered table's cluster columns changed).
func (g *globalOps) updated(ti *tableInfo, old, cur []types.Datum, bucket uint32, suffix, newSuffix []byte) {
	moved := !bytes.Equal(suffix, newSuffix)
	for _, ix := range ti.global {
		if !moved && sameIndexKey(ix, old, cur) {
			continue
		}
		g.add(ix, old, bucket, suffix, true)
		g.add(ix, cur, bucket, newSuffix, false)
	}
}

// deleted records the entries of a deleted row.
func (g *globalOps) deleted(ti *tableInfo, row []types.Datum, bucket uint32, suffix []byte) {
	for _, ix := range ti.global {
		g.add(ix, row, bucket, suffix, true)
	}
}

// globalIndexWrite applies entry changes whose buckets this datanode
// owns: every delete first, then the inserts, so that a statement that
// moves keys between its rows (UPDATE t SET k = k + 1) checks uniqueness
// against its final state.
func (x *Executor) globalIndexWrite(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, spec *meridianpb.GlobalIndexWrite) (int64, error) {
	if err := needTxn(txn); err != nil {
		return 0, err
	}
	ti, err := x.tables.get(spec.Table)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, pass := range []bool{true, false} {
		for _, op := range spec.Ops {
			if op.Delete != pass {
				continue
			}
			ix, vals, key, err := ti.globalEntry(op)
			if err != nil {
				return n, err
			}
			if op.Delete {
				err = x.removeGlobalEntry(ctx, txn, tc, key, op)
			} else {
				err = x.insertGlobalEntry(ctx, txn, tc, ti, ix, vals, key, op, spec.Build)
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// globalEntry checks an op against the table and returns its index, its
// values and the entry's key.
func (ti *tableInfo) globalEntry(op *meridianpb.GlobalIndexOp) (*meridianpb.IndexDesc, []types.Datum, []byte, error) {
	var ix *meridianpb.IndexDesc
	for _, g := range ti.global {
		if g.Id == op.IndexId {
			ix = g
		}
	}
	if ix == nil {
		return nil, nil, nil, pgerr.New(pgerr.UndefinedObject, "global index %d of table %s does not exist", op.IndexId, ti.desc.Name)
	}
	oids := make([]uint32, len(ix.Columns))
	for i, c := range ix.Columns {
		oids[i] = ti.oids[c]
	}
	vals, err := codec.DecodeRow(oids, nil, op.Values)
	if err != nil || codec.HasNull(vals) {
		return nil, nil, nil, pgerr.New(pgerr.ProtocolViolation, "global index %s: bad entry values", ix.Name)
	}
	key, bucket := codec.GlobalIndexKey(ix.Id, vals)
	if bucket != op.Bucket {
		return nil, nil, nil, pgerr.New(pgerr.ProtocolViolation, "global index %s: entry sent for bucket %d belongs to bucket %d", ix.Name, op.Bucket, bucket)
	}
	return ix, vals, key, nil
}

// insertGlobalEntry inserts one entry: a live entry of the key (committed,
// or this transaction's) is a unique violation; an in-flight writer of the
// key is waited for first. A build keeps an entry that already points to
// the same row (written by a concurrent insert that saw the new index).
func (x *Executor) insertGlobalEntry(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, ti *tableInfo,
	ix *meridianpb.IndexDesc, vals []types.Datum, key []byte, op *meridianpb.GlobalIndexOp, build bool) error {
	err := txn.Insert(ctx, key, codec.IndexValue(op.RowBucket, op.RowSuffix), tc.CommandId)
	if !errors.Is(err, storage.ErrKeyExists) {
		return storageErr(err)
	}
	if !build {
		return uniqueViolation(ti, ix, vals)
	}
	v, _, found, err := x.st.GetLatest(ctx, key, txn)
	if err != nil {
		return storageErr(err)
	}
	if found {
		if b, r, err := codec.DecodeIndexValue(v); err == nil && b == op.RowBucket && bytes.Equal(r, op.RowSuffix) {
			return nil
		}
	}
	return duplicateInBuild(ti, ix, vals)
}

// removeGlobalEntry deletes the entry of key if it points to the op's row
// (an entry of another row with the same key cannot be live while this
// row was, but the check costs nothing and keeps a stray op harmless).
func (x *Executor) removeGlobalEntry(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, key []byte, op *meridianpb.GlobalIndexOp) error {
	for {
		v, seq, found, err := x.st.GetLatest(ctx, key, txn)
		if err != nil || !found {
			return storageErr(err)
		}
		b, r, err := codec.DecodeIndexValue(v)
		if err != nil {
			return err
		}
		if b != op.RowBucket || !bytes.Equal(r, op.RowSuffix) {
			return nil
		}
		err = txn.Write(ctx, key, nil, tc.CommandId, seq)
		if errors.Is(err, storage.ErrWriteConflict) {
			continue // a writer came between the read and the write: read again
		}
		return storageErr(err)
	}
}

func duplicateInBuild(ti *tableInfo, ix *meridianpb.IndexDesc, vals []types.Datum) error {
	return pgerr.New(pgerr.UniqueViolation, "could not create unique index %q", ix.Name).
		WithDetail("Key %s is duplicated.", keyText(ti, ix, vals))
}

// globalIndexEntries reports, as insert ops, the entries a global index
// needs for this datanode's rows of the table at the snapshot.
func (x *Executor) globalIndexEntries(ctx context.Context, snap storage.Snapshot, spec *meridianpb.GlobalIndexEntries, g *globalOps) error {
	ti, err := x.tables.get(spec.Table)
	if err != nil {
		return err
	}
	var ix *meridianpb.IndexDesc
	for _, gi := range ti.global {
		if gi.Id == spec.IndexId {
			ix = gi
		}
	}
	if ix == nil {
		return pgerr.New(pgerr.UndefinedObject, "global index %d of table %s does not exist", spec.IndexId, ti.desc.Name)
	}
	p := codec.RowKeyPrefix(ti.desc.Id)
	return storageErr(x.st.Scan(ctx, snap, p, codec.PrefixEnd(p), func(key, value []byte, _ uint64) error {
		row, err := ti.decode(value)
		if err != nil {
			return err
		}
		bucket, suffix := rowKeyParts(key) // key is the scan's: copy
		g.add(ix, row, bucket, bytes.Clone(suffix), false)
		return nil
	}))
}
