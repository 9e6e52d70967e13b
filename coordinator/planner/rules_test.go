package planner

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/pgerr"
)

var rewriteFlag = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/rules/*.txt with the actual ones")

// testCatalog is an in-memory catalog of tables made from CREATE TABLE
// statements (column types, NOT NULL, PRIMARY KEY and UNIQUE; hash
// distribution on the first primary key column, else the first column).
type testCatalog map[string]*meridianpb.TableDesc

func (c testCatalog) Table(schema, name string) (*meridianpb.TableDesc, bool) {
	t, ok := c[name]
	return t, ok
}

// The rule tests use no sequences.
func (c testCatalog) Sequence(string, string) (*meridianpb.SequenceDesc, bool) { return nil, false }

func (c testCatalog) RelationExists(schema, name string) bool {
	_, ok := c.Table(schema, name)
	return ok
}

func (c testCatalog) SchemaExists(name string) bool { return name == "public" }

func (c testCatalog) OwnedSequences(uint32) []*meridianpb.SequenceDesc { return nil }
func (c testCatalog) View(string, string) (*meridianpb.ViewDesc, bool) { return nil, false }

func (c testCatalog) create(sql string) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return err
	}
	cs := tree.Stmts[0].Stmt.GetCreateStmt()
	if cs == nil {
		return fmt.Errorf("not a CREATE TABLE: %s", sql)
	}
	td := &meridianpb.TableDesc{Id: uint32(100 + len(c)), Schema: "public", Name: cs.Relation.Relname, Dist: meridianpb.DistKind_DIST_HASH}
	ord := func(name string) int32 {
		for i, col := range td.Columns {
			if col.Name == name {
				return int32(i)
			}
		}
		panic("no column " + name)
	}
	addKey := func(cols []string, primary bool) {
		ix := &meridianpb.IndexDesc{Id: uint32(1000 + len(td.Indexes)), Name: fmt.Sprintf("%s_key%d", td.Name, len(td.Indexes)), Unique: true, Primary: primary}
		for _, n := range cols {
			ix.Columns = append(ix.Columns, ord(n))
			if primary {
				td.Columns[ord(n)].NotNull = true
			}
		}
		td.Indexes = append(td.Indexes, ix)
	}
	type key struct {
		cols    []string
		primary bool
	}
	var keys []key
	for _, elt := range cs.TableElts {
		if cd := elt.GetColumnDef(); cd != nil {
			t, err := TypeFromName(cd.TypeName)
			if err != nil {
				return err
			}
			col := &meridianpb.ColumnDesc{Name: cd.Colname, TypeOid: t.OID, Typmod: t.Typmod}
			for _, cn := range cd.Constraints {
				switch cn.GetConstraint().Contype {
				case pg_query.ConstrType_CONSTR_NOTNULL:
					col.NotNull = true
				case pg_query.ConstrType_CONSTR_PRIMARY:
					keys = append(keys, key{[]string{cd.Colname}, true})
				case pg_query.ConstrType_CONSTR_UNIQUE:
					keys = append(keys, key{[]string{cd.Colname}, false})
				}
			}
			td.Columns = append(td.Columns, col)
			continue
		}
		con := elt.GetConstraint()
		var names []string
		for _, k := range con.Keys {
			names = append(names, k.GetString_().GetSval())
		}
		keys = append(keys, key{names, con.Contype == pg_query.ConstrType_CONSTR_PRIMARY})
	}
	td.DistColumns = []int32{0}
	for _, k := range keys {
		addKey(k.cols, k.primary)
		if k.primary {
			td.DistColumns = []int32{ord(k.cols[0])}
		}
	}
	c[td.Name] = td
	return nil
}

// TestRules runs the golden files of testdata/rules: "table" records
// create tables, "plan" records print the logical plan of a query
// (Format), or its error. -rewrite writes the actual outputs.
func TestRules(t *testing.T) {
	files, err := filepath.Glob("testdata/rules/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) { runRuleFile(t, path) })
	}
}

func runRuleFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cat := testCatalog{}
	p := &Planner{Cat: cat}
	lines := strings.Split(string(data), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); {
		line := lines[i]
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			i++
			continue
		}
		directive := line
		start := i + 1
		i++
		var input []string
		for i < len(lines) && lines[i] != "----" {
			input = append(input, lines[i])
			i++
		}
		i++ // ----
		var want []string
		for i < len(lines) && lines[i] != "" {
			want = append(want, lines[i])
			i++
		}
		sql := strings.Join(input, "\n")
		var got string
		switch directive {
		case "table":
			if err := cat.create(sql); err != nil {
				t.Fatalf("%s:%d: %v", path, start, err)
			}
		case "plan":
			got = planText(p, sql)
		default:
			t.Fatalf("%s:%d: unknown directive %q", path, start, directive)
		}
		got = strings.TrimRight(got, "\n")
		if w := strings.Join(want, "\n"); got != w && !*rewriteFlag {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, start, sql, got, w)
		}
		fmt.Fprintf(&out, "%s\n%s\n----\n", directive, sql)
		if got != "" {
			out.WriteString(got + "\n")
		}
	}
	if *rewriteFlag {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func planText(p *Planner, sql string) string {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return "parse error: " + err.Error()
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil {
		return "not a SELECT"
	}
	plan, err := p.PlanSelect(sel, nil)
	if err != nil {
		return fmt.Sprintf("error %s: %s", pgerr.Code(err), err.Error())
	}
	return Format(plan.Select)
}
