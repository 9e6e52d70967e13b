package exec

import (
	"context"
	"fmt"
	"slices"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	sqlexec "github.com/meridian-db/meridian/sql/exec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// IndexLookup returns the lookup of an index join's inner table on this
// datanode: the rows whose index entries start with the given key values,
// read in snapshot snap, that pass the node's filter, as the node's
// columns.
func (x *Executor) IndexLookup(snap storage.Snapshot, n *meridianpb.PlanNode) (sqlexec.IndexLookup, func(), error) {
	ij := n.GetIndexJoin()
	if ij == nil || ij.Table == nil {
		return nil, nil, pgerr.New(pgerr.InternalError, "plan node %d is not an index join", n.Id)
	}
	ti, err := x.tables.get(ij.Table)
	if err != nil {
		return nil, nil, err
	}
	ix := ti.index(ij.IndexId)
	if ix == nil {
		return nil, nil, pgerr.New(pgerr.UndefinedObject, "index %d of table %s does not exist", ij.IndexId, ti.desc.Name)
	}
	if len(ij.LookupKeys) == 0 || len(ij.LookupKeys) > len(ix.Columns) {
		return nil, nil, pgerr.New(pgerr.InternalError, "index join with %d keys on an index of %d columns", len(ij.LookupKeys), len(ix.Columns))
	}
	var filter expr.Eval
	if ij.Filter != nil {
		if filter, err = expr.Compile(ij.Filter); err != nil {
			return nil, nil, err
		}
	}
	want := make([]bool, len(ti.oids))
	cols := make([]int, len(ij.Columns))
	for i, c := range ij.Columns {
		if c < codec.RowKeyColumn || int(c) >= len(ti.oids) {
			return nil, nil, pgerr.New(pgerr.InternalError, "index join on %s: column %d out of range", ti.desc.Name, c)
		}
		cols[i] = int(c)
		if c != codec.RowKeyColumn {
			want[c] = true
		}
	}
	markColumns(ij.Filter, want)
	dec := codec.NewSparseRowDecoder(ti.oids, ti.missing, want)
	prefix := codec.IndexPrefix(ix.Id)
	point := uniqueKeyed(ix, len(ij.LookupKeys))
	// One reader (two reused iterators) serves every lookup of the join.
	rd, err := x.st.NewReader(snap)
	if err != nil {
		return nil, nil, storageErr(err)
	}
	var buf, rkBuf []byte
	keyOut := slices.Contains(cols, codec.RowKeyColumn)
	out := make(sqlexec.Row, len(cols))
	return func(ctx context.Context, keys []types.Datum, emit func(sqlexec.Row) error) error {
		buf = append(buf[:0], prefix...)
		for _, k := range keys {
			buf = codec.AppendKey(buf, k)
		}
		p := append([]byte(nil), buf...)
		entry := func(_, value []byte, _ uint64) error {
			bucket, rowID, err := codec.DecodeIndexValue(value)
			if err != nil {
				return err
			}
			var rk []byte
			if keyOut {
				rk = codec.RowKey(ti.desc.Id, bucket, rowID) // emitted: a key of its own
			} else {
				rkBuf = codec.AppendRowKey(rkBuf[:0], ti.desc.Id, bucket, rowID)
				rk = rkBuf
			}
			// The decoder copies what it keeps, so the value need not be.
			rv, _, found, err := rd.GetView(ctx, rk)
			if err != nil || !found {
				return err
			}
			row, err := dec.Decode(rv)
			if err != nil {
				return fmt.Errorf("decode row %s: %w", codec.FormatKey(rk), err)
			}
			if filter != nil {
				v, err := filter(row)
				if err != nil {
					return err
				}
				if !expr.IsTrue(v) {
					dec.Unread() // nothing references the rejected row
					return nil
				}
			}
			for i, c := range cols {
				if c == codec.RowKeyColumn {
					out[i] = rk
					continue
				}
				out[i] = row[c]
			}
			return emit(out)
		}
		if point {
			// Get copies the value, so the row read may reuse the iterator.
			value, seq, found, err := rd.Get(ctx, p)
			if err != nil || !found {
				return storageErr(err)
			}
			return storageErr(entry(p, value, seq))
		}
		return storageErr(rd.Scan(ctx, p, codec.PrefixEnd(p), entry))
	}, rd.Close, nil
}
