package storage

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// counter hands out a monotonically increasing uint64 sequence (row version
// seqs, local xids) that never repeats across restarts, in the manner of a
// TSO window: a high-water mark hwm is stored, synced, before any value
// above the previous mark is handed out, and a restart resumes above the
// stored mark.
//
// Invariants: every value returned is <= the durable hwm; values are
// unique and increasing in the order next returns them per caller; the
// first value after Open is stored hwm + 1. The values between the last one
// handed out and hwm are skipped by a restart.
type counter struct {
	db   *pebble.DB
	key  []byte
	step uint64

	cur   atomic.Uint64 // last value handed out
	limit atomic.Uint64 // durable hwm

	mu sync.Mutex // serializes extensions of the window
}

// loadCounter reads the stored hwm of key (0 when absent).
func loadCounter(db *pebble.DB, key []byte, step uint64) (*counter, error) {
	c := &counter{db: db, key: key, step: step}
	v, closer, err := db.Get(key)
	switch {
	case err == pebble.ErrNotFound:
	case err != nil:
		return nil, ioError(err, "read counter %q", key[3:])
	default:
		defer closer.Close()
		if len(v) != 8 {
			return nil, corrupt("counter %q has %d bytes", key[3:], len(v))
		}
		hwm := binary.BigEndian.Uint64(v)
		c.cur.Store(hwm)
		c.limit.Store(hwm)
	}
	return c, nil
}

// next returns the next value, first extending and syncing the window when
// the value would pass it.
func (c *counter) next() (uint64, error) {
	v := c.cur.Add(1)
	if v <= c.limit.Load() {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if lim := c.limit.Load(); v > lim {
		hwm := v + c.step
		if err := c.db.Set(c.key, binary.BigEndian.AppendUint64(nil, hwm), pebble.Sync); err != nil {
			return 0, ioError(err, "persist counter %q", c.key[3:])
		}
		c.limit.Store(hwm)
	}
	return v, nil
}

// last returns the last value handed out.
func (c *counter) last() uint64 { return c.cur.Load() }

func (c *counter) String() string {
	return fmt.Sprintf("%s=%d(hwm %d)", c.key[3:], c.cur.Load(), c.limit.Load())
}

// nextN reserves n consecutive values and returns the first.
func (c *counter) nextN(n uint64) (uint64, error) {
	v := c.cur.Add(n)
	if v > c.limit.Load() {
		c.mu.Lock()
		if lim := c.limit.Load(); v > lim {
			hwm := v + c.step
			if err := c.db.Set(c.key, binary.BigEndian.AppendUint64(nil, hwm), pebble.Sync); err != nil {
				c.mu.Unlock()
				return 0, ioError(err, "persist counter %q", c.key[3:])
			}
			c.limit.Store(hwm)
		}
		c.mu.Unlock()
	}
	return v - n + 1, nil
}
