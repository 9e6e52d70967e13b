// Package prepared keeps the explicitly prepared transactions of a cluster
// (PREPARE TRANSACTION 'gid') in etcd and drives a decided one to its end.
// Coordinators use it for PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK
// PREPARED and pg_prepared_xacts; datanodes' resolvers use it to finish
// what a coordinator that died left half done.
//
// # Why etcd, and not the primary participant
//
// An automatic two-phase commit needs no record of its own: the primary
// participant's commit record is the decision, and a transaction left
// prepared is presumed aborted after a few seconds. A prepared transaction
// that the user decides must instead outlive any process and be found by
// its gid from any coordinator, its gid must be unique in the cluster, and
// nobody may decide it but the user. So each one has a record at
// prepared/<gid> (meridianpb.PreparedXact): gid, global transaction id,
// state, commit CSN, participants, owner, database, time. Every change is
// an etcd transaction conditioned on the key's mod revision, so racing
// deciders (a coordinator, a datanode's resolver) agree on one outcome.
//
//	           PREPARE TRANSACTION                 COMMIT PREPARED
//	(create) ──> PREPARING ──(all participants ──> PREPARED ──> COMMIT_DECIDED
//	                │         prepared durably)        │             │ CommitIntent on all,
//	                │ failed, or a participant's       │ ROLLBACK    │ then a CSN
//	                │ resolver timed it out            │ PREPARED    ▼
//	                └──────────────> ABORTED <─────────┘          COMMITTED(csn)
//	                                    │                              │
//	                         Abort on all participants      Commit(csn) on all
//	                                    └──────> (record deleted) <────┘
//
// Invariants:
//
//   - the record exists before any participant prepares the transaction
//     and is deleted only after every participant acknowledged the
//     outcome (a synced commit or abort record), so a participant that
//     finds no record (or one of another transaction) has nothing to wait
//     for: the transaction is over everywhere, or was never prepared;
//   - PREPARED is reached only when every participant prepared durably;
//     from PREPARED only the user moves it on;
//   - no commit CSN is taken before every participant is marked
//     committing (CommitIntent): readers skip the rows of an unmarked
//     prepared transaction without waiting, which is right only if its CSN,
//     if any, will be taken after they took their snapshot;
//   - COMMITTED and ABORTED are final; the CSN of COMMITTED is the one
//     every participant commits at.
//
// Finish is idempotent and may run in several places at once: intents,
// commits at the recorded CSN and aborts all repeat harmlessly, and the
// swap to COMMITTED is won by one CSN.
package prepared
