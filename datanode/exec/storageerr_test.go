package exec

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// A statement timeout the storage reports (its own 57014 over the
// context's error) reaches the client with the storage's message once,
// not wrapped in a second copy of it; a bare context error gets its
// SQLSTATE here.
func TestStorageErrCanceled(t *testing.T) {
	timeout := pgerr.Wrap(context.DeadlineExceeded, pgerr.QueryCanceled, "")
	timeout.Message = "canceling statement due to statement timeout"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"storage timeout", timeout, "canceling statement due to statement timeout"},
		{"wrapped storage timeout", fmt.Errorf("scan: %w", timeout), "canceling statement due to statement timeout"},
		{"bare deadline", context.DeadlineExceeded, "canceling statement due to statement timeout: context deadline exceeded"},
		{"bare cancel", context.Canceled, "canceling statement due to user request: context canceled"},
	} {
		got := pgerr.As(storageErr(tc.err))
		if got.Code != pgerr.QueryCanceled || got.Message != tc.want {
			t.Errorf("%s: %s %q, want 57014 %q", tc.name, got.Code, got.Message, tc.want)
		}
	}
	if err := storageErr(storage.ErrWriteConflict); pgerr.Code(err) != pgerr.SerializationFailure {
		t.Errorf("write conflict: %v (%s)", err, pgerr.Code(err))
	}
}
