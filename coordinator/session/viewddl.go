package session

import (
	"context"
	"fmt"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// createView runs CREATE [OR REPLACE] VIEW.
func (s *Session) createView(ctx context.Context, vs *pg_query.ViewStmt) error {
	switch {
	case vs.View.Relpersistence == "t":
		return pgerr.Unsupported("temporary views")
	case len(vs.Options) > 0:
		return pgerr.Unsupported("view options (WITH (...))")
	case vs.WithCheckOption != pg_query.ViewCheckOption_NO_CHECK_OPTION:
		return pgerr.Unsupported("WITH CHECK OPTION (updatable views)")
	}
	sel := vs.Query.GetSelectStmt()
	if sel == nil {
		return pgerr.New(pgerr.SyntaxError, "CREATE VIEW needs a SELECT or VALUES query")
	}
	if err := s.e.cat.Sync(ctx); err != nil {
		return err
	}
	schema, name := schemaOf(vs.View), vs.View.Relname
	cols, deps, err := s.e.plan.PlanView(sel)
	if err != nil {
		return err
	}
	if len(vs.Aliases) > len(cols) {
		return pgerr.New(pgerr.SyntaxError, "CREATE VIEW specifies more column names than columns")
	}
	text, err := pg_query.Deparse(&pg_query.ParseResult{Version: parseTreeVersion(), Stmts: []*pg_query.RawStmt{{Stmt: vs.Query}}})
	if err != nil {
		return pgerr.Wrap(err, pgerr.InternalError, "deparse view query")
	}
	vd := &meridianpb.ViewDesc{Schema: schema, Name: name, Query: text, DependsOn: deps}
	seen := map[string]bool{}
	for i, c := range cols {
		n := c.Name
		if i < len(vs.Aliases) {
			n = vs.Aliases[i].GetString_().GetSval()
		}
		if seen[n] {
			return pgerr.New(pgerr.DuplicateColumn, "column %q specified more than once", n)
		}
		seen[n] = true
		if c.TypeOID == types.Unknown {
			// PostgreSQL makes an unknown-typed literal column text.
			return pgerr.Unsupported(fmt.Sprintf("view column %q of unknown type (cast the literal, e.g. 'x'::text)", n))
		}
		vd.ColumnNames = append(vd.ColumnNames, n)
		vd.ColumnTypes = append(vd.ColumnTypes, c.TypeOID)
		vd.ColumnTypmods = append(vd.ColumnTypmods, c.TypeModifier)
	}
	old, exists := s.e.cat.View(schema, name)
	if exists && !vs.Replace {
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", name)
	}
	if !exists && s.e.cat.RelationExists(schema, name) {
		if vs.Replace {
			return pgerr.New(pgerr.WrongObjectType, "%q is not a view", name)
		}
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", name)
	}
	if exists {
		// As PostgreSQL: the new query may add columns at the end, but
		// must keep the old ones, with their names and types.
		if len(vd.ColumnNames) < len(old.ColumnNames) {
			return pgerr.New(pgerr.InvalidTableDefinition, "cannot drop columns from view")
		}
		for i, n := range old.ColumnNames {
			if vd.ColumnNames[i] != n {
				return pgerr.New(pgerr.InvalidTableDefinition, "cannot change name of view column %q to %q", n, vd.ColumnNames[i]).
					WithHint("Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead.")
			}
			if vd.ColumnTypes[i] != old.ColumnTypes[i] || vd.ColumnTypmods[i] != old.ColumnTypmods[i] {
				return pgerr.New(pgerr.InvalidTableDefinition, "cannot change data type of view column %q", n)
			}
		}
		// As in PostgreSQL, a new query that reads the view through
		// other views is accepted; reading it fails (42P17, view.go).
		return s.e.cat.CreateView(ctx, vd, old)
	}
	if vd.Id, err = s.e.cat.AllocIDs(ctx, 1); err != nil {
		return err
	}
	return s.e.cat.CreateView(ctx, vd, nil)
}

// parseTreeVersion is the parser's tree version, which Deparse checks.
var parseTreeVersion = sync.OnceValue(func() int32 {
	res, err := pg_query.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return res.Version
})

// viewDependents lists the views that read the relation id, directly or
// through other views, each once, dependents after what they read.
func (s *Session) viewDependents(id uint32) []*meridianpb.ViewDesc {
	var out []*meridianpb.ViewDesc
	seen := map[uint32]bool{}
	var walk func(id uint32, depth int)
	walk = func(id uint32, depth int) {
		if depth > 64 {
			return
		}
		for _, vd := range s.e.cat.ViewDependents(id) {
			if !seen[vd.Id] {
				seen[vd.Id] = true
				out = append(out, vd)
				walk(vd.Id, depth+1)
			}
		}
	}
	walk(id, 0)
	return out
}

// dropDependentViews handles the views that read a relation being
// dropped: without CASCADE they fail the drop (2BP01, naming them), with
// it they are dropped first. skip lists views the statement drops anyway.
func (s *Session) dropDependentViews(ctx context.Context, what string, id uint32, cascade bool, skip map[uint32]bool, w pgwire.ResultWriter) error {
	var deps []*meridianpb.ViewDesc
	for _, vd := range s.viewDependents(id) {
		if !skip[vd.Id] {
			deps = append(deps, vd)
		}
	}
	if len(deps) == 0 {
		return nil
	}
	lines := make([]string, len(deps))
	for i, vd := range deps {
		lines[i] = "view " + vd.Name + " depends on " + what
	}
	if !cascade {
		return pgerr.New(pgerr.DependentObjectsStillExist, "cannot drop %s because other objects depend on it", what).
			WithDetail("%s", strings.Join(lines, "\n")).
			WithHint("Use DROP ... CASCADE to drop the dependent objects too.")
	}
	if len(deps) == 1 {
		_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, "drop cascades to view "+deps[0].Name)
	} else {
		_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, fmt.Sprintf("drop cascades to %d other objects", len(deps)))
	}
	for _, vd := range deps {
		skip[vd.Id] = true
	}
	return s.e.cat.DropViews(ctx, deps)
}

// dropViews runs DROP VIEW.
func (s *Session) dropViews(ctx context.Context, d *pg_query.DropStmt, w pgwire.ResultWriter) error {
	if err := s.e.cat.Sync(ctx); err != nil {
		return err
	}
	var vds []*meridianpb.ViewDesc
	skip := map[uint32]bool{}
	for _, o := range d.Objects {
		schema, name := qualified(o)
		vd, ok := s.e.cat.View(schema, name)
		if !ok {
			if s.e.cat.RelationExists(schema, name) {
				return pgerr.New(pgerr.WrongObjectType, "%q is not a view", name).WithHint("Use DROP TABLE to remove a table.")
			}
			if d.MissingOk {
				_ = w.Notice("NOTICE", "00000", fmt.Sprintf("view %q does not exist, skipping", name))
				continue
			}
			return pgerr.New(pgerr.UndefinedTable, "view %q does not exist", name)
		}
		if !skip[vd.Id] {
			vds = append(vds, vd)
			skip[vd.Id] = true
		}
	}
	cascade := d.Behavior == pg_query.DropBehavior_DROP_CASCADE
	for _, vd := range vds {
		if err := s.dropDependentViews(ctx, "view "+vd.Name, vd.Id, cascade, skip, w); err != nil {
			return err
		}
	}
	return s.e.cat.DropViews(ctx, vds)
}
