// Package logictest runs SQL logic tests — files in SQLite's sqllogictest
// format — over the PostgreSQL wire protocol, against an in-process
// Meridian cluster or against PostgreSQL itself.
//
// A test file is a list of records separated by blank lines:
//
//	statement ok                      the statement must succeed
//	CREATE TABLE t (a int) DISTRIBUTE BY HASH(a)
//
//	statement error 23505 duplicate   must fail; Meridian's extension: a
//	INSERT INTO t VALUES (1)          leading 5-character SQLSTATE is
//	                                  checked against the error's code, the
//	                                  rest is a regexp over its message
//
//	query IT rowsort                  types: I integer, T text, R real;
//	SELECT a, b FROM t                sort: nosort (default), rowsort,
//	----                              valuesort; an optional label ties
//	1 one                             queries that must agree
//	2 two
//
// Results are written either one value per line (SQLite's own layout) or
// one row per line with the values separated by single spaces; a large
// result may be given as "N values hashing to <md5>", the MD5 of the
// values, each followed by a newline, after sorting. NULL prints as NULL,
// an empty string as (empty), an R value as %.3f.
//
// skipif / onlyif <engine> guard the next record: the runner answers to
// the engine names in Config.Engines ("postgresql", plus "meridian" when
// the target is Meridian, so `onlyif meridian` marks Meridian-only
// behaviour such as DISTRIBUTE BY checks and 0A000 for features not built
// yet). hash-threshold is accepted; halt ends the file.
//
//	file ──Parse──> []Record ──Runner.Run──> Result (passed, unsupported,
//	                                          failed, skipped, failures
//	                                          with file:line)
//
// In corpus mode (Config.AllowUnsupported) a record that fails with
// SQLSTATE 0A000 counts as unsupported, and a failed statement poisons
// the tables it names: later records that mention them are counted as
// unsupported without running, since their data is incomplete.
//
// # Running
//
// TestLogic runs testdata/*.test against in-process clusters of one and
// of three datanodes (one cluster each; the runner drops the tables a
// file created before the next file starts). TestSQLLogicTestCorpus runs
// SQLite's corpus from ../shared/sqllogictest, when present, against
// three datanodes (every file) and one datanode (one file per family):
// every record must pass — all 212,502 do. The whole corpus takes about
// five minutes on two cores; -short runs one file per family on both
// (MERIDIAN_SLT=all runs every file on both, also with -short).
//
//	go test ./sql/logictest/                     # both suites
//	go test ./sql/logictest/ -run TestLogic -files 'select|types'
//	go test ./sql/logictest/ -run TestLogic -glob '/tmp/repro/*.test'
//
// # Expectations come from PostgreSQL
//
// The expected results of Meridian's own suites are PostgreSQL 15's
// answers, never Meridian's. -pg runs the suites (or the corpus) against
// a PostgreSQL server instead, each file in a fresh database with the
// DISTRIBUTE BY clauses removed; with -rewrite it writes PostgreSQL's
// results into the files (review the diff). The server must use the C
// collation (byte order, as Meridian) and the default session settings:
//
//	su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /tmp/pglogic --locale=C.UTF-8 -A trust"
//	su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pglogic -o '-p 5497 -k /tmp -c listen_addresses=127.0.0.1' start"
//	go test ./sql/logictest/ -run TestLogic -pg='postgres://postgres@127.0.0.1:5497/postgres?sslmode=disable' [-rewrite]
//	su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pglogic stop"
//
// A record PostgreSQL accepts and Meridian does not support yet keeps
// PostgreSQL's expectation and fails on Meridian: that failure is the
// to-do list. Records about Meridian alone (DISTRIBUTE BY, 0A000 for
// joins and subqueries) are marked `onlyif meridian`.
package logictest
