package planner

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

// Locking is the row locking of a SELECT (FOR UPDATE / FOR NO KEY UPDATE /
// FOR SHARE / FOR KEY SHARE, NOWAIT / SKIP LOCKED) on its table: the
// strongest strength and strictest wait policy of the clauses that name
// it, as PostgreSQL combines them.
type Locking struct {
	Strength meridianpb.LockStrength
	Wait     meridianpb.LockWaitPolicy
}

// LockName is how PostgreSQL names a row lock strength in messages.
func LockName(s meridianpb.LockStrength) string {
	switch s {
	case meridianpb.LockStrength_LOCK_FOR_KEY_SHARE:
		return "FOR KEY SHARE"
	case meridianpb.LockStrength_LOCK_FOR_SHARE:
		return "FOR SHARE"
	case meridianpb.LockStrength_LOCK_FOR_NO_KEY_UPDATE:
		return "FOR NO KEY UPDATE"
	}
	return "FOR UPDATE"
}

func lockingName(s pg_query.LockClauseStrength) string { return LockName(lockStrength(s)) }

// withoutLocking returns sel without its locking clauses, for planning
// (a copy: parsed trees are shared by the statement cache), or sel itself
// when it has none. Locking clauses on set operations and VALUES are
// refused as PostgreSQL refuses them.
func withoutLocking(sel *pg_query.SelectStmt) (*pg_query.SelectStmt, error) {
	if len(sel.LockingClause) == 0 {
		return sel, nil
	}
	name := lockingName(sel.LockingClause[0].GetLockingClause().Strength)
	switch {
	case sel.Op != pg_query.SetOperation_SETOP_NONE:
		return nil, pgerr.New(pgerr.FeatureNotSupported, "%s is not allowed with UNION/INTERSECT/EXCEPT", name)
	case len(sel.ValuesLists) > 0:
		return nil, pgerr.New(pgerr.FeatureNotSupported, "%s cannot be applied to VALUES", name)
	}
	cp := proto.Clone(sel).(*pg_query.SelectStmt)
	cp.LockingClause = nil
	return cp, nil
}

// planLocking checks a SELECT's locking clauses as PostgreSQL does and
// folds those that apply to its table into s.Lock. Meridian locks the rows
// of a single-table query (with WHERE, ORDER BY, LIMIT, OFFSET); a
// locking clause over joins, subqueries or WITH queries is refused with
// 0A000.
func planLocking(sel *pg_query.SelectStmt, s *Select) error {
	first := sel.LockingClause[0].GetLockingClause()
	name := lockingName(first.Strength)
	notWith := func(what string) error {
		return pgerr.New(pgerr.FeatureNotSupported, "%s is not allowed with %s", name, what)
	}
	switch {
	case len(sel.DistinctClause) > 0:
		return notWith("DISTINCT clause")
	case len(sel.GroupClause) > 0:
		return notWith("GROUP BY clause")
	case sel.HavingClause != nil:
		return notWith("HAVING clause")
	case s.HasAgg:
		return notWith("aggregate functions")
	case len(s.Windows) > 0:
		return notWith("window functions")
	}
	// The FROM clause's one table, by the name a locking clause must use.
	var ref string
	if len(sel.FromClause) == 1 {
		if rv := sel.FromClause[0].GetRangeVar(); rv != nil {
			ref = rv.Relname
			if rv.Alias != nil {
				ref = rv.Alias.Aliasname
			}
		}
	}
	var lk *Locking
	for _, n := range sel.LockingClause {
		c := n.GetLockingClause()
		applies := len(c.LockedRels) == 0
		for _, r := range c.LockedRels {
			rv := r.GetRangeVar()
			if rv == nil || rv.Relname != ref || rv.Schemaname != "" {
				if rv != nil && rv.Schemaname != "" {
					return pgerr.New(pgerr.SyntaxError, "%s must specify unqualified relation names", lockingName(c.Strength))
				}
				if ref == "" || s.From != nil {
					break // reported below as unsupported
				}
				return pgerr.New(pgerr.UndefinedTable, "relation %q in %s clause not found in FROM clause", rv.Relname, lockingName(c.Strength))
			}
			applies = true
		}
		if !applies {
			continue
		}
		if lk == nil {
			lk = &Locking{}
		}
		lk.Strength = max(lk.Strength, lockStrength(c.Strength))
		lk.Wait = stricterWait(lk.Wait, c.WaitPolicy)
	}
	switch {
	case len(sel.FromClause) == 0:
		return nil // nothing to lock
	case s.From != nil || s.Access.Table == nil || ref == "":
		return pgerr.New(pgerr.FeatureNotSupported,
			"%s is supported on a single table only (not with joins, subqueries or WITH queries)", name)
	}
	s.Lock = lk
	return nil
}

func lockStrength(s pg_query.LockClauseStrength) meridianpb.LockStrength {
	switch s {
	case pg_query.LockClauseStrength_LCS_FORKEYSHARE:
		return meridianpb.LockStrength_LOCK_FOR_KEY_SHARE
	case pg_query.LockClauseStrength_LCS_FORSHARE:
		return meridianpb.LockStrength_LOCK_FOR_SHARE
	case pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE:
		return meridianpb.LockStrength_LOCK_FOR_NO_KEY_UPDATE
	}
	return meridianpb.LockStrength_LOCK_FOR_UPDATE
}

// stricterWait combines wait policies as PostgreSQL does: NOWAIT over
// SKIP LOCKED over waiting.
func stricterWait(w meridianpb.LockWaitPolicy, p pg_query.LockWaitPolicy) meridianpb.LockWaitPolicy {
	switch {
	case p == pg_query.LockWaitPolicy_LockWaitError:
		return meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT
	case p == pg_query.LockWaitPolicy_LockWaitSkip && w != meridianpb.LockWaitPolicy_LOCK_WAIT_NOWAIT:
		return meridianpb.LockWaitPolicy_LOCK_WAIT_SKIP
	}
	return w
}
