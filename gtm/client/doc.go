// Package client is the GTM client of coordinators and datanodes: it
// finds the GTM leader through etcd and batches concurrent callers into
// few requests on one StreamCSN stream.
//
// Requests travel on the raw CSN protocol (gtm/server/rawcsn.go: four
// bytes a request, seventeen an answer, on a TCP connection to the
// leader's port), or on a gRPC StreamCSN with Config.GRPCStream; both
// carry the same requests, answered in order.
//
// Callers join the pending batch. One request serves every Snapshot
// caller of a batch and, with commit_count = k, every one of its k Commit
// callers, who take first_commit_csn + 0 .. k-1. The loop goroutine sends
// the pending batch as soon as fewer than maxInFlight (2) requests are
// unanswered; a receiver goroutine reads the answers, which the leader
// sends in request order, and wakes each batch's callers.
//
//	Commit ─┐                  ┌── batch n+2 (filling) ◀── new callers
//	Commit ─┼─▶ pending batch ─┤
//	Snapshot┘                  └─▶ loop ──req n+1, req n──▶ GTM leader
//	                                                          │
//	  callers of batch n wake ◀── receive ◀── answer n ───────┘
//
// With two requests in flight the leader works on one while the answer
// to the other travels back and the next batch fills, so a batch waits
// for a free slot a fraction of a round trip (in BenchmarkGetCSN64 about
// 20 µs, against 70 µs with one request in flight and a round trip of
// 75 µs). Before sending, the loop yields once (runtime.Gosched) if the
// last batch answered had several callers, so that those just woken can
// join; a lone caller is not held up.
//
// A caller's batch is sent after the caller joined it, and the leader
// hands out CSNs from one counter that only grows (across terms too), so
// a Commit returns a CSN larger than every CSN and snapshot returned by a
// call that finished before it began, and a Snapshot one at least as
// large. A snapshot from batch n is taken at the leader after every
// Commit of batch n was allocated, so it is larger than all of them;
// those transactions are still in their commit protocol, which
// datanodes make readers wait for.
//
// The leader is the key under gtm/leader/ with the lowest create revision
// (an etcd election); the Client watches that prefix and opens a stream
// to the new leader on change. Requests that a broken stream left
// unanswered (the leader failed, or did not answer within RPCTimeout) are
// sent again, on a new stream to the leader once there is one, until
// every caller waiting on them has given up; the CSNs the lost answers
// held are skipped. A caller whose ctx ends while the GTM is unreachable
// gets an error with SQLSTATE 08006 (pgerr.ConnectionFailure) that also
// matches its ctx error.
//
//	c, err := client.New(ctx, client.Config{Etcd: cli, Keys: meta.NewKeys("meridian")})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	snap, err := c.Snapshot(ctx)
//	...
//	csn, err := c.Commit(ctx)
package client
