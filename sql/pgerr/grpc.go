package pgerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// ToStatus turns err into a gRPC status error that carries its SQLSTATE.
// Servers call it on every error they return.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isPg(err) {
		return err
	}
	e := As(err)
	c := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled):
		c = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		c = codes.DeadlineExceeded
	}
	st := status.New(c, e.Message)
	if withDetails, derr := st.WithDetails(&meridianpb.PgError{
		Code: e.Code, Message: e.Message, Detail: e.Detail, Hint: e.Hint,
	}); derr == nil {
		st = withDetails
	}
	return st.Err()
}

func isPg(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// FromStatus turns a gRPC error back into an *Error. Errors without a
// SQLSTATE detail become connection failures (08006) when the peer was
// unreachable, cancellations (57014) when cancelled, else internal errors.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if pe, ok := d.(*meridianpb.PgError); ok {
			return &Error{Code: pe.Code, Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint, cause: err}
		}
	}
	switch st.Code() {
	case codes.Unavailable:
		return &Error{Code: ConnectionFailure, Message: "node unavailable: " + st.Message(), cause: err}
	case codes.Canceled:
		return &Error{Code: QueryCanceled, Message: "canceling statement due to user request", cause: err}
	case codes.DeadlineExceeded:
		return &Error{Code: QueryCanceled, Message: "canceling statement due to statement timeout", cause: err}
	}
	return &Error{Code: InternalError, Message: st.Message(), cause: err}
}

// FromContext is the error of a statement whose context ended: the cause
// given to context.WithCancelCause when it is one of ours, else 57014 for
// a timeout or a cancellation.
func FromContext(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil && isPg(c) {
		return c
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return New(QueryCanceled, "canceling statement due to statement timeout")
	}
	return New(QueryCanceled, "canceling statement due to user request")
}
