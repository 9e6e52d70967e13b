package tpch

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Target is a server to run the queries on.
type Target struct {
	Name string // as printed: "meridian", "postgresql"
	URL  string
}

// RunOptions says which queries to run and how to time them.
type RunOptions struct {
	Queries []Query // default all 22
	// Warmup is the number of untimed runs of each query before the
	// timed ones (default 0).
	Warmup int
	// Repeat is the number of timed runs; the fastest counts (default 1).
	Repeat int
	// Timeout is each statement's statement_timeout (0: none). The client
	// gives up 30 s after it, should the server not cancel.
	Timeout time.Duration
	// PeakRSS lists processes of the first target (its datanodes) whose
	// peak resident memory during each query's timed runs is reported
	// (Linux; see rss.go).
	PeakRSS []int
}

// Outcome is what one query did on every target, indexed like targets.
type Outcome struct {
	Query   Query
	Times   []time.Duration // the fastest timed run; 0 after an error
	Errs    []error
	Results []*Result // of the last run
	// Diff compares the first target's result against the second's, when
	// there are two targets and both ran the query.
	Diff error
	// PeakRSS is the peak resident memory, in bytes, of each process of
	// RunOptions.PeakRSS during the first target's timed runs, StartRSS
	// its resident memory before them; RSSErr says why they are missing.
	PeakRSS, StartRSS []int64
	RSSErr            error
}

// Failed reports whether the query failed anywhere or the results differ.
func (o *Outcome) Failed() bool {
	if o.Diff != nil {
		return true
	}
	for _, err := range o.Errs {
		if err != nil {
			return true
		}
	}
	return false
}

// session is a target's connection, opened again after an error closed it.
type session struct {
	Target
	timeout time.Duration
	conn    *pgconn.PgConn
}

func (s *session) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	conn, err := pgconn.Connect(ctx, s.URL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.Name, err)
	}
	if s.timeout > 0 {
		if err := SetStatementTimeout(ctx, conn, s.timeout); err != nil {
			conn.Close(ctx)
			return err
		}
	}
	s.conn = conn
	return nil
}

func (s *session) close() {
	if s.conn != nil {
		s.conn.Close(context.Background())
	}
}

// run runs a query once.
func (s *session) run(ctx context.Context, q Query) (*Result, time.Duration, error) {
	if err := s.connect(ctx); err != nil {
		return nil, 0, err
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout+30*time.Second)
		defer cancel()
	}
	return RunQuery(ctx, s.conn, q.SQL)
}

// Run runs the queries on the targets, query by query: the warm-up runs
// on each target, then the timed runs on each target in turn. It calls
// report after each query (when not nil) and returns every outcome. It
// stops early only when ctx is done.
func Run(ctx context.Context, targets []Target, opts RunOptions, report func(Outcome)) []Outcome {
	if opts.Queries == nil {
		opts.Queries = Queries()
	}
	opts.Repeat = max(opts.Repeat, 1)
	sessions := make([]*session, len(targets))
	for i, t := range targets {
		sessions[i] = &session{Target: t, timeout: opts.Timeout}
		defer sessions[i].close()
	}
	var out []Outcome
	for _, q := range opts.Queries {
		if ctx.Err() != nil {
			break
		}
		o := Outcome{Query: q, Times: make([]time.Duration, len(targets)), Errs: make([]error, len(targets)),
			Results: make([]*Result, len(targets))}
		for i, s := range sessions {
			for range opts.Warmup {
				if _, _, err := s.run(ctx, q); err != nil {
					o.Errs[i] = err
					break
				}
			}
		}
		watch := rssWatch(opts.PeakRSS)
		if len(watch) > 0 {
			if o.RSSErr = watch.reset(); o.RSSErr == nil {
				// Right after a reset the peak is the current size.
				o.StartRSS, o.RSSErr = watch.read()
			}
		}
		for range opts.Repeat {
			for i, s := range sessions {
				if o.Errs[i] != nil {
					continue
				}
				res, d, err := s.run(ctx, q)
				if i == 0 && len(watch) > 0 && o.RSSErr == nil {
					// Read right after each of this target's runs,
					// before the other targets' runs; the peaks only grow
					// until the next query's reset, so the last read is
					// this query's.
					o.PeakRSS, o.RSSErr = watch.read()
				}
				if err != nil {
					o.Errs[i], o.Times[i] = err, 0
					continue
				}
				o.Results[i] = res
				if o.Times[i] == 0 || d < o.Times[i] {
					o.Times[i] = d
				}
			}
		}
		if len(targets) == 2 && o.Errs[0] == nil && o.Errs[1] == nil {
			o.Diff = Compare(q, o.Results[0], o.Results[1])
		}
		if report != nil {
			report(o)
		}
		out = append(out, o)
	}
	return out
}
