package codec

import (
	"encoding/binary"

	"github.com/meridian-db/meridian/sql/types"
)

// Global index entries. A global unique index (one that does not contain
// every distribution column of its hash-distributed table) keeps its
// entries apart from the rows: each entry lives in the bucket of its own
// key, on the datanode that owns that bucket, so that two rows with equal
// keys — wherever they are — meet at one entry.
//
//	global: 'g' | index id (4) | bucket (2) | key(col1) ... key(colN) → row bucket (2) | row id (8)
//
// bucket is Bucket(vals), the hash rows are placed by, so the entries of
// one bucket are one key range and move with it. Keys holding a NULL have
// no entry: they never conflict and no lookup by equality finds them.

const globalIndexTag = 'g'

// GlobalIndexPrefix is the prefix of every entry of a global index.
func GlobalIndexPrefix(index uint32) []byte {
	b := make([]byte, 0, 7)
	b = append(b, globalIndexTag)
	return binary.BigEndian.AppendUint32(b, index)
}

// GlobalIndexBucketPrefix is the prefix of the entries of one bucket of a
// global index.
func GlobalIndexBucketPrefix(index, bucket uint32) []byte {
	return binary.BigEndian.AppendUint16(GlobalIndexPrefix(index), uint16(bucket))
}

// GlobalIndexKey is the logical key of the entry for vals (none NULL) in
// bucket Bucket(vals).
func GlobalIndexKey(index uint32, vals []types.Datum) (key []byte, bucket uint32) {
	bucket = Bucket(vals)
	key = GlobalIndexBucketPrefix(index, bucket)
	for _, v := range vals {
		key = AppendKey(key, v)
	}
	return key, bucket
}

// HasNull reports whether vals holds a NULL (such a key has no global
// index entry).
func HasNull(vals []types.Datum) bool {
	for _, v := range vals {
		if v == nil {
			return true
		}
	}
	return false
}
