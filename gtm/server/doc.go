// Package server is the GTM: the service that hands out commit sequence
// numbers (CSNs), the global clock of Meridian's snapshots.
//
// # One counter
//
// The GTM keeps one 64-bit counter, next: the smallest CSN not handed out
// yet. A commit takes next and increments it; a batch of k commits takes k
// consecutive values; a snapshot is next itself, read after the batch:
// every CSN below a snapshot has been handed out, none at or above it. A
// row version committed with CSN c is visible to snapshot S when c < S.
// CSN 0 is never handed out; it means "none".
//
// # Persist the window ahead (after PD's pkg/tso/tso.go)
//
// The counter lives in memory. What etcd holds is a high-water mark, hwm
// (key gtm/hwm, decimal): a promise that no CSN at or above it was handed
// out. The leader never hands out a CSN >= the hwm it has persisted, and a
// new leader starts next at the stored hwm. So CSNs only grow, across
// failover and restart alike, at the price of skipping the unused rest of
// a window (at most Config.Window CSNs) when a leader changes.
//
// When less than half a window remains, the leader writes hwm = next +
// Window in the background while it keeps serving the other half; an RPC
// waits only if CSNs are handed out faster than etcd persists them.
//
//	 handed out (< next) │ window: may be handed out │ never yet
//	─────────────────────┼───────────────────────────┼──────────────▶ CSN
//	                    next                        hwm (stored in etcd)
//
//	 once hwm-next <= Window/2: persist hwm' = next+Window, serving meanwhile
//
// # Leadership
//
// Replicas elect a leader with an etcd concurrency.Election under
// gtm/leader; the value is the leader's gRPC address, which clients watch.
//
//	          etcd: gtm/leader/<lease> = addr     gtm/hwm = H
//	              ▲   campaign / resign              ▲ Txn: if our election
//	              │                                  │ key still has our
//	┌─────────────┴──────────┐                       │ create revision
//	│ replica A (leader)     │───────────────────────┘
//	│  term: Allocator ──────┼──▶ StreamCSN ◀── coordinators, datanodes
//	│        keepLease       │    GetCSN       (gtm/client, batched)
//	│        persistLoop     │
//	└────────────────────────┘
//	┌────────────────────────┐
//	│ replica B (follower)   │──▶ GetCSN: Unavailable, "leader is A"
//	└────────────────────────┘
//
// A term begins when the campaign is won: the leader reads gtm/hwm in a
// transaction that checks its election key, resets the allocator there,
// and persists a first window before it serves. Every hwm write is a
// transaction conditioned on that key (and on gtm/hwm being unchanged
// since the term last read or wrote it), so a deposed leader cannot write.
//
// The leader also keeps a local lease deadline: the send time of its last
// successful keepalive plus the TTL, less a margin. etcd cannot expire the
// lease, and so cannot elect a successor, before that deadline. The
// handler re-checks term and deadline after allocating and before it
// answers; past the deadline it answers Unavailable instead.
//
// # Requests
//
// GetCSN is one request, k commit CSNs and a snapshot. StreamCSN carries
// many on one stream, which gtm/client keeps open to the leader with a
// few requests in flight: it costs a gRPC message each way per request
// instead of a call. The raw CSN protocol (rawcsn.go) carries the same
// requests as fixed frames on a plain TCP connection to the same port,
// told apart from gRPC by its first four bytes; gtm/client uses it by
// default, as it costs fewer syscalls and goroutine hand-offs per round
// trip, and a caller's wait is a round trip. One goroutine per stream answers its requests in
// order, each as GetCSN would when the leader reads it, so a request
// sent after another was answered gets larger CSNs. An error ends the
// stream; Close ends idle streams too, after the answer being sent.
//
// Invariants:
//
//   - every CSN handed out is < the hwm persisted in etcd at that time;
//   - the stored hwm never decreases;
//   - a term's first CSN is >= the stored hwm it read, so it is greater
//     than every CSN any earlier term handed out;
//   - a replica serves only while its election key is live and before its
//     local lease deadline.
//
// # Example
//
//	cfg := server.NewConfig()
//	cfg.Name, cfg.ListenAddr = "gtm-1", "127.0.0.1:0"
//	s, err := server.Start(ctx, cfg, etcdClient)
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	err = s.WaitLeader(ctx) // only if this one must lead
package server
