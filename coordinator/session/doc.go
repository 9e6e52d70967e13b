// Package session is the coordinator's SQL engine behind the wire
// protocol: one Session per client connection, with its settings,
// prepared statements, portals and transaction. It plans statements with
// coordinator/planner, routes them over the bucket map (cm/routing), runs
// their datanode parts over gRPC in parallel and finishes them on the
// coordinator (aggregation, sort, distinct, limit), and drives commits:
//
//	autocommit write on one datanode   Exec(commit=true): one round trip;
//	                                   the datanode takes the commit CSN
//	write on several datanodes         Exec on each, then Prepare on each,
//	                                   Commit CSN from the GTM, Commit(csn)
//	                                   on each; any failure before the
//	                                   decision aborts everywhere
//	write of a table with global       rows first; the datanodes answer with
//	unique indexes (globalindex.go)    the entry changes, written next on the
//	                                   datanodes owning the keys' buckets;
//	                                   then commit as above
//	read on one datanode (gtm-lite)    the datanode's latest committed
//	                                   state; no GTM call
//	read on several datanodes          a snapshot CSN from the GTM
package session
