package exec

import (
	"bytes"
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
	// One reader (two reused iterators) serves every lookup of the join.
	rd, err := x.st.NewReader(snap)
	if err != nil {
		return nil, nil, storageErr(err)
	}
	out := make(sqlexec.Row, len(cols))
	// row filters and emits the row under key rk (encoded value rv) for
	// lookup key k; done: the join needs no more rows of k.
	row := func(k int, rk, rv []byte, emit func(int, sqlexec.Row) error) (done bool, err error) {
		row, err := dec.Decode(rv)
		if err != nil {
			return false, fmt.Errorf("decode row %s: %w", codec.FormatKey(rk), err)
		}
		if filter != nil {
			v, err := filter(row)
			if err != nil {
				return false, err
			}
			if !expr.IsTrue(v) {
				dec.Unread() // nothing references the rejected row
				return false, nil
			}
		}
		for i, c := range cols {
			if c == codec.RowKeyColumn {
				out[i] = append([]byte(nil), rk...) // emitted: a key of its own
				continue
			}
			out[i] = row[c]
		}
		if err := emit(k, out); err != nil {
			if errors.Is(err, sqlexec.ErrLookupDone) {
				return true, nil
			}
			return false, err
		}
		return false, nil
	}
	if dist := clusterLookup(ti, ix, len(ij.LookupKeys)); dist != nil {
		return clusteredLookup(ti, rd, dist, slices.Contains(cols, codec.RowKeyColumn), row), rd.Close, nil
	}
	prefix := codec.IndexPrefix(ix.Id)
	point := uniqueKeyed(ix, len(ij.LookupKeys))
	var buf []byte
	// A batch's lookups read the index entries of its keys first, then the
	// rows they point to in the order of their row keys: the rows of one
	// key are near each other, and the rows of a batch so are read in one
	// forward pass over the table, each file and block loaded once, rather
	// than in the order of the index (random in the table's bucket order).
	type entry struct {
		k      int // the key's index in the batch
		bucket uint32
		suffix []byte // the row key's suffix, in sufs
	}
	var (
		ents []entry
		sufs []byte
		rk   []byte
		done []bool
	)
	return func(ctx context.Context, keys [][]types.Datum, emit func(int, sqlexec.Row) error) error {
		ents, sufs = ents[:0], sufs[:0]
		for k, vals := range keys {
			buf = append(buf[:0], prefix...)
			for _, v := range vals {
				buf = codec.AppendKey(buf, v)
			}
			add := func(_, value []byte, _ uint64) error {
				bucket, suffix, err := codec.DecodeIndexValue(value)
				if err != nil {
					return err
				}
				sufs = append(sufs, suffix...)
				ents = append(ents, entry{k: k, bucket: bucket, suffix: sufs[len(sufs)-len(suffix):]})
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
		// Row keys order by bucket, then suffix (codec.AppendRowKey). The
		// suffixes were appended to one buffer, which may have moved since:
		// re-slice them from where they are now.
		off := 0
		for i := range ents {
			n := len(ents[i].suffix)
			ents[i].suffix = sufs[off : off+n : off+n]
			off += n
		}
		slices.SortFunc(ents, func(a, b entry) int {
			if c := cmp.Compare(a.bucket, b.bucket); c != 0 {
				return c
			}
			return bytes.Compare(a.suffix, b.suffix)
		})
		done = append(done[:0], make([]bool, len(keys))...)
		for _, e := range ents {
			if done[e.k] {
				continue
			}
			rk = codec.AppendRowKey(rk[:0], ti.desc.Id, e.bucket, e.suffix)
			// The decoder copies what it keeps, so the value need not be.
			rv, _, found, err := rd.GetView(ctx, rk)
			if err != nil {
				return storageErr(err)
			}
			if !found {
				continue
			}
			if done[e.k], err = row(e.k, rk, rv, emit); err != nil {
				return err
			}
		}
		return nil
	}, rd.Close, nil
}

// clusterLookup is codec.ClusterLookup for a table prepared for
// execution.
func clusterLookup(ti *tableInfo, ix *meridianpb.IndexDesc, nkeys int) []int {
	if ti.cluster == nil {
		return nil
	}
	return codec.ClusterLookup(ti.desc, ix, nkeys)
}

// clusterPrefix appends to dst the prefix of the row keys of a clustered
// table whose leading cluster columns hold vals: the bucket, from the
// distribution columns among them (at positions dist, see
// clusterLookup), and the values' key encoding. hash, when not nil, is
// scratch space.
func clusterPrefix(dst []byte, ti *tableInfo, dist []int, vals []types.Datum, hash *[]types.Datum) []byte {
	var h []types.Datum
	if hash != nil {
		h = (*hash)[:0]
	}
	for _, p := range dist {
		h = append(h, vals[p])
	}
	if hash != nil {
		*hash = h
	}
	dst = codec.AppendRowKey(dst, ti.desc.Id, codec.Bucket(h), nil)
	for _, v := range vals {
		dst = codec.AppendKey(dst, v)
	}
	return dst
}

// errKeyDone stops a clustered lookup's scan of one key.
var errKeyDone = errors.New("index lookup: key done")

// clusteredLookup looks keys up in a table clustered by the index they
// are a prefix of: the rows of a key are those under its bucket and key
// encoding (codec.RowSuffix), read with one seek. The keys are read in the
// order of those prefixes — bucket, then key — so that the reads move
// forward through the table.
func clusteredLookup(ti *tableInfo, rd *storage.Reader, dist []int, withKeys bool,
	row func(k int, rk, rv []byte, emit func(int, sqlexec.Row) error) (bool, error)) sqlexec.IndexLookup {
	var (
		starts []byte // the keys' row key prefixes, one after another
		ends   []int  // where each ends in starts
		order  []int
		hash   []types.Datum
		hi     []byte
	)
	scan := rd.ScanValues
	if withKeys {
		scan = rd.Scan
	}
	return func(ctx context.Context, keys [][]types.Datum, emit func(int, sqlexec.Row) error) error {
		starts, ends, order = starts[:0], ends[:0], order[:0]
		for k, vals := range keys {
			starts = clusterPrefix(starts, ti, dist, vals, &hash)
			ends = append(ends, len(starts))
			order = append(order, k)
		}
		start := func(k int) []byte {
			from := 0
			if k > 0 {
				from = ends[k-1]
			}
			return starts[from:ends[k]]
		}
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(start(a), start(b)) })
		for _, k := range order {
			lo := start(k)
			hi = codec.AppendPrefixEnd(hi[:0], lo)
			err := scan(ctx, lo, hi, func(key, value []byte, _ uint64) error {
				done, err := row(k, key, value, emit)
				if err == nil && done {
					return errKeyDone
				}
				return err
			})
			if err != nil && !errors.Is(err, errKeyDone) {
				return storageErr(err)
			}
		}
		return nil
	}
}
