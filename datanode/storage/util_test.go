package storage

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
)

type atomicCSN struct{ v atomic.Uint64 }

func (c *atomicCSN) next(context.Context) (uint64, error) { return c.v.Add(1), nil }

// increment adds one to the counter at key in a READ COMMITTED style
// transaction, retrying on write conflicts.
func increment(ctx context.Context, e *Engine, gxid uint64, key string, csn *atomicCSN) error {
	txn := e.Txn(gxid)
	for {
		v, seq, _, err := e.GetLatest(ctx, []byte(key), txn)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return err
		}
		err = txn.Write(ctx, []byte(key), []byte(strconv.Itoa(n+1)), 0, seq)
		if errors.Is(err, ErrWriteConflict) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = txn.CommitOnePhase(ctx, csn.next)
		return err
	}
}

func atoiT(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
