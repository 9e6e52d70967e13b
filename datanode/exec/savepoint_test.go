package exec

import (
	"context"
	"errors"
	"testing"

	"github.com/meridian-db/meridian/datanode/storage"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// TestRollbackTo: a transaction this node has is rolled back to the
// command; one it does not know is started empty and fenced, unless it
// must exist (it wrote here before the savepoint), which is 40001, as is
// one that aborted.
func TestRollbackTo(t *testing.T) {
	ctx := context.Background()
	x := &Executor{Self: 1, st: openEngine(t)}
	txn := x.st.Txn(10)
	if err := txn.Insert(ctx, []byte("a"), []byte("v"), 1); err != nil {
		t.Fatal(err)
	}
	if err := txn.Insert(ctx, []byte("b"), []byte("v"), 2); err != nil {
		t.Fatal(err)
	}
	if err := x.RollbackTo(10, 2, 3, true); err != nil {
		t.Fatal(err)
	}
	snap := storage.Snapshot{CSN: storage.Latest, Txn: txn, CommandID: 4}
	for k, want := range map[string]bool{"a": true, "b": false} {
		if _, _, found, err := x.st.Get(ctx, snap, []byte(k)); err != nil || found != want {
			t.Fatalf("%s: found %v, %v", k, found, err)
		}
	}

	if err := x.RollbackTo(11, 2, 3, true); pgerr.Code(err) != pgerr.SerializationFailure {
		t.Fatalf("unknown transaction that must exist: %v", err)
	}
	if err := x.RollbackTo(12, 2, 3, false); err != nil {
		t.Fatal(err)
	}
	late, ok := x.st.LookupTxn(12)
	if !ok || late.State() != storage.TxnInProgress {
		t.Fatalf("transaction 12 not started: %v", late)
	}
	if err := late.Insert(ctx, []byte("late"), []byte("v"), 3); !errors.Is(err, storage.ErrTxnNotActive) {
		t.Fatalf("late write of a rolled-back command: %v", err)
	}
	if err := x.Abort(12); err != nil {
		t.Fatal(err)
	}
	if err := x.RollbackTo(12, 2, 3, false); pgerr.Code(err) != pgerr.SerializationFailure {
		t.Fatalf("aborted transaction: %v", err)
	}
}
