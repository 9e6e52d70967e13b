package tpch

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Dialect is the kind of server a schema is made for.
type Dialect int

const (
	// PostgreSQL gets plain CREATE TABLE statements.
	PostgreSQL Dialect = iota
	// Meridian gets GaussDB distribution clauses as well.
	Meridian
)

func (d Dialect) String() string {
	if d == Meridian {
		return "meridian"
	}
	return "postgresql"
}

// DetectDialect connects to url and tells Meridian from PostgreSQL by the
// server_version the server reports ("15.0 (Meridian)").
func DetectDialect(ctx context.Context, url string) (Dialect, error) {
	conn, err := pgconn.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("tpch: connect: %w", err)
	}
	defer conn.Close(ctx)
	return dialectOf(conn), nil
}

// dialectOf tells Meridian from PostgreSQL by the server_version the
// server reported at connection ("15.0 (Meridian)").
func dialectOf(conn *pgconn.PgConn) Dialect {
	if strings.Contains(conn.ParameterStatus("server_version"), "Meridian") {
		return Meridian
	}
	return PostgreSQL
}

// tableDef is a table's columns (clause 1.4.1, with the spec's types),
// primary key (clause 1.4.2) and distribution in Meridian.
type tableDef struct {
	columns []string
	key     string
	// distribute is the hash distribution column; "" replicates the table.
	distribute string
}

// tableDefs returns the schema of a table. Money and quantities are
// numeric(15,2); identifiers integer (enough up to scale factor 300).
func tableDefs(t Table) tableDef {
	switch t {
	case Region:
		return tableDef{[]string{"r_regionkey integer NOT NULL", "r_name char(25) NOT NULL", "r_comment varchar(152)"},
			"r_regionkey", ""}
	case Nation:
		return tableDef{[]string{"n_nationkey integer NOT NULL", "n_name char(25) NOT NULL", "n_regionkey integer NOT NULL",
			"n_comment varchar(152)"}, "n_nationkey", ""}
	case Supplier:
		return tableDef{[]string{"s_suppkey integer NOT NULL", "s_name char(25) NOT NULL", "s_address varchar(40) NOT NULL",
			"s_nationkey integer NOT NULL", "s_phone char(15) NOT NULL", "s_acctbal numeric(15,2) NOT NULL",
			"s_comment varchar(101) NOT NULL"}, "s_suppkey", "s_suppkey"}
	case Customer:
		return tableDef{[]string{"c_custkey integer NOT NULL", "c_name varchar(25) NOT NULL", "c_address varchar(40) NOT NULL",
			"c_nationkey integer NOT NULL", "c_phone char(15) NOT NULL", "c_acctbal numeric(15,2) NOT NULL",
			"c_mktsegment char(10) NOT NULL", "c_comment varchar(117) NOT NULL"}, "c_custkey", "c_custkey"}
	case Part:
		return tableDef{[]string{"p_partkey integer NOT NULL", "p_name varchar(55) NOT NULL", "p_mfgr char(25) NOT NULL",
			"p_brand char(10) NOT NULL", "p_type varchar(25) NOT NULL", "p_size integer NOT NULL",
			"p_container char(10) NOT NULL", "p_retailprice numeric(15,2) NOT NULL", "p_comment varchar(23) NOT NULL"},
			"p_partkey", "p_partkey"}
	case PartSupp:
		return tableDef{[]string{"ps_partkey integer NOT NULL", "ps_suppkey integer NOT NULL", "ps_availqty integer NOT NULL",
			"ps_supplycost numeric(15,2) NOT NULL", "ps_comment varchar(199) NOT NULL"}, "ps_partkey, ps_suppkey", "ps_partkey"}
	case Orders:
		return tableDef{[]string{"o_orderkey integer NOT NULL", "o_custkey integer NOT NULL", "o_orderstatus char(1) NOT NULL",
			"o_totalprice numeric(15,2) NOT NULL", "o_orderdate date NOT NULL", "o_orderpriority char(15) NOT NULL",
			"o_clerk char(15) NOT NULL", "o_shippriority integer NOT NULL", "o_comment varchar(79) NOT NULL"},
			"o_orderkey", "o_orderkey"}
	case LineItem:
		return tableDef{[]string{"l_orderkey integer NOT NULL", "l_partkey integer NOT NULL", "l_suppkey integer NOT NULL",
			"l_linenumber integer NOT NULL", "l_quantity numeric(15,2) NOT NULL", "l_extendedprice numeric(15,2) NOT NULL",
			"l_discount numeric(15,2) NOT NULL", "l_tax numeric(15,2) NOT NULL", "l_returnflag char(1) NOT NULL",
			"l_linestatus char(1) NOT NULL", "l_shipdate date NOT NULL", "l_commitdate date NOT NULL",
			"l_receiptdate date NOT NULL", "l_shipinstruct char(25) NOT NULL", "l_shipmode char(10) NOT NULL",
			"l_comment varchar(44) NOT NULL"}, "l_orderkey, l_linenumber", "l_orderkey"}
	}
	panic(fmt.Sprintf("tpch: no schema for %v", t))
}

// CreateTable is the CREATE TABLE statement of t for a dialect.
func CreateTable(t Table, d Dialect) string {
	def := tableDefs(t)
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n    %s,\n    PRIMARY KEY (%s)\n)", t, strings.Join(def.columns, ",\n    "), def.key)
	if d == Meridian {
		if def.distribute == "" {
			b.WriteString(" DISTRIBUTE BY REPLICATION")
		} else {
			fmt.Fprintf(&b, " DISTRIBUTE BY HASH(%s)", def.distribute)
		}
	}
	return b.String()
}

// DropTable drops t if it exists.
func DropTable(t Table) string { return "DROP TABLE IF EXISTS " + t.String() }

// Indexes are the secondary indexes, the same in both dialects, created
// after loading. Only one: the correlated subqueries of Q17 and Q20 look
// up LINEITEM by part (see doc.go).
func Indexes() []string {
	return []string{"CREATE INDEX lineitem_l_partkey ON lineitem (l_partkey)"}
}

// Columns are a table's column names in COPY order.
func Columns(t Table) []string {
	def := tableDefs(t)
	out := make([]string, len(def.columns))
	for i, c := range def.columns {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}
