// Package planner turns parsed statements into logical plans: it
// resolves names against the catalog, types every expression
// (PostgreSQL's rules for literals, parameters, operators and casts),
// rewrites each query block's conditions, and builds the block's FROM
// tree (joins, derived tables, subqueries turned into joins), which
// coordinator/optimizer then places on the datanodes.
//
//	parsed AST ──analyze──> typed Expr trees (meridianpb.Expr), per block:
//	           ──normalize──> conditions rewritten (rewrite.go, closure.go)
//	           ──build──────> Select{From: Rel tree | Access, GroupBy, Aggs,
//	                          Output, Sort, Limit, Subqueries}
//	                          Rel: Scan (filter, route, index) · Filter ·
//	                               Project · Join (keys, residual) ·
//	                               Query (derived table) · Values · SetOp · CTE
//
// # Rewrite rules
//
// A block's conditions (its WHERE and inner joins' ON, over the FROM row)
// are normalized before the FROM tree is built; an outer join's ON
// condition on its own. Each rule keeps PostgreSQL's results:
//
//   - Constant folding (Fold): sub-expressions without columns,
//     parameters, outer references, subqueries or session functions are
//     computed at plan time; x AND true is x, false AND ... is false, x OR
//     true is true, NOT NOT x is x, a strict function of NULL is NULL,
//     CASE and COALESCE drop constant branches. A constant whose
//     evaluation fails (1/0) is kept, to fail when it runs.
//   - OR factorization: (a AND x) OR (a AND y) is a AND (x OR y), so
//     join keys common to every branch become hash keys (TPC-H Q19); an
//     OR of equalities of one column is an IN list; an OR spanning
//     tables also filters each table with what every branch says about it.
//   - Transitive closure: columns equal to each other (same type) form a
//     class; a value pinning one member (= v, IN (...)) pins all, so
//     t1.k = t2.k AND t1.k = 5 filters and routes both scans. Through an
//     outer join's keys the value reaches the side it may filter.
//   - Predicate pushdown: a condition on one FROM item filters that item
//     (pushFilter): into a scan (its route and index choice), below
//     joins as their kind allows, and into a derived table (pushdown.go)
//     unless LIMIT, DISTINCT, window functions or grouping sets forbid.
//   - DISTINCT elimination: DISTINCT, or GROUP BY without aggregates,
//     over a single table's unique NOT NULL key is dropped.
//   - Decorrelation (decorrelate.go): EXISTS / IN / NOT EXISTS become
//     semi and anti joins, NOT IN an anti join when neither side can be
//     NULL, correlated scalar aggregates (count too, read as 0 when no row
//     matches) left joins with a grouped derived table, narrowed to the
//     keys the enclosing query can ask for (reduceScalarJoin).
//
// An UPDATE or DELETE that reads other tables (FROM, USING, subqueries
// reading the target row, WITH) is planned as such a query over the
// target and the other tables, whose rows name the target rows
// (dmljoin.go); the others read their table through an Access.
//
// Plans are built once per prepared statement and hold parameters as
// EXPR_PARAM; Bind replaces them with constants before execution, and the
// route is computed then, so a point lookup with $1 goes to one datanode.
// Format prints a plan; testdata/rules holds the rules' golden plans.
// Sequence functions are never bound: the coordinator evaluates them for
// every row (sequence.go).
package planner
