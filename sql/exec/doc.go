// Package exec is Meridian's execution engine: the physical operators
// that coordinators and datanodes both run, built from the plan nodes of
// a distributed plan (proto/plan.proto).
//
//	              Build(PlanNode)
//	plan fragment ───────────────> operator tree ──Next──> batches
//
//	Scan (datanode) ─┐
//	Recv (stream)  ──┼─> Filter ─> Project ─> HashJoin ─> HashAgg ─> Sort ─> Limit
//	Values, RowsRef ─┘                         (spills)    (spills)  (spills)
//
// Operators are pull-based iterators over batches of rows (about
// BatchSize rows each); a batch's rows are []types.Datum. The operators
// that must see all of an input before they emit — the build side of a
// hash join, a hash aggregation, a sort — hold rows up to a memory budget
// (Env.WorkMem) and then spill to temporary files: a sort writes sorted
// runs and merges them, an aggregation and a join partition their
// remaining input by a hash of the key and process the partitions one at
// a time. Window functions and INTERSECT/EXCEPT hold their input in
// memory.
//
// Where an operator's leaves come from is the caller's: Env.Scan reads a
// table on a datanode, Env.Recv a stream from another fragment, Env.RowsRef
// rows the coordinator computed (WITH queries). Env.Compile lets the
// coordinator evaluate subqueries inside expressions.
//
// Aggregates run in one phase (AggFull) or two (AggPartial on each
// datanode, AggFinal after the partial states are brought together), with
// the aggregate functions of sql/agg.
package exec
