package isolation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// BlockedFunc reports whether the session whose backend process id
// (pg_backend_pid()) is pid waits for a lock now.
type BlockedFunc func(ctx context.Context, pid int64) (bool, error)

// Runner runs specs as PostgreSQL's isolationtester does and writes the
// same output, so that its expected files serve for both.
type Runner struct {
	// Connect opens connection i: 0 is the control connection (setup,
	// teardown), 1..n the spec's sessions in order.
	Connect func(ctx context.Context, i int) (*pgconn.PgConn, error)
	// Blocked tells whether a session waits for a lock (nil: ask the
	// server with PostgreSQL's pg_isolation_test_session_is_blocked on the
	// control connection).
	Blocked BlockedFunc
	// StepTimeout fails a step that neither completes nor waits for a lock
	// within it (default 60 s).
	StepTimeout time.Duration
}

// pollEvery is how often a running step is checked for a lock wait, as in
// isolationtester.
const pollEvery = 10 * time.Millisecond

// conn is one session's connection and its step in progress.
type conn struct {
	name   string
	pc     *pgconn.PgConn
	pid    int64
	active *running
}

// running is a step sent and not reported complete yet.
type running struct {
	ps   PermStep
	step *Step
	conn *conn
	done chan string // the step's output once it completes
	out  *string     // received from done
}

type run struct {
	r       *Runner
	blocked BlockedFunc
	sp      *Spec
	ctl     *pgconn.PgConn
	conns   []*conn
	out     strings.Builder
}

// Run runs every permutation of sp (its listed ones, else all) and
// returns the output.
func (r *Runner) Run(ctx context.Context, sp *Spec) (string, error) {
	ru := &run{r: r, sp: sp}
	defer ru.close()
	ctl, err := r.Connect(ctx, 0)
	if err != nil {
		return "", fmt.Errorf("control connection: %w", err)
	}
	ru.ctl = ctl
	for i, s := range sp.Sessions {
		pc, err := r.Connect(ctx, i+1)
		if err != nil {
			return "", fmt.Errorf("session %s: %w", s.Name, err)
		}
		c := &conn{name: s.Name, pc: pc}
		ru.conns = append(ru.conns, c)
		res, err := pc.Exec(ctx, "SELECT pg_backend_pid()").ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			return "", fmt.Errorf("session %s: backend pid: %v", s.Name, err)
		}
		if c.pid, err = strconv.ParseInt(string(res[0].Rows[0][0]), 10, 64); err != nil {
			return "", fmt.Errorf("session %s: backend pid: %w", s.Name, err)
		}
	}
	ru.blocked = r.Blocked
	if ru.blocked == nil {
		ru.blocked = ru.postgresBlocked
	}
	fmt.Fprintf(&ru.out, "Parsed test spec with %d sessions\n", len(sp.Sessions))
	perms := sp.Permutations
	if len(perms) == 0 {
		perms = sp.allPermutations()
	}
	for _, perm := range perms {
		if err := ru.permutation(ctx, perm); err != nil {
			return ru.out.String(), err
		}
	}
	return ru.out.String(), nil
}

func (ru *run) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range ru.conns {
		_ = c.pc.Close(ctx)
	}
	if ru.ctl != nil {
		_ = ru.ctl.Close(ctx)
	}
}

// postgresBlocked asks PostgreSQL whether a session waits for a lock
// held by another of the spec's sessions.
func (ru *run) postgresBlocked(ctx context.Context, pid int64) (bool, error) {
	pids := make([]string, len(ru.conns))
	for i, c := range ru.conns {
		pids[i] = strconv.FormatInt(c.pid, 10)
	}
	q := fmt.Sprintf("SELECT pg_catalog.pg_isolation_test_session_is_blocked(%d, '{%s}')", pid, strings.Join(pids, ","))
	res, err := ru.ctl.Exec(ctx, q).ReadAll()
	if err != nil {
		return false, err
	}
	return len(res) == 1 && len(res[0].Rows) == 1 && string(res[0].Rows[0][0]) == "t", nil
}

