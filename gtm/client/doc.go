// Package client is the GTM client of coordinators and datanodes: it
// finds the GTM leader through etcd and batches concurrent callers into
// few GetCSN calls.
//
// At most one RPC is in flight per Client. Callers that arrive while it is
// out join the next one: a single GetCSN serves every waiting Snapshot
// caller and, with commit_count = k, every one of the k waiting Commit
// callers, who take first_commit_csn + 0 .. k-1.
//
//	Commit ─┐                 ┌──────── batch n+1 (filling) ◀── new callers
//	Commit ─┼─▶ pending batch │
//	Snapshot┘                 └─▶ loop ──GetCSN(k)──▶ GTM leader
//	                                │   ◀── first, snapshot
//	                                └─▶ close(batch.done): callers wake
//
// Before taking the next batch the loop yields once (runtime.Gosched) if
// the last batch had several callers, so that those it just woke can join;
// this roughly doubles the batch size under load, and costs nothing to a
// lone caller.
//
// A snapshot from batch n is taken at the leader after every Commit of
// batch n was allocated, so it is larger than all of them; those
// transactions are still in their commit protocol, which datanodes make
// readers wait for.
//
// The leader is the key under gtm/leader/ with the lowest create revision
// (an etcd election); the Client watches that prefix and redials on
// change. A failed RPC is retried, against the new leader once there is
// one, until every caller waiting on it has given up. A caller whose ctx
// ends while the GTM is unreachable gets an error with SQLSTATE 08006
// (pgerr.ConnectionFailure) that also matches its ctx error.
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
