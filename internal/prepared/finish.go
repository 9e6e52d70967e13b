package prepared

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/meridian-db/meridian/proto/meridianpb"
)

// Participants reaches the datanodes of a transaction. Each call is
// idempotent on the datanode: marking, committing at the same CSN and
// aborting repeat harmlessly, and a datanode that already ended the
// transaction the same way answers success.
type Participants interface {
	// CommitIntent marks the transaction committing on group
	// (meridianpb.DataNodeServer.CommitIntent).
	CommitIntent(ctx context.Context, group uint32, gxid uint64) error
	// Commit commits it at csn on group.
	Commit(ctx context.Context, group uint32, gxid, csn uint64) error
	// Abort rolls it back on group.
	Abort(ctx context.Context, group uint32, gxid uint64) error
}

// CSNSource hands out commit CSNs (the GTM client).
type CSNSource interface {
	Commit(ctx context.Context) (uint64, error)
}

// Finish drives the decided transaction gid (global id gxid) to its end:
//
//	COMMIT_DECIDED  CommitIntent on every participant, a CSN from the
//	                GTM, swap to COMMITTED(csn) — or adopt the CSN another
//	                finisher swapped in first
//	COMMITTED       Commit(csn) on every participant, delete the record
//	ABORTED         Abort on every participant, delete the record
//
// It returns the outcome (COMMITTED or ABORTED). A record that is gone,
// or now belongs to another transaction, was finished by someone else:
// state UNKNOWN and no error. PREPARING and PREPARED are not decided:
// ErrNotDecided. When a participant or the GTM cannot be reached the
// record stays and the error wraps ErrUnfinished.
func Finish(ctx context.Context, st *Store, p Participants, csns CSNSource, gid string, gxid uint64) (meridianpb.PreparedXactState, error) {
	for {
		rec, rev, err := st.Get(ctx, gid)
		if err != nil {
			return 0, err
		}
		if rec == nil || rec.Gxid != gxid {
			return meridianpb.PreparedXactState_PREPARED_XACT_UNKNOWN, nil
		}
		switch rec.State {
		case meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED:
			var csn uint64
			if len(rec.Datanodes) > 0 {
				if err := each(rec.Datanodes, func(g uint32) error { return p.CommitIntent(ctx, g, gxid) }); err != nil {
					return rec.State, unfinished(gid, "mark committing", err)
				}
				// Every participant is marked: only now may a CSN exist.
				if csn, err = csns.Commit(ctx); err != nil {
					return rec.State, unfinished(gid, "commit CSN", err)
				}
			}
			rec.State, rec.Csn = meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED, csn
			if _, err := st.Swap(ctx, rev, rec); err != nil {
				return meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED, unfinished(gid, "record the CSN", err)
			}
			// Read again: our CSN, or the one a faster finisher chose.
		case meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED:
			if err := each(rec.Datanodes, func(g uint32) error { return p.Commit(ctx, g, gxid, rec.Csn) }); err != nil {
				return rec.State, unfinished(gid, "commit", err)
			}
			return rec.State, forget(ctx, st, gid, rev)
		case meridianpb.PreparedXactState_PREPARED_XACT_ABORTED:
			if err := each(rec.Datanodes, func(g uint32) error { return p.Abort(ctx, g, gxid) }); err != nil {
				return rec.State, unfinished(gid, "abort", err)
			}
			return rec.State, forget(ctx, st, gid, rev)
		default:
			return rec.State, fmt.Errorf("%q is %v: %w", gid, rec.State, ErrNotDecided)
		}
	}
}

// forget deletes a finished record (unless it changed: then someone else
// is finishing it).
func forget(ctx context.Context, st *Store, gid string, rev int64) error {
	if _, err := st.Delete(ctx, gid, rev); err != nil {
		return unfinished(gid, "delete the record", err)
	}
	return nil
}

func unfinished(gid, step string, err error) error {
	return fmt.Errorf("prepared transaction %q: %s: %w", gid, step, errors.Join(ErrUnfinished, err))
}

// each runs f for every group in parallel and joins the errors.
func each(groups []uint32, f func(g uint32) error) error {
	if len(groups) == 1 {
		return f(groups[0])
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, g := range groups {
		wg.Go(func() {
			if err := f(g); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("datanode %d: %w", g, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
