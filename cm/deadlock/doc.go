// Package deadlock finds deadlocks among transactions that wait for row
// locks on several datanodes. It is the pure core of the CM leader's
// global deadlock detector (cm/server/deadlock.go does the I/O): given the
// wait-for edges every datanode reports, it finds the cycles and the wait
// to break in each.
//
//	dn1: T1 ──waits for──> T2        T1 ──> T2
//	dn2: T2 ──waits for──> T3   =>    ^      │      one cycle: break the wait
//	dn3: T3 ──waits for──> T1        └─ T3 <─┘      of the victim's waiter
//
// # Victim
//
// PostgreSQL has no detector process: a backend that has waited
// deadlock_timeout checks once whether it closes a cycle and, if so,
// aborts itself. So the victim is the member of the cycle whose
// deadlock_timeout expired first after the cycle formed. Find does the
// same from the edges' ages: the cycle formed when its newest wait began;
// among the waits whose timeout expires at or after that moment, the one
// that expires first is the victim, once it has expired (until then the
// cycle is not ripe, and the next poll looks again). With equal timeouts
// that is the first transaction to wait, as in PostgreSQL's isolation
// tests; a session with a longer deadlock_timeout is spared.
//
// # Phantom cycles
//
// Edges are read from the datanodes at slightly different moments, so a
// wait that ended on one datanode while another was read could complete a
// cycle that never existed. The caller therefore confirms a cycle before
// breaking it: it asks each datanode again whether every wait of the
// cycle, by its id, is still in progress. A wait keeps its id from its
// start to its end, so a wait seen in the poll and again in the
// confirmation lasted all along; the confirmations all come after the
// poll, so at the end of the poll every wait of the cycle existed at once.
package deadlock
