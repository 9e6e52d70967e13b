package planner

import (
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/types"
)

// Expr is the typed expression tree shared with the datanodes.
type Expr = meridianpb.Expr

// Route says which datanodes a statement on a table must reach.
type Route struct {
	// DistValues holds, for each distribution column, the expressions it
	// is equal to (several for IN lists); nil when the WHERE clause does
	// not pin every distribution column: the statement goes everywhere.
	DistValues [][]*Expr
}

// Access is how a statement reads its table on each datanode.
type Access struct {
	Table   *meridianpb.TableDesc
	Filter  *Expr // over the full table row; nil: every row
	Route   Route
	IndexID uint32
	IndexEq []*Expr // constant (after Bind) values of the index columns
}

// AggSpec is one aggregate call.
type AggSpec struct {
	Func     string // count, sum, avg, min, max
	Arg      *Expr  // over the scan output row; nil for count(*)
	Distinct bool
	Type     types.Type // result type
}

// SortKey orders by an output column.
type SortKey struct {
	Col        int
	Desc       bool
	NullsFirst bool
}

// Select is a query block. Its input rows (the FROM row) come from
// From when set; else from Access, a single table read with the
// pushdowns below; else (no FROM clause) one empty row.
type Select struct {
	From     Rel
	Access   Access
	ScanCols []int // table ordinals the datanodes return, in order
	GroupBy  []*Expr
	// GroupingSets (ROLLUP, CUBE, GROUPING SETS): each set lists the
	// GroupBy expressions it groups by; the others are NULL in its rows.
	GroupingSets [][]int
	Aggs         []AggSpec
	HasAgg       bool
	Having       *Expr   // over the post-aggregation row (groups..., aggs...)
	Output       []*Expr // visible columns first, then hidden sort columns
	Visible      int
	Distinct     bool
	Sort         []SortKey
	Limit        *Expr
	Offset       *Expr
	// PushLimit: no ORDER BY, DISTINCT or aggregation, so each datanode
	// may stop after LIMIT+OFFSET rows.
	PushLimit bool
	// PushAgg: every aggregate has a partial form, so the datanodes group
	// and pre-aggregate (DNGroupBy, DNAggs: over the full table row) and
	// the coordinator merges their states.
	PushAgg   bool
	DNGroupBy []*Expr
	DNAggs    []AggSpec
	// DNOrderBy: ORDER BY ... LIMIT without aggregation or DISTINCT runs a
	// top-N on each datanode (keys over the full table row); the
	// coordinator merges and applies the limit again.
	DNOrderBy []*meridianpb.SortKey
	// Windows are computed after aggregation, before DISTINCT and ORDER
	// BY; their values follow the row they read.
	Windows []*WindowFunc
	// Subqueries are the subqueries the block's expressions evaluate
	// (EXPR_SUBQUERY's index).
	Subqueries []*SubPlan
	// Lock: the rows read through Access are locked (SELECT ... FOR
	// UPDATE/SHARE; locking.go).
	Lock *Locking
	// parts keeps the block's FROM items and conditions, from which an
	// enclosing query may rebuild it as a join (decorrelation).
	parts *blockParts
}

type blockParts struct {
	items []*fromItem
	conds []*Expr // over the FROM row
	// The select list, grouping and aggregates before planPushdown
	// narrows a single-table block's scan.
	output  []*Expr
	groupBy []*Expr
	aggs    []AggSpec
}

// Insert inserts rows given as expressions for every table column
// (VALUES), or the rows of a query (INSERT ... SELECT).
type Insert struct {
	Table     *meridianpb.TableDesc
	Rows      [][]*Expr // VALUES: one expression per table column (defaults filled)
	Source    *Select   // INSERT ... SELECT: the query
	SourceRow []*Expr   // per table column, over the query's output row
	Returning []*Expr   // over the table row
}

// Update updates rows in place.
type Update struct {
	Access    Access
	SetCols   []int
	SetExprs  []*Expr // over the full table row
	Returning []*Expr
	// Source, when set, finds the rows (an UPDATE planned as a query,
	// dmljoin.go): Access then has the table and the recheck only.
	Source *RowSource
}

// Delete deletes rows.
type Delete struct {
	Access    Access
	Returning []*Expr
	Source    *RowSource // as Update's
}

// Plan is a planned DML or query statement with its result description.
type Plan struct {
	Select *Select
	Insert *Insert
	Update *Update
	Delete *Delete
	// Columns describes the rows the statement returns (nil: none).
	Columns []pgwire.Column
	// Params are the parameter types ($1 is Params[0]).
	Params []uint32
	// Tag is the command tag verb (SELECT, INSERT, UPDATE, DELETE).
	Tag string
	// Subqueries of an INSERT ... VALUES, UPDATE or DELETE (never
	// correlated; those of one planned as a query are its query's):
	// computed before the statement runs.
	Subqueries []*SubPlan
}
