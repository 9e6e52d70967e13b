package session

import (
	"context"
	"sort"
	"sync"

	"github.com/meridian-db/meridian/cm/routing"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// scanProjection is the projection that returns table columns cols (a
// constant when none is needed, for the row count) and its types.
func scanProjection(t *meridianpb.TableDesc, cols []int) ([]*planner.Expr, []uint32) {
	proj := make([]*planner.Expr, len(cols))
	oids := make([]uint32, len(cols))
	for i, c := range cols {
		col := t.Columns[c]
		proj[i] = expr.Column(c, types.Type{OID: col.TypeOid, Typmod: col.Typmod})
		oids[i] = col.TypeOid
	}
	if len(proj) == 0 {
		proj = []*planner.Expr{expr.Const(types.T(types.Bool), true)}
		oids = []uint32{types.Bool}
	}
	return proj, oids
}

// scanOrLock reads a single-table query's rows: a plain scan, or, for
// SELECT ... FOR UPDATE/SHARE, lockRows. limit is LIMIT+OFFSET when the
// datanodes may stop early (0: all rows), orderBy the top-N keys.
func (s *Session) scanOrLock(ctx context.Context, env *planner.BindEnv, snap *routing.Snapshot, targets []target,
	a planner.Access, sel *planner.Select, limit int64, orderBy []*meridianpb.SortKey) (rowIter, error) {
	if sel.Lock == nil {
		return s.scanIter(ctx, env, snap, targets, a, sel.ScanCols, limit, orderBy)
	}
	return s.lockRows(ctx, snap, targets, a, sel, limit, orderBy)
}

// lockRun is one SELECT ... FOR UPDATE/SHARE in progress.
type lockRun struct {
	s    *Session
	snap *routing.Snapshot
	a    planner.Access
	tc   *meridianpb.TxnContext
	lock *meridianpb.RowLock
	proj []*planner.Expr
	oids []uint32
	// asked: the groups asked to lock, which hold the statement's
	// transaction (an autocommit statement releases them at its end).
	asked map[uint32]bool
	// continues: the transaction already has requests at the group (see
	// TxnContext.continues).
	continues map[uint32]bool
}

// lockRows reads and locks the rows of a SELECT ... FOR UPDATE/SHARE on
// the datanodes that hold them, in the statement's transaction (an
// autocommit statement's locks are released once its rows are read).
// PostgreSQL locks rows as its LockRows node meets them, below LIMIT; so
// here no datanode locks more rows than the query returns (with OFFSET's
// skipped ones):
//
//   - one datanode, or no LIMIT: every datanode locks its matching rows
//     (in ORDER BY order with a LIMIT);
//   - LIMIT without ORDER BY over several: the datanodes one after the
//     other, each asked for the rows still missing;
//   - LIMIT with ORDER BY over several: the coordinator merges the
//     datanodes' candidates (row keys, in order) and has each row locked
//     in that order until it has enough, fetching more candidates when
//     rows were skipped (SKIP LOCKED, or changed and no longer matching).
//
// A replicated table's rows are locked on its first datanode, where every
// locker meets (writers write on all).
func (s *Session) lockRows(ctx context.Context, snap *routing.Snapshot, targets []target, a planner.Access, sel *planner.Select,
	limit int64, orderBy []*meridianpb.SortKey) (rowIter, error) {
	lk := sel.Lock
	if s.txn != nil && s.txn.readOnly {
		return nil, pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute SELECT %s in a read-only transaction", planner.LockName(lk.Strength))
	}
	if a.Table.Dist == meridianpb.DistKind_DIST_REPLICATION {
		targets = []target{{group: snap.Groups()[0]}}
	}
	tc, err := s.stmtTxn(ctx, len(targets), stmtWrite)
	if err != nil {
		return nil, err
	}
	r := &lockRun{s: s, snap: snap, a: a, tc: tc, lock: &meridianpb.RowLock{Strength: lk.Strength, Wait: lk.Wait}, asked: map[uint32]bool{},
		continues: map[uint32]bool{}}
	r.proj, r.oids = scanProjection(a.Table, sel.ScanCols)
	var rows [][]types.Datum
	switch {
	case len(targets) == 1 || limit == 0:
		rows, err = r.parallel(ctx, targets, limit, orderBy)
	case len(orderBy) == 0:
		rows, err = r.inTurn(ctx, targets, limit)
	default:
		rows, err = r.merged(ctx, targets, limit, orderBy)
	}
	if s.txn == nil {
		// Autocommit: nothing was written, so ending the transaction is
		// releasing its locks.
		var groups []uint32
		for g := range r.asked {
			groups = append(groups, g)
		}
		s.abortGroups(tc.Gxid, groups)
	}
	if err != nil {
		return nil, errTimeout(ctx, err)
	}
	return &sliceIter{rows: rows}, nil
}

// lockRowsLine is EXPLAIN's line for a locking clause.
func lockRowsLine(lk *planner.Locking) string {
	line := "LockRows on datanodes (" + planner.LockName(lk.Strength)
	switch lk.Wait {
	case meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT:
		line += " NOWAIT"
	case meridianpb.LockWaitPolicy_LOCK_WAIT_SKIP:
		line += " SKIP LOCKED"
	}
	return line + ")"
}

// ask records that group g is asked to lock: the transaction block (or
// the autocommit statement) must end there.
func (r *lockRun) ask(g uint32) {
	// A later request of this statement to g finds the transaction there.
	r.continues[g] = r.asked[g] || r.s.continuing([]target{{group: g}})[g]
	r.asked[g] = true
	if r.s.txn != nil {
		r.s.noteWriters([]target{{group: g}})
	}
}

// exec runs one locking scan on group g.
func (r *lockRun) exec(ctx context.Context, g uint32, spec *meridianpb.ScanSpec, oids []uint32) ([][]types.Datum, error) {
	var rows [][]types.Datum
	_, err := r.s.e.execOn(ctx, r.snap, g, &meridianpb.ExecRequest{Txn: continued(r.tc, r.continues[g]), Op: &meridianpb.ExecRequest_Scan{Scan: spec}}, oids,
		func(row []types.Datum) error {
			rows = append(rows, row)
			return nil
		})
	return rows, err
}

func (r *lockRun) lockSpec(t target, limit int64) *meridianpb.ScanSpec {
	spec := scanSpec(r.a, t, r.proj, limit)
	spec.Lock = r.lock
	return spec
}

// parallel locks on every target at once, each up to limit rows in
// orderBy's order.
func (r *lockRun) parallel(ctx context.Context, targets []target, limit int64, orderBy []*meridianpb.SortKey) ([][]types.Datum, error) {
	byGroup := map[uint32]target{}
	groups := make([]uint32, len(targets))
	for i, t := range targets {
		groups[i] = t.group
		byGroup[t.group] = t
		r.ask(t.group)
	}
	var mu sync.Mutex
	got := map[uint32][][]types.Datum{}
	err := allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
		spec := r.lockSpec(byGroup[g], limit)
		spec.OrderBy = orderBy
		rows, err := r.exec(ctx, g, spec, r.oids)
		mu.Lock()
		got[g] = rows
		mu.Unlock()
		return err
	})
	var rows [][]types.Datum
	for _, g := range groups {
		rows = append(rows, got[g]...)
	}
	return rows, err
}

