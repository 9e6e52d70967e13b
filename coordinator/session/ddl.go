package session

import (
	"context"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/catalog"
	"github.com/meridian-db/meridian/coordinator/parser"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
	"google.golang.org/protobuf/proto"
)

func schemaOf(rv *pg_query.RangeVar) string {
	if rv.Schemaname != "" {
		return rv.Schemaname
	}
	return "public"
}

func keyNames(keys []*pg_query.Node) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.GetString_().GetSval())
	}
	return out
}

// ddlAll sends a physical change to every datanode.
func (s *Session) ddlAll(ctx context.Context, req *meridianpb.DDLRequest) error {
	snap := s.e.routes.Current()
	return parallel(snap.Groups(), func(g uint32) error {
		c, err := s.e.dn(snap, g)
		if err != nil {
			return err
		}
		_, err = c.DDL(ctx, req)
		return pgerr.FromStatus(err)
	})
}

func (s *Session) createTable(ctx context.Context, cs *pg_query.CreateStmt, dist parser.Distribute) error {
	switch {
	case len(cs.InhRelations) > 0:
		return pgerr.Unsupported("table inheritance")
	case cs.Partspec != nil || cs.Partbound != nil:
		return pgerr.Unsupported("partitioned tables")
	case cs.OfTypename != nil:
		return pgerr.Unsupported("typed tables")
	case cs.Relation.Relpersistence == "t":
		return pgerr.Unsupported("temporary tables")
	}
	schema := schemaOf(cs.Relation)
	if s.e.cat.RelationExists(schema, cs.Relation.Relname) {
		if cs.IfNotExists {
			return nil
		}
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", cs.Relation.Relname)
	}
	td := &meridianpb.TableDesc{Schema: schema, Name: cs.Relation.Relname}
	type keyDef struct {
		name    string
		cols    []string
		primary bool
	}
	var keys []keyDef
	var defaults []*pg_query.Node
	var seqs []*columnSeq // of serial and identity columns
	taken := map[string]bool{}
	for _, elt := range cs.TableElts {
		switch e := elt.Node.(type) {
		case *pg_query.Node_ColumnDef:
			cd := e.ColumnDef
			for _, c := range td.Columns {
				if c.Name == cd.Colname {
					return pgerr.New(pgerr.DuplicateColumn, "column %q specified more than once", cd.Colname)
				}
			}
			serialOID, serial := serialType(cd.TypeName)
			t, err := planner.TypeFromName(cd.TypeName)
			if err != nil {
				return err
			}
			if serial {
				t = types.T(serialOID)
			}
			if !types.Supported(t.OID) {
				return pgerr.Unsupported("column type " + t.String())
			}
			col := &meridianpb.ColumnDesc{Name: cd.Colname, TypeOid: t.OID, Typmod: t.Typmod, NotNull: cd.IsNotNull}
			var dflt, identity *pg_query.Constraint
			explicitNull := false
			for _, cn := range cd.Constraints {
				c := cn.GetConstraint()
				switch c.Contype {
				case pg_query.ConstrType_CONSTR_NOTNULL:
					col.NotNull = true
				case pg_query.ConstrType_CONSTR_NULL:
					explicitNull = true
				case pg_query.ConstrType_CONSTR_DEFAULT:
					if dflt != nil || serial {
						return pgerr.New(pgerr.SyntaxError, "multiple default values specified for column %q of table %q", cd.Colname, td.Name)
					}
					dflt = c
				case pg_query.ConstrType_CONSTR_IDENTITY:
					if identity != nil {
						return pgerr.New(pgerr.SyntaxError, "multiple identity specifications for column %q of table %q", cd.Colname, td.Name)
					}
					identity = c
				case pg_query.ConstrType_CONSTR_PRIMARY:
					keys = append(keys, keyDef{name: c.Conname, cols: []string{cd.Colname}, primary: true})
				case pg_query.ConstrType_CONSTR_UNIQUE:
					keys = append(keys, keyDef{name: c.Conname, cols: []string{cd.Colname}})
				default:
					return pgerr.Unsupported(constraintName(c.Contype) + " constraints")
				}
			}
			if (serial || identity != nil) && (explicitNull && !col.NotNull) {
				return pgerr.New(pgerr.SyntaxError, "conflicting NULL/NOT NULL declarations for column %q of table %q", cd.Colname, td.Name)
			}
			if identity != nil && (dflt != nil || serial) {
				return pgerr.New(pgerr.SyntaxError, "both default and identity specified for column %q of table %q", cd.Colname, td.Name)
			}
			td.Columns = append(td.Columns, col)
			var raw *pg_query.Node
			if dflt != nil {
				raw = dflt.RawExpr
			}
			defaults = append(defaults, raw)
			switch {
			case serial:
				cs, err := s.columnSequence(td, len(td.Columns)-1, nil, meridianpb.Identity_IDENTITY_NONE, taken)
				if err != nil {
					return err
				}
				seqs = append(seqs, cs)
			case identity != nil:
				kind := meridianpb.Identity_IDENTITY_BY_DEFAULT
				if identity.GeneratedWhen == "a" {
					kind = meridianpb.Identity_IDENTITY_ALWAYS
				}
				cs, err := s.columnSequence(td, len(td.Columns)-1, identity.Options, kind, taken)
				if err != nil {
					return err
				}
				seqs = append(seqs, cs)
			}
		case *pg_query.Node_Constraint:
			c := e.Constraint
			switch c.Contype {
			case pg_query.ConstrType_CONSTR_PRIMARY:
				keys = append(keys, keyDef{name: c.Conname, cols: keyNames(c.Keys), primary: true})
			case pg_query.ConstrType_CONSTR_UNIQUE:
				keys = append(keys, keyDef{name: c.Conname, cols: keyNames(c.Keys)})
			default:
				return pgerr.Unsupported(constraintName(c.Contype) + " constraints")
			}
		case *pg_query.Node_TableLikeClause:
			return pgerr.Unsupported("CREATE TABLE ... LIKE")
		default:
			return pgerr.Unsupported("table element")
		}
	}
	if len(td.Columns) == 0 {
		return pgerr.Unsupported("tables without columns")
	}
	for i, d := range defaults {
		if d == nil {
			continue
		}
		e, err := s.e.plan.AnalyzeDefault(d, td.Columns[i])
		if err != nil {
			return err
		}
		td.Columns[i].DefaultExpr = e
		td.Columns[i].DefaultSql = deparseExpr(d)
	}
	primaries := 0
	for _, k := range keys {
		if k.primary {
			primaries++
		}
	}
	if primaries > 1 {
		return pgerr.New(pgerr.InvalidTableDefinition, "multiple primary keys for table %q are not allowed", td.Name)
	}
	// Distribution.
	switch dist.Kind {
	case parser.DistReplication:
		td.Dist = meridianpb.DistKind_DIST_REPLICATION
	case parser.DistHash:
		for _, name := range dist.Columns {
			i := columnOrdinal(td, name)
			if i < 0 {
				return pgerr.New(pgerr.UndefinedColumn, "column %q named in DISTRIBUTE BY does not exist", name)
			}
			td.DistColumns = append(td.DistColumns, int32(i))
		}
	default:
		// The first primary key column, else the first column.
		col := 0
		for _, k := range keys {
			if k.primary {
				col = columnOrdinal(td, k.cols[0])
			}
		}
		if col < 0 {
			col = 0
		}
		td.DistColumns = []int32{int32(col)}
	}
	for _, cs := range seqs {
		if s.e.cat.RelationExists(schema, cs.desc.Name) {
			return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", cs.desc.Name)
		}
	}
	ids, err := s.e.cat.AllocIDs(ctx, 1+len(keys)+len(seqs))
	if err != nil {
		return err
	}
	td.Id = ids
	for i, k := range keys {
		ix, err := s.keyIndex(td, k.name, k.cols, k.primary, ids+1+uint32(i))
		if err != nil {
			return err
		}
		if isGlobal(td, ix) {
			td.GlobalIndexes = append(td.GlobalIndexes, ix)
		} else {
			td.Indexes = append(td.Indexes, ix)
			if ix.Primary && td.Dist == meridianpb.DistKind_DIST_HASH {
				// The rows are stored in primary key order within
				// each bucket (meridianpb.TableDesc.cluster_index).
				td.ClusterIndex = ix.Id
			}
		}
	}
	undo, err := s.makeColumnSequences(ctx, td, seqs, ids+1+uint32(len(keys)))
	if err == nil {
		owned := make([]*meridianpb.SequenceDesc, len(seqs))
		for i, cs := range seqs {
			owned[i] = cs.desc
		}
		err = s.e.cat.CreateTable(ctx, td, owned...)
	}
	if err != nil {
		undo()
	}
	return err
}

