// Package planner turns parsed statements into plans the coordinator
// runs: it resolves names against the catalog, types every expression
// (PostgreSQL's rules for literals, parameters, operators and casts),
// pushes filters and projections down to the datanodes, picks an index
// for equality lookups, and works out which buckets — and so which
// datanodes — a statement can touch.
//
//	parsed AST ──analyze──> typed Expr trees (meridianpb.Expr)
//	           ──plan─────> Select / Insert / Update / Delete
//	                          ├─ DN part: ScanSpec (filter, projection,
//	                          │           index equality, limit)
//	                          ├─ route:   distribution-key values → buckets
//	                          └─ CN part: group/aggregate, having, output,
//	                                      distinct, sort, offset/limit
//
// Plans are built once per prepared statement and hold parameters as
// EXPR_PARAM; Bind replaces them with constants before execution, and the
// route is computed then, so a point lookup with $1 goes to one datanode.
// Sequence functions are never bound: the coordinator evaluates them for
// every row (sequence.go).
package planner
