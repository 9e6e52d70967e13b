// Package exec runs statement fragments on a datanode's storage: scans
// (heap or index lookup, filter, projection, limit), inserts, updates and
// deletes with local index maintenance and unique checks, and the
// transaction verbs (one-phase commit, prepare, commit, abort).
//
//	ExecRequest ──> table info (decoded schema, cached by id+version)
//	             ├─ scan:   buckets or index_eq → storage.Scan/Get → filter → project → emit
//	             ├─ insert: row id, row key, unique index entries (23505)
//	             ├─ update/delete: scan → write new version, keyed on the version read;
//	             │         a concurrent committed update is re-read and re-checked
//	             │         (READ COMMITTED) or fails with 40001 (REPEATABLE READ)
//	             └─ global index write: entries of global unique indexes, which the
//	                       writes above report instead of writing (globalindex.go)
//
// Rows are keyed by (table, bucket, row id); row ids are unique in the
// cluster (datanode number in the top bits), so a bucket can move between
// datanodes without renumbering.
package exec