func constraintName(t pg_query.ConstrType) string {
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "CONSTR_"), "_", " ")
}

func deparseExpr(n *pg_query.Node) string {
	stmt := &pg_query.ParseResult{Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: n}}}}}}}}}}
	s, err := pg_query.Deparse(stmt)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(s, "SELECT ")
}

func columnOrdinal(td *meridianpb.TableDesc, name string) int {
	for i, c := range td.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// keyIndex makes the unique index of a PRIMARY KEY or UNIQUE constraint;
// on a hash-distributed table, one without every distribution column is
// global (globalindex.go).
func (s *Session) keyIndex(td *meridianpb.TableDesc, name string, cols []string, primary bool, id uint32) (*meridianpb.IndexDesc, error) {
	ix := &meridianpb.IndexDesc{Id: id, Name: name, Unique: true, Primary: primary}
	for _, c := range cols {
		i := columnOrdinal(td, c)
		if i < 0 {
			return nil, pgerr.New(pgerr.UndefinedColumn, "column %q named in key does not exist", c)
		}
		ix.Columns = append(ix.Columns, int32(i))
		if primary {
			td.Columns[i].NotNull = true
		}
	}
	if ix.Name == "" {
		if primary {
			ix.Name = td.Name + "_pkey"
		} else {
			ix.Name = td.Name + "_" + strings.Join(cols, "_") + "_key"
		}
	}
	return ix, nil
}

func (s *Session) lookupTable(ctx context.Context, schema, name string) (*meridianpb.TableDesc, bool, error) {
	t, ok := s.e.cat.Table(schema, name)
	if ok {
		return t, true, nil
	}
	if err := s.e.cat.Sync(ctx); err != nil {
		return nil, false, err
	}
	t, ok = s.e.cat.Table(schema, name)
	return t, ok, nil
}

func qualified(n *pg_query.Node) (string, string) {
	var names []string
	if l := n.GetList(); l != nil {
		for _, x := range l.Items {
			names = append(names, x.GetString_().GetSval())
		}
	} else if rv := n.GetRangeVar(); rv != nil {
		return schemaOf(rv), rv.Relname
	}
	if len(names) == 1 {
		return "public", names[0]
	}
	if len(names) == 0 {
		return "public", ""
	}
	return names[len(names)-2], names[len(names)-1]
}

func (s *Session) runDrop(ctx context.Context, d *pg_query.DropStmt, w pgwire.ResultWriter) (rowIter, string, error) {
	switch d.RemoveType {
	case pg_query.ObjectType_OBJECT_TABLE:
		var tables []*meridianpb.TableDesc
		for _, o := range d.Objects {
			schema, name := qualified(o)
			t, ok, err := s.lookupTable(ctx, schema, name)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				if _, isSeq := s.e.cat.Sequence(schema, name); isSeq {
					return nil, "", pgerr.New(pgerr.WrongObjectType, "%q is not a table", name).WithHint("Use DROP SEQUENCE to remove a sequence.")
				}
				if _, isView := s.e.cat.View(schema, name); isView {
					return nil, "", pgerr.New(pgerr.WrongObjectType, "%q is not a table", name).WithHint("Use DROP VIEW to remove a view.")
				}
				if d.MissingOk {
					_ = w.Notice("NOTICE", "00000", fmt.Sprintf("table %q does not exist, skipping", name))
					continue
				}
				return nil, "", pgerr.New(pgerr.UndefinedTable, "table %q does not exist", name)
			}
			tables = append(tables, t)
		}
		skipViews := map[uint32]bool{}
		cascade := d.Behavior == pg_query.DropBehavior_DROP_CASCADE
		if !cascade {
			// Refuse before dropping anything.
			for _, t := range tables {
				if err := s.dropDependentViews(ctx, "table "+t.Name, t.Id, false, skipViews, w); err != nil {
					return nil, "", err
				}
			}
		}
		for _, t := range tables {
			if err := s.dropDependentViews(ctx, "table "+t.Name, t.Id, cascade, skipViews, w); err != nil {
				return nil, "", err
			}
			// The sequences its columns own go with it; other tables'
			// defaults that call them block the drop, or go (CASCADE).
			owned := s.e.cat.OwnedSequences(t.Id)
			others, err := resolveDeps(s.seqDependents(owned, t.Id), "table "+t.Name, d.Behavior == pg_query.DropBehavior_DROP_CASCADE, w)
			if err != nil {
				return nil, "", err
			}
			if len(others) > 0 {
				if err := s.e.cat.DropSequences(ctx, nil, others); err != nil {
					return nil, "", err
				}
			}
			if err := s.e.cat.DropTable(ctx, t); err != nil {
				return nil, "", err
			}
			for _, sd := range owned {
				s.dropSequenceState(sd.Id)
			}
			if err := s.ddlAll(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_ClearTable{ClearTable: t}}); err != nil {
				s.e.log.Warn("drop table: clearing data failed; rows stay unreachable", "table", t.Name, "err", err)
			}
		}
		return nil, "DROP TABLE", nil
	case pg_query.ObjectType_OBJECT_INDEX:
		for _, o := range d.Objects {
			schema, name := qualified(o)
			t, ok := s.e.cat.IndexTable(schema, name)
			if !ok {
				if err := s.e.cat.Sync(ctx); err != nil {
					return nil, "", err
				}
				t, ok = s.e.cat.IndexTable(schema, name)
			}
			if !ok {
				if d.MissingOk {
					_ = w.Notice("NOTICE", "00000", fmt.Sprintf("index %q does not exist, skipping", name))
					continue
				}
				return nil, "", pgerr.New(pgerr.UndefinedObject, "index %q does not exist", name)
			}
			nt := proto.Clone(t).(*meridianpb.TableDesc)
			var dropped *meridianpb.IndexDesc
			nt.Indexes, nt.GlobalIndexes = dropNamed(t.Indexes, name, &dropped), dropNamed(t.GlobalIndexes, name, &dropped)
			if dropped == nil {
				return nil, "", pgerr.New(pgerr.UndefinedObject, "index %q does not exist", name)
			}
			if dropped.Primary || (dropped.Unique && !dropped.Standalone) {
				return nil, "", pgerr.New(pgerr.DependentObjectsStillExist, "cannot drop index %s because constraint %s on table %s requires it", name, name, t.Name)
			}
			if err := s.e.cat.UpdateTable(ctx, t, nt); err != nil {
				return nil, "", err
			}
			if err := s.ddlAll(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_DropIndex{DropIndex: &meridianpb.DropIndex{IndexId: dropped.Id}}}); err != nil {
				return nil, "", err
			}
		}
		return nil, "DROP INDEX", nil
	case pg_query.ObjectType_OBJECT_SCHEMA:
		return nil, "", pgerr.Unsupported("DROP SCHEMA")
	case pg_query.ObjectType_OBJECT_SEQUENCE:
		return nil, "DROP SEQUENCE", s.dropSequences(ctx, d, w)
	case pg_query.ObjectType_OBJECT_VIEW:
		return nil, "DROP VIEW", s.dropViews(ctx, d, w)
	}
	return nil, "", pgerr.Unsupported("DROP " + strings.TrimPrefix(d.RemoveType.String(), "OBJECT_"))
}

