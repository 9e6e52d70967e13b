package exec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// CSNSource hands out commit CSNs (the GTM client).
type CSNSource interface {
	Commit(ctx context.Context) (uint64, error)
}

// Executor runs statements against one datanode's storage.
type Executor struct {
	// Self is this datanode's group: the primary of a two-phase commit
	// prepares without a durable record (its commit is the decision), the
	// other participants commit without waiting for the disk.
	Self   uint32
	st     *storage.Engine
	gtm    CSNSource
	tables tableCache
}

// New returns an executor over st; gtm supplies one-phase commit CSNs.
func New(st *storage.Engine, gtm CSNSource) *Executor {
	return &Executor{st: st, gtm: gtm}
}

// Emit receives output rows; the slice may not be retained.
type Emit func(row []types.Datum) error

// Result is what a statement did.
type Result struct {
	RowsAffected int64
	CommitCSN    uint64
	// IndexOps are the global index entry changes the statement's rows
	// need (globalindex.go).
	IndexOps []*meridianpb.GlobalIndexOp
}

// Exec runs one request. Output rows (scan results or RETURNING) go to
// emit. On error in a request that asked to commit, the transaction is
// aborted here.
func (x *Executor) Exec(ctx context.Context, req *meridianpb.ExecRequest, emit Emit) (Result, error) {
	tc := req.Txn
	if tc == nil {
		tc = &meridianpb.TxnContext{SnapshotCsn: math.MaxUint64}
	}
	var txn *storage.Txn
	if tc.Gxid != 0 {
		if scan, isScan := req.Op.(*meridianpb.ExecRequest_Scan); isScan && !req.Commit && scan.Scan.Lock == nil {
			txn, _ = x.st.LookupTxn(tc.Gxid)
		} else if tc.Continues {
			var ok bool
			if txn, ok = x.st.LookupTxn(tc.Gxid); !ok {
				return Result{}, pgerr.New(pgerr.SerializationFailure,
					"transaction %d is no longer active on datanode %d (it restarted or aborted the transaction)", tc.Gxid, x.Self)
			}
		} else {
			txn = x.st.Txn(tc.Gxid)
		}
	}
	ctx = withWaitOptions(ctx, txn, tc)
	snap := storage.Snapshot{CSN: x.snapshotCSN(tc), Txn: txn, CommandID: tc.CommandId}
	var res Result
	var err error
	var g globalOps
	switch op := req.Op.(type) {
	case *meridianpb.ExecRequest_Scan:
		if lockingScan(op.Scan) {
			err = x.lockScanOf(ctx, txn, snap, tc, op.Scan, emit)
		} else {
			err = x.scan(ctx, snap, op.Scan, emit)
		}
	case *meridianpb.ExecRequest_Insert:
		res.RowsAffected, err = x.insert(ctx, txn, tc, op.Insert, &g, emit)
	case *meridianpb.ExecRequest_Update:
		res.RowsAffected, err = x.update(ctx, txn, snap, tc, op.Update, &g, emit)
	case *meridianpb.ExecRequest_Delete:
		res.RowsAffected, err = x.delete(ctx, txn, snap, tc, op.Delete, &g, emit)
	case *meridianpb.ExecRequest_GlobalIndexWrite:
		res.RowsAffected, err = x.globalIndexWrite(ctx, txn, tc, op.GlobalIndexWrite)
	case *meridianpb.ExecRequest_GlobalIndexEntries:
		err = x.globalIndexEntries(ctx, snap, op.GlobalIndexEntries, &g)
	default:
		err = pgerr.New(pgerr.ProtocolViolation, "empty exec request")
	}
	res.IndexOps = g.ops
	if err == nil && req.Commit && len(g.ops) > 0 {
		// The entries must be written before the commit: the coordinator
		// commits such statements itself.
		err = pgerr.New(pgerr.InternalError, "a write to table with global indexes cannot commit in one phase")
	}
	if req.Commit && txn != nil {
		if err != nil {
			_ = txn.Abort()
			return res, err
		}
		csn, cerr := txn.CommitOnePhase(ctx, x.gtm.Commit)
		if cerr != nil {
			_ = txn.Abort()
			return res, cerr
		}
		res.CommitCSN = csn
	}
	return res, err
}

// snapshotCSN is the snapshot of a request: the coordinator's, or a local
// one when it took none from the GTM (snapshot_csn = max).
func (x *Executor) snapshotCSN(tc *meridianpb.TxnContext) uint64 {
	if tc.SnapshotCsn == storage.Latest {
		return x.st.LocalSnapshot(tc.MinSnapshotCsn)
	}
	return tc.SnapshotCsn
}

