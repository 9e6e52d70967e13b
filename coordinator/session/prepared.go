package session

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/internal/prepared"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Explicit two-phase commit: PREPARE TRANSACTION, COMMIT PREPARED and
// ROLLBACK PREPARED, after PostgreSQL. The record of each prepared
// transaction lives in etcd (package prepared has the protocol), so it is
// found from any coordinator and survives every restart; the datanodes
// prepare it durably, and their resolvers never decide it on their own.

// prepareTransaction is PREPARE TRANSACTION 'gid': the block's
// transaction is prepared on every datanode it wrote or locked rows on
// and the session leaves the block. As in PostgreSQL, outside a block it
// only warns and in a failed block it rolls back (tag ROLLBACK); a
// failure rolls the transaction back.
func (s *Session) prepareTransaction(ctx context.Context, gid string, w pgwire.ResultWriter) (string, error) {
	t := s.txn
	if t == nil {
		_ = w.Notice("WARNING", pgerr.NoActiveSQLTransaction, "there is no transaction in progress")
		return "ROLLBACK", nil
	}
	if t.failed {
		s.rollback(ctx)
		return "ROLLBACK", nil
	}
	groups := s.writerGroups()
	slices.Sort(groups)
	s.txn = nil
	s.settings["transaction_isolation"] = s.settings["default_transaction_isolation"]
	abort := func() {
		if len(groups) > 0 {
			s.abortGroups(t.gxid, groups)
		}
	}
	st := s.e.cfg.Xacts
	if st == nil {
		abort()
		return "", pgerr.Unsupported("PREPARE TRANSACTION (no prepared transaction store)")
	}
	if err := prepared.CheckGID(gid); err != nil {
		abort()
		return "", err
	}
	rec := &meridianpb.PreparedXact{
		Gid: gid, Gxid: t.gxid, State: meridianpb.PreparedXactState_PREPARED_XACT_PREPARING,
		Datanodes: groups, Owner: s.user, Database: s.db,
		PreparedUnixMicros: time.Now().UnixMicro(), Coordinator: s.e.cfg.Name,
	}
	if len(groups) == 0 {
		// Nothing written: nothing to prepare on the datanodes.
		rec.State = meridianpb.PreparedXactState_PREPARED_XACT_PREPARED
	}
	if err := st.Create(ctx, rec); err != nil {
		abort()
		return "", err
	}
	if len(groups) == 0 {
		return "PREPARE TRANSACTION", nil
	}
	snap := s.e.routes.Current()
	err := parallel(groups, func(g uint32) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return err
		}
		_, err = c.Prepare(ctx, &meridianpb.TxnRequest{Gxid: t.gxid, Gid: gid})
		return pgerr.FromStatus(err)
	})
	if err != nil {
		s.abandonPrepare(gid, t.gxid, groups)
		return "", err
	}
	// Every participant prepared durably: PREPARED is the point of no
	// return. A participant's resolver may have given up on us meanwhile
	// (swapped PREPARING to ABORTED); then the swap fails.
	for attempt := 0; ; attempt++ {
		cur, rev, err := st.Get(ctx, gid)
		if err == nil && (cur == nil || cur.Gxid != t.gxid) {
			return "", pgerr.New(pgerr.InternalError, "the record of prepared transaction \"%s\" vanished", gid)
		}
		if err == nil {
			switch cur.State {
			case meridianpb.PreparedXactState_PREPARED_XACT_PREPARED:
				return "PREPARE TRANSACTION", nil
			case meridianpb.PreparedXactState_PREPARED_XACT_PREPARING:
				cur.State = meridianpb.PreparedXactState_PREPARED_XACT_PREPARED
				var ok bool
				if ok, err = st.Swap(ctx, rev, cur); err == nil && ok {
					return "PREPARE TRANSACTION", nil
				}
				if err == nil {
					continue // changed meanwhile: read again
				}
			default:
				s.abandonPrepare(gid, t.gxid, groups)
				return "", pgerr.New(pgerr.SerializationFailure, "could not prepare transaction \"%s\": a participant aborted it while it was being prepared", gid)
			}
		}
		if attempt >= 3 || ctx.Err() != nil {
			// Unknown: the swap may have been applied. If it was not, the
			// participants' resolvers abort the transaction.
			return "", pgerr.Wrap(err, pgerr.ConnectionFailure, "outcome of PREPARE TRANSACTION \"%s\" is unknown", gid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// abandonPrepare aborts a PREPARE TRANSACTION that failed: its record
// becomes ABORTED (unless it is already), then every participant aborts
// and the record goes. Whatever does not succeed here, the participants'
// resolvers finish.
func (s *Session) abandonPrepare(gid string, gxid uint64, groups []uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := s.e.cfg.Xacts
	for range 3 {
		cur, rev, err := st.Get(ctx, gid)
		if err != nil || cur == nil || cur.Gxid != gxid {
			break
		}
		if cur.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARING {
			cur.State = meridianpb.PreparedXactState_PREPARED_XACT_ABORTED
			if ok, err := st.Swap(ctx, rev, cur); err != nil || !ok {
				continue
			}
		}
		if cur.State == meridianpb.PreparedXactState_PREPARED_XACT_ABORTED {
			if _, err := prepared.Finish(ctx, st, s.participants(), s.e.gtm, gid, gxid); err == nil {
				return
			}
		}
		break
	}
	s.abortGroups(gxid, groups)
}

// finishPrepared is COMMIT PREPARED 'gid' (commit) or ROLLBACK PREPARED
// 'gid'. The decision is recorded first (COMMIT_DECIDED or ABORTED); then
// prepared.Finish carries it out. If a participant cannot be reached the
// statement still succeeds — the outcome is durable and the participant's
// resolver finishes it — with a WARNING.
func (s *Session) finishPrepared(ctx context.Context, gid string, commit bool, w pgwire.ResultWriter) (string, error) {
	tag, what := "ROLLBACK PREPARED", "ROLLBACK PREPARED"
	if commit {
		tag, what = "COMMIT PREPARED", "COMMIT PREPARED"
	}
	if s.txn != nil {
		return "", pgerr.New(pgerr.ActiveSQLTransaction, "%s cannot run inside a transaction block", what)
	}
	st := s.e.cfg.Xacts
	if st == nil {
		return "", pgerr.Unsupported(what + " (no prepared transaction store)")
	}
	notFound := pgerr.New(pgerr.UndefinedObject, "prepared transaction with identifier \"%s\" does not exist", gid)
	var gxid uint64
	for decided := false; !decided; {
		rec, rev, err := st.Get(ctx, gid)
		if err != nil {
			return "", err
		}
		if rec == nil || rec.State == meridianpb.PreparedXactState_PREPARED_XACT_PREPARING {
			return "", notFound
		}
		if rec.Database != s.db {
			return "", pgerr.New(pgerr.FeatureNotSupported, "prepared transaction belongs to another database").
				WithHint("Connect to the database where the transaction was prepared to finish it.")
		}
		gxid = rec.Gxid
		switch rec.State {
		case meridianpb.PreparedXactState_PREPARED_XACT_PREPARED:
			rec.State = meridianpb.PreparedXactState_PREPARED_XACT_ABORTED
			if commit {
				rec.State = meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED
			}
			ok, err := st.Swap(ctx, rev, rec)
			if err != nil {
				return "", err
			}
			decided = ok
		case meridianpb.PreparedXactState_PREPARED_XACT_COMMIT_DECIDED, meridianpb.PreparedXactState_PREPARED_XACT_COMMITTED:
			if !commit {
				return "", pgerr.New(pgerr.ObjectNotInPrerequisiteState, "prepared transaction with identifier \"%s\" is being committed", gid)
			}
			decided = true // an earlier COMMIT PREPARED left it unfinished: finish it
		case meridianpb.PreparedXactState_PREPARED_XACT_ABORTED:
			if commit {
				return "", notFound
			}
			decided = true
		default:
			return "", notFound
		}
	}
	_, err := prepared.Finish(ctx, st, s.participants(), s.e.gtm, gid, gxid)
	if errors.Is(err, prepared.ErrUnfinished) {
		_ = w.Notice("WARNING", pgerr.ConnectionFailure, "prepared transaction \""+gid+"\" is decided but not finished on every datanode; "+
			"they finish it when they can be reached: "+err.Error())
		return tag, nil
	}
	if err != nil {
		return "", err
	}
	return tag, nil
}

// participants reaches datanodes for prepared.Finish.
func (s *Session) participants() prepared.Participants { return dnParticipants{e: s.e} }

type dnParticipants struct{ e *Engine }

var _ prepared.Participants = dnParticipants{}

func (p dnParticipants) client(group uint32) (meridianpb.DataNodeClient, error) {
	return p.e.dn(p.e.routes.Current(), group)
}

func (p dnParticipants) CommitIntent(ctx context.Context, group uint32, gxid uint64) error {
	c, err := p.client(group)
	if err != nil {
		return err
	}
	_, err = c.CommitIntent(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	return pgerr.FromStatus(err)
}

func (p dnParticipants) Commit(ctx context.Context, group uint32, gxid, csn uint64) error {
	c, err := p.client(group)
	if err != nil {
		return err
	}
	_, err = c.Commit(ctx, &meridianpb.TxnRequest{Gxid: gxid, Csn: csn, Decided: true})
	return pgerr.FromStatus(err)
}

func (p dnParticipants) Abort(ctx context.Context, group uint32, gxid uint64) error {
	c, err := p.client(group)
	if err != nil {
		return err
	}
	_, err = c.Abort(ctx, &meridianpb.TxnRequest{Gxid: gxid})
	return pgerr.FromStatus(err)
}

// PreparedJanitor returns the sweep that finishes explicit prepared
// transactions nobody else will (prepared.Janitor); the coordinator's
// server runs it. gone tells whether a transaction's coordinator is gone.
func (e *Engine) PreparedJanitor(after time.Duration, gone func(ctx context.Context, gxid uint64) (bool, error)) *prepared.Janitor {
	if e.cfg.Xacts == nil {
		return nil
	}
	return &prepared.Janitor{Store: e.cfg.Xacts, Participants: dnParticipants{e: e}, CSNs: e.gtm, After: after, Gone: gone,
		Log: e.log.With("component", "prepared-janitor")}
}
