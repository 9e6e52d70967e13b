package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/coordinator/sequence"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// CREATE, ALTER and DROP SEQUENCE, and the sequences of serial and
// identity columns. A sequence is made at the GTM first (its state), then
// in the catalog (its name); it is dropped from the catalog first, then at
// the GTM. A failure in between leaves at most a GTM record nobody names.

func (s *Session) gtmOK() error {
	if s.e.gtm == nil {
		return pgerr.New(pgerr.ConnectionFailure, "no GTM: sequences are not available")
	}
	return nil
}

func (s *Session) createSequence(ctx context.Context, cs *pg_query.CreateSeqStmt, w pgwire.ResultWriter) error {
	if cs.Sequence.Relpersistence == "t" {
		return pgerr.Unsupported("temporary sequences")
	}
	if err := s.gtmOK(); err != nil {
		return err
	}
	schema, name := schemaOf(cs.Sequence), cs.Sequence.Relname
	if err := s.e.cat.Sync(ctx); err != nil {
		return err
	}
	if s.e.cat.RelationExists(schema, name) {
		if cs.IfNotExists {
			_ = w.Notice("NOTICE", pgerr.DuplicateTable, fmt.Sprintf("relation %q already exists, skipping", name))
			return nil
		}
		return pgerr.New(pgerr.DuplicateTable, "relation %q already exists", name)
	}
	ch, err := sequence.Apply(nil, cs.Options, sequence.Create, 0)
	if err != nil {
		return err
	}
	sd := &meridianpb.SequenceDesc{Schema: schema, Name: name, Options: ch.Options}
	if err := s.ownedBy(ctx, sd, ch.OwnedBy); err != nil {
		return err
	}
	if sd.Id, err = s.e.cat.AllocIDs(ctx, 1); err != nil {
		return err
	}
	if err := s.makeSequenceState(ctx, sd, ch); err != nil {
		return err
	}
	if err := s.e.cat.CreateSequence(ctx, sd); err != nil {
		s.dropSequenceState(sd.Id)
		if cs.IfNotExists && pgerr.Code(err) == pgerr.DuplicateTable {
			_ = w.Notice("NOTICE", pgerr.DuplicateTable, fmt.Sprintf("relation %q already exists, skipping", name))
			return nil
		}
		return err
	}
	return nil
}

// makeSequenceState creates a sequence at the GTM (at its RESTART value
// when the options give one).
func (s *Session) makeSequenceState(ctx context.Context, sd *meridianpb.SequenceDesc, ch *sequence.Change) error {
	if err := s.e.gtm.CreateSequence(ctx, sd.Id, sd.Options); err != nil {
		return seqErr(ctx, err)
	}
	if ch.Restart {
		if _, err := s.e.gtm.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: sd.Id, Name: sd.Name, Options: sd.Options,
			Restart: true, RestartWith: true, RestartValue: ch.RestartValue}); err != nil {
			s.dropSequenceState(sd.Id)
			return seqErr(ctx, err)
		}
	}
	return nil
}

// dropSequenceState deletes a sequence's GTM record, best effort (an
// orphan record is harmless).
func (s *Session) dropSequenceState(id uint32) {
	s.e.seqs.Forget(id)
	if s.e.gtm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), gtmCleanupTimeout)
	defer cancel()
	if err := s.e.gtm.DropSequence(ctx, id); err != nil {
		s.e.log.Warn("drop sequence state at the GTM; the record stays, unused", "id", id, "err", err)
	}
}

const gtmCleanupTimeout = 10 * time.Second

// ownedBy applies an OWNED BY option to sd (nil: absent).
func (s *Session) ownedBy(ctx context.Context, sd *meridianpb.SequenceDesc, names []string) error {
	switch {
	case names == nil:
		return nil
	case len(names) == 1 && names[0] == "none":
		sd.OwnerTable, sd.OwnerColumn = 0, ""
		return nil
	case len(names) < 2 || len(names) > 3:
		return pgerr.New(pgerr.SyntaxError, "invalid OWNED BY option").WithHint("Specify OWNED BY table.column or OWNED BY NONE.")
	}
	schema := "public"
	if len(names) == 3 {
		schema = names[0]
	}
	tname, col := names[len(names)-2], names[len(names)-1]
	t, ok, err := s.lookupTable(ctx, schema, tname)
	if err != nil {
		return err
	}
	if !ok {
		if s.e.cat.RelationExists(schema, tname) {
			return pgerr.New(pgerr.WrongObjectType, "sequence cannot be owned by relation %q", tname).
				WithDetail("This operation is not supported for sequences.")
		}
		if !s.e.cat.SchemaExists(schema) {
			return pgerr.New(pgerr.UndefinedSchema, "schema %q does not exist", schema)
		}
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", tname)
	}
	if t.Schema != sd.Schema {
		return pgerr.New(pgerr.ObjectNotInPrerequisiteState, "sequence must be in same schema as table it is linked to")
	}
	if columnOrdinal(t, col) < 0 {
		return pgerr.New(pgerr.UndefinedColumn, "column %q of relation %q does not exist", col, tname)
	}
	sd.OwnerTable, sd.OwnerColumn = t.Id, col
	return nil
}

