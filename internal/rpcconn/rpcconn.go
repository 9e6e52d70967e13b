// Package rpcconn holds the dial options of Meridian's gRPC connections
// between its own processes.
//
// gRPC reconnects a broken connection with exponential backoff, by
// default up to two minutes, and meanwhile fails calls at once with the
// last dial error. A datanode or GTM that restarts (often several times
// in a row, in a failure) would then stay unreachable from a coordinator
// long after it is back. Between Meridian's processes, on a LAN, retrying
// every second at the most is cheap, so a restarted node is reachable
// again within about a second.
package rpcconn

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// MaxBackoff bounds the wait between two attempts to reconnect.
const MaxBackoff = time.Second

// Flow-control windows of Meridian's connections. Setting them turns off
// gRPC's bandwidth-delay probing (a PING per data burst, and window
// updates as the estimate grows), which on a LAN buys nothing and costs
// socket writes on every small RPC; the windows are credits, not buffers.
const (
	StreamWindow = 4 << 20
	ConnWindow   = 16 << 20
)

// ServerOptions are the windows a Meridian gRPC server sets (see
// StreamWindow).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InitialWindowSize(StreamWindow), grpc.InitialConnWindowSize(ConnWindow)}
}

// Options are the dial options of a connection to another Meridian
// process; callers append their own.
func Options(extra ...grpc.DialOption) []grpc.DialOption {
	return append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: MaxBackoff},
			MinConnectTimeout: 2 * time.Second,
		}),
	}, extra...)
}
