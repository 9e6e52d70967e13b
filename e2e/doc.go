// Package e2e tests Meridian as its users run it: the real coordinator,
// datanode, gtm, cm and om binaries, each a separate process, started by
// om/cluster with BinDir set (only etcd stays embedded in the test
// process). Clients are the real ones too: pgx over the wire, psql and
// pgbench.
//
//	go test -count=1 -timeout 15m ./e2e/
//
// TestMain builds the binaries once into a temporary directory; each test
// starts its own cluster in t.TempDir() with startCluster, which stops every
// process through t.Cleanup and, when the test failed, prints the tail of
// each node's log.
package e2e