// exec runs SQL that must succeed (setup, teardown), printing result sets.
func (ru *run) exec(ctx context.Context, pc *pgconn.PgConn, sql, what string) error {
	res, err := pc.Exec(ctx, sql).ReadAll()
	for _, r := range res {
		if len(r.FieldDescriptions) > 0 {
			printResult(&ru.out, fieldNames(r.FieldDescriptions), r.Rows)
		}
	}
	if err != nil {
		return fmt.Errorf("%s failed: %w", what, err)
	}
	return nil
}

func fieldNames(fds []pgconn.FieldDescription) []string {
	names := make([]string, len(fds))
	for i, f := range fds {
		names[i] = f.Name
	}
	return names
}

// permutation runs one permutation as isolationtester's run_permutation.
func (ru *run) permutation(ctx context.Context, perm []PermStep) error {
	names := make([]string, len(perm))
	for i, ps := range perm {
		names[i] = ps.Name
	}
	fmt.Fprintf(&ru.out, "\nstarting permutation: %s\n", strings.Join(names, " "))
	for _, sql := range ru.sp.Setup {
		if err := ru.exec(ctx, ru.ctl, sql, "setup"); err != nil {
			return err
		}
	}
	for i, s := range ru.sp.Sessions {
		if s.Setup != "" {
			if err := ru.exec(ctx, ru.conns[i].pc, s.Setup, "setup of session "+s.Name); err != nil {
				return err
			}
		}
	}
	var waiting []*running
	for _, ps := range perm {
		st := ru.sp.step(ps.Name)
		c := ru.conns[st.session]
		// The session is still busy with an earlier step: wait for it,
		// polling the other waiting steps meanwhile.
		start := time.Now()
		for c.active != nil {
			old := c.active
			blocked, err := ru.tryComplete(ctx, old, retry)
			if err != nil {
				return err
			}
			if !blocked {
				waiting = remove(waiting, old)
			}
			if waiting, err = ru.tryCompleteAll(ctx, waiting, nonBlock|retry); err != nil {
				return err
			}
			if c.active != nil && time.Since(start) > 2*ru.stepTimeout() {
				return fmt.Errorf("step %s timed out", c.active.ps.Name)
			}
		}
		rs := ru.send(ctx, c, ps, st)
		mustWait, err := ru.tryComplete(ctx, rs, nonBlock)
		if err != nil {
			return err
		}
		if waiting, err = ru.tryCompleteAll(ctx, waiting, nonBlock|retry); err != nil {
			return err
		}
		if mustWait {
			waiting = append(waiting, rs)
		}
	}
	waiting, err := ru.tryCompleteAll(ctx, waiting, retry)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		return errors.New("failed to complete permutation due to mutually-blocking steps")
	}
	for i, s := range ru.sp.Sessions {
		if s.Teardown != "" {
			if err := ru.exec(ctx, ru.conns[i].pc, s.Teardown, "teardown of session "+s.Name); err != nil {
				return err
			}
		}
	}
	if ru.sp.Teardown != "" {
		return ru.exec(ctx, ru.ctl, ru.sp.Teardown, "teardown")
	}
	return nil
}

func remove(ws []*running, r *running) []*running {
	out := ws[:0]
	for _, w := range ws {
		if w != r {
			out = append(out, w)
		}
	}
	return out
}

// send starts a step on its session's connection.
func (ru *run) send(ctx context.Context, c *conn, ps PermStep, st *Step) *running {
	rs := &running{ps: ps, step: st, conn: c, done: make(chan string, 1)}
	c.active = rs
	go func() { rs.done <- execStep(ctx, c.pc, st.SQL) }()
	return rs
}

