package exec

import (
	"sync"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// tableInfo is a table descriptor prepared for execution.
type tableInfo struct {
	desc    *meridianpb.TableDesc
	oids    []uint32
	typs    []types.Type
	missing []types.Datum
	indexes []*meridianpb.IndexDesc
	// global: the global unique indexes, whose entries this datanode
	// reports instead of writing (globalindex.go).
	global []*meridianpb.IndexDesc
	// cluster: the index whose columns lead the row keys
	// (TableDesc.cluster_index); nil when the rows are keyed by row id.
	cluster *meridianpb.IndexDesc
}

type tableKey struct {
	id      uint32
	version uint64
}

// tableCache caches tableInfo by (id, version).
type tableCache struct {
	mu sync.Mutex
	m  map[tableKey]*tableInfo
}

func (c *tableCache) get(d *meridianpb.TableDesc) (*tableInfo, error) {
	k := tableKey{d.Id, d.Version}
	c.mu.Lock()
	ti, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return ti, nil
	}
	ti = &tableInfo{desc: d, indexes: d.Indexes, global: d.GlobalIndexes}
	if d.ClusterIndex != 0 {
		if ti.cluster = ti.index(d.ClusterIndex); ti.cluster == nil {
			return nil, pgerr.New(pgerr.InternalError, "table %s is clustered by index %d, which it does not have", d.Name, d.ClusterIndex)
		}
	}
	hasMissing := false
	for _, col := range d.Columns {
		ti.oids = append(ti.oids, col.TypeOid)
		ti.typs = append(ti.typs, types.Type{OID: col.TypeOid, Typmod: col.Typmod})
		var m types.Datum
		if col.HasMissingValue {
			v, _, err := codec.DecodeDatum(col.TypeOid, col.MissingValue)
			if err != nil {
				return nil, err
			}
			m = v
			hasMissing = true
		}
		ti.missing = append(ti.missing, m)
	}
	if !hasMissing {
		ti.missing = nil
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[tableKey]*tableInfo{}
	}
	c.m[k] = ti
	c.mu.Unlock()
	return ti, nil
}

func (ti *tableInfo) decode(b []byte) ([]types.Datum, error) {
	return codec.DecodeRow(ti.oids, ti.missing, b)
}

func (ti *tableInfo) index(id uint32) *meridianpb.IndexDesc {
	for _, ix := range ti.indexes {
		if ix.Id == id {
			return ix
		}
	}
	return nil
}

func indexVals(ix *meridianpb.IndexDesc, row []types.Datum) []types.Datum {
	vals := make([]types.Datum, len(ix.Columns))
	for i, c := range ix.Columns {
		vals[i] = row[c]
	}
	return vals
}

// rowSuffix returns the key suffix (codec.RowSuffix) of row, whose row
// id is rowID.
func (ti *tableInfo) rowSuffix(row []types.Datum, rowID uint64) []byte {
	if ti.cluster == nil {
		return codec.RowSuffix(make([]byte, 0, 8), nil, rowID)
	}
	return codec.RowSuffix(nil, indexVals(ti.cluster, row), rowID)
}

// moves reports whether updating row a into b changes the row's key: the
// table is clustered and a cluster column's value changes.
func (ti *tableInfo) moves(a, b []types.Datum) bool {
	return ti.cluster != nil && !sameIndexKey(ti.cluster, a, b)
}

// bucketOf returns the bucket of a row of the table.
func (ti *tableInfo) bucketOf(row []types.Datum) uint32 {
	if ti.desc.Dist == meridianpb.DistKind_DIST_REPLICATION {
		return 0
	}
	vals := make([]types.Datum, len(ti.desc.DistColumns))
	for i, c := range ti.desc.DistColumns {
		vals[i] = row[c]
	}
	return codec.Bucket(vals)
}
