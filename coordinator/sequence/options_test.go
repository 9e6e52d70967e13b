package sequence

import (
	"math"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// optionsOf parses a CREATE or ALTER SEQUENCE statement's options.
func optionsOf(t *testing.T, sql string) []*pg_query.Node {
	t.Helper()
	r, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	switch n := r.Stmts[0].Stmt.Node.(type) {
	case *pg_query.Node_CreateSeqStmt:
		return n.CreateSeqStmt.Options
	case *pg_query.Node_AlterSeqStmt:
		return n.AlterSeqStmt.Options
	}
	t.Fatalf("not a sequence statement: %s", sql)
	return nil
}

func TestApplyDefaults(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want *meridianpb.SequenceOptions
	}{
		{"create sequence s", &meridianpb.SequenceOptions{TypeOid: types.Int8, Increment: 1, MinValue: 1, MaxValue: math.MaxInt64, Start: 1, Cache: 1}},
		{"create sequence s increment -2", &meridianpb.SequenceOptions{TypeOid: types.Int8, Increment: -2, MinValue: math.MinInt64, MaxValue: -1, Start: -1, Cache: 1}},
		{"create sequence s as smallint cycle cache 20", &meridianpb.SequenceOptions{TypeOid: types.Int2, Increment: 1, MinValue: 1, MaxValue: 32767, Start: 1, Cache: 20, Cycle: true}},
		{"create sequence s as integer start 5 minvalue 0 maxvalue 9223372036", nil},
		{"create sequence s as integer start 5 minvalue 0 maxvalue 10", &meridianpb.SequenceOptions{TypeOid: types.Int4, Increment: 1, MinValue: 0, MaxValue: 10, Start: 5, Cache: 1}},
	} {
		ch, err := Apply(nil, optionsOf(t, tc.sql), Create, 0)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: no error", tc.sql)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if got := ch.Options; got.String() != tc.want.String() {
			t.Errorf("%s:\n got %v\nwant %v", tc.sql, got, tc.want)
		}
	}
}

// The messages and SQLSTATEs are PostgreSQL 15's.
func TestApplyErrors(t *testing.T) {
	for _, tc := range []struct{ sql, code, msg string }{
		{"create sequence s increment 0", "22023", "INCREMENT must not be zero"},
		{"create sequence s as smallint maxvalue 40000", "22023", "MAXVALUE (40000) is out of range for sequence data type smallint"},
		{"create sequence s as int4 minvalue -3000000000", "22023", "MINVALUE (-3000000000) is out of range for sequence data type integer"},
		{"create sequence s minvalue 10 maxvalue 5", "22023", "MINVALUE (10) must be less than MAXVALUE (5)"},
		{"create sequence s start 100 maxvalue 10", "22023", "START value (100) cannot be greater than MAXVALUE (10)"},
		{"create sequence s start -5", "22023", "START value (-5) cannot be less than MINVALUE (1)"},
		{"create sequence s cache 0", "22023", "CACHE (0) must be greater than zero"},
		{"create sequence s as text", "22023", "sequence type must be smallint, integer, or bigint"},
		{"create sequence s as nosuch", "42704", `type "nosuch" does not exist`},
		{"create sequence s increment 1.5", "22P02", `invalid input syntax for type bigint: "1.5"`},
		{"create sequence s maxvalue 99999999999999999999", "22003", `value "99999999999999999999" is out of range for type bigint`},
		{"create sequence s increment 1 increment 2", "42601", "conflicting or redundant options"},
		{"create sequence s increment -1 start 5", "22023", "START value (5) cannot be greater than MAXVALUE (-1)"},
		{"create sequence s restart 0", "22023", "RESTART value (0) cannot be less than MINVALUE (1)"},
	} {
		_, err := Apply(nil, optionsOf(t, tc.sql), Create, 0)
		if pgerr.Code(err) != tc.code || err.Error() != tc.msg {
			t.Errorf("%s: got %s %v; want %s %s", tc.sql, pgerr.Code(err), err, tc.code, tc.msg)
		}
	}
}

func TestApplyAlter(t *testing.T) {
	cur, _ := Apply(nil, optionsOf(t, "create sequence s as smallint"), Create, 0)
	// AS integer: the bounds that were smallint's follow the type.
	ch, err := Apply(cur.Options, optionsOf(t, "alter sequence s as integer"), Alter, 0)
	if err != nil || ch.Options.MaxValue != math.MaxInt32 || ch.Options.MinValue != 1 {
		t.Fatalf("AS integer: %v %v", ch.Options, err)
	}
	// Explicit bounds stay.
	cur, _ = Apply(nil, optionsOf(t, "create sequence s as smallint maxvalue 100"), Create, 0)
	ch, _ = Apply(cur.Options, optionsOf(t, "alter sequence s as integer"), Alter, 0)
	if ch.Options.MaxValue != 100 {
		t.Fatalf("explicit MAXVALUE changed with the type: %v", ch.Options)
	}
	ch, err = Apply(cur.Options, optionsOf(t, "alter sequence s restart with 7 no maxvalue owned by t.c"), Alter, 0)
	if err != nil || !ch.Restart || !ch.RestartWith || ch.RestartValue != 7 || ch.Options.MaxValue != 32767 ||
		len(ch.OwnedBy) != 2 || ch.OwnedBy[1] != "c" {
		t.Fatalf("restart with 7: %+v %v", ch, err)
	}
	ch, _ = Apply(cur.Options, optionsOf(t, "alter sequence s start 3 restart"), Alter, 0)
	if !ch.Restart || ch.RestartWith || ch.RestartValue != 3 {
		t.Fatalf("restart: %+v", ch)
	}
	if _, err := Apply(nil, nil, Identity, types.Text); err == nil || err.Error() != "identity column type must be smallint, integer, or bigint" {
		t.Fatalf("identity of text: %v", err)
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct{ in, schema, name, err string }{
		{"s", "", "s", ""},
		{"S", "", "s", ""},
		{`"S"`, "", "S", ""},
		{` public . "My""Seq" `, "public", `My"Seq`, ""},
		{"db.sch.s", "sch", "s", ""},
		{"", "", "", "invalid name syntax"},
		{"a..b", "", "", "invalid name syntax"},
		{`"unterminated`, "", "", "invalid name syntax"},
		{`""`, "", "", "invalid name syntax"},
		{"a b", "", "", "invalid name syntax"},
		{"a.b.c.d", "", "", "improper relation name (too many dotted names): a.b.c.d"},
	} {
		schema, name, err := ParseName(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseName(%q): err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || schema != tc.schema || name != tc.name {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tc.in, schema, name, err, tc.schema, tc.name)
		}
	}
}