// allOrFirstError runs f for every group at once and returns the first
// error to happen, canceling the others then: a datanode that waits for a
// row lock must not keep the statement once another failed (NOWAIT, a
// deadlock victim).
func allOrFirstError(ctx context.Context, groups []uint32, f func(ctx context.Context, g uint32) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	_ = parallel(groups, func(g uint32) error {
		err := f(ctx, g)
		if err != nil {
			once.Do(func() {
				first = err
				cancel()
			})
		}
		return err
	})
	return first
}

// inTurn locks on the targets one after the other until limit rows are
// locked.
func (r *lockRun) inTurn(ctx context.Context, targets []target, limit int64) ([][]types.Datum, error) {
	var rows [][]types.Datum
	for _, t := range targets {
		if int64(len(rows)) >= limit {
			break
		}
		r.ask(t.group)
		got, err := r.exec(ctx, t.group, r.lockSpec(t, limit-int64(len(rows))), r.oids)
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// candidate is a row another datanode may hold before it in ORDER BY
// order: its sort values and row key.
type lockCandidate struct {
	group uint32
	sort  []types.Datum
	key   []byte
}

// merged locks the first limit rows in orderBy's order over several
// targets: candidates first (row keys, read without locks), then locks in
// their merged order.
func (r *lockRun) merged(ctx context.Context, targets []target, limit int64, orderBy []*meridianpb.SortKey) ([][]types.Datum, error) {
	keyProj := make([]*planner.Expr, len(orderBy))
	keyOIDs := make([]uint32, len(orderBy)+1)
	keys := make([]planner.SortKey, len(orderBy))
	for i, k := range orderBy {
		keyProj[i], keyOIDs[i] = k.Expr, k.Expr.TypeOid
		keys[i] = planner.SortKey{Col: i, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	keyOIDs[len(orderBy)] = types.Bytea
	byGroup := map[uint32]target{}
	groups := make([]uint32, len(targets))
	for i, t := range targets {
		groups[i] = t.group
		byGroup[t.group] = t
	}
	examined := map[string]bool{}
	var rows [][]types.Datum
	for fetch := limit; ; fetch *= 4 {
		var mu sync.Mutex
		var cands []lockCandidate
		more := false
		err := allOrFirstError(ctx, groups, func(ctx context.Context, g uint32) error {
			spec := scanSpec(r.a, byGroup[g], keyProj, fetch)
			spec.OrderBy, spec.WithRowKeys = orderBy, true
			got, err := r.exec(ctx, g, spec, keyOIDs)
			mu.Lock()
			defer mu.Unlock()
			more = more || int64(len(got)) == fetch
			for _, row := range got {
				cands = append(cands, lockCandidate{group: g, sort: row[:len(orderBy)], key: row[len(orderBy)].([]byte)})
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(cands, func(i, j int) bool {
			a, b := cands[i], cands[j]
			if less(keys, a.sort, b.sort) {
				return true
			}
			if less(keys, b.sort, a.sort) {
				return false
			}
			return a.group < b.group
		})
		// Lock runs of consecutive candidates of one datanode.
		for i := 0; i < len(cands) && int64(len(rows)) < limit; {
			g := cands[i].group
			var run [][]byte
			for ; i < len(cands) && cands[i].group == g; i++ {
				if k := string(cands[i].key); !examined[k] {
					examined[k] = true
					run = append(run, cands[i].key)
				}
			}
			if len(run) == 0 {
				continue
			}
			r.ask(g)
			spec := r.lockSpec(byGroup[g], limit-int64(len(rows)))
			spec.RowKeys = run
			got, err := r.exec(ctx, g, spec, r.oids)
			if err != nil {
				return nil, err
			}
			rows = append(rows, got...)
		}
		if int64(len(rows)) >= limit || !more {
			return rows, nil
		}
	}
}

// waitSettings puts the session's lock_timeout and deadlock_timeout, and
// its process id, into a statement's transaction context.
func (s *Session) waitSettings(tc *meridianpb.TxnContext) {
	tc.BackendPid = s.pid
	if d, err := parseTimeSetting(s.settings["lock_timeout"]); err == nil {
		tc.LockTimeoutMs = uint32(d.Milliseconds())
	}
	if d, err := parseTimeSetting(s.settings["deadlock_timeout"]); err == nil {
		tc.DeadlockTimeoutMs = uint32(d.Milliseconds())
	}
}