func (s *Session) truncate(ctx context.Context, t *pg_query.TruncateStmt) error {
	var tables []*meridianpb.TableDesc
	for _, r := range t.Relations {
		rv := r.GetRangeVar()
		td, ok, err := s.lookupTable(ctx, schemaOf(rv), rv.Relname)
		if err != nil {
			return err
		}
		if !ok {
			if _, isSeq := s.e.cat.Sequence(schemaOf(rv), rv.Relname); isSeq {
				return pgerr.New(pgerr.WrongObjectType, "%q is not a table", rv.Relname)
			}
			return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", rv.Relname)
		}
		tables = append(tables, td)
	}
	for _, td := range tables {
		if err := s.ddlAll(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_ClearTable{ClearTable: td}}); err != nil {
			return err
		}
		if t.RestartSeqs {
			if err := s.truncateRestart(ctx, td); err != nil {
				return err
			}
		}
	}
	return nil
}

// addIndex stores a new index in the catalog and builds it on every
// datanode (a global one through the coordinator: buildGlobalIndex); a
// failed build removes it again.
func (s *Session) addIndex(ctx context.Context, t *meridianpb.TableDesc, ix *meridianpb.IndexDesc, notNull []int32) error {
	nt := proto.Clone(t).(*meridianpb.TableDesc)
	global := isGlobal(nt, ix)
	if global {
		if err := s.checkGlobalBuild(ix); err != nil {
			return err
		}
		nt.GlobalIndexes = append(nt.GlobalIndexes, ix)
	} else {
		nt.Indexes = append(nt.Indexes, ix)
	}
	for _, c := range notNull {
		nt.Columns[c].NotNull = true
	}
	if err := s.e.cat.UpdateTable(ctx, t, nt); err != nil {
		return err
	}
	cur, _ := s.e.cat.TableByID(t.Id)
	var err error
	if global {
		err = s.buildGlobalIndex(ctx, cur, ix)
	} else {
		err = s.ddlAll(ctx, &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_BuildIndex{BuildIndex: &meridianpb.BuildIndex{Table: cur, IndexId: ix.Id}}})
	}
	if err != nil {
		_ = s.e.cat.UpdateTable(context.Background(), cur, t)
		_ = s.ddlAll(context.Background(), &meridianpb.DDLRequest{Op: &meridianpb.DDLRequest_DropIndex{DropIndex: &meridianpb.DropIndex{IndexId: ix.Id}}})
		return err
	}
	return nil
}

