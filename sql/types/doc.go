// Package types is Meridian's SQL type system: the supported PostgreSQL
// types (by OID), their Go datum representation, text and binary wire
// formats, comparison and typmod coercion.
//
// Datums are plain Go values:
//
//	NULL                    nil
//	smallint/int/bigint     int64
//	real/double precision   float64
//	numeric                 *apd.Decimal
//	boolean                 bool
//	text/varchar/char       string
//	bytea                   []byte
//	date                    DateVal (days since 1970-01-01)
//	timestamp/timestamptz   time.Time (UTC)
//	interval                IntervalVal
//
// A datum's SQL type always travels beside it (column descriptors, Expr
// type OIDs); the Go value alone does not say whether an int64 is an int2
// or an int8.
package types
