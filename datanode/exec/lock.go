package exec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// lockingScan reports whether a scan takes row locks or works with row
// keys (lockScan runs it).
func lockingScan(spec *meridianpb.ScanSpec) bool {
	return spec.Lock != nil || spec.WithRowKeys || len(spec.RowKeys) > 0
}

// LockMode converts a protocol lock strength.
func LockMode(s meridianpb.LockStrength) (storage.LockMode, error) {
	switch s {
	case meridianpb.LockStrength_LOCK_FOR_KEY_SHARE:
		return storage.LockKeyShare, nil
	case meridianpb.LockStrength_LOCK_FOR_SHARE:
		return storage.LockShare, nil
	case meridianpb.LockStrength_LOCK_FOR_NO_KEY_UPDATE:
		return storage.LockNoKeyUpdate, nil
	case meridianpb.LockStrength_LOCK_FOR_UPDATE:
		return storage.LockUpdate, nil
	}
	return 0, pgerr.New(pgerr.ProtocolViolation, "row lock of strength %v", s)
}

func waitPolicy(w meridianpb.LockWaitPolicy) storage.WaitPolicy {
	switch w {
	case meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT:
		return storage.WaitNoWait
	case meridianpb.LockWaitPolicy_LOCK_WAIT_SKIP:
		return storage.WaitSkip
	}
	return storage.WaitBlock
}

// eachRowKey reads the rows of keys, row keys of table ti a coordinator
// sent, in snap, and calls fn with each that exists (i: its place in
// keys); a key that is not one of ti's fails.
func (x *Executor) eachRowKey(ctx context.Context, snap storage.Snapshot, ti *tableInfo, keys [][]byte,
	fn func(i int, key []byte, seq uint64, row []types.Datum) error) error {
	for i, k := range keys {
		if err := checkRowKey(ti, k); err != nil {
			return err
		}
		v, seq, found, err := x.st.Get(ctx, snap, k)
		if err != nil {
			return err
		}
		if !found {
			continue // deleted since the coordinator read it
		}
		row, err := ti.decode(v)
		if err != nil {
			return fmt.Errorf("decode row %s: %w", codec.FormatKey(k), err)
		}
		if err := fn(i, k, seq, row); err != nil {
			return err
		}
	}
	return nil
}

// checkRowKey refuses a row key the coordinator sent that is not one of
// table ti's.
func checkRowKey(ti *tableInfo, k []byte) error {
	if table, _, _, err := codec.DecodeRowKey(k); err != nil || table != ti.desc.Id {
		return pgerr.New(pgerr.ProtocolViolation, "row key %x is not of table %s", k, ti.desc.Name)
	}
	return nil
}

// withWaitOptions bounds the statement's waits for row locks by its
// session's lock_timeout and deadlock_timeout, and names the session in
// wait edges.
func withWaitOptions(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext) context.Context {
	if txn != nil {
		txn.SetPID(tc.BackendPid)
	}
	if tc.LockTimeoutMs == 0 && tc.DeadlockTimeoutMs == 0 && tc.BackendPid == 0 {
		return ctx
	}
	return storage.WithWaitOptions(ctx, storage.WaitOptions{
		LockTimeout:     time.Duration(tc.LockTimeoutMs) * time.Millisecond,
		DeadlockTimeout: time.Duration(tc.DeadlockTimeoutMs) * time.Millisecond,
		PID:             tc.BackendPid,
	})
}

// scanParts prepares a scan's table and its filter and projection.
func (x *Executor) scanParts(spec *meridianpb.ScanSpec) (*tableInfo, *matcher, error) {
	ti, err := x.tables.get(spec.Table)
	if err != nil {
		return nil, nil, err
	}
	m, err := newMatcher(spec)
	return ti, m, err
}

// lockScanOf runs a locking scan request.
func (x *Executor) lockScanOf(ctx context.Context, txn *storage.Txn, snap storage.Snapshot, tc *meridianpb.TxnContext,
	spec *meridianpb.ScanSpec, emit Emit) error {
	ti, m, err := x.scanParts(spec)
	if err != nil {
		return err
	}
	return x.lockScan(ctx, txn, snap, tc, spec, ti, m, emit)
}

// keyUnchanged reports whether an update of row a to b keeps the key of
// every unique index: it then holds its row as FOR NO KEY UPDATE, which
// does not conflict with FOR KEY SHARE (as PostgreSQL's).
func keyUnchanged(ti *tableInfo, a, b []types.Datum) bool {
	for _, ix := range ti.indexes {
		if ix.Unique && !sameIndexKey(ix, a, b) {
			return false
		}
	}
	for _, ix := range ti.global {
		if !sameIndexKey(ix, a, b) {
			return false
		}
	}
	return true
}

