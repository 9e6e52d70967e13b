package parser

import (
	"testing"

	"github.com/meridian-db/meridian/sql/pgerr"
)

func TestDistributeBy(t *testing.T) {
	cases := []struct {
		sql  string
		kind DistKind
		cols []string
	}{
		{"CREATE TABLE t (a int, b int) DISTRIBUTE BY HASH(b)", DistHash, []string{"b"}},
		{"create table t (a int, b int) distribute by hash (a, \"B c\")", DistHash, []string{"a", "B c"}},
		{"CREATE TABLE t (a int) DISTRIBUTE BY REPLICATION", DistReplication, nil},
		{"CREATE TABLE t (a int) WITH (fillfactor=100) DISTRIBUTE BY HASH(A);", DistHash, []string{"a"}},
		{"CREATE TABLE t (a int)", DistDefault, nil},
	}
	for _, c := range cases {
		stmts, err := Parse(c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if len(stmts) != 1 || stmts[0].Node.GetCreateStmt() == nil {
			t.Fatalf("%s: want one CREATE TABLE, got %v", c.sql, stmts)
		}
		d := stmts[0].Dist
		if d.Kind != c.kind || len(d.Columns) != len(c.cols) {
			t.Fatalf("%s: got %+v", c.sql, d)
		}
		for i := range c.cols {
			if d.Columns[i] != c.cols[i] {
				t.Fatalf("%s: column %d = %q, want %q", c.sql, i, d.Columns[i], c.cols[i])
			}
		}
	}
}

func TestDistributeByBelongsToItsStatement(t *testing.T) {
	stmts, err := Parse("CREATE TABLE a (x int); CREATE TABLE b (y int) DISTRIBUTE BY REPLICATION; SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 3 {
		t.Fatalf("got %d statements", len(stmts))
	}
	if stmts[0].Dist.Kind != DistDefault || stmts[1].Dist.Kind != DistReplication || stmts[2].Dist.Kind != DistDefault {
		t.Fatalf("dist clauses attached wrongly: %+v %+v %+v", stmts[0].Dist, stmts[1].Dist, stmts[2].Dist)
	}
}

func TestDistributeWordElsewhereIsUntouched(t *testing.T) {
	stmts, err := Parse("SELECT 'distribute by hash(x)' AS distribute")
	if err != nil {
		t.Fatal(err)
	}
	if stmts[0].Dist.Kind != DistDefault {
		t.Fatalf("string literal taken for a clause")
	}
}

func TestErrors(t *testing.T) {
	for sql, code := range map[string]string{
		"SELEC 1": pgerr.SyntaxError,
		"CREATE TABLE t (a int) DISTRIBUTE BY ROUNDROBIN": pgerr.FeatureNotSupported,
		"CREATE TABLE t (a int) DISTRIBUTE BY HASH a":     pgerr.SyntaxError,
		"CREATE TABLE t (a int) DISTRIBUTE BY HASH(a":     pgerr.SyntaxError,
		"CREATE TABLE t (a int) DISTRIBUTE BY SOMETHING":  pgerr.SyntaxError,
		"SELECT 'unterminated":                            pgerr.SyntaxError,
	} {
		_, err := Parse(sql)
		if got := pgerr.Code(err); got != code {
			t.Errorf("%q: code %s (%v), want %s", sql, got, err, code)
		}
	}
}

func TestEmpty(t *testing.T) {
	stmts, err := Parse("  ;  ")
	if err != nil || len(stmts) != 0 {
		t.Fatalf("got %v, %v", stmts, err)
	}
}
