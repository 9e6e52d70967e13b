package session

import (
	"context"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/optimizer"
	"github.com/meridian-db/meridian/coordinator/parser"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Session is one client connection's state.
type Session struct {
	e          *Engine
	startup    map[string]string
	settings   map[string]string
	user, db   string
	pid        int64
	txn        *txn
	pick       uint32 // spreads replicated-table reads over datanodes
	parseCache *parser.Cache
	// plans caches the distributed plans of query blocks (queryPlan).
	plans        map[*planner.Select]*optimizer.Plan
	plansVersion int64 // the catalog version plans were made at
	plansOff     optimizer.Off
	// seq is currval's and lastval's state (sequence.go).
	seq seqSession
}

var _ pgwire.Session = (*Session)(nil)

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// Statement is a parsed, planned statement.
type Statement struct {
	s      *Session
	sql    string
	parsed parser.Stmt
	plan   *planner.Plan // SELECT / INSERT / UPDATE / DELETE
	params []uint32
	cols   []pgwire.Column
	empty  bool
	lazy   bool // not analyzed yet (simple protocol)
	// catVersion: the catalog version the plan was made at; a stale plan
	// is made again at Bind.
	tables map[uint32]uint64
}

var _ pgwire.Statement = (*Statement)(nil)

// Empty reports an empty query.
func (st *Statement) Empty() bool { return st.empty }

// ParamOIDs are the parameter types.
func (st *Statement) ParamOIDs() []uint32 { return st.params }

// Columns describes the result.
func (st *Statement) Columns() []pgwire.Column { return st.cols }

// PrepareMulti parses a simple-protocol query string.
func (s *Session) PrepareMulti(ctx context.Context, sql string) (_ []pgwire.Statement, err error) {
	defer func() { s.failOn(ctx, err) }()
	if s.parseCache == nil {
		s.parseCache = parser.NewCache(256)
	}
	// Simple-protocol statements run before the next query string arrives,
	// so they may share the cache's trees.
	stmts, perr := s.parseCache.Parse(sql)
	if err = perr; err != nil {
		return nil, err
	}
	out := make([]pgwire.Statement, 0, len(stmts))
	for _, p := range stmts {
		// Analyzed at Bind, when the statements before it in the string
		// have run (CREATE TABLE t ...; INSERT INTO t ...).
		out = append(out, &Statement{s: s, sql: p.SQL, parsed: p, lazy: true})
	}
	return out, nil
}

// Prepare parses one statement for the extended protocol.
func (s *Session) Prepare(ctx context.Context, sql string, paramOIDs []uint32) (_ pgwire.Statement, err error) {
	defer func() { s.failOn(ctx, err) }()
	stmts, perr := parser.Parse(sql)
	if err = perr; err != nil {
		return nil, err
	}
	switch len(stmts) {
	case 0:
		return &Statement{s: s, sql: sql, empty: true}, nil
	case 1:
	default:
		return nil, pgerr.New(pgerr.SyntaxError, "cannot insert multiple commands into a prepared statement")
	}
	for _, o := range paramOIDs {
		if o != 0 && !types.Supported(o) && o != types.Unknown {
			return nil, pgerr.New(pgerr.FeatureNotSupported, "parameter type %d is not supported", o)
		}
	}
	return s.prepare(ctx, stmts[0], paramOIDs)
}

func (s *Session) prepare(ctx context.Context, p parser.Stmt, paramOIDs []uint32) (*Statement, error) {
	st := &Statement{s: s, sql: p.SQL, parsed: p}
	if err := st.analyze(ctx, paramOIDs); err != nil {
		return nil, err
	}
	return st, nil
}

// analyze plans a DML or query statement and describes its result; the
// catalog is synced once when a name is missing (another coordinator may
// have just created it).
func (st *Statement) analyze(ctx context.Context, paramOIDs []uint32) error {
	err := st.analyzeOnce(paramOIDs)
	if c := pgerr.Code(err); c == pgerr.UndefinedTable || c == pgerr.UndefinedColumn || c == pgerr.UndefinedObject {
		if serr := st.s.e.cat.Sync(ctx); serr != nil {
			return serr
		}
		err = st.analyzeOnce(paramOIDs)
	}
	return err
}

func (st *Statement) analyzeOnce(paramOIDs []uint32) error {
	pl := st.s.e.plan
	var plan *planner.Plan
	var err error
	switch n := st.parsed.Node.Node.(type) {
	case *pg_query.Node_SelectStmt:
		plan, err = pl.PlanSelect(n.SelectStmt, paramOIDs)
	case *pg_query.Node_InsertStmt:
		plan, err = pl.PlanInsert(n.InsertStmt, paramOIDs)
	case *pg_query.Node_UpdateStmt:
		plan, err = pl.PlanUpdate(n.UpdateStmt, paramOIDs)
	case *pg_query.Node_DeleteStmt:
		plan, err = pl.PlanDelete(n.DeleteStmt, paramOIDs)
	case *pg_query.Node_VariableShowStmt:
		name := n.VariableShowStmt.Name
		if name == "all" {
			st.cols = []pgwire.Column{textCol("name"), textCol("setting"), textCol("description")}
		} else {
			k, _ := st.s.canonical(name)
			if name == "transaction isolation level" {
				k = "transaction_isolation"
			}
			st.cols = []pgwire.Column{textCol(strings.ToLower(k))}
		}
		st.params = paramOIDs
		return nil
	case *pg_query.Node_ExplainStmt:
		st.cols = []pgwire.Column{textCol("QUERY PLAN")}
		st.params = paramOIDs
		inner := &Statement{s: st.s, parsed: parsedOf(n.ExplainStmt.Query)}
		if err := inner.analyzeOnce(paramOIDs); err != nil {
			return err
		}
		if inner.plan != nil {
			st.params = inner.params
		}
		return nil
	default:
		st.params = paramOIDs
		return nil
	}
	if err != nil {
		return err
	}
	for i, o := range plan.Params {
		if o == types.Unknown || o == 0 {
			plan.Params[i] = types.Text
		}
	}
	st.plan = plan
	st.params = plan.Params
	st.cols = plan.Columns
	st.tables = map[uint32]uint64{}
	for _, t := range planTables(plan) {
		st.tables[t.Id] = t.Version
	}
	return nil
}

func textCol(name string) pgwire.Column {
	return pgwire.Column{Name: name, TypeOID: types.Text, TypeSize: -1, TypeModifier: -1}
}

// stale reports a plan made against an older catalog.
func (st *Statement) stale() bool {
	for id, v := range st.tables {
		t, ok := st.s.e.cat.TableByID(id)
		if !ok || t.Version != v {
			return true
		}
	}
	return false
}

// TxnStatus is the ReadyForQuery status.
func (s *Session) TxnStatus() byte {
	switch {
	case s.txn == nil:
		return 'I'
	case s.txn.failed:
		return 'E'
	}
	return 'T'
}

// Close rolls back any open transaction.
func (s *Session) Close() {
	if s.txn != nil {
		s.rollback(context.Background())
	}
}

// Bind makes a portal.
func (s *Session) Bind(ctx context.Context, stmt pgwire.Statement, params [][]byte, paramFormats []int16, resultFormats []int16) (_ pgwire.Portal, err error) {
	st := stmt.(*Statement)
	if !st.empty {
		if err := s.checkTxnState(st); err != nil {
			return nil, err
		}
	}
	defer func() { s.failOn(ctx, err) }()
	if st.lazy {
		if err := st.analyze(ctx, st.params); err != nil {
			return nil, err
		}
		st.lazy = false
	} else if st.plan != nil && st.stale() {
		// Re-plan against the new catalog into a new plan (portals of the
		// old one keep theirs); the result shape may not change under a
		// client that described the statement.
		old := st.cols
		if err := st.analyze(ctx, st.params); err != nil {
			return nil, err
		}
		if !sameShape(old, st.cols) {
			return nil, pgerr.New(pgerr.FeatureNotSupported, "cached plan must not change result type")
		}
	}
	if len(params) != len(st.params) {
		return nil, pgerr.New(pgerr.ProtocolViolation, "bind message supplies %d parameters, but prepared statement requires %d", len(params), len(st.params))
	}
	vals := make([]types.Datum, len(params))
	for i, raw := range params {
		if raw == nil {
			continue
		}
		f := int16(0)
		if len(paramFormats) == 1 {
			f = paramFormats[0]
		} else if i < len(paramFormats) {
			f = paramFormats[i]
		}
		t := types.T(st.params[i])
		var err error
		if f == 1 {
			vals[i], err = types.ParseBinary(t, raw)
		} else {
			vals[i], err = types.ParseText(t, string(raw))
		}
		if err != nil {
			return nil, err
		}
	}
	p := &Portal{st: st, plan: st.plan, cols: st.cols, params: vals}
	ncols := len(st.cols)
	p.formats = make([]int16, ncols)
	for i := range p.formats {
		if len(resultFormats) == 1 {
			p.formats[i] = resultFormats[0]
		} else if i < len(resultFormats) {
			p.formats[i] = resultFormats[i]
		}
	}
	return p, nil
}

// failOn puts an open transaction block into the failed state when a
// statement fails before it runs (parse, analysis, bind), as PostgreSQL
// does for any error in a block.
func (s *Session) failOn(ctx context.Context, err error) {
	if err != nil && s.txn != nil {
		s.statementFailed(ctx, err)
	}
}

func sameShape(a, b []pgwire.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].TypeOID != b[i].TypeOID {
			return false
		}
	}
	return true
}