// execStep runs a step's SQL (simple protocol, possibly several
// statements) and renders its result sets and error as isolationtester
// does: only the severity and primary message of an error (details may
// name transaction ids).
func execStep(ctx context.Context, pc *pgconn.PgConn, sql string) string {
	var w strings.Builder
	mrr := pc.Exec(ctx, sql)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		var rows [][][]byte
		for rr.NextRow() {
			row := make([][]byte, len(rr.Values()))
			for i, v := range rr.Values() {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			rows = append(rows, row)
		}
		fds := rr.FieldDescriptions()
		if _, err := rr.Close(); err == nil && len(fds) > 0 {
			printResult(&w, fieldNames(fds), rows)
		}
	}
	if err := mrr.Close(); err != nil {
		writeError(&w, err)
	}
	return w.String()
}

func writeError(w *strings.Builder, err error) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		fmt.Fprintf(w, "%s:  %s\n", pe.Severity, pe.Message)
		return
	}
	fmt.Fprintf(w, "%v\n", err)
}

const (
	nonBlock = 1 << iota // return as soon as the step waits for a lock
	retry                // the step was reported before
)

// tryCompleteAll tries to complete each waiting step; it returns those
// still waiting.
func (ru *run) tryCompleteAll(ctx context.Context, ws []*running, flags int) ([]*running, error) {
	for {
		before := len(ws)
		haveBlocker := false
		var still []*running
		for _, w := range ws {
			blocked, err := ru.tryComplete(ctx, w, flags)
			if err != nil {
				return nil, err
			}
			if blocked {
				still = append(still, w)
				haveBlocker = haveBlocker || len(w.ps.After) > 0
			}
		}
		ws = still
		// A completion may have released a blocker of a step examined
		// before it.
		if !haveBlocker || len(ws) == before {
			return ws, nil
		}
	}
}

// tryComplete waits for a sent step to complete, or (nonBlock) to wait
// for a lock; it reports whether the step is still not complete.
func (ru *run) tryComplete(ctx context.Context, rs *running, flags int) (bool, error) {
	if flags&retry == 0 && rs.ps.Once {
		fmt.Fprintf(&ru.out, "step %s: %s <waiting ...>\n", rs.ps.Name, rs.step.SQL)
		return true, nil
	}
	start := time.Now()
	for rs.out == nil {
		select {
		case out := <-rs.done:
			rs.out = &out
			continue
		case <-time.After(pollEvery):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if flags&nonBlock != 0 {
			blocked, err := ru.blocked(ctx, rs.conn.pid)
			if err != nil {
				return false, fmt.Errorf("lock wait check of step %s: %w", rs.ps.Name, err)
			}
			if blocked {
				select {
				case out := <-rs.done: // it completed meanwhile
					rs.out = &out
					continue
				default:
				}
				if flags&retry == 0 {
					fmt.Fprintf(&ru.out, "step %s: %s <waiting ...>\n", rs.ps.Name, rs.step.SQL)
				}
				return true, nil
			}
		}
		if time.Since(start) > ru.stepTimeout() {
			return false, fmt.Errorf("step %s timed out after %v", rs.ps.Name, ru.stepTimeout())
		}
	}
	if ru.hasBlocker(rs) {
		if flags&retry == 0 {
			fmt.Fprintf(&ru.out, "step %s: %s <waiting ...>\n", rs.ps.Name, rs.step.SQL)
		}
		return true, nil
	}
	if flags&retry != 0 {
		fmt.Fprintf(&ru.out, "step %s: <... completed>\n", rs.ps.Name)
	} else {
		fmt.Fprintf(&ru.out, "step %s: %s\n", rs.ps.Name, rs.step.SQL)
	}
	ru.out.WriteString(*rs.out)
	rs.conn.active = nil
	return false, nil
}

// hasBlocker reports whether a step named in rs's blockers is still
// running.
func (ru *run) hasBlocker(rs *running) bool {
	for _, b := range rs.ps.After {
		for _, c := range ru.conns {
			if c.active != nil && c.active.ps.Name == b {
				return true
			}
		}
	}
	return false
}

func (ru *run) stepTimeout() time.Duration {
	if ru.r.StepTimeout > 0 {
		return ru.r.StepTimeout
	}
	return 60 * time.Second
}
