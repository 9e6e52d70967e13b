package exec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/colexpr"
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
	colexpr.MarkColumns(ij.Filter, want)
	dec := codec.NewSparseRowDecoder(ti.oids, ti.missing, want)
	prefix := codec.IndexPrefix(ix.Id)
	point := uniqueKeyed(ix, len(ij.LookupKeys))
	// One reader (two reused iterators) serves every lookup of the join.
	rd, err := x.st.NewReader(snap)
	if err != nil {
		return nil, nil, storageErr(err)
	}
	var buf []byte
	out := make(sqlexec.Row, len(cols))
	// A batch's lookups read the index entries of its keys first, then the
	// rows they point to in the order of their row keys: the rows of one
	// key are near each other, and the rows of a batch so are read in one
	// forward pass over the table, each file and block loaded once, rather
	// than in the order of the index (random in the table's bucket order).
	type entry struct {
		k      int // the key's index in the batch
		bucket uint32
		rowID  uint64
	}
	var (
		ents []entry
		rk   []byte
		done []bool
	)
	return func(ctx context.Context, keys [][]types.Datum, emit func(int, sqlexec.Row) error) error {
		ents = ents[:0]
		for k, vals := range keys {
			buf = append(buf[:0], prefix...)
			for _, v := range vals {
				buf = codec.AppendKey(buf, v)
			}
			add := func(_, value []byte, _ uint64) error {
				bucket, rowID, err := codec.DecodeIndexValue(value)
				if err != nil {
					return err
				}
				ents = append(ents, entry{k: k, bucket: bucket, rowID: rowID})
				return nil
			}
			var err error
			if point {
				var value []byte
				var found bool
				if value, _, found, err = rd.GetView(ctx, buf); err == nil && found {
					err = add(nil, value, 0)
				}
			} else {
				err = rd.ScanValues(ctx, buf, codec.PrefixEnd(buf), add)
			}
			if err != nil {
				return storageErr(err)
			}
		}
		// Row keys order by bucket, then row id (codec.AppendRowKey).
		slices.SortFunc(ents, func(a, b entry) int {
			if c := cmp.Compare(a.bucket, b.bucket); c != 0 {
				return c
			}
			return cmp.Compare(a.rowID, b.rowID)
		})
		done = append(done[:0], make([]bool, len(keys))...)
		for _, e := range ents {
			if done[e.k] {
				continue
			}
			rk = codec.AppendRowKey(rk[:0], ti.desc.Id, e.bucket, e.rowID)
			// The decoder copies what it keeps, so the value need not be.
			rv, _, found, err := rd.GetView(ctx, rk)
			if err != nil {
				return storageErr(err)
			}
			if !found {
				continue
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
					continue
				}
			}
			for i, c := range cols {
				if c == codec.RowKeyColumn {
					out[i] = append([]byte(nil), rk...) // emitted: a key of its own
					continue
				}
				out[i] = row[c]
			}
			if err := emit(e.k, out); err != nil {
				if errors.Is(err, sqlexec.ErrLookupDone) {
					done[e.k] = true
					continue
				}
				return err
			}
		}
		return nil
	}, rd.Close, nil
}
