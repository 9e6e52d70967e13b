package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// campaignLoop campaigns for leadership until ctx ends; each time it wins
// it runs lead until leadership is lost.
func (s *Server) campaignLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.campaignOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, errLostLeadership) {
			s.log.Warn("cm election failed; campaigning again", "err", err)
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
}

// campaignOnce opens a session, campaigns, and leads while the session
// lives. It returns when ctx ends or leadership is lost.
func (s *Server) campaignOnce(ctx context.Context) error {
	// Grant the lease ourselves so that ctx can interrupt it, and give the
	// session a context of its own so that Close can still revoke the
	// lease after ctx has ended.
	lease, err := s.cli.Grant(ctx, int64(s.cfg.LeaseTTL))
	if err != nil {
		return fmt.Errorf("grant election lease: %w", err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(s.cfg.LeaseTTL), concurrency.WithContext(sctx))
	if err != nil {
		revoke(s.cli, lease.ID)
		return fmt.Errorf("election session: %w", err)
	}
	defer func() {
		_ = sess.Close() // revokes the lease: our election key goes
		<-sess.Done()
	}()

	// lctx ends with ctx or with the session.
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	stop := context.AfterFunc(sess.Ctx(), lcancel)
	defer stop()

	el := concurrency.NewElection(sess, s.keys.CMLeader())
	if err := el.Campaign(lctx, s.cfg.Name); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	if lctx.Err() != nil {
		return errLostLeadership
	}

	s.log.Info("became cm leader", "key", el.Key(), "rev", el.Rev())
	s.leader.Store(true)
	s.m.isLeader.Set(1)
	defer func() {
		s.leader.Store(false)
		s.m.isLeader.Set(0)
	}()

	err = s.lead(lctx, el)
	if ctx.Err() != nil {
		// Shutting down: step aside so a standby takes over now, not after
		// the lease expires.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = el.Resign(rctx)
		cancel()
		s.log.Info("resigned cm leadership")
		return ctx.Err()
	}
	if err == nil || sess.Ctx().Err() != nil {
		err = fmt.Errorf("%w: election session ended", errLostLeadership)
	}
	s.log.Warn("lost cm leadership", "err", err)
	return err
}

// lead is the leader's work: initialize the cluster once, then detect
// deadlocks across datanodes until ctx ends. (Failover and bucket moves
// will live here.)
func (s *Server) lead(ctx context.Context, el *concurrency.Election) error {
	if err := s.initCluster(ctx, fence{key: el.Key(), rev: el.Rev()}); err != nil {
		return err
	}
	s.detectDeadlocks(ctx)
	return nil
}

func revoke(cli *clientv3.Client, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = cli.Revoke(ctx, id)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
