package serve

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// Recovered turns a panic into an internal error (XX000), logging its
// stack: a bug met by one request fails that request, never the process.
func Recovered(log *slog.Logger, where string, v any) error {
	log.Error("panic; the request fails", "where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return pgerr.New(pgerr.InternalError, "internal error in %s: %v", where, v)
}

// RecoverUnary is a gRPC interceptor that answers a panicking unary call
// with an internal error.
func RecoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = pgerr.ToStatus(Recovered(log, info.FullMethod, v))
			}
		}()
		return h(ctx, req)
	}
}

// RecoverStream is RecoverUnary for streaming calls.
func RecoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = pgerr.ToStatus(Recovered(log, info.FullMethod, v))
			}
		}()
		return h(srv, ss)
	}
}