// Vacuum cleans old row versions at horizon: under the logical key
// prefixes, or everything (and the committed-xid table) when there are
// none. VACUUM freezes all it may (freezeAll); the background cleaner
// only old transactions' versions.
func (x *Executor) Vacuum(ctx context.Context, horizon uint64, prefixes [][]byte, freezeAll bool) (storage.CleanStats, error) {
	st, err := x.st.Clean(ctx, storage.CleanOptions{Horizon: horizon, Spans: prefixSpans(prefixes), FreezeAll: freezeAll})
	return st, storageErr(err)
}

// Compact rewrites the data under prefixes (none: all) into the bottom
// level of the storage's LSM tree (VACUUM FULL).
func (x *Executor) Compact(ctx context.Context, prefixes [][]byte) error {
	return storageErr(x.st.Compact(ctx, prefixSpans(prefixes)))
}

func prefixSpans(prefixes [][]byte) []storage.Span {
	spans := make([]storage.Span, len(prefixes))
	for i, p := range prefixes {
		spans[i] = storage.Span{Start: p, End: codec.PrefixEnd(p)}
	}
	return spans
}

// VersionsWritten counts the row versions written here since start.
func (x *Executor) VersionsWritten() uint64 { return x.st.VersionsWritten() }

func needTxn(txn *storage.Txn) error {
	if txn == nil {
		return pgerr.New(pgerr.InternalError, "write without a transaction id")
	}
	return nil
}

// matcher evaluates a scan's filter and projection.
type matcher struct {
	filter expr.Eval
	proj   []expr.Eval
	out    []types.Datum
	// decode, when set, decodes rows instead of the table's full decoder;
	// unread, when set, gives back the memory of the row it decoded last
	// (one the filter rejected).
	decode func([]byte) ([]types.Datum, error)
	unread func()
	// finish, when set, completes a row the filter kept (the decoder's
	// late columns).
	finish func() error
	// keys are a join's runtime filters (sqlexec.KeyFilterer), checked
	// before filter.
	keys []keyFilter
}

// keyFilter keeps the rows whose integer column col holds a value keep
// accepts. One that drops under a tenth of the first keyFilterProbe rows
// it sees is turned off: it would cost a lookup per row for little (the
// join looks each row up again).
type keyFilter struct {
	col           int
	keep          func(int64) bool
	seen, dropped int
	off           bool
}

const keyFilterProbe = 8192

// pass reports whether v passes the filter.
func (k *keyFilter) pass(v int64) bool {
	if k.off {
		return true
	}
	ok := k.keep(v)
	if k.seen++; !ok {
		k.dropped++
	}
	if k.seen == keyFilterProbe && k.dropped < keyFilterProbe/10 {
		k.off = true
	}
	return ok
}

func newMatcher(spec *meridianpb.ScanSpec) (*matcher, error) {
	m := &matcher{}
	if spec.Filter != nil {
		f, err := expr.Compile(spec.Filter)
		if err != nil {
			return nil, err
		}
		m.filter = f
	}
	for _, p := range spec.Projection {
		e, err := expr.Compile(p)
		if err != nil {
			return nil, err
		}
		m.proj = append(m.proj, e)
	}
	m.out = make([]types.Datum, len(m.proj))
	return m, nil
}

func (m *matcher) match(row []types.Datum) (bool, error) {
	for i := range m.keys {
		k := &m.keys[i]
		switch v := row[k.col].(type) {
		case nil:
			return false, nil
		case int64:
			if !k.pass(v) {
				return false, nil
			}
		}
	}
	if m.filter == nil {
		return true, nil
	}
	v, err := m.filter(row)
	if err != nil {
		return false, err
	}
	return expr.IsTrue(v), nil
}

func (m *matcher) project(row []types.Datum) ([]types.Datum, error) {
	if m.proj == nil {
		return row, nil
	}
	for i, p := range m.proj {
		v, err := p(row)
		if err != nil {
			return nil, err
		}
		m.out[i] = v
	}
	return m.out, nil
}

// errStop ends a scan early (limit reached).
var errStop = errors.New("stop")

