package exec

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

type target struct {
	key []byte
	seq uint64
	row []types.Datum
	// extra: the values of other tables a statement planned as a query
	// read for the row (RowTargets.extras), which follow the table row in
	// what its filter, SET values and RETURNING read.
	extra []types.Datum
}

// with returns row followed by t's extras (row itself when there are none).
func (t *target) with(row []types.Datum) []types.Datum {
	if len(t.extra) == 0 {
		return row
	}
	return append(row[:len(row):len(row)], t.extra...)
}

// targets reads the rows an UPDATE or DELETE changes: those its scan
// finds, or those of rows (RowTargets) that still pass the filter.
func (x *Executor) targets(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, rows *meridianpb.RowTargets,
	ti *tableInfo, m *matcher) ([]target, error) {
	if rows == nil {
		return x.collect(ctx, snap, spec, ti, m)
	}
	n := len(rows.RowKeys) + len(rows.Images)
	if (len(rows.RowKeys) > 0 && len(rows.Images) > 0) || (len(rows.Extras) != 0 && len(rows.Extras) != n) {
		return nil, pgerr.New(pgerr.ProtocolViolation, "row targets: %d keys, %d images, %d extras", len(rows.RowKeys), len(rows.Images), len(rows.Extras))
	}
	var out []target
	add := func(i int, key []byte, seq uint64, row []types.Datum) error {
		t := target{key: key, seq: seq, row: row}
		if len(rows.Extras) > 0 {
			ext, err := codec.DecodeRow(rows.ExtraTypes, nil, rows.Extras[i])
			if err != nil {
				return pgerr.Wrap(err, pgerr.ProtocolViolation, "row targets: bad extras")
			}
			t.extra = ext
		}
		ok, err := m.match(t.with(row))
		if ok {
			out = append(out, t)
		}
		return err
	}
	if err := x.eachRowKey(ctx, snap, ti, rows.RowKeys, add); err != nil {
		return nil, storageErr(err)
	}
	if len(rows.Images) > 0 {
		byImage := make(map[string]int, len(rows.Images))
		for i, im := range rows.Images {
			byImage[string(im)] = i
		}
		var buf []byte
		err := x.visit(ctx, snap, &meridianpb.ScanSpec{Table: spec.Table}, ti, &matcher{}, func(key []byte, seq uint64, row []types.Datum) error {
			buf = codec.EncodeRow(buf[:0], row)
			i, ok := byImage[string(buf)]
			if !ok {
				return nil
			}
			return add(i, append([]byte(nil), key...), seq, row)
		})
		if err != nil {
			return nil, storageErr(err)
		}
	}
	return out, nil
}

// collect reads the rows a DML statement targets, before any is written.
func (x *Executor) collect(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher) ([]target, error) {
	var out []target
	err := x.visit(ctx, snap, spec, ti, m, func(key []byte, seq uint64, row []types.Datum) error {
		out = append(out, target{key: append([]byte(nil), key...), seq: seq, row: row})
		return nil
	})
	return out, err
}

// rowKeyParts splits a row key ('r' | table (4) | bucket (2) | suffix)
// into its bucket and suffix (codec.RowSuffix; it aliases key).
func rowKeyParts(key []byte) (bucket uint32, suffix []byte) {
	return uint32(binary.BigEndian.Uint16(key[5:7])), key[7:]
}

// rowIDOf returns the row id a key suffix ends with.
func rowIDOf(suffix []byte) uint64 {
	return binary.BigEndian.Uint64(suffix[len(suffix)-8:])
}

// lockLatest resolves a write conflict on key: under READ COMMITTED it
// re-reads the newest committed version and re-checks the filter (as
// PostgreSQL's EvalPlanQual does); under REPEATABLE READ it fails.
// It returns ok = false when the row is gone or no longer matches.
func (x *Executor) lockLatest(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, ti *tableInfo, m *matcher, t *target) (bool, error) {
	if tc.Isolation != meridianpb.Isolation_READ_COMMITTED {
		return false, storageErr(storage.ErrWriteConflict)
	}
	v, seq, found, err := x.st.GetLatest(ctx, t.key, txn)
	if err != nil || !found {
		return false, storageErr(err)
	}
	row, err := ti.decode(v)
	if err != nil {
		return false, err
	}
	ok, err := m.match(t.with(row))
	if err != nil || !ok {
		return false, err
	}
	t.row, t.seq = row, seq
	return true, nil
}