func (s *Session) createIndex(ctx context.Context, is *pg_query.IndexStmt, w pgwire.ResultWriter) error {
	if is.WhereClause != nil {
		return pgerr.Unsupported("partial indexes")
	}
	if is.AccessMethod != "" && is.AccessMethod != "btree" {
		return pgerr.Unsupported("index method " + is.AccessMethod)
	}
	t, ok, err := s.lookupTable(ctx, schemaOf(is.Relation), is.Relation.Relname)
	if err != nil {
		return err
	}
	if !ok {
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", is.Relation.Relname)
	}
	var cols []int32
	var names []string
	for _, p := range is.IndexParams {
		el := p.GetIndexElem()
		if el.Expr != nil {
			return pgerr.Unsupported("expression indexes")
		}
		i := columnOrdinal(t, el.Name)
		if i < 0 {
			return pgerr.New(pgerr.UndefinedColumn, "column %q does not exist", el.Name)
		}
		cols = append(cols, int32(i))
		names = append(names, el.Name)
	}
	name := is.Idxname
	if name == "" {
		name = t.Name + "_" + strings.Join(names, "_") + "_idx"
	}
	if _, exists := s.e.cat.IndexTable(t.Schema, name); exists {
		if is.IfNotExists {
			_ = w.Notice("NOTICE", "42P07", fmt.Sprintf("relation %q already exists, skipping", name))
			return nil
		}
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", name)
	}
	id, err := s.e.cat.AllocIDs(ctx, 1)
	if err != nil {
		return err
	}
	return s.addIndex(ctx, t, &meridianpb.IndexDesc{Id: id, Name: name, Columns: cols, Unique: is.Unique, Standalone: true}, nil)
}

