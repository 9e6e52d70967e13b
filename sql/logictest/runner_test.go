package logictest

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

const sample = `# a comment
hash-threshold 8

statement ok
CREATE TABLE t (a int)
  DISTRIBUTE BY HASH(a)

skipif mysql # not there
onlyif postgresql
statement error 23505 duplicate key
INSERT INTO t VALUES (1)

statement error ERROR: .*
SELECT 1/0

statement error
SELECT x

query IT rowsort label-1
SELECT a, b
FROM t
----
1 one
2 two

query R valuesort
SELECT 1
----
3 values hashing to 0123456789abcdef0123456789abcdef

query I
SELECT 1

halt
`

func TestParse(t *testing.T) {
	recs, err := Parse("sample", strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 {
		t.Fatalf("got %d records, want 9", len(recs))
	}
	check := func(cond bool, format string, args ...any) {
		t.Helper()
		if !cond {
			t.Errorf(format, args...)
		}
	}
	check(recs[0].Kind == KindHashThreshold && recs[0].Threshold == 8, "hash-threshold: %+v", recs[0])
	check(recs[1].Kind == KindStatement && !recs[1].ExpectError && recs[1].SQL == "CREATE TABLE t (a int)\n  DISTRIBUTE BY HASH(a)" && recs[1].Line == 4,
		"statement ok: %+v", recs[1])
	r := recs[2]
	check(r.ExpectError && r.ErrCode == "23505" && r.ErrPattern.String() == "duplicate key", "SQLSTATE and regexp: %+v", r)
	check(len(r.SkipIf) == 1 && r.SkipIf[0] == "mysql" && len(r.OnlyIf) == 1 && r.OnlyIf[0] == "postgresql", "conditions: %+v", r)
	check(recs[3].ErrCode == "" && recs[3].ErrPattern.String() == "ERROR: .*", "a word that is no SQLSTATE starts the regexp: %+v", recs[3])
	check(recs[4].ExpectError && recs[4].ErrCode == "" && recs[4].ErrPattern == nil, "bare statement error: %+v", recs[4])
	q := recs[5]
	check(q.Kind == KindQuery && q.Types == "IT" && q.Sort == RowSort && q.Label == "label-1" && q.SQL == "SELECT a, b\nFROM t" &&
		len(q.Expected) == 2 && q.Expected[1] == "2 two" && !q.Hashed, "query: %+v", q)
	h := recs[6]
	check(h.Sort == ValueSort && h.Hashed && h.HashCount == 3 && h.Hash == "0123456789abcdef0123456789abcdef", "hashed query: %+v", h)
	check(recs[7].Kind == KindQuery && recs[7].resultSep < 0 && len(recs[7].Expected) == 0, "query without ----: %+v", recs[7])
	check(recs[8].Kind == KindHalt, "halt: %+v", recs[8])

	for _, bad := range []string{"query X\nSELECT 1\n", "statement maybe\nSELECT 1\n", "frobnicate\n", "skipif\nhalt\n", "statement ok\n\n"} {
		if _, err := Parse("bad", strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) did not fail", bad)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		typ  byte
		want string
	}{
		{nil, 'I', "NULL"},
		{nil, 'T', "NULL"},
		{[]byte(""), 'T', "(empty)"},
		{[]byte("42"), 'I', "42"},
		{[]byte("-9223372036854775808"), 'I', "-9223372036854775808"},
		{[]byte("2.7"), 'I', "2"},
		{[]byte("-2.7"), 'I', "-2"},
		{[]byte("1.5"), 'R', "1.500"},
		{[]byte("7"), 'R', "7.000"},
		{[]byte("-0.0004"), 'R', "-0.000"},
		{[]byte("a b"), 'T', "a b"},
		{[]byte("a\nb\tc"), 'T', "a@b@c"},
		{[]byte("héllo"), 'T', "héllo"},
		{[]byte("t"), 'I', "t"},
	} {
		if got := formatValue(c.in, c.typ); got != c.want {
			t.Errorf("formatValue(%q, %c) = %q, want %q", c.in, c.typ, got, c.want)
		}
	}
}

func TestHashValues(t *testing.T) {
	sum := md5.Sum([]byte("1\n2\nabc\n"))
	want := "3 values hashing to " + hex.EncodeToString(sum[:])
	if got := hashValues([]string{"1", "2", "abc"}); got != want {
		t.Errorf("hashValues = %q, want %q", got, want)
	}
}

func TestSortModes(t *testing.T) {
	rows := func() [][]string { return [][]string{{"2", "b"}, {"10", "a"}, {"2", "a"}} }
	r := rows()
	sortRows(r, RowSort)
	if got := strings.Join(flatten(r, RowSort), ","); got != "10,a,2,a,2,b" {
		t.Errorf("rowsort: %s", got)
	}
	r = rows()
	sortRows(r, ValueSort)
	if got := strings.Join(flatten(r, ValueSort), ","); got != "10,2,2,a,a,b" {
		t.Errorf("valuesort: %s", got)
	}
	r = rows()
	sortRows(r, NoSort)
	if got := strings.Join(flatten(r, NoSort), ","); got != "2,b,10,a,2,a" {
		t.Errorf("nosort: %s", got)
	}
}

// TestCheckQuery judges results without a server.
func TestCheckQuery(t *testing.T) {
	rows := [][]string{{"2", "b"}, {"1", "a"}}
	for _, c := range []struct {
		name string
		rec  Record
		ok   bool
	}{
		{"rows per line", Record{Types: "IT", Sort: RowSort, Expected: []string{"1 a", "2 b"}}, true},
		{"values per line", Record{Types: "IT", Sort: RowSort, Expected: []string{"1", "a", "2", "b"}}, true},
		{"nosort keeps order", Record{Types: "IT", Expected: []string{"1 a", "2 b"}}, false},
		{"nosort", Record{Types: "IT", Expected: []string{"2 b", "1 a"}}, true},
		{"valuesort", Record{Types: "IT", Sort: ValueSort, Expected: []string{"1", "2", "a", "b"}}, true},
		{"valuesort is not by row", Record{Types: "IT", Sort: ValueSort, Expected: []string{"1 a", "2 b"}}, false},
		{"wrong value", Record{Types: "IT", Sort: RowSort, Expected: []string{"1 a", "2 c"}}, false},
		{"missing row", Record{Types: "IT", Sort: RowSort, Expected: []string{"1 a"}}, false},
		{"hash", Record{Types: "IT", Sort: RowSort, Hashed: true, HashCount: 4, Hash: hashOf("1", "a", "2", "b")}, true},
		{"hash mismatch", Record{Types: "IT", Sort: RowSort, Hashed: true, HashCount: 4, Hash: hashOf("1", "a", "2", "c")}, false},
		{"no rows expected", Record{Types: "IT"}, false},
	} {
		r := NewRunner(Config{}, nil)
		st := &fileState{res: &Result{}, labels: map[string]string{}}
		got := append([][]string(nil), rows...)
		r.checkQuery(st, &c.rec, got)
		if ok := st.res.Failed == 0 && st.res.Passed == 1; ok != c.ok {
			t.Errorf("%s: passed = %v, want %v (%v)", c.name, ok, c.ok, st.res.Failures)
		}
	}
	// Labels: later queries must agree with the first.
	r := NewRunner(Config{}, nil)
	st := &fileState{res: &Result{}, labels: map[string]string{}}
	r.checkQuery(st, &Record{Types: "I", Label: "l", Expected: []string{"1"}}, [][]string{{"1"}})
	r.checkQuery(st, &Record{Types: "I", Label: "l", Expected: []string{"2"}}, [][]string{{"2"}})
	if st.res.Passed != 1 || st.res.Failed != 1 {
		t.Errorf("label mismatch not caught: %+v", st.res)
	}
}

func hashOf(vals ...string) string {
	h := hashValues(vals)
	return h[strings.LastIndex(h, " ")+1:]
}

func TestApplies(t *testing.T) {
	r := NewRunner(Config{Engines: []string{"postgresql", "meridian"}}, nil)
	pg := NewRunner(Config{}, nil)
	for _, c := range []struct {
		skip, only []string
		meridian   bool
		postgres   bool
	}{
		{nil, nil, true, true},
		{nil, []string{"meridian"}, true, false},
		{nil, []string{"postgresql"}, true, true},
		{nil, []string{"mysql"}, false, false},
		{[]string{"postgresql"}, nil, false, false},
		{[]string{"meridian"}, nil, false, true},
		{[]string{"sqlite"}, nil, true, true},
	} {
		rec := &Record{SkipIf: c.skip, OnlyIf: c.only}
		if got := r.applies(rec); got != c.meridian {
			t.Errorf("skipif %v onlyif %v on meridian: %v", c.skip, c.only, got)
		}
		if got := pg.applies(rec); got != c.postgres {
			t.Errorf("skipif %v onlyif %v on postgresql: %v", c.skip, c.only, got)
		}
	}
}

func TestTables(t *testing.T) {
	for sql, want := range map[string]string{
		"CREATE TABLE tab0(pk INTEGER PRIMARY KEY)":   "tab0",
		"create table if not exists Foo (a int)":      "foo",
		"CREATE UNIQUE INDEX idx ON tab2 (col3,col0)": "tab2",
		"CREATE INDEX ON tab3 (a)":                    "tab3",
		"INSERT INTO tab1 SELECT * FROM tab0":         "tab1",
		"UPDATE s.tab4 SET a = 1":                     "tab4",
		"DELETE FROM tab5 WHERE a IN (SELECT 1)":      "tab5",
		"ALTER TABLE tab6 ADD COLUMN b int":           "tab6",
		"CREATE VIEW view_1 AS SELECT 1":              "view_1",
		"SELECT * FROM tab0":                          "",
	} {
		if got := targetTable(sql); got != want {
			t.Errorf("targetTable(%q) = %q, want %q", sql, got, want)
		}
	}
	if got := createdTable("CREATE TABLE IF NOT EXISTS t1 (a int)"); got != "t1" {
		t.Errorf("createdTable = %q", got)
	}
	if got := createdTable("CREATE INDEX i ON t1 (a)"); got != "" {
		t.Errorf("createdTable of an index = %q", got)
	}
	r := NewRunner(Config{StripDistribute: true}, nil)
	rec := &Record{SQL: "CREATE TABLE t (a int, b int) DISTRIBUTE BY HASH(a, b); CREATE TABLE r (a int) distribute  by replication"}
	if got := r.sql(rec); strings.Contains(strings.ToLower(got), "distribute") {
		t.Errorf("DISTRIBUTE BY left in %q", got)
	}
}

func TestRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.test")
	in := "query I\nSELECT 1\n----\n9\n9\n\nstatement ok\nSELECT 1\n\nquery IT rowsort\nSELECT 2\n"
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, recs, map[int][]string{1: {"1"}, 10: {"2 b", "3 c"}}); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	want := "query I\nSELECT 1\n----\n1\n\nstatement ok\nSELECT 1\n\nquery IT rowsort\nSELECT 2\n----\n2 b\n3 c\n"
	if string(out) != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", out, want)
	}
}