// candidate is a row a locking scan considers: its key, the version its
// snapshot read, the row, and its sort keys.
type candidate struct {
	key  []byte
	seq  uint64
	row  []types.Datum
	sort []types.Datum
}

// lockScan runs a scan with spec.Lock (SELECT ... FOR UPDATE/SHARE) or
// with row keys. It reads the rows that pass the filter under the
// statement's snapshot (those of spec.RowKeys, or a scan), orders them by
// spec.OrderBy, and then, in that order, locks each (when spec.Lock is
// set) and emits it, until spec.Limit rows are out. A locked row that a
// committed transaction changed meanwhile is re-checked against the
// filter (READ COMMITTED) and emitted as it is now, or left out; NOWAIT
// fails with 55P03 and SKIP LOCKED leaves out a row it cannot lock at
// once. The rows are read before any is locked, so no read holds an
// iterator open across a wait.
func (x *Executor) lockScan(ctx context.Context, txn *storage.Txn, snap storage.Snapshot, tc *meridianpb.TxnContext,
	spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher, emit Emit) error {
	if len(spec.Aggs) > 0 || len(spec.GroupBy) > 0 {
		return pgerr.New(pgerr.ProtocolViolation, "a locking scan cannot aggregate")
	}
	var mode storage.LockMode
	if spec.Lock != nil {
		if err := needTxn(txn); err != nil {
			return err
		}
		var err error
		if mode, err = LockMode(spec.Lock.Strength); err != nil {
			return err
		}
	}
	cands, err := x.candidates(ctx, snap, spec, ti, m)
	if err != nil {
		return storageErr(err)
	}
	latest := tc.Isolation == meridianpb.Isolation_READ_COMMITTED
	var n int64
	for _, c := range cands {
		if spec.Limit > 0 && n >= spec.Limit {
			break
		}
		row := c.row
		if spec.Lock != nil {
			res, err := txn.Lock(ctx, c.key, mode, tc.CommandId, c.seq, waitPolicy(spec.Lock.Wait), latest)
			switch {
			case errors.Is(err, storage.ErrSkipLocked):
				continue
			case errors.Is(err, storage.ErrLockNotAvailable):
				return pgerr.New(pgerr.LockNotAvailable, "could not obtain lock on row in relation %q", ti.desc.Name)
			case err != nil:
				return storageErr(err)
			}
			if res.Changed {
				if !res.Found {
					continue
				}
				if row, err = ti.decode(res.Value); err != nil {
					return fmt.Errorf("decode row %s: %w", codec.FormatKey(c.key), err)
				}
				if ok, err := m.match(row); err != nil || !ok {
					if err != nil {
						return err
					}
					continue
				}
			}
		}
		out, err := m.project(row)
		if err != nil {
			return err
		}
		if spec.WithRowKeys {
			out = append(out[:len(out):len(out)], c.key)
		}
		if err := emit(out); err != nil {
			return err
		}
		n++
	}
	return nil
}

// candidates reads the rows of spec.RowKeys, or of the scan, that pass
// the filter in snap, sorted by spec.OrderBy.
func (x *Executor) candidates(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher) ([]candidate, error) {
	keys := make([]expr.Eval, len(spec.OrderBy))
	for i, k := range spec.OrderBy {
		e, err := expr.Compile(k.Expr)
		if err != nil {
			return nil, err
		}
		keys[i] = e
	}
	var out []candidate
	less := func(i, j int) bool { return LessByKeys(spec.OrderBy, out[i].sort, out[j].sort) }
	// Without locks (candidates for the coordinator) only the first
	// limit rows in order are wanted: keep memory bounded by the limit.
	// A locking scan may skip rows, so it keeps them all.
	trim := spec.Lock == nil && spec.Limit > 0 && len(keys) > 0
	add := func(key []byte, seq uint64, row []types.Datum) error {
		c := candidate{key: append([]byte(nil), key...), seq: seq, row: row}
		if len(keys) > 0 {
			c.sort = make([]types.Datum, len(keys))
			for i, k := range keys {
				v, err := k(row)
				if err != nil {
					return err
				}
				c.sort[i] = v
			}
		}
		out = append(out, c)
		if trim && int64(len(out)) >= 2*spec.Limit+1024 {
			sort.SliceStable(out, less)
			out = out[:spec.Limit]
		}
		return nil
	}
	var err error
	if len(spec.RowKeys) > 0 {
		err = x.eachRowKey(ctx, snap, ti, spec.RowKeys, func(_ int, k []byte, seq uint64, row []types.Datum) error {
			ok, err := m.match(row)
			if err != nil || !ok {
				return err
			}
			return add(k, seq, row)
		})
	} else {
		err = x.visit(ctx, snap, spec, ti, m, add)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		sort.SliceStable(out, less)
	}
	return out, nil
}