// visit calls fn for every row of the scan target that passes the filter:
// key is the row's logical key, seq the version read.
func (x *Executor) visit(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo, m *matcher,
	fn func(key []byte, seq uint64, row []types.Datum) error) error {
	decode := ti.decode
	if m.decode != nil {
		decode = m.decode
	}
	onRow := func(key, value []byte, seq uint64) error {
		row, err := decode(value)
		if err != nil {
			return fmt.Errorf("decode row %s: %w", codec.FormatKey(key), err)
		}
		ok, err := m.match(row)
		if err != nil || !ok {
			if err == nil && m.unread != nil {
				m.unread()
			}
			return err
		}
		if m.finish != nil {
			if err := m.finish(); err != nil {
				return fmt.Errorf("decode row %s: %w", codec.FormatKey(key), err)
			}
		}
		return fn(key, seq, row)
	}
	if spec.IndexId != 0 {
		ix := ti.index(spec.IndexId)
		if ix == nil {
			return pgerr.New(pgerr.UndefinedObject, "index %d of table %s does not exist", spec.IndexId, ti.desc.Name)
		}
		prefix := codec.IndexPrefix(ix.Id)
		vals := make([]types.Datum, len(spec.IndexEq))
		for i, e := range spec.IndexEq {
			v, err := expr.ConstValue(e)
			if err != nil {
				return err
			}
			if v == nil {
				return nil // = NULL matches nothing
			}
			vals[i] = v
			prefix = codec.AppendKey(prefix, v)
		}
		if dist := clusterLookup(ti, ix, len(vals)); dist != nil {
			// The rows themselves are in the index's order: read those
			// under the values' prefix, no index entry.
			p := clusterPrefix(nil, ti, dist, vals, nil)
			return x.st.Scan(ctx, snap, p, codec.PrefixEnd(p), onRow)
		}
		entry := func(_, value []byte, _ uint64) error {
			bucket, suffix, err := codec.DecodeIndexValue(value)
			if err != nil {
				return err
			}
			rk := codec.RowKey(ti.desc.Id, bucket, suffix)
			rv, seq, found, err := x.st.Get(ctx, snap, rk)
			if err != nil || !found {
				return err
			}
			return onRow(rk, rv, seq)
		}
		if uniqueKeyed(ix, len(spec.IndexEq)) {
			value, seq, found, err := x.st.Get(ctx, snap, prefix)
			if err != nil || !found {
				return err
			}
			return entry(prefix, value, seq)
		}
		return x.st.Scan(ctx, snap, prefix, codec.PrefixEnd(prefix), entry)
	}
	return x.scanRows(ctx, snap, spec, ti, true, onRow)
}

// scanRows calls fn with the encoded value of every row of the scan's
// buckets (of the whole table when it lists none) that snap sees, and
// with its key when keys is set (else nil).
func (x *Executor) scanRows(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, ti *tableInfo,
	keys bool, fn func(key, value []byte, seq uint64) error) error {
	scan := x.st.Scan
	if !keys {
		scan = x.st.ScanValues
	}
	if len(spec.Buckets) == 0 || ti.desc.Dist == meridianpb.DistKind_DIST_REPLICATION {
		p := codec.RowKeyPrefix(ti.desc.Id)
		return scan(ctx, snap, p, codec.PrefixEnd(p), fn)
	}
	for _, b := range spec.Buckets {
		p := codec.BucketPrefix(ti.desc.Id, b)
		if err := scan(ctx, snap, p, codec.PrefixEnd(p), fn); err != nil {
			return err
		}
	}
	return nil
}

// uniqueKeyed reports an equality on every column of a unique index: at
// most one entry, whose key is the encoded values alone (codec.IndexKey
// adds no row id), so it is read as a point — a prefix seek, which bloom
// filters serve — instead of a range scan.
func uniqueKeyed(ix *meridianpb.IndexDesc, nkeys int) bool {
	return ix.Unique && nkeys == len(ix.Columns)
}