// TestCheckStatement judges statement outcomes, and corpus mode's
// handling of 0A000, without a server.
func TestCheckStatement(t *testing.T) {
	unsupported := &pgconn.PgError{Code: "0A000", Message: "INSERT ... SELECT is not supported"}
	dup := &pgconn.PgError{Code: "23505", Message: `duplicate key value violates unique constraint "t_pkey"`}
	re := regexp.MustCompile
	for _, c := range []struct {
		name   string
		rec    Record
		err    error
		corpus bool
		want   string // passed, failed or unsupported
	}{
		{"ok", Record{}, nil, false, "passed"},
		{"ok fails", Record{}, dup, false, "failed"},
		{"error", Record{ExpectError: true}, dup, false, "passed"},
		{"error succeeds", Record{ExpectError: true}, nil, false, "failed"},
		{"code", Record{ExpectError: true, ErrCode: "23505"}, dup, false, "passed"},
		{"wrong code", Record{ExpectError: true, ErrCode: "23502"}, dup, false, "failed"},
		{"regexp", Record{ExpectError: true, ErrCode: "23505", ErrPattern: re(`t_pkey`)}, dup, false, "passed"},
		{"wrong message", Record{ExpectError: true, ErrPattern: re(`^null value`)}, dup, false, "failed"},
		{"0A000 fails", Record{}, unsupported, false, "failed"},
		{"0A000 in corpus", Record{}, unsupported, true, "unsupported"},
		{"other error in corpus", Record{}, dup, true, "failed"},
		{"0A000 for a wrong code in corpus", Record{ExpectError: true, ErrCode: "23505"}, unsupported, true, "unsupported"},
	} {
		r := NewRunner(Config{AllowUnsupported: c.corpus}, nil)
		st := &fileState{res: &Result{}, poisoned: map[string]string{}, createdOK: map[string]struct{}{}}
		c.rec.SQL = "INSERT INTO t VALUES (1)"
		r.checkStatement(st, &c.rec, c.err)
		got := map[bool]string{true: "passed"}[st.res.Passed == 1]
		if st.res.Failed == 1 {
			got = "failed"
		} else if st.res.Unsupported == 1 {
			got = "unsupported"
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}

	// A failed statement in corpus mode leaves its table incomplete: the
	// records that name it are unsupported, the others still run.
	r := NewRunner(Config{AllowUnsupported: true}, nil)
	st := &fileState{res: &Result{}, poisoned: map[string]string{}, createdOK: map[string]struct{}{}}
	r.checkStatement(st, &Record{SQL: "INSERT INTO tab1 SELECT * FROM tab0"}, unsupported)
	r.runRecord(t.Context(), st, &Record{Kind: KindQuery, Types: "I", SQL: "SELECT pk FROM TAB1 WHERE col0 > 1"})
	if st.res.Unsupported != 2 || st.poisoned["tab0"] != "" {
		t.Errorf("poisoning: %+v, poisoned %v", st.res, st.poisoned)
	}
	if len(st.res.Reasons) != 2 {
		t.Errorf("reasons: %v", st.res.Reasons)
	}
	// CREATE TABLE is remembered for cleanup.
	r.checkStatement(st, &Record{SQL: "CREATE TABLE tab9 (a int)"}, nil)
	if len(st.created) != 1 || st.created[0] != "tab9" {
		t.Errorf("created: %v", st.created)
	}
}
