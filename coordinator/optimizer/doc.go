// Package optimizer turns the planner's logical query blocks into
// distributed plans: it chooses join orders and algorithms, where each
// operator runs, and which rows move between nodes, by one cost model
// that counts CPU, storage reads and — dearest — bytes sent over the
// network.
//
//	planner.Select ──PlanSelect──> Plan (operators + Streams, values unbound)
//	                                 │
//	                      Instantiate(params, subquery values, bucket map)
//	                                 ▼
//	             meridianpb.Plan: fragments cut at Streams, placed on groups
//
//	    Fragment 0 [coordinator]         Limit ← Merge Receive
//	    Fragment 1 [dn 1,2,3] GATHER     Top-N ← Final Agg ← Receive
//	    Fragment 2 [dn 1,2,3] REDISTRIBUTE(k)  Partial Agg ← Hash Join
//	                                              ├ Scan t (hashed by k)
//	                                              └ Receive ← BROADCAST small side
//
// # Distributions
//
// Building bottom-up, every subplan knows where its rows are (dist): on the
// coordinator, hashed over the datanodes by some columns (a table's
// distribution key, or the key of a REDISTRIBUTE), spread with no known
// key, replicated on every datanode, or constant (VALUES, a WITH query's
// rows, shipped into the plan). An operator that needs rows together —
// a join on keys, a grouping, a window partition — uses what is already
// there when it can (a co-located join moves nothing) and otherwise adds
// the cheapest Stream: REDISTRIBUTE one or both sides, BROADCAST a small
// one, or GATHER to the coordinator.
//
// # Estimates
//
// Row counts and selectivities come from ANALYZE (the catalog's
// TableStatistics: distinct values, NULL fraction, most common values and
// a histogram per column) and follow each column through the plan (colStat),
// so that join and group estimates use the keys' distinct counts. Tables
// never analyzed are guessed as 1,000 rows with PostgreSQL's default
// selectivities.
//
// # Joins
//
// Inner joins of a FROM clause are an island (joinorder.go): reordered by
// dynamic programming over subsets of relations, keeping per subset the
// cheapest plan for each distribution of its rows (interesting
// distributions, as interesting orders in System R), greedily beyond ten
// relations. Semi and anti joins are first pushed down onto the relation
// their conditions read. Each join is either a hash join, an index
// nested-loop join (outer rows sent to where an index of the inner table
// finds their matches; indexjoin.go), a merge join (enable_hashjoin off), or
// a nested loop when there is no equality key.
//
// # Binding and placing
//
// A Plan is made once per prepared statement and session. Each execution
// binds it (Instantiate): parameters and outer references become
// constants, uncorrelated subqueries are computed and inlined, scans on a
// pinned distribution key are pruned to their buckets, and each fragment
// gets its datanode groups — all of them when it receives a
// REDISTRIBUTE stream, those owning its scans' buckets otherwise, one
// group for a fragment reading only replicated or constant rows.
//
// EXPLAIN renders the placed plan (Explain); the golden files in
// testdata/ (TestPlans, -rewrite) show what the optimizer chooses.
package optimizer