func (x *Executor) update(ctx context.Context, txn *storage.Txn, snap storage.Snapshot, tc *meridianpb.TxnContext, spec *meridianpb.UpdateSpec, g *globalOps, emit Emit) (int64, error) {
	if err := needTxn(txn); err != nil {
		return 0, err
	}
	ti, err := x.tables.get(spec.Target.Table)
	if err != nil {
		return 0, err
	}
	m, err := newMatcher(&meridianpb.ScanSpec{Filter: spec.Target.Filter})
	if err != nil {
		return 0, err
	}
	if len(spec.SetColumns) != len(spec.SetValues) {
		return 0, pgerr.New(pgerr.ProtocolViolation, "update: %d columns but %d values", len(spec.SetColumns), len(spec.SetValues))
	}
	sets := make([]expr.Eval, len(spec.SetValues))
	for i, e := range spec.SetValues {
		if sets[i], err = expr.Compile(e); err != nil {
			return 0, err
		}
	}
	ret, err := x.returning(spec.Returning)
	if err != nil {
		return 0, err
	}
	targets, err := x.targets(ctx, snap, spec.Target, spec.Rows, ti, m)
	if err != nil {
		return 0, storageErr(err)
	}
	newRow := make([]types.Datum, len(ti.oids))
	return x.eachTarget(ctx, txn, tc, ti, m, targets, func(t *target) error {
		copy(newRow, t.row)
		cur := t.with(t.row)
		for k, c := range spec.SetColumns {
			v, err := sets[k](cur)
			if err != nil {
				return err
			}
			newRow[c] = v
		}
		for c, col := range ti.desc.Columns {
			if col.NotNull && newRow[c] == nil {
				return pgerr.New(pgerr.NotNullViolation, "null value in column %q of relation %q violates not-null constraint", col.Name, ti.desc.Name)
			}
		}
		if keyUnchanged(ti, t.row, newRow) {
			return txn.UpdateNoKey(ctx, t.key, codec.EncodeRow(nil, newRow), tc.CommandId, t.seq)
		}
		if ti.moves(t.row, newRow) {
			// The row's key holds the cluster columns: the row moves to
			// its new key (a delete and an insert, as PostgreSQL writes
			// the new version elsewhere). The new key holds the row's id,
			// so no other row can have it.
			if err := txn.Write(ctx, t.key, nil, tc.CommandId, t.seq); err != nil {
				return err
			}
			bucket, suffix := rowKeyParts(t.key)
			key := codec.RowKey(ti.desc.Id, bucket, ti.rowSuffix(newRow, rowIDOf(suffix)))
			err := txn.Insert(ctx, key, codec.EncodeRow(nil, newRow), tc.CommandId)
			if errors.Is(err, storage.ErrKeyExists) {
				return pgerr.New(pgerr.InternalError, "row %s moves to %s, which holds a live row", codec.FormatKey(t.key), codec.FormatKey(key))
			}
			return err
		}
		return txn.Write(ctx, t.key, codec.EncodeRow(nil, newRow), tc.CommandId, t.seq)
	}, func(t *target) error {
		bucket, suffix := rowKeyParts(t.key)
		newSuffix := suffix
		moved := ti.moves(t.row, newRow)
		if moved {
			newSuffix = ti.rowSuffix(newRow, rowIDOf(suffix))
		}
		for _, ix := range ti.indexes {
			// A moved row's entries all point elsewhere now.
			if !moved && sameIndexKey(ix, t.row, newRow) {
				continue
			}
			if err := x.removeIndexEntry(ctx, txn, tc, ix, t.row, suffix); err != nil {
				return err
			}
			if err := x.addIndexEntry(ctx, txn, tc, ti, ix, newRow, bucket, newSuffix); err != nil {
				return err
			}
		}
		g.updated(ti, t.row, newRow, bucket, suffix, newSuffix)
		return ret(t.with(newRow), emit)
	})
}

func sameIndexKey(ix *meridianpb.IndexDesc, a, b []types.Datum) bool {
	for _, c := range ix.Columns {
		x, y := a[c], b[c]
		if (x == nil) != (y == nil) {
			return false
		}
		if x != nil && types.Compare(x, y) != 0 {
			return false
		}
	}
	return true
}

func (x *Executor) delete(ctx context.Context, txn *storage.Txn, snap storage.Snapshot, tc *meridianpb.TxnContext, spec *meridianpb.DeleteSpec, g *globalOps, emit Emit) (int64, error) {
	if err := needTxn(txn); err != nil {
		return 0, err
	}
	ti, err := x.tables.get(spec.Target.Table)
	if err != nil {
		return 0, err
	}
	m, err := newMatcher(&meridianpb.ScanSpec{Filter: spec.Target.Filter})
	if err != nil {
		return 0, err
	}
	ret, err := x.returning(spec.Returning)
	if err != nil {
		return 0, err
	}
	targets, err := x.targets(ctx, snap, spec.Target, spec.Rows, ti, m)
	if err != nil {
		return 0, storageErr(err)
	}
	return x.eachTarget(ctx, txn, tc, ti, m, targets, func(t *target) error {
		return txn.Write(ctx, t.key, nil, tc.CommandId, t.seq)
	}, func(t *target) error {
		bucket, suffix := rowKeyParts(t.key)
		for _, ix := range ti.indexes {
			if err := x.removeIndexEntry(ctx, txn, tc, ix, t.row, suffix); err != nil {
				return err
			}
		}
		g.deleted(ti, t.row, bucket, suffix)
		return ret(t.with(t.row), emit)
	})
}

// eachTarget writes every target row with write, then runs after (index
// maintenance, RETURNING) for it. A row that a concurrent transaction
// changed since it was read is read again and re-checked (lockLatest)
// before write is retried; rows that no longer match are skipped. It
// returns how many rows were written.
func (x *Executor) eachTarget(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, ti *tableInfo, m *matcher,
	targets []target, write, after func(t *target) error) (int64, error) {
	var n int64
	for i := range targets {
		t := &targets[i]
		for {
			err := write(t)
			if errors.Is(err, storage.ErrWriteConflict) {
				ok, err := x.lockLatest(ctx, txn, tc, ti, m, t)
				if err != nil {
					return n, err
				}
				if !ok {
					break
				}
				continue
			}
			if err != nil {
				return n, storageErr(err)
			}
			if err := after(t); err != nil {
				return n, err
			}
			n++
			break
		}
	}
	return n, nil
}