func (s *Session) alterTable(ctx context.Context, at *pg_query.AlterTableStmt) error {
	if at.Objtype != pg_query.ObjectType_OBJECT_TABLE {
		return pgerr.Unsupported("ALTER " + strings.TrimPrefix(at.Objtype.String(), "OBJECT_"))
	}
	t, ok, err := s.lookupTable(ctx, schemaOf(at.Relation), at.Relation.Relname)
	if err != nil {
		return err
	}
	if !ok {
		if at.MissingOk {
			return nil
		}
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", at.Relation.Relname)
	}
	for _, c := range at.Cmds {
		cmd := c.GetAlterTableCmd()
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AddColumn:
			if err := s.addColumn(ctx, t, cmd.Def.GetColumnDef(), cmd.MissingOk); err != nil {
				return err
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			con := cmd.Def.GetConstraint()
			if con.Contype != pg_query.ConstrType_CONSTR_PRIMARY && con.Contype != pg_query.ConstrType_CONSTR_UNIQUE {
				return pgerr.Unsupported(constraintName(con.Contype) + " constraints")
			}
			primary := con.Contype == pg_query.ConstrType_CONSTR_PRIMARY
			if primary {
				for _, ix := range catalog.AllIndexes(t) {
					if ix.Primary {
						return pgerr.New(pgerr.InvalidTableDefinition, "multiple primary keys for table %q are not allowed", t.Name)
					}
				}
			}
			nt := proto.Clone(t).(*meridianpb.TableDesc)
			id, err := s.e.cat.AllocIDs(ctx, 1)
			if err != nil {
				return err
			}
			ix, err := s.keyIndex(nt, con.Conname, keyNames(con.Keys), primary, id)
			if err != nil {
				return err
			}
			var notNull []int32
			if primary {
				for _, col := range ix.Columns {
					if !t.Columns[col].NotNull {
						if err := s.checkNoNulls(ctx, t, int(col)); err != nil {
							return err
						}
						notNull = append(notNull, col)
					}
				}
			}
			if err := s.addIndex(ctx, t, ix, notNull); err != nil {
				return err
			}
		default:
			return pgerr.Unsupported("ALTER TABLE " + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(cmd.Subtype.String(), "AT_"), "_", " ")))
		}
		cur, _ := s.e.cat.TableByID(t.Id)
		t = cur
	}
	return nil
}

