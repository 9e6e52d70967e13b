// Package codec encodes Meridian's data: rows and single datums as
// values (compact, type-directed), datums as order-preserving keys, the
// logical storage keys of table rows and index entries, and the bucket
// hash that places a row.
//
// Logical storage keys (datanode/storage adds the version suffix):
//
//	row:    'r' | table id (4) | bucket (2) | row id (8)          → row value
//	index:  'i' | index id (4) | key(col1) ... key(colN) [| row id] → bucket (2) | row id (8)
//	global: 'g' | index id (4) | bucket (2) | key(col1) ... key(colN) → bucket (2) | row id (8)
//
// A bucket's rows are contiguous ('r', table, bucket prefix), so a bucket
// moves as a key range. Index entries are ordered by indexed values so an
// equality lookup is one seek; the row id suffix makes entries of a
// non-unique index (or a unique one holding a NULL) distinct. Entries of
// a global unique index are in the bucket of their own key (globalkey.go).
package codec
