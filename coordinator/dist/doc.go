// Package dist runs distributed plans from a coordinator: it sends each
// datanode the plan (SetupFlow), reads the rows of the GATHER fragments
// from the datanodes' SetupFlow streams, and hands them to the root
// fragment's receive operators, which run on the coordinator.
//
//	           ┌─ SetupFlow stream, group 1 ─┐
//	Start ─────┼─ SetupFlow stream, group 2 ─┼─> reader goroutines ─> queues per (fragment[, group])
//	           └─ SetupFlow stream, group 3 ─┘                            │
//	root fragment: ... <─ Recv (any order) or merging Recv (sorted) <─────┘
//
// A stream that fails fails the run: its error (with its SQLSTATE) is
// what the root's receive operators return, and every other flow is
// canceled. Close cancels whatever still runs and waits for the readers.
//
// Backpressure: with one GATHER fragment the queues are bounded, so a
// slow client slows the datanodes down through gRPC's flow control. With
// several, one datanode's stream carries several fragments, and the root
// may read them one after the other (a hash join builds one side first):
// those queues are unbounded so that no fragment waits behind another.
package dist