// lookupSequence finds a sequence, syncing the catalog once when it is
// missing.
func (s *Session) lookupSequence(ctx context.Context, schema, name string) (*meridianpb.SequenceDesc, bool, error) {
	if sd, ok := s.e.cat.Sequence(schema, name); ok {
		return sd, true, nil
	}
	if err := s.e.cat.Sync(ctx); err != nil {
		return nil, false, err
	}
	sd, ok := s.e.cat.Sequence(schema, name)
	return sd, ok, nil
}

func (s *Session) alterSequence(ctx context.Context, as *pg_query.AlterSeqStmt, w pgwire.ResultWriter) error {
	if err := s.gtmOK(); err != nil {
		return err
	}
	schema, name := schemaOf(as.Sequence), as.Sequence.Relname
	sd, ok, err := s.lookupSequence(ctx, schema, name)
	if err != nil {
		return err
	}
	if !ok {
		if s.e.cat.RelationExists(schema, name) {
			return pgerr.New(pgerr.WrongObjectType, "%q is not a sequence", name)
		}
		if as.MissingOk {
			_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, fmt.Sprintf("relation %q does not exist, skipping", name))
			return nil
		}
		return pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name)
	}
	ch, err := sequence.Apply(sd.Options, as.Options, sequence.Alter, 0)
	if err != nil {
		return err
	}
	nsd := proto.Clone(sd).(*meridianpb.SequenceDesc)
	nsd.Options = ch.Options
	if ch.OwnedBy != nil {
		if sd.Identity {
			return pgerr.New(pgerr.FeatureNotSupported, "cannot change ownership of identity sequence").
				WithDetail("Sequence %q is linked to table %q.", sd.Name, s.tableName(sd.OwnerTable))
		}
		if err := s.ownedBy(ctx, nsd, ch.OwnedBy); err != nil {
			return err
		}
	}
	if ch.Restart || !proto.Equal(sd.Options, ch.Options) {
		// The values cached here go back, so that the sequence continues
		// after the last value handed out rather than after the last one
		// fetched, when no other coordinator fetched since (PostgreSQL's
		// CACHE 1 behaviour).
		unused := s.e.seqs.Surrender(sd.Id)
		gen, err := s.e.gtm.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: sd.Id, Name: sd.Name, Options: ch.Options,
			Restart: ch.Restart, RestartWith: ch.RestartWith, RestartValue: ch.RestartValue,
			UnusedFirst: unused.First, UnusedCount: unused.Count, UnusedGeneration: unused.Gen})
		if err != nil {
			return seqErr(ctx, err)
		}
		s.e.seqs.Invalidate(sd.Id, gen)
	}
	if proto.Equal(sd, nsd) {
		return nil
	}
	return s.e.cat.UpdateSequence(ctx, sd, nsd)
}

