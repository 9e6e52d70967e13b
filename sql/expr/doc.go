// Package expr compiles Meridian's typed expression trees
// (meridianpb.Expr) into Go closures evaluated over a row of datums. The
// coordinator resolves names and types and inserts casts; this package
// trusts the types it is given and implements SQL semantics: three-valued
// logic, NULL propagation, overflow and division-by-zero errors with their
// SQLSTATEs. Coordinators and datanodes run the same code.
package expr
