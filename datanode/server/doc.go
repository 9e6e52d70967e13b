// Package server is a datanode process: it opens storage, connects to the
// GTM, serves the DataNode gRPC service over the executor, registers in
// etcd and serves /metrics and /health.
//
// Shutdown order (Close): deregister (etcd lease revoked) so coordinators
// stop routing here, stop gRPC (in-flight RPCs drain), close the GTM
// client, close storage, stop HTTP.
package server
