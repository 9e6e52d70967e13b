package prepared

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Janitor finishes the records nobody else would. A datanode's resolver
// looks at the record of a transaction it holds prepared; once no
// participant holds it prepared any more, nothing but this sweep sees
// the record:
//
//	COMMIT_DECIDED, COMMITTED, ABORTED  the finisher died after every
//	                                    participant ended it, before it
//	                                    deleted the record: Finish
//	PREPARING                           its coordinator is gone (or
//	                                    restarted) before any participant
//	                                    prepared: swap to ABORTED, Finish
//	PREPARED                            the user's: left alone
//
// A record is touched only once it has stayed unchanged (same revision)
// for After, so a live finisher is not raced needlessly (racing is safe:
// Finish is idempotent). Every coordinator runs one.
type Janitor struct {
	Store        *Store
	Participants Participants
	CSNs         CSNSource
	After        time.Duration
	// Gone reports whether the coordinator that began transaction gxid is
	// no longer registered, or restarted since.
	Gone func(ctx context.Context, gxid uint64) (bool, error)
	Log  *slog.Logger

	seen map[string]seenRec // gid → the revision first seen, and when
}

type seenRec struct {
	rev   int64
	since time.Time
}

// Run sweeps every interval until ctx ends.
func (j *Janitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			j.Once(ctx)
		}
	}
}

// Once makes one sweep.
func (j *Janitor) Once(ctx context.Context) {
	entries, err := j.Store.entries(ctx)
	if err != nil {
		j.Log.Debug("prepared transactions sweep", "err", err)
		return
	}
	now := time.Now()
	seen := make(map[string]seenRec, len(entries))
	for _, e := range entries {
		rec := e.rec
		if rec.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARED {
			continue
		}
		s, ok := j.seen[rec.Gid]
		if !ok || s.rev != e.rev {
			s = seenRec{rev: e.rev, since: now}
		}
		seen[rec.Gid] = s
		if now.Sub(s.since) < j.After {
			continue
		}
		if rec.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARING {
			gone, err := j.Gone(ctx, rec.Gxid)
			if err != nil || !gone {
				continue
			}
			rec.State = meridianpb.PreparedXactState_PREPARED_XACT_ABORTED
			if ok, err := j.Store.Swap(ctx, e.rev, rec); err != nil || !ok {
				continue
			}
			j.Log.Warn("PREPARE TRANSACTION's coordinator is gone; aborting it", "gid", rec.Gid, "gxid", rec.Gxid)
		}
		state, err := Finish(ctx, j.Store, j.Participants, j.CSNs, rec.Gid, rec.Gxid)
		switch {
		case err == nil:
			j.Log.Info("finished a prepared transaction left behind", "gid", rec.Gid, "gxid", rec.Gxid, "outcome", state)
		case errors.Is(err, ErrUnfinished) && now.Sub(s.since) > 10*j.After:
			// Stuck (a participant long unreachable, or refusing): say so.
			j.Log.Warn("prepared transaction still not finished", "gid", rec.Gid, "since", s.since, "err", err)
		case errors.Is(err, ErrUnfinished):
			j.Log.Debug("prepared transaction not finished yet", "gid", rec.Gid, "err", err)
		default:
			j.Log.Warn("finish a prepared transaction", "gid", rec.Gid, "err", err)
		}
	}
	j.seen = seen
}
