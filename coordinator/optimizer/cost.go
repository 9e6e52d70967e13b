package optimizer

import (
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/expr"
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

// colStat is what the optimizer knows of an operator's output column.
type colStat struct {
	ndv      float64 // distinct non-NULL values; 0: unknown
	nullFrac float64
	// base: the table column's statistics, while the column's values are
	// a base table's (MCVs and histogram apply).
	base *meridianpb.ColumnStatistics
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

func (o *Optimizer) tableStats(t *meridianpb.TableDesc) *meridianpb.TableStatistics {
	if o.Stats == nil {
		return nil
	}
	return o.Stats(t.Id)
}

// scanEstimate estimates a scan's table rows, the fraction of them its
// filter keeps, and the statistics of every table column.
func (b *builder) scanEstimate(t *meridianpb.TableDesc, filter *Expr, indexed bool) (rows, sel float64, cols []colStat) {
	rows = defaultRows
	st := b.o.tableStats(t)
	cols = make([]colStat, len(t.Columns))
	if st != nil {
		rows = max(st.Rows, 1)
		for i := range cols {
			if i < len(st.Columns) {
				c := st.Columns[i]
				cols[i] = colStat{ndv: c.Distinct, nullFrac: c.NullFrac, base: c}
			}
		}
	}
	sel = selectivity(filter, cols)
	if indexed {
		sel = min(sel, 0.005)
	}
	// Distinct values left after the filter: each of ndv values survives
	// unless all of its rows were filtered out.
	kept := rows * sel
	for i := range cols {
		if nd := cols[i].ndv; nd > 0 {
			cols[i].ndv = max(1, min(kept, nd*(1-math.Pow(1-sel, rows/nd))))
		}
	}
	return rows, sel, cols
}

// selectivity estimates the fraction of rows a condition keeps, from
// the columns' statistics where they apply, else with PostgreSQL's
// default guesses.
//
// As PostgreSQL's clauselist_selectivity, a lower and an upper bound on
// one column (`d >= x AND d < y`) are estimated together, as the share
// of rows between them (lo + hi - 1), not as two independent conditions
// (lo × hi, which takes a month of seven years for a quarter of them).
func selectivity(cond *Expr, cols []colStat) float64 {
	s := 1.0
	type bounds struct{ lo, hi float64 }
	var ranges map[int32]*bounds
	var order []int32
	for _, c := range conjuncts(cond) {
		col, upper, ok := rangeBound(c)
		if !ok {
			s *= clauseSelectivity(c, cols)
			continue
		}
		if ranges == nil {
			ranges = map[int32]*bounds{}
		}
		b := ranges[col]
		if b == nil {
			b = &bounds{lo: 1, hi: 1}
			ranges[col] = b
			order = append(order, col)
		}
		x := clauseSelectivity(c, cols)
		if upper {
			b.hi = min(b.hi, x)
		} else {
			b.lo = min(b.lo, x)
		}
	}
	for _, col := range order {
		b := ranges[col]
		switch {
		case b.lo == 1 || b.hi == 1:
			s *= b.lo * b.hi // one side only
		default:
			// Both bounds left out the NULLs: add them back once.
			between := b.lo + b.hi - 1
			if int(col) < len(cols) && col >= 0 && cols[col].base != nil {
				between += cols[col].nullFrac
			}
			if between <= 0 {
				between = defaultRange // the statistics cannot tell (or the range is empty)
			}
			s *= between
		}
	}
	return min(max(s, 1e-7), 1)
}

// defaultRange is PostgreSQL's DEFAULT_RANGE_INEQ_SEL.
const defaultRange = 0.005

// rangeBound reports a comparison of a bare column with a constant:
// the column and whether it bounds the column from above.
func rangeBound(c *Expr) (col int32, upper, ok bool) {
	if c.Kind != kFunc || len(c.Args) != 2 {
		return 0, false, false
	}
	l, r := c.Args[0], c.Args[1]
	op := c.Name
	if l.Kind != kColumn {
		l, r = r, l
		op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
	}
	if l.Kind != kColumn || op == "" {
		return 0, false, false
	}
	if op != "<" && op != "<=" && op != ">" && op != ">=" {
		return 0, false, false
	}
	if _, isConst := constValue(r); !isConst {
		return 0, false, false
	}
	return l.Index, op == "<" || op == "<=", true
}

// Default selectivities (PostgreSQL's selfuncs.h).
const (
	defaultEq     = 0.005
	defaultIneq   = 1.0 / 3
	defaultMatch  = 0.005 * 10 // LIKE
	defaultIsNull = 0.005
)

func clauseSelectivity(c *Expr, cols []colStat) float64 {
	switch c.Kind {
	case meridianpb.ExprKind_EXPR_OR:
		keep := 0.0
		for _, a := range c.Args {
			x := clauseSelectivity(a, cols)
			keep = keep + x - keep*x
		}
		return keep
	case kAnd:
		s := 1.0
		for _, a := range c.Args {
			s *= clauseSelectivity(a, cols)
		}
		return s
	case meridianpb.ExprKind_EXPR_NOT:
		return 1 - clauseSelectivity(c.Args[0], cols)
	case meridianpb.ExprKind_EXPR_IS_NULL:
		if cs := colOf(c.Args[0], cols); cs != nil && cs.base != nil {
			return cs.nullFrac
		}
		return defaultIsNull
	case meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		if cs := colOf(c.Args[0], cols); cs != nil && cs.base != nil {
			return 1 - cs.nullFrac
		}
		return 1 - defaultIsNull
	case kIn:
		s := 0.0
		for _, v := range c.Args[1:] {
			s += eqSelectivity(c.Args[0], v, cols)
		}
		return min(s, 1)
	case kFunc:
		if len(c.Args) != 2 {
			return 0.5
		}
		l, r := c.Args[0], c.Args[1]
		switch c.Name {
		case "=":
			if _, ok := constValue(l); ok {
				l, r = r, l
			}
			return eqSelectivity(l, r, cols)
		case "<>":
			if _, ok := constValue(l); ok {
				l, r = r, l
			}
			return 1 - eqSelectivity(l, r, cols)
		case "<", "<=", ">", ">=":
			op := c.Name
			if _, ok := constValue(l); ok {
				l, r = r, l
				op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
			}
			return rangeSelectivity(l, op, r, cols)
		case "like", "~~":
			return defaultMatch
		case "not like", "!~~":
			return 1 - defaultMatch
		case "ilike", "~~*":
			return defaultMatch
		case "not ilike", "!~~*":
			return 1 - defaultMatch
		}
	}
	return 0.5
}

// colOf returns the statistics of a bare column reference.
func colOf(e *Expr, cols []colStat) *colStat {
	if e.Kind != kColumn || int(e.Index) >= len(cols) || e.Index < 0 {
		return nil
	}
	return &cols[e.Index]
}

// constValue evaluates an expression without columns, parameters, outer
// references or subqueries.
func constValue(e *Expr) (types.Datum, bool) {
	ok := true
	walk(e, func(x *Expr) {
		switch x.Kind {
		case kColumn, kSubq, meridianpb.ExprKind_EXPR_PARAM, meridianpb.ExprKind_EXPR_OUTER:
			ok = false
		case kFunc:
			if sessionFuncs[x.Name] {
				ok = false
			}
		}
	})
	if !ok {
		return nil, false
	}
	ev, err := expr.Compile(e)
	if err != nil {
		return nil, false
	}
	v, err := ev(nil)
	return v, err == nil
}

var sessionFuncs = map[string]bool{"now": true, "version": true, "current_database": true, "current_user": true,
	"session_user": true, "current_schema": true, "pg_backend_pid": true, "current_setting": true, "random": true}

// comparable reports whether a constant can be compared with a column's
// statistics values.
func comparable(col *Expr, v types.Datum) bool {
	if v == nil {
		return false
	}
	switch v.(type) {
	case int64:
		return types.IsInteger(col.TypeOid)
	case float64:
		return types.IsFloat(col.TypeOid)
	case string:
		return types.IsString(col.TypeOid) && col.TypeOid != types.Bpchar
	}
	return types.Compare(v, v) == 0 && !types.IsInteger(col.TypeOid) && !types.IsFloat(col.TypeOid) && !types.IsString(col.TypeOid) &&
		kindOf(col.TypeOid) == kindOfDatum(v)
}

func kindOf(oid uint32) uint32 {
	switch oid {
	case types.Timestamp, types.TimestampTZ:
		return types.Timestamp
	}
	return oid
}

func kindOfDatum(v types.Datum) uint32 {
	switch v.(type) {
	case types.DateVal:
		return types.Date
	case types.IntervalVal:
		return types.Interval
	case bool:
		return types.Bool
	}
	if _, ok := v.(interface{ UnixMicro() int64 }); ok {
		return types.Timestamp
	}
	if _, ok := v.(interface{ Sign() int }); ok {
		return types.Numeric
	}
	return 0
}

// eqSelectivity estimates col = value.
func eqSelectivity(col, val *Expr, cols []colStat) float64 {
	cs := colOf(col, cols)
	if cs == nil {
		return defaultEq
	}
	if v, ok := constValue(val); ok && cs.base != nil && comparable(col, v) {
		// The table's statistics give the value's share of the whole
		// table. Below a filter that kept fewer distinct values (nation
		// rows of two names, joined on), the values left share the rows:
		// scale the share up by how many values went.
		scale := 1.0
		if cs.ndv > 0 && cs.base.Distinct > cs.ndv {
			scale = cs.base.Distinct / cs.ndv
		}
		key := codec.AppendDatum(nil, v)
		mcvSum := 0.0
		for i, m := range cs.base.Mcv {
			mcvSum += cs.base.McvFreq[i]
			if string(m) == string(key) {
				return min(1, cs.base.McvFreq[i]*scale)
			}
		}
		rest := cs.base.Distinct - float64(len(cs.base.Mcv))
		if rest >= 1 {
			return min(1, max(0, 1-mcvSum-cs.base.NullFrac)/rest*scale)
		}
		return 0
	}
	if cs.ndv > 0 {
		return (1 - cs.nullFrac) / cs.ndv
	}
	return defaultEq
}

// rangeSelectivity estimates col op value for op <, <=, >, >=.
func rangeSelectivity(col *Expr, op string, val *Expr, cols []colStat) float64 {
	cs := colOf(col, cols)
	v, ok := constValue(val)
	if ok {
		v = onColumnScale(col, v)
	}
	if cs == nil || cs.base == nil || !ok || !comparable(col, v) {
		return defaultIneq
	}
	st := cs.base
	oid := col.TypeOid
	less := op == "<" || op == "<="
	holds := func(x types.Datum) bool {
		c := types.Compare(x, v)
		switch op {
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	}
	// The MCVs' share, counted exactly.
	sel, mcvSum := 0.0, 0.0
	for i, m := range st.Mcv {
		x, _, err := codec.DecodeDatum(oid, m)
		if err != nil {
			return defaultIneq
		}
		mcvSum += st.McvFreq[i]
		if holds(x) {
			sel += st.McvFreq[i]
		}
	}
	rest := max(0, 1-mcvSum-st.NullFrac)
	h := st.Histogram
	if len(h) < 2 {
		return sel + rest*defaultIneq
	}
	// The fraction of histogram values below v: whole buckets below, and
	// a share of the bucket v falls in (linear where the type allows).
	bounds := make([]types.Datum, len(h))
	for i, b := range h {
		x, _, err := codec.DecodeDatum(oid, b)
		if err != nil {
			return defaultIneq
		}
		bounds[i] = x
	}
	nb := float64(len(bounds) - 1)
	var below float64
	switch {
	case types.Compare(v, bounds[0]) <= 0:
		below = 0
	case types.Compare(v, bounds[len(bounds)-1]) >= 0:
		below = 1
	default:
		i := 1
		for types.Compare(bounds[i], v) < 0 {
			i++
		}
		frac := 0.5
		if lo, hi, x, ok := numeric3(bounds[i-1], bounds[i], v); ok && hi > lo {
			frac = (x - lo) / (hi - lo)
		}
		below = (float64(i-1) + frac) / nb
	}
	if less {
		return sel + rest*below
	}
	return sel + rest*(1-below)
}

// onColumnScale converts a constant a range compares with a date column
// from a timestamp (`date '1995-09-01' + interval '1' month` is one) to
// its date, and one compared with a timestamp column from a date to its
// midnight, so that the column's statistics apply (for an estimate: a
// time of day is dropped).
func onColumnScale(col *Expr, v types.Datum) types.Datum {
	switch x := v.(type) {
	case time.Time:
		if col.TypeOid == types.Date {
			return types.DateOf(x)
		}
	case types.DateVal:
		if col.TypeOid == types.Timestamp || col.TypeOid == types.TimestampTZ {
			return x.Time()
		}
	}
	return v
}

// numeric3 maps three comparable values to float64s when their type has
// a natural numeric scale.
func numeric3(a, b, c types.Datum) (float64, float64, float64, bool) {
	f := func(d types.Datum) (float64, bool) {
		switch x := d.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		case types.DateVal:
			return float64(x), true
		case interface{ UnixMicro() int64 }:
			return float64(x.UnixMicro()), true
		case interface{ Float64() (float64, error) }:
			v, err := x.Float64()
			return v, err == nil
		}
		return 0, false
	}
	x, ok1 := f(a)
	y, ok2 := f(b)
	z, ok3 := f(c)
	return x, y, z, ok1 && ok2 && ok3
}

// keyNDV is the number of distinct values of a join or group key
// expression over a node's rows (0: unknown).
func keyNDV(e *Expr, n *pnode) float64 {
	if c, ok := baseColumn(e); ok && c < len(n.cols) {
		return n.cols[c].ndv
	}
	return 0
}

// joinRows estimates a join's output rows: a key pair keeps 1/max(ndv)
// of the row pairs (PostgreSQL's eqjoinsel without MCVs). With several
// key pairs only the most selective one counts: the keys of a composite
// foreign key are correlated (ps_partkey, ps_suppkey), and multiplying
// their selectivities underestimates by orders of magnitude, which would
// make nested loops look cheap. With no statistics, a key join is taken
// for a foreign key to a key (as many rows as the larger side).
func joinRows(jt meridianpb.JoinType, ln, rn *pnode, lk, rk []*Expr, cond *Expr) float64 {
	l, r := max(ln.rows, 1), max(rn.rows, 1)
	inner := l * r
	if len(lk) > 0 {
		known := false
		sel := 1.0
		for i := range lk {
			nl, nr := keyNDV(lk[i], ln), keyNDV(rk[i], rn)
			if nl > 0 || nr > 0 {
				known = true
				sel = min(sel, 1/max(nl, nr, 1))
			}
		}
		if known {
			inner *= sel
		} else {
			inner = max(l, r)
		}
	}
	if cond != nil {
		// cond is over the joined row: the left columns, then the right.
		inner *= selectivity(cond, append(append([]colStat(nil), padCols(ln)...), padCols(rn)...))
	}
	switch jt {
	case meridianpb.JoinType_JOIN_LEFT:
		return max(inner, l)
	case meridianpb.JoinType_JOIN_RIGHT:
		return max(inner, r)
	case meridianpb.JoinType_JOIN_FULL:
		return max(inner, l+r)
	case meridianpb.JoinType_JOIN_SEMI, meridianpb.JoinType_JOIN_ANTI:
		// The share of left keys that find a match.
		match := 0.5
		if len(lk) > 0 {
			nl, nr := keyNDV(lk[0], ln), keyNDV(rk[0], rn)
			if nl > 0 && nr > 0 {
				match = min(1, nr/nl)
			}
		}
		if cond != nil {
			match *= 0.9
		}
		if jt == meridianpb.JoinType_JOIN_SEMI {
			return max(1, l*match)
		}
		return max(1, l*(1-match))
	}
	return max(inner, 1)
}

// groupRows estimates the number of groups: the product of the keys'
// distinct counts, at most the rows (PostgreSQL's estimate_num_groups
// without its correlation fudge).
func groupRows(n *pnode, group []*Expr) float64 {
	if len(group) == 0 {
		return 1
	}
	g := 1.0
	for _, e := range group {
		nd := keyNDV(e, n)
		if nd <= 0 {
			nd = min(200, n.rows)
		}
		g *= nd
	}
	return max(1, min(g, n.rows))
}
