// Package sequence is the coordinator's side of global sequences: the
// options of CREATE/ALTER SEQUENCE (PostgreSQL's checks and defaults),
// relation names given as text (nextval('s')), and the cache of values
// that serves nextval without a GTM call.
//
// The GTM leader owns every sequence's state (gtm/server/sequences.go) and
// hands out runs of consecutive values; a coordinator caches one run per
// sequence and hands its values to its sessions in order:
//
//	session ─nextval─▶ Cache ──run empty──▶ GTM leader: NextValues(id, n)
//	session ─nextval─▶   │  ◀── run [first, first+inc, ...) of gen g ─┘
//	                     │
//	etcd gtm/seq/<id> ──watch: generation > g ──▶ drop the cached run
//
// Guarantees, and where they differ from PostgreSQL:
//
//   - Values are unique cluster-wide (until a CYCLE wraps or a setval /
//     ALTER ... RESTART goes back), across GTM failover and coordinator
//     restarts: the GTM persists a limit ahead of what it hands out, and a
//     new leader continues above it.
//   - The values one coordinator hands out increase (decrease for a
//     negative increment), so every session's values do: within a
//     coordinator, sessions interleave as with PostgreSQL's CACHE 1.
//     Across coordinators there is no order: like PostgreSQL sessions with
//     CACHE > 1, coordinator A may hand out 101 after B handed out 205.
//   - Gaps: a coordinator that restarts loses the rest of its run, and a
//     GTM failover skips the reservation of the old leader; PostgreSQL
//     loses cached values and up to 32 logged ones likewise.
//   - The run size adapts to the rate (Ranges); CACHE sets its minimum.
//   - setval and ALTER SEQUENCE take effect at once in their session and
//     coordinator; other coordinators drop their cached run when they see
//     the GTM's new record (the watch: milliseconds), and a nextval there
//     in between may still return a value of the old run, as a
//     PostgreSQL session with a cache does until it is used up.
package sequence