func (x *Executor) scan(ctx context.Context, snap storage.Snapshot, spec *meridianpb.ScanSpec, emit Emit) error {
	ti, m, err := x.scanParts(spec)
	if err != nil {
		return err
	}
	if len(spec.Aggs) > 0 || len(spec.GroupBy) > 0 {
		return x.partialAggregate(ctx, snap, spec, ti, m, emit)
	}
	if len(spec.OrderBy) > 0 {
		return x.topN(ctx, snap, spec, ti, m, emit)
	}
	n := int64(0)
	err = x.visit(ctx, snap, spec, ti, m, func(_ []byte, _ uint64, row []types.Datum) error {
		out, err := m.project(row)
		if err != nil {
			return err
		}
		if err := emit(out); err != nil {
			return err
		}
		n++
		if spec.Limit > 0 && n >= spec.Limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (x *Executor) returning(exprs []*meridianpb.Expr) (func(row []types.Datum, emit Emit) error, error) {
	if len(exprs) == 0 {
		return func([]types.Datum, Emit) error { return nil }, nil
	}
	evals := make([]expr.Eval, len(exprs))
	for i, e := range exprs {
		c, err := expr.Compile(e)
		if err != nil {
			return nil, err
		}
		evals[i] = c
	}
	out := make([]types.Datum, len(evals))
	return func(row []types.Datum, emit Emit) error {
		for i, e := range evals {
			v, err := e(row)
			if err != nil {
				return err
			}
			out[i] = v
		}
		return emit(out)
	}, nil
}

func (x *Executor) insert(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, spec *meridianpb.InsertSpec, g *globalOps, emit Emit) (int64, error) {
	if err := needTxn(txn); err != nil {
		return 0, err
	}
	ti, err := x.tables.get(spec.Table)
	if err != nil {
		return 0, err
	}
	ret, err := x.returning(spec.Returning)
	if err != nil {
		return 0, err
	}
	if len(spec.Buckets) != len(spec.Rows) {
		return 0, pgerr.New(pgerr.ProtocolViolation, "insert: %d rows but %d buckets", len(spec.Rows), len(spec.Buckets))
	}
	first, err := x.st.AllocIDs(len(spec.Rows))
	if err != nil {
		return 0, err
	}
	// New rows and their entries in non-unique indexes are keyed by the
	// fresh row ids (after the cluster values, in a clustered table):
	// written in one batch without reads. Unique index entries are
	// inserted one by one (checked, 23505).
	fresh := make([]storage.KV, 0, len(spec.Rows)*(1+len(ti.indexes)))
	for i, enc := range spec.Rows {
		row, err := ti.decode(enc)
		if err != nil {
			return 0, pgerr.Wrap(err, pgerr.ProtocolViolation, "insert: bad row")
		}
		suffix := ti.rowSuffix(row, first+uint64(i))
		bucket := spec.Buckets[i]
		fresh = append(fresh, storage.KV{Key: codec.RowKey(ti.desc.Id, bucket, suffix), Value: enc})
		for _, ix := range ti.indexes {
			if !ix.Unique {
				fresh = append(fresh, storage.KV{Key: codec.IndexKey(ix.Id, indexVals(ix, row), false, suffix), Value: codec.IndexValue(bucket, suffix)})
				continue
			}
			if err := x.addIndexEntry(ctx, txn, tc, ti, ix, row, bucket, suffix); err != nil {
				return 0, err
			}
		}
		g.inserted(ti, row, bucket, suffix)
		if err := ret(row, emit); err != nil {
			return 0, err
		}
	}
	if err := txn.PutNew(fresh, tc.CommandId); err != nil {
		return 0, storageErr(err)
	}
	return int64(len(spec.Rows)), nil
}

func (x *Executor) addIndexEntry(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext, ti *tableInfo,
	ix *meridianpb.IndexDesc, row []types.Datum, bucket uint32, suffix []byte) error {
	vals := indexVals(ix, row)
	key := codec.IndexKey(ix.Id, vals, ix.Unique, suffix)
	err := txn.Insert(ctx, key, codec.IndexValue(bucket, suffix), tc.CommandId)
	if errors.Is(err, storage.ErrKeyExists) {
		return uniqueViolation(ti, ix, vals)
	}
	return storageErr(err)
}

func (x *Executor) removeIndexEntry(ctx context.Context, txn *storage.Txn, tc *meridianpb.TxnContext,
	ix *meridianpb.IndexDesc, row []types.Datum, suffix []byte) error {
	key := codec.IndexKey(ix.Id, indexVals(ix, row), ix.Unique, suffix)
	_, seq, found, err := x.st.GetLatest(ctx, key, txn)
	if err != nil || !found {
		return storageErr(err)
	}
	return storageErr(txn.Write(ctx, key, nil, tc.CommandId, seq))
}

func uniqueViolation(ti *tableInfo, ix *meridianpb.IndexDesc, vals []types.Datum) error {
	return pgerr.New(pgerr.UniqueViolation, "duplicate key value violates unique constraint %q", ix.Name).
		WithDetail("Key %s already exists.", keyText(ti, ix, vals))
}

// keyText shows an index key as PostgreSQL's DETAIL does: (a, b)=(1, x).
func keyText(ti *tableInfo, ix *meridianpb.IndexDesc, vals []types.Datum) string {
	names := make([]string, len(ix.Columns))
	shown := make([]string, len(ix.Columns))
	for i, c := range ix.Columns {
		names[i] = ti.desc.Columns[c].Name
		shown[i] = types.FormatText(ti.typs[c], vals[i])
	}
	return "(" + strings.Join(names, ", ") + ")=(" + strings.Join(shown, ", ") + ")"
}

// storageErr maps storage errors to SQLSTATEs.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrTxnNotActive):
		return pgerr.Wrap(err, pgerr.SerializationFailure, "transaction is no longer active")
	case errors.Is(err, storage.ErrWriteConflict):
		return storage.SerializationFailure(err)
	case pgerr.Code(err) == pgerr.QueryCanceled:
		return err // the storage's own 57014 (storage.canceled): its message says why
	case errors.Is(err, context.Canceled):
		return pgerr.Wrap(err, pgerr.QueryCanceled, "canceling statement due to user request")
	case errors.Is(err, context.DeadlineExceeded):
		return pgerr.Wrap(err, pgerr.QueryCanceled, "canceling statement due to statement timeout")
	}
	return err
}
