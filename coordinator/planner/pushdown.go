package planner

// pushIntoQuery applies a condition over a derived table's visible
// columns inside the derived table, as PostgreSQL pushes a qual into a
// subquery in FROM: each column reference becomes the select-list
// expression it names. In a grouped query a condition on grouping
// columns only filters rows before grouping (WHERE); one that reads an
// aggregate joins the HAVING clause. It returns a new Select and false
// when the condition must stay above: LIMIT/OFFSET (the rows kept depend
// on the rows seen), window functions, DISTINCT, grouping sets (their
// NULLs are not the column's), or a select-list expression or condition
// holding a subquery or an outer reference.
func pushIntoQuery(q *Select, c *Expr) (*Select, bool) {
	if q.Limit != nil || q.Offset != nil || len(q.Windows) > 0 || q.Distinct || len(q.GroupingSets) > 0 ||
		coordinatorOnly(c) || maxLevel(c) > 0 || q.parts == nil {
		return nil, false
	}
	// The select list and grouping over the FROM row: a single-table
	// block's were narrowed to its scan columns (planPushdown).
	outputs, groupBy := q.Output, q.GroupBy
	if q.Access.Table != nil {
		groupBy = q.parts.groupBy
		if !q.HasAgg {
			outputs = q.parts.output
		}
	}
	ok := true
	grouped := true // every column read is a grouping column
	colRefs(c, func(i int32) {
		if int(i) >= q.Visible {
			ok = false
			return
		}
		o := outputs[i]
		if coordinatorOnly(o) || maxLevel(o) > 0 {
			ok = false
		}
		if q.HasAgg && !(o.Kind == kColumn && int(o.Index) < len(q.GroupBy)) {
			grouped = false
		}
	})
	if !ok {
		return nil, false
	}
	subst := func(list []*Expr) *Expr {
		return RewriteExpr(c, func(n *Expr) *Expr {
			if n.Kind == kColumn {
				return cloneExpr(list[n.Index])
			}
			return n
		})
	}
	nq := *q
	if q.HasAgg && !grouped {
		nq.Having = andAll(append(conjuncts(q.Having), Fold(subst(q.Output))))
		return &nq, true
	}
	var cond *Expr
	if q.HasAgg {
		// a grouping column's output is a reference to its group
		cond = RewriteExpr(c, func(n *Expr) *Expr {
			if n.Kind == kColumn {
				return cloneExpr(groupBy[outputs[n.Index].Index])
			}
			return n
		})
	} else {
		cond = subst(outputs)
	}
	cond = Fold(cond)
	switch {
	case q.Access.Table != nil:
		nq.Access = planAccess(q.Access.Table, andAll(append(conjuncts(q.Access.Filter), cond)))
	case q.From != nil:
		nq.From = pushFilter(q.From, cond)
	default:
		nq.From = &FilterRel{Input: &ValuesRel{Rows: [][]*Expr{{}}}, Cond: cond}
	}
	return &nq, true
}
