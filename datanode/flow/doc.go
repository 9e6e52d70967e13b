// Package flow runs a datanode's part of distributed plans: the instances
// of plan fragments a coordinator sends with SetupFlow, and the streams
// between fragments (Exchange).
//
//	coordinator ──SetupFlow(plan, txn)──> flow on datanode A
//	                                        ├─ fragment 2 instance: Scan ─> ... ─> outbox
//	                                        │     REDISTRIBUTE: row → bucket → group
//	                                        │       group A: straight into A's inbox
//	                                        │       group B: Exchange stream ──> B's inbox
//	                                        └─ fragment 1 instance: Recv(inbox of 2) ─> Join ─> outbox
//	                                              GATHER: FlowMessage rows on the SetupFlow stream
//
// A flow lives as long as its SetupFlow call: the call's context is the
// flow's, so a coordinator that cancels the call (an error elsewhere, a
// cancel request, a statement timeout, a LIMIT reached) stops every
// fragment instance here, and a fragment that fails makes the call fail,
// which makes the coordinator cancel the others.
//
// Inboxes are created when the flow is registered. An Exchange stream that
// arrives before its consumer's flow waits for it (up to RegisterWait);
// one that arrives after the flow ended is read and dropped (the
// consumer stopped early, as a LIMIT does). Each inbox holds a few
// batches per producer: a producer that outruns its consumer blocks in
// gRPC's flow control, so memory stays bounded.
//
// Deadlock freedom rests on the plan's shape: every fragment instance runs
// in its own goroutine, each fragment has one output stream, inboxes
// merge their producers in arrival order (never one producer at a time),
// and fragments form a tree. Sorted merges of several producers happen
// only on the coordinator, whose streams come from independent calls.
package flow
