package tpch

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestQueries(t *testing.T) {
	qs := Queries()
	if len(qs) != 22 {
		t.Fatalf("%d queries, want 22", len(qs))
	}
	keys := func(q Query) string {
		var s []string
		for _, k := range q.OrderBy {
			if k.Desc {
				s = append(s, k.Column+" desc")
			} else {
				s = append(s, k.Column)
			}
		}
		return strings.Join(s, ", ")
	}
	want := map[int]struct {
		keys  string
		limit int
	}{
		1: {"l_returnflag, l_linestatus", 0}, 2: {"s_acctbal desc, n_name, s_name, p_partkey", 100},
		3: {"revenue desc, o_orderdate", 10}, 4: {"o_orderpriority", 0}, 5: {"revenue desc", 0},
		6: {"", 0}, 7: {"supp_nation, cust_nation, l_year", 0}, 8: {"o_year", 0},
		9: {"nation, o_year desc", 0}, 10: {"revenue desc", 20}, 11: {"value desc", 0},
		12: {"l_shipmode", 0}, 13: {"custdist desc, c_count desc", 0}, 14: {"", 0},
		15: {"s_suppkey", 0}, 16: {"supplier_cnt desc, p_brand, p_type, p_size", 0}, 17: {"", 0},
		18: {"o_totalprice desc, o_orderdate", 100}, 19: {"", 0}, 20: {"s_name", 0},
		21: {"numwait desc, s_name", 100}, 22: {"cntrycode", 0},
	}
	for i, q := range qs {
		if q.Num != i+1 {
			t.Errorf("query %d has number %d", i+1, q.Num)
		}
		w := want[q.Num]
		if got := keys(q); got != w.keys || q.Limit != w.limit {
			t.Errorf("%v: ORDER BY %q LIMIT %d, want ORDER BY %q LIMIT %d", q, got, q.Limit, w.keys, w.limit)
		}
		if strings.Contains(q.SQL, ";") || strings.Contains(strings.ToLower(q.SQL), "create view") {
			t.Errorf("%v is not a single statement", q)
		}
		byNum, err := QueryByNum(q.Num)
		if err != nil || byNum.SQL != q.SQL {
			t.Errorf("QueryByNum(%d) = %v, %v", q.Num, byNum, err)
		}
	}
	for _, n := range []int{0, 23} {
		if _, err := QueryByNum(n); err == nil {
			t.Errorf("QueryByNum(%d) succeeded", n)
		}
	}
}

// TestQueryParameters spot-checks the validation substitution parameters
// of clause 2.4.
func TestQueryParameters(t *testing.T) {
	for num, parts := range map[int][]string{
		1:  {"date '1998-12-01' - interval '90' day"},
		2:  {"p_size = 15", "like '%BRASS'", "r_name = 'EUROPE'"},
		3:  {"'BUILDING'", "date '1995-03-15'"},
		4:  {"date '1993-07-01' + interval '3' month"},
		5:  {"'ASIA'", "date '1994-01-01' + interval '1' year"},
		6:  {"between 0.06 - 0.01 and 0.06 + 0.01", "l_quantity < 24"},
		7:  {"'FRANCE'", "'GERMANY'"},
		8:  {"'BRAZIL'", "'AMERICA'", "'ECONOMY ANODIZED STEEL'"},
		9:  {"'%green%'"},
		10: {"date '1993-10-01'"},
		11: {"'GERMANY'", "0.0001"},
		12: {"('MAIL', 'SHIP')", "date '1994-01-01'"},
		13: {"'%special%requests%'"},
		14: {"date '1995-09-01'"},
		15: {"with revenue0 as", "date '1996-01-01'"},
		16: {"'Brand#45'", "'MEDIUM POLISHED%'", "(49, 14, 23, 45, 19, 3, 36, 9)", "'%Customer%Complaints%'"},
		17: {"'Brand#23'", "'MED BOX'"},
		18: {"sum(l_quantity) > 300"},
		19: {"'Brand#12'", "'Brand#23'", "'Brand#34'", "l_quantity >= 1 ", "l_quantity >= 10 ", "l_quantity >= 20 "},
		20: {"'forest%'", "'CANADA'", "date '1994-01-01'"},
		21: {"'SAUDI ARABIA'"},
		22: {"('13', '31', '23', '29', '30', '18', '17')", "substring(c_phone from 1 for 2)"},
	} {
		q, _ := QueryByNum(num)
		for _, p := range parts {
			if !strings.Contains(q.SQL, p) {
				t.Errorf("Q%d does not contain %q", num, p)
			}
		}
	}
}

func TestSchema(t *testing.T) {
	for _, tb := range Tables() {
		def := tableDefs(tb)
		pg, mer := CreateTable(tb, PostgreSQL), CreateTable(tb, Meridian)
		if strings.Contains(pg, "DISTRIBUTE") {
			t.Errorf("%v: the PostgreSQL schema has a distribution clause:\n%s", tb, pg)
		}
		if !strings.HasPrefix(mer, pg+" DISTRIBUTE BY ") {
			t.Errorf("%v: the Meridian schema is not the PostgreSQL one with a distribution clause:\n%s", tb, mer)
		}
		// Meridian: the primary key contains the distribution column.
		if def.distribute != "" && !slices.Contains(strings.Split(def.key, ", "), def.distribute) {
			t.Errorf("%v: primary key (%s) does not contain the distribution column %s", tb, def.key, def.distribute)
		}
		replicated := tb == Nation || tb == Region
		if replicated != strings.HasSuffix(mer, "DISTRIBUTE BY REPLICATION") {
			t.Errorf("%v: %s", tb, mer)
		}
		for _, k := range strings.Split(def.key, ", ") {
			if !slices.Contains(Columns(tb), k) {
				t.Errorf("%v: key column %s is not a column", tb, k)
			}
		}
	}
	want := map[Table]string{LineItem: "HASH(l_orderkey)", Orders: "HASH(o_orderkey)", PartSupp: "HASH(ps_partkey)",
		Part: "HASH(p_partkey)", Customer: "HASH(c_custkey)", Supplier: "HASH(s_suppkey)"}
	for tb, d := range want {
		if !strings.HasSuffix(CreateTable(tb, Meridian), "DISTRIBUTE BY "+d) {
			t.Errorf("%v: want DISTRIBUTE BY %s", tb, d)
		}
	}
	if got := fmt.Sprint(Columns(Region)); got != "[r_regionkey r_name r_comment]" {
		t.Errorf("Columns(region) = %s", got)
	}
}