func (s *Session) tableName(id uint32) string {
	if t, ok := s.e.cat.TableByID(id); ok {
		return t.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// seqDep is a column default that calls a sequence.
type seqDep struct {
	table *meridianpb.TableDesc
	col   int
	seq   *meridianpb.SequenceDesc
}

func (d seqDep) String() string {
	return fmt.Sprintf("default value for column %s of table %s depends on sequence %s", d.table.Columns[d.col].Name, d.table.Name, d.seq.Name)
}

// seqDependents lists the column defaults, outside table skip, that call
// one of seqs.
func (s *Session) seqDependents(seqs []*meridianpb.SequenceDesc, skip uint32) []seqDep {
	byID := map[uint32]*meridianpb.SequenceDesc{}
	for _, sd := range seqs {
		byID[sd.Id] = sd
	}
	var out []seqDep
	for _, t := range s.e.cat.Tables() {
		if t.Id == skip {
			continue
		}
		for i, c := range t.Columns {
			for _, id := range planner.SequencesOf(c.DefaultExpr) {
				if sd := byID[id]; sd != nil {
					out = append(out, seqDep{table: t, col: i, seq: sd})
					break
				}
			}
		}
	}
	return out
}

// resolveDeps refuses to drop what deps depend on unless CASCADE, which
// drops those defaults: it returns the tables to store without them.
func resolveDeps(deps []seqDep, what string, cascade bool, w pgwire.ResultWriter) ([]*meridianpb.TableDesc, error) {
	if len(deps) == 0 {
		return nil, nil
	}
	lines := make([]string, len(deps))
	for i, d := range deps {
		lines[i] = d.String()
	}
	if !cascade {
		return nil, pgerr.New(pgerr.DependentObjectsStillExist, "cannot drop %s because other objects depend on it", what).
			WithDetail("%s", strings.Join(lines, "\n")).
			WithHint("Use DROP ... CASCADE to drop the dependent objects too.")
	}
	if len(deps) == 1 {
		_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, "drop cascades to "+strings.TrimSuffix(lines[0], " depends on sequence "+deps[0].seq.Name))
	} else {
		_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, fmt.Sprintf("drop cascades to %d other objects", len(deps)))
	}
	changed := map[uint32]*meridianpb.TableDesc{}
	var out []*meridianpb.TableDesc
	for _, d := range deps {
		t := changed[d.table.Id]
		if t == nil {
			t = proto.Clone(d.table).(*meridianpb.TableDesc)
			changed[t.Id] = t
			out = append(out, t)
		}
		t.Columns[d.col].DefaultExpr, t.Columns[d.col].DefaultSql = nil, ""
	}
	return out, nil
}

func (s *Session) dropSequences(ctx context.Context, d *pg_query.DropStmt, w pgwire.ResultWriter) error {
	var seqs []*meridianpb.SequenceDesc
	for _, o := range d.Objects {
		schema, name := qualified(o)
		sd, ok, err := s.lookupSequence(ctx, schema, name)
		if err != nil {
			return err
		}
		if !ok {
			if s.e.cat.RelationExists(schema, name) {
				e := pgerr.New(pgerr.WrongObjectType, "%q is not a sequence", name)
				if _, isTable := s.e.cat.Table(schema, name); isTable {
					e.WithHint("Use DROP TABLE to remove a table.")
				}
				return e
			}
			if d.MissingOk {
				_ = w.Notice("NOTICE", pgerr.SuccessfulCompletion, fmt.Sprintf("sequence %q does not exist, skipping", name))
				continue
			}
			return pgerr.New(pgerr.UndefinedTable, "sequence %q does not exist", name)
		}
		if sd.Identity {
			t := s.tableName(sd.OwnerTable)
			return pgerr.New(pgerr.DependentObjectsStillExist, "cannot drop sequence %s because column %s of table %s requires it", sd.Name, sd.OwnerColumn, t).
				WithHint("You can drop column %s of table %s instead.", sd.OwnerColumn, t)
		}
		seqs = append(seqs, sd)
	}
	if len(seqs) == 0 {
		return nil
	}
	what := "sequence " + seqs[0].Name
	tables, err := resolveDeps(s.seqDependents(seqs, 0), what, d.Behavior == pg_query.DropBehavior_DROP_CASCADE, w)
	if err != nil {
		return err
	}
	if err := s.e.cat.DropSequences(ctx, seqs, tables); err != nil {
		return err
	}
	for _, sd := range seqs {
		s.dropSequenceState(sd.Id)
	}
	return nil
}

// truncateRestart restarts the sequences a table's columns own
// (TRUNCATE ... RESTART IDENTITY).
func (s *Session) truncateRestart(ctx context.Context, t *meridianpb.TableDesc) error {
	for _, sd := range s.e.cat.OwnedSequences(t.Id) {
		if err := s.gtmOK(); err != nil {
			return err
		}
		gen, err := s.e.gtm.AlterSequence(ctx, &meridianpb.AlterSequenceRequest{Id: sd.Id, Name: sd.Name, Options: sd.Options, Restart: true})
		if err != nil {
			return seqErr(ctx, err)
		}
		s.e.seqs.Invalidate(sd.Id, gen)
	}
	return nil
}

