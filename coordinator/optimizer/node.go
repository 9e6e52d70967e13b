package optimizer

import (
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
)

// distKind says where a subplan's rows are.
type distKind int

const (
	// distCN: every row is on the coordinator.
	distCN distKind = iota
	// distHashed: spread over datanodes by the bucket of a hash key.
	distHashed
	// distAny: spread over datanodes with no known key.
	distAny
	// distReplicated: every datanode that runs the fragment has a full
	// copy (a replicated table).
	distReplicated
	// distConst: rows known before the plan runs (VALUES, a WITH query's
	// rows): they can be used anywhere, a copy on every node.
	distConst
)

func (k distKind) String() string {
	return [...]string{"coordinator", "hashed", "partitioned", "replicated", "constant"}[k]
}

// dist is a subplan's distribution.
type dist struct {
	kind distKind
	// distHashed: each entry is a list of output columns whose values,
	// hashed in order (codec.Bucket), give a row's bucket; several entries
	// are alternatives (equal after an inner join).
	keys [][]int
}

// onDatanodes reports whether the rows live on datanodes.
func (d dist) onDatanodes() bool {
	return d.kind == distHashed || d.kind == distAny || d.kind == distReplicated
}

// exchange is a Stream between fragments.
type exchange struct {
	kind     meridianpb.StreamKind
	hashCols []int
	// merge: the producers' rows are sorted by these (gather only).
	merge []*meridianpb.SortKey
}

// pnode is a physical operator under construction: an operator (op, with
// kids as its inputs) or an exchange (exch, with one kid).
type pnode struct {
	op    *meridianpb.PlanNode
	exch  *exchange
	kids  []*pnode
	types []uint32
	names []string
	dist  dist
	rows  float64 // estimated output rows
	cost  float64 // estimated total cost
	// scan: for a table scan, how to prune it once values are bound.
	scan *scanInfo
	// cols: what is known of each output column (nil: nothing).
	cols []colStat
}

// capCols returns cs with each column's distinct count at most rows.
func capCols(cs []colStat, rows float64) []colStat {
	out := make([]colStat, len(cs))
	for i, c := range cs {
		out[i] = c
		if c.ndv > rows {
			out[i].ndv = max(rows, 1)
		}
	}
	return out
}

// scanInfo is what binding needs to prune a scan.
type scanInfo struct {
	access planner.Access
}

func (n *pnode) width() int { return len(n.types) }

// built is a subplan and where each of its logical columns went.
type built struct {
	n *pnode
	// layout[c] is the output column of logical column c; -1 when the
	// column was not needed and is not produced.
	layout []int
}

func identityLayout(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = i
	}
	return l
}
