package optimizer

import (
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/types"
)

// Cost units: a row's CPU work on one node is cpuTuple; reading a byte
// from storage ioTuple; sending a byte between nodes netByte. Network is
// the dearest, so plans that move fewer bytes win.
const (
	cpuTuple    = 0.01
	cpuOperator = 0.0025
	cpuBuild    = 0.02 // inserting a row into a hash table
	ioTuple     = 0.0005
	netByte     = 0.002
)

// defaultRows is the row count assumed for a table ANALYZE never saw.
const defaultRows = 1000

// TableStats is what ANALYZE found about a table.
type TableStats struct {
	Rows    float64
	Columns []ColumnStats // by table column ordinal
}

// ColumnStats is what ANALYZE found about a column.
type ColumnStats struct {
	Distinct float64 // number of distinct non-null values
	NullFrac float64
	AvgWidth float64
}

func typeOf(oid uint32, typmod int32) types.Type { return types.Type{OID: oid, Typmod: typmod} }

func exprEqual(a, b *Expr) bool { return proto.Equal(a, b) }

// rowBytes estimates the encoded size of a row of these types.
func rowBytes(typs []uint32) float64 {
	n := 2.0
	for _, t := range typs {
		switch t {
		case types.Bool:
			n += 2
		case types.Int2, types.Int4, types.Date:
			n += 4
		case types.Int8, types.Float8, types.Float4, types.Timestamp, types.TimestampTZ:
			n += 8
		case types.Numeric:
			n += 10
		default:
			n += 16
		}
	}
	return n
}

func sortCost(rows float64) float64 {
	if rows < 2 {
		return 0
	}
	return rows * math.Log2(rows) * cpuOperator
}

func (o *Optimizer) tableStats(t *meridianpb.TableDesc) *TableStats {
	if o.Stats == nil {
		return nil
	}
	return o.Stats(t.Id)
}

// scanRows estimates a scan's table rows and the fraction of them its
// filter keeps.
func (b *builder) scanRows(t *meridianpb.TableDesc, a planner.Access) (rows, sel float64) {
	rows = defaultRows
	st := b.o.tableStats(t)
	if st != nil {
		rows = max(st.Rows, 1)
	}
	sel = selectivity(a.Filter, b.o, func(col int) *ColumnStats {
		if st == nil || col >= len(st.Columns) {
			return nil
		}
		return &st.Columns[col]
	})
	if a.IndexID != 0 {
		sel = min(sel, 0.005)
	}
	return rows, sel
}

// selectivity estimates the fraction of rows a condition keeps, with
// PostgreSQL's default guesses where no statistics apply.
func selectivity(cond *Expr, o *Optimizer, col func(int) *ColumnStats) float64 {
	s := 1.0
	for _, c := range conjuncts(cond) {
		s *= clauseSelectivity(c, col)
	}
	return max(s, 1e-6)
}

func clauseSelectivity(c *Expr, col func(int) *ColumnStats) float64 {
	switch c.Kind {
	case meridianpb.ExprKind_EXPR_OR:
		keep := 0.0
		for _, a := range c.Args {
			x := clauseSelectivity(a, col)
			keep = keep + x - keep*x
		}
		return keep
	case meridianpb.ExprKind_EXPR_NOT:
		return 1 - clauseSelectivity(c.Args[0], col)
	case meridianpb.ExprKind_EXPR_IS_NULL:
		return 0.005
	case meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		return 0.995
	case kIn:
		return min(0.5, float64(len(c.Args)-1)*eqSelectivity(c.Args[0], col))
	case kFunc:
		switch c.Name {
		case "=":
			if len(c.Args) == 2 {
				if c.Args[0].Kind == kColumn && c.Args[1].Kind == kColumn {
					return 0.005
				}
				e := c.Args[0]
				if e.Kind != kColumn {
					e = c.Args[1]
				}
				return eqSelectivity(e, col)
			}
		case "<>":
			return 0.995
		case "<", "<=", ">", ">=":
			return 1.0 / 3
		case "like", "ilike", "~~", "~~*":
			return 0.05
		case "not like", "not ilike", "!~~", "!~~*":
			return 0.95
		}
	}
	return 0.5
}

func eqSelectivity(e *Expr, col func(int) *ColumnStats) float64 {
	if e.Kind == kColumn && col != nil {
		if st := col(int(e.Index)); st != nil && st.Distinct > 0 {
			return (1 - st.NullFrac) / st.Distinct
		}
	}
	return 0.005
}

// joinRows estimates a join's output rows.
func joinRows(jt meridianpb.JoinType, ln, rn *pnode, lk []*Expr, cond *Expr, o *Optimizer) float64 {
	l, r := max(ln.rows, 1), max(rn.rows, 1)
	var inner float64
	if len(lk) > 0 {
		// A key join is usually a foreign key to a key: as many rows as
		// the larger side.
		inner = max(l, r)
	} else {
		inner = l * r
	}
	inner *= selectivity(cond, o, nil)
	switch jt {
	case meridianpb.JoinType_JOIN_LEFT:
		return max(inner, l)
	case meridianpb.JoinType_JOIN_RIGHT:
		return max(inner, r)
	case meridianpb.JoinType_JOIN_FULL:
		return max(inner, l+r)
	case meridianpb.JoinType_JOIN_SEMI:
		return l * 0.5
	case meridianpb.JoinType_JOIN_ANTI:
		return l * 0.5
	}
	return inner
}

// groupRows estimates the number of groups.
func groupRows(n *pnode, group []*Expr, o *Optimizer) float64 {
	if len(group) == 0 {
		return 1
	}
	return max(1, min(n.rows, math.Pow(n.rows, 0.8)))
}