// checkNoNulls fails with 23502 when a column holds a NULL.
func (s *Session) checkNoNulls(ctx context.Context, t *meridianpb.TableDesc, col int) error {
	c := t.Columns[col]
	filter := &meridianpb.Expr{Kind: meridianpb.ExprKind_EXPR_IS_NULL, TypeOid: types.Bool, Typmod: -1,
		Args: []*meridianpb.Expr{expr.Column(col, types.Type{OID: c.TypeOid, Typmod: c.Typmod})}}
	snap := s.e.routes.Current()
	a := planner.Access{Table: t, Filter: filter}
	targets, err := route(snap, &a, false, 0)
	if err != nil {
		return err
	}
	it, err := s.scanIter(ctx, nil, snap, targets, a, nil, 1, nil)
	if err != nil {
		return err
	}
	defer it.close()
	row, err := it.next(ctx)
	if err != nil {
		return err
	}
	if row != nil {
		return pgerr.New(pgerr.NotNullViolation, "column %q of relation %q contains null values", c.Name, t.Name)
	}
	return nil
}

func (s *Session) addColumn(ctx context.Context, t *meridianpb.TableDesc, cd *pg_query.ColumnDef, ifNotExists bool) error {
	if columnOrdinal(t, cd.Colname) >= 0 {
		if ifNotExists {
			return nil
		}
		return pgerr.New(pgerr.DuplicateColumn, "column %q of relation %q already exists", cd.Colname, t.Name)
	}
	if _, serial := serialType(cd.TypeName); serial {
		return pgerr.Unsupported("ALTER TABLE ... ADD COLUMN of a serial type")
	}
	ty, err := planner.TypeFromName(cd.TypeName)
	if err != nil {
		return err
	}
	if !types.Supported(ty.OID) {
		return pgerr.Unsupported("column type " + ty.String())
	}
	col := &meridianpb.ColumnDesc{Name: cd.Colname, TypeOid: ty.OID, Typmod: ty.Typmod, NotNull: cd.IsNotNull}
	for _, cn := range cd.Constraints {
		c := cn.GetConstraint()
		switch c.Contype {
		case pg_query.ConstrType_CONSTR_NOTNULL:
			col.NotNull = true
		case pg_query.ConstrType_CONSTR_NULL:
		case pg_query.ConstrType_CONSTR_DEFAULT:
			e, err := s.e.plan.AnalyzeDefault(c.RawExpr, col)
			if err != nil {
				return err
			}
			if planner.HasSequenceCall(e) {
				// Every existing row would need a value of its own.
				return pgerr.Unsupported("ALTER TABLE ... ADD COLUMN with a DEFAULT that calls a sequence function")
			}
			col.DefaultExpr = e
			col.DefaultSql = deparseExpr(c.RawExpr)
		default:
			return pgerr.Unsupported(constraintName(c.Contype) + " in ADD COLUMN")
		}
	}
	// Existing rows read the default's value (evaluated once now).
	if col.DefaultExpr != nil {
		b, err := planner.Bind(col.DefaultExpr, s.bindEnv(nil))
		if err != nil {
			return err
		}
		ev, err := expr.Compile(b)
		if err != nil {
			return err
		}
		v, err := ev(nil)
		if err != nil {
			return err
		}
		if v != nil {
			col.MissingValue = codec.AppendDatum(nil, v)
			col.HasMissingValue = true
		}
	}
	if col.NotNull && !col.HasMissingValue {
		a := planner.Access{Table: t}
		snap := s.e.routes.Current()
		targets, err := route(snap, &a, false, 0)
		if err != nil {
			return err
		}
		it, err := s.scanIter(ctx, nil, snap, targets, a, nil, 1, nil)
		if err != nil {
			return err
		}
		row, err := it.next(ctx)
		it.close()
		if err != nil {
			return err
		}
		if row != nil {
			return pgerr.New(pgerr.NotNullViolation, "column %q of relation %q contains null values", col.Name, t.Name)
		}
	}
	nt := proto.Clone(t).(*meridianpb.TableDesc)
	nt.Columns = append(nt.Columns, col)
	return s.e.cat.UpdateTable(ctx, t, nt)
}
