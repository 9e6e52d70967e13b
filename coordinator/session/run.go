package session

import (
	"context"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// run executes a statement: rows come from the returned iterator (nil
// when the statement returns none); tag is the command tag ("SELECT" is
// completed with the row count by the portal).
func (s *Session) run(ctx context.Context, st *Statement, plan *planner.Plan, params []types.Datum, w pgwire.ResultWriter) (rowIter, string, error) {
	if s.txn != nil && len(s.txn.deferred) > 0 && !endsBlock(st) && !(plan != nil && plan.Insert != nil && plan.Insert.Source == nil) {
		// Held-back inserts go before any statement but the end of the
		// block and INSERT ... VALUES, which sends them itself.
		if err := s.flushDeferred(ctx); err != nil {
			return nil, "", err
		}
	}
	if plan != nil {
		env := s.bindEnv(params)
		if len(plan.Subqueries) > 0 {
			env.Inline = s.inliner(ctx, plan.Subqueries, env)
			env.Memo[multiScan{}] = true // one snapshot for all of them
		}
		switch {
		case plan.Select != nil:
			it, err := s.runSelect(ctx, plan.Select, env)
			return it, "SELECT", err
		case plan.Insert != nil:
			return s.runInsert(ctx, plan, env)
		case plan.Update != nil:
			return s.runUpdate(ctx, plan, env)
		case plan.Delete != nil:
			return s.runDelete(ctx, plan, env)
		}
	}
	switch n := st.parsed.Node.Node.(type) {
	case *pg_query.Node_TransactionStmt:
		return s.runTransaction(ctx, n.TransactionStmt, w)
	case *pg_query.Node_VariableSetStmt:
		if err := s.set(n.VariableSetStmt, w); err != nil {
			return nil, "", err
		}
		if n.VariableSetStmt.Kind == pg_query.VariableSetKind_VAR_RESET || n.VariableSetStmt.Kind == pg_query.VariableSetKind_VAR_RESET_ALL {
			return nil, "RESET", nil
		}
		return nil, "SET", nil
	case *pg_query.Node_VariableShowStmt:
		return s.runShow(n.VariableShowStmt.Name)
	case *pg_query.Node_CreateStmt:
		return nil, "CREATE TABLE", s.createTable(ctx, n.CreateStmt, st.parsed.Dist)
	case *pg_query.Node_CreateSchemaStmt:
		if len(n.CreateSchemaStmt.SchemaElts) > 0 {
			return nil, "", pgerr.Unsupported("CREATE SCHEMA with schema elements")
		}
		return nil, "CREATE SCHEMA", s.e.cat.CreateSchema(ctx, n.CreateSchemaStmt.Schemaname, n.CreateSchemaStmt.IfNotExists)
	case *pg_query.Node_DropStmt:
		return s.runDrop(ctx, n.DropStmt, w)
	case *pg_query.Node_ViewStmt:
		return nil, "CREATE VIEW", s.createView(ctx, n.ViewStmt)
	case *pg_query.Node_CreateSeqStmt:
		return nil, "CREATE SEQUENCE", s.createSequence(ctx, n.CreateSeqStmt, w)
	case *pg_query.Node_AlterSeqStmt:
		return nil, "ALTER SEQUENCE", s.alterSequence(ctx, n.AlterSeqStmt, w)
	case *pg_query.Node_TruncateStmt:
		return nil, "TRUNCATE TABLE", s.truncate(ctx, n.TruncateStmt)
	case *pg_query.Node_IndexStmt:
		return nil, "CREATE INDEX", s.createIndex(ctx, n.IndexStmt, w)
	case *pg_query.Node_AlterTableStmt:
		return nil, "ALTER TABLE", s.alterTable(ctx, n.AlterTableStmt)
	case *pg_query.Node_CopyStmt:
		return s.runCopy(ctx, n.CopyStmt, w)
	case *pg_query.Node_VacuumStmt:
		tag, err := s.runVacuum(ctx, n.VacuumStmt, w)
		return nil, tag, err
	case *pg_query.Node_ExplainStmt:
		return s.runExplain(ctx, n.ExplainStmt, st.params, params)
	case *pg_query.Node_DiscardStmt:
		return nil, "DISCARD ALL", nil
	case *pg_query.Node_DeallocateStmt:
		return nil, "DEALLOCATE", nil
	case *pg_query.Node_CheckPointStmt:
		return nil, "CHECKPOINT", nil
	}
	return nil, "", pgerr.Unsupported("statement " + strings.TrimSuffix(nodeKind(st.parsed.Node), "_stmt"))
}

// endsBlock reports COMMIT (END) and ROLLBACK (ABORT): the statements
// that take, or drop, the transaction's held-back inserts themselves.
func endsBlock(st *Statement) bool {
	ts := st.parsed.Node.GetTransactionStmt()
	if ts == nil {
		return false
	}
	return ts.Kind == pg_query.TransactionStmtKind_TRANS_STMT_COMMIT || ts.Kind == pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK
}

func nodeKind(n *pg_query.Node) string {
	m := n.ProtoReflect()
	if f := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); f != nil {
		return strings.ToUpper(strings.ReplaceAll(string(f.Name()), "_", " "))
	}
	return "unknown"
}

func (s *Session) runShow(name string) (rowIter, string, error) {
	if name == "all" {
		var rows [][]types.Datum
		for _, r := range s.showAll() {
			rows = append(rows, []types.Datum{r[0], r[1], r[2]})
		}
		return &sliceIter{rows: rows}, "SHOW", nil
	}
	if name == "transaction isolation level" {
		name = "transaction_isolation"
	}
	v, err := s.setting(name)
	if err != nil {
		return nil, "", err
	}
	return &sliceIter{rows: [][]types.Datum{{v}}}, "SHOW", nil
}

func (s *Session) runTransaction(ctx context.Context, ts *pg_query.TransactionStmt, w pgwire.ResultWriter) (rowIter, string, error) {
	switch ts.Kind {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		warn, err := s.begin(ts.Options)
		if err != nil {
			return nil, "", err
		}
		if warn {
			_ = w.Notice("WARNING", pgerr.ActiveSQLTransaction, "there is already a transaction in progress")
		}
		return nil, "BEGIN", nil
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		if s.txn == nil {
			_ = w.Notice("WARNING", pgerr.NoActiveSQLTransaction, "there is no transaction in progress")
		}
		tag, err := s.commit(ctx)
		return nil, tag, err
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		if s.txn == nil {
			_ = w.Notice("WARNING", pgerr.NoActiveSQLTransaction, "there is no transaction in progress")
		}
		s.rollback(ctx)
		return nil, "ROLLBACK", nil
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return nil, "SAVEPOINT", s.savepoint(ts.SavepointName)
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return nil, "RELEASE", s.releaseSavepoint(ts.SavepointName)
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return nil, "ROLLBACK", s.rollbackTo(ctx, ts.SavepointName)
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		tag, err := s.prepareTransaction(ctx, ts.Gid, w)
		return nil, tag, err
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		tag, err := s.finishPrepared(ctx, ts.Gid, true, w)
		return nil, tag, err
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		tag, err := s.finishPrepared(ctx, ts.Gid, false, w)
		return nil, tag, err
	}
	return nil, "", pgerr.Unsupported(strings.ToLower(strings.TrimPrefix(ts.Kind.String(), "TRANS_STMT_")))
}
