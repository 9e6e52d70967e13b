package session

import (
	"context"
	"time"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// rowIter yields result rows; nil, nil at the end.
type rowIter interface {
	next(ctx context.Context) ([]types.Datum, error)
	close()
}

// sliceIter iterates materialized rows.
type sliceIter struct {
	rows [][]types.Datum
	i    int
}

func (it *sliceIter) next(context.Context) ([]types.Datum, error) {
	if it.i >= len(it.rows) {
		return nil, nil
	}
	it.i++
	return it.rows[it.i-1], nil
}

func (it *sliceIter) close() {}

// Portal is a bound statement.
type Portal struct {
	st      *Statement
	plan    *planner.Plan   // captured at Bind: a later re-plan makes a new one
	cols    []pgwire.Column // likewise
	params  []types.Datum
	formats []int16
	started bool
	iter    rowIter
	tag     string
	count   int64
	buf     [][]byte
	// cancel ends the portal's own context, which outlives one Execute
	// (a suspended portal keeps its datanode streams open).
	cancel context.CancelFunc
}

var _ pgwire.Portal = (*Portal)(nil)

// Columns describes the result.
func (p *Portal) Columns() []pgwire.Column { return p.cols }

// Formats are the result formats.
func (p *Portal) Formats() []int16 { return p.formats }

// Close releases the portal.
func (p *Portal) Close() {
	if p.iter != nil {
		p.iter.close()
		p.iter = nil
	}
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
}

func (s *Session) bindEnv(params []types.Datum) *planner.BindEnv {
	now := time.Now()
	if s.txn != nil {
		now = s.txn.start
	}
	return &planner.BindEnv{
		Params: params, Now: now, User: s.user, Database: s.db, PID: s.pid,
		Version: "PostgreSQL 15.0 (Meridian " + s.e.cfg.ServerVersion + ") on x86_64, distributed",
		Setting: s.setting, Memo: map[any]any{},
	}
}

// Execute runs the portal.
func (p *Portal) Execute(ctx context.Context, maxRows int, w pgwire.ResultWriter) (string, bool, error) {
	s := p.st.s
	if !p.started {
		p.started = true
		if p.st.empty {
			return "", false, nil
		}
		if err := s.checkTxnState(p.st); err != nil {
			return "", false, err
		}
		pctx, cancel := s.statementContext(context.WithoutCancel(ctx))
		p.cancel = cancel
		stop := context.AfterFunc(ctx, cancel)
		it, tag, err := s.run(pctx, p.st, p.plan, p.params, w)
		stop()
		if err != nil {
			p.Close()
			s.statementFailed(ctx, err)
			return "", false, err
		}
		p.iter, p.tag = it, tag
	}
	if p.iter == nil {
		return p.tag, false, nil
	}
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	for n := 0; ; {
		row, err := p.iter.next(ctx)
		if err != nil {
			p.Close()
			s.statementFailed(ctx, err)
			return "", false, err
		}
		if row == nil {
			break
		}
		if err := p.writeRow(row, w); err != nil {
			p.Close()
			return "", false, err
		}
		p.count++
		n++
		if maxRows > 0 && n >= maxRows {
			return "", true, nil
		}
	}
	p.Close()
	if p.tag == "SELECT" {
		return "SELECT " + itoa(p.count), false, nil
	}
	return p.tag, false, nil
}

func (p *Portal) writeRow(row []types.Datum, w pgwire.ResultWriter) error {
	if cap(p.buf) < len(p.cols) {
		p.buf = make([][]byte, len(p.cols))
	}
	out := p.buf[:len(p.cols)]
	for i, c := range p.cols {
		d := row[i]
		if d == nil {
			out[i] = nil
			continue
		}
		t := types.Type{OID: c.TypeOID, Typmod: c.TypeModifier}
		if p.formats[i] == 1 {
			b, err := types.AppendBinary(out[i][:0], t, d)
			if err != nil {
				return err
			}
			out[i] = b
		} else {
			out[i] = types.AppendText(out[i][:0], t, d)
			if out[i] == nil {
				out[i] = []byte{}
			}
		}
	}
	return w.WriteRow(out)
}

// statementContext applies statement_timeout.
func (s *Session) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	v := s.settings["statement_timeout"]
	if d, ok := parseDurationMS(v); ok && d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func parseDurationMS(v string) (time.Duration, bool) {
	d, err := parseTimeSetting(v)
	return d, err == nil
}

func errTimeout(ctx context.Context, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return pgerr.New(pgerr.QueryCanceled, "canceling statement due to statement timeout")
	}
	return err
}
