package planner

import "github.com/meridian-db/meridian/proto/meridianpb"

// A Rel produces rows for a query block's FROM clause. Its rows are the
// block's FROM row (the columns of its range entries in FROM order) or,
// inside a join tree, the part of it a subtree covers.
type Rel interface {
	// Width is the number of columns of the rows.
	Width() int
}

// ScanRel reads a table from the datanodes (every column, in table
// order; Access.Filter is applied there). With RowKey each row ends with
// its logical key (bytea): an UPDATE or DELETE planned as a query names
// the rows it changes by it.
type ScanRel struct {
	Access Access
	RowKey bool
}

// FilterRel keeps the rows for which Cond is true (evaluated on the
// coordinator: it may hold subqueries).
type FilterRel struct {
	Input Rel
	Cond  *Expr
}

// ProjectRel computes Exprs over each input row.
type ProjectRel struct {
	Input Rel
	Exprs []*Expr
}

// JoinKind is the kind of a join.
type JoinKind int

const (
	JoinInner JoinKind = iota
	JoinLeft
	JoinRight
	JoinFull
	JoinSemi // left rows with a match (EXISTS, IN)
	JoinAnti // left rows without one (NOT EXISTS)
)

func (k JoinKind) String() string {
	return [...]string{"Inner", "Left", "Right", "Full", "Semi", "Anti"}[k]
}

// JoinRel joins two inputs: rows match when every LeftKeys[i] (over the
// left row) equals RightKeys[i] (over the right row), neither NULL, and
// Cond (over left row ++ right row; nil: true) holds. Semi and anti joins
// return left rows only.
type JoinRel struct {
	Kind                JoinKind
	Left, Right         Rel
	LeftKeys, RightKeys []*Expr
	Cond                *Expr
}

// QueryRel is a derived table: a subquery in FROM, whose visible output
// columns are the rows.
type QueryRel struct {
	Query *Select
}

// ValuesRel is a VALUES list.
type ValuesRel struct {
	Rows  [][]*Expr
	Cols  int
	Types []uint32
}

// SeriesRel is generate_series(Start, Stop, Step) in FROM: one column of
// Type (int4, int8, numeric, timestamp or timestamptz; Step is an interval
// for timestamps). The arguments have no column references.
type SeriesRel struct {
	Start, Stop, Step *Expr
	Type              uint32
}

// SetOpRel combines two queries' visible output rows.
type SetOpRel struct {
	Op          string // "union", "intersect", "except"
	All         bool
	Left, Right *Select
	Cols        int
}

// CTE is a WITH query, computed once per statement. A recursive one
// repeats Step (which reads the previous round's rows through a
// WorkTableRel) until a round adds no row.
type CTE struct {
	Name     string
	Query    *Select
	Step     *Select // WITH RECURSIVE: the recursive term
	UnionAll bool
	Cols     int
	// Refs counts the statement's references to it, subqueries' included
	// (those planned on their own, like an uncorrelated scalar subquery,
	// too): one that is read more than once is computed once.
	Refs int
}

// CTERel reads a CTE's rows.
type CTERel struct {
	CTE *CTE
}

// WorkTableRel reads the rows of a recursive CTE's previous round.
type WorkTableRel struct {
	CTE *CTE
}

// SubPlan is a subquery evaluated by an expression (EXPR_SUBQUERY). One
// without a Query (Correlated, named "volatile") evaluates its expression
// on the coordinator for each row (sequence.go).
type SubPlan struct {
	Query *Select
	// Correlated: it references enclosing queries' rows, so it runs again
	// for each row; otherwise it runs once per execution of its query.
	Correlated bool
}

func (r *ScanRel) Width() int {
	if r.RowKey {
		return len(r.Access.Table.Columns) + 1
	}
	return len(r.Access.Table.Columns)
}
func (r *FilterRel) Width() int    { return r.Input.Width() }
func (r *ProjectRel) Width() int   { return len(r.Exprs) }
func (r *QueryRel) Width() int     { return r.Query.Visible }
func (r *ValuesRel) Width() int    { return r.Cols }
func (r *SeriesRel) Width() int    { return 1 }
func (r *SetOpRel) Width() int     { return r.Cols }
func (r *CTERel) Width() int       { return r.CTE.Cols }
func (r *WorkTableRel) Width() int { return r.CTE.Cols }

func (r *JoinRel) Width() int {
	if r.Kind == JoinSemi || r.Kind == JoinAnti {
		return r.Left.Width()
	}
	return r.Left.Width() + r.Right.Width()
}

// mapColumns returns e with every column index i replaced by f(i) (and
// e itself when nothing changes); outer references and subqueries'
// plans are left alone.
func mapColumns(e *Expr, f func(int32) int32) *Expr {
	if e == nil {
		return nil
	}
	c := cloneExpr(e)
	var walk func(x *Expr)
	walk = func(x *Expr) {
		if x.Kind == kColumn {
			x.Index = f(x.Index)
		}
		for _, a := range x.Args {
			walk(a)
		}
	}
	if e.Kind == kSubq && (e.Name == "any" || e.Name == "all") {
		// The last argument is over (left operands ++ subquery row).
		for _, a := range c.Args[:len(c.Args)-1] {
			walk(a)
		}
		return c
	}
	walk(c)
	return c
}

// colRefs calls f for each column index e references (outside
// subqueries' comparison templates).
func colRefs(e *Expr, f func(int32)) {
	if e == nil {
		return
	}
	if e.Kind == kColumn {
		f(e.Index)
	}
	args := e.Args
	if e.Kind == kSubq && (e.Name == "any" || e.Name == "all") {
		args = args[:len(args)-1]
	}
	for _, a := range args {
		colRefs(a, f)
	}
}

// coordinatorOnly reports whether e must be evaluated on the coordinator
// (it holds a subquery).
func coordinatorOnly(e *Expr) bool {
	if e == nil {
		return false
	}
	if e.Kind == kSubq {
		return true
	}
	for _, a := range e.Args {
		if coordinatorOnly(a) {
			return true
		}
	}
	return false
}

func andAll(cs []*Expr) *Expr {
	switch len(cs) {
	case 0:
		return nil
	case 1:
		return cs[0]
	}
	return boolExpr(kAnd, cs...)
}

// Tables lists the tables a query reads (with duplicates).
func (s *Select) Tables() []*meridianpb.TableDesc {
	if s == nil {
		return nil
	}
	var out []*meridianpb.TableDesc
	if s.Access.Table != nil {
		out = append(out, s.Access.Table)
	}
	out = append(out, relTables(s.From)...)
	for _, sp := range s.Subqueries {
		out = append(out, sp.Query.Tables()...)
	}
	return out
}

func relTables(r Rel) []*meridianpb.TableDesc {
	switch r := r.(type) {
	case *ScanRel:
		return []*meridianpb.TableDesc{r.Access.Table}
	case *FilterRel:
		return relTables(r.Input)
	case *ProjectRel:
		return relTables(r.Input)
	case *JoinRel:
		return append(relTables(r.Left), relTables(r.Right)...)
	case *QueryRel:
		return r.Query.Tables()
	case *SetOpRel:
		return append(r.Left.Tables(), r.Right.Tables()...)
	case *CTERel:
		return append(r.CTE.Query.Tables(), r.CTE.Step.Tables()...)
	}
	return nil
}