// serialType reports a serial pseudo-type and the integer type it stands
// for.
func serialType(tn *pg_query.TypeName) (uint32, bool) {
	if tn == nil || len(tn.Names) != 1 || len(tn.ArrayBounds) > 0 {
		return 0, false
	}
	switch tn.Names[0].GetString_().GetSval() {
	case "smallserial", "serial2":
		return types.Int2, true
	case "serial", "serial4":
		return types.Int4, true
	case "bigserial", "serial8":
		return types.Int8, true
	}
	return 0, false
}

// columnSeq is the sequence a column of a new table owns (serial or
// identity), made with the table.
type columnSeq struct {
	col    int
	desc   *meridianpb.SequenceDesc
	change *sequence.Change
}

// seqName is PostgreSQL's ChooseRelationName(table, column, "seq"): the
// first of table_column_seq, table_column_seq1, ... (each cut to 63
// bytes) that names no relation and was not chosen for another column.
func (s *Session) seqName(schema, table, column string, taken map[string]bool) string {
	for pass := 0; ; pass++ {
		label := "seq"
		if pass > 0 {
			label += strconv.Itoa(pass)
		}
		name := makeObjectName(table, column, label)
		if !taken[name] && !s.e.cat.RelationExists(schema, name) {
			taken[name] = true
			return name
		}
	}
}

// makeObjectName joins name1_name2_label, cutting the longer of the
// names first to keep within 63 bytes (PostgreSQL's makeObjectName).
func makeObjectName(name1, name2, label string) string {
	avail := 63 - len(label) - 2
	n1, n2 := len(name1), len(name2)
	for n1+n2 > avail {
		if n1 > n2 {
			n1--
		} else {
			n2--
		}
	}
	return clip(name1, n1) + "_" + clip(name2, n2) + "_" + label
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// columnSequence makes the sequence of a serial or identity column of new
// table td (its id is filled in later) and the column's default.
func (s *Session) columnSequence(td *meridianpb.TableDesc, col int, opts []*pg_query.Node, identity meridianpb.Identity, taken map[string]bool) (*columnSeq, error) {
	c := td.Columns[col]
	ch, err := sequence.Apply(nil, opts, sequence.Identity, c.TypeOid)
	if err != nil {
		return nil, err
	}
	if ch.OwnedBy != nil {
		return nil, pgerr.New(pgerr.SyntaxError, "invalid sequence option OWNED BY")
	}
	sd := &meridianpb.SequenceDesc{Schema: td.Schema, Options: ch.Options, OwnerColumn: c.Name,
		Identity: identity != meridianpb.Identity_IDENTITY_NONE}
	switch len(ch.Name) {
	case 0:
		sd.Name = s.seqName(td.Schema, td.Name, c.Name, taken)
	case 1:
		sd.Name = ch.Name[0]
	default:
		if ch.Name[len(ch.Name)-2] != td.Schema {
			return nil, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "sequence must be in same schema as table it is linked to")
		}
		sd.Name = ch.Name[len(ch.Name)-1]
	}
	c.NotNull = true
	c.Identity = identity
	return &columnSeq{col: col, desc: sd, change: ch}, nil
}

// makeColumnSequences gives the sequences of a new table's columns their
// ids and state at the GTM, and the columns their defaults; undo drops
// the state again if the table is not made.
func (s *Session) makeColumnSequences(ctx context.Context, td *meridianpb.TableDesc, seqs []*columnSeq, firstID uint32) (undo func(), err error) {
	var made []uint32
	undo = func() {
		for _, id := range made {
			s.dropSequenceState(id)
		}
	}
	if len(seqs) > 0 {
		if err := s.gtmOK(); err != nil {
			return undo, err
		}
	}
	for i, cs := range seqs {
		cs.desc.Id = firstID + uint32(i)
		cs.desc.OwnerTable = td.Id
		if err := s.makeSequenceState(ctx, cs.desc, cs.change); err != nil {
			return undo, err
		}
		made = append(made, cs.desc.Id)
		col := td.Columns[cs.col]
		col.DefaultExpr = planner.NextvalDefault(cs.desc.Id, col)
		if col.Identity == meridianpb.Identity_IDENTITY_NONE {
			col.DefaultSql = "nextval('" + regclassText(cs.desc) + "'::regclass)"
		}
	}
	return undo, nil
}

// regclassText is how PostgreSQL prints a sequence as regclass.
func regclassText(sd *meridianpb.SequenceDesc) string {
	q := sequence.QuoteIdent(sd.Name)
	if sd.Schema != "public" {
		q = sequence.QuoteIdent(sd.Schema) + "." + q
	}
	return strings.ReplaceAll(q, "'", "''")
}
