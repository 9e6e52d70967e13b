// Package etcdwatch is the list-then-watch loop the cm packages share: read
// a key range at one revision, watch it from the next revision, and
// whenever the watch breaks (compaction, etcd restart, lost leader, client
// reconnect) read everything again and watch from there. Readers therefore
// never miss a change and never apply one twice, whatever etcd went
// through.
//
//	Load (rev) ──> Watch(rev+1) ──events──> Apply
//	    ^               │ broken / compacted
//	    └── backoff <───┘
package etcdwatch
