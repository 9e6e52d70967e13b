// Package colexpr evaluates expressions over column batches (the
// vectorized operators' filters, group keys and aggregate arguments).
//
// Column references, constants, comparisons of integers, dates, floats,
// numerics and text, + - * of integers and numerics, AND, OR, NOT and
// IS [NOT] NULL run as loops over the typed vectors of a batch, on its
// live rows only. Every other expression (and any expression over one of
// them) is compiled by sql/expr and evaluated row by row over the batch's
// values: each expression works, the common ones without boxing a value.
// Results equal sql/expr's, errors included: a filter's conjuncts, and
// the arguments of AND and OR after the first, see only the rows the
// earlier ones kept, as the row-at-a-time evaluation short-circuits.
package colexpr

import (
	"cmp"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// Expr is an expression compiled for column batches.
type Expr interface {
	// Eval computes the expression for the live rows of b. The vector it
	// returns may be one of b's or the expression's own, valid until the
	// next Eval; entries of rows not live are undefined.
	Eval(b *coldata.Batch) (*coldata.Vec, error)
}

// Filter narrows a batch's selection to the rows where a condition is
// true.
type Filter func(b *coldata.Batch) error

// Compiler compiles expressions over batches whose column types are In.
type Compiler struct {
	In []uint32
	// Row compiles the expressions evaluated row by row (nil:
	// expr.Compile).
	Row func(*meridianpb.Expr) (expr.Eval, error)
}

// Compile compiles e.
func (c *Compiler) Compile(e *meridianpb.Expr) (Expr, error) {
	x, err := c.vec(e)
	if err != nil || x != nil {
		return x, err
	}
	return c.rowwise(e)
}

// CompileFilter compiles the condition e. The conjuncts of an AND narrow
// the selection one after the other, those with vector kernels first (SQL
// leaves the order of evaluation open; the ones evaluated a row at a time
// so see the fewest rows).
func (c *Compiler) CompileFilter(e *meridianpb.Expr) (Filter, error) {
	if e.Kind == meridianpb.ExprKind_EXPR_AND {
		var vec, rows []Filter
		for _, a := range conjuncts(e, nil) {
			x, err := c.Compile(a)
			if err != nil {
				return nil, err
			}
			if _, slow := x.(*rowExpr); slow {
				rows = append(rows, filterOf(x))
			} else {
				vec = append(vec, filterOf(x))
			}
		}
		fs := append(vec, rows...)
		return func(b *coldata.Batch) error {
			for _, f := range fs {
				if len(b.Sel) == 0 {
					return nil
				}
				if err := f(b); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}
	x, err := c.Compile(e)
	if err != nil {
		return nil, err
	}
	return filterOf(x), nil
}

// conjuncts appends the conjuncts of e, through nested ANDs.
func conjuncts(e *meridianpb.Expr, out []*meridianpb.Expr) []*meridianpb.Expr {
	if e.Kind != meridianpb.ExprKind_EXPR_AND {
		return append(out, e)
	}
	for _, a := range e.Args {
		out = conjuncts(a, out)
	}
	return out
}

// filterOf is the filter of the boolean expression x.
func filterOf(x Expr) Filter {
	if cm, ok := x.(*compare); ok {
		return func(b *coldata.Batch) error {
			xv, yv, err := cm.args(b)
			if err != nil {
				return err
			}
			b.Sel = cm.kernel(xv, yv, b.Sel, b.Sel[:0])
			return nil
		}
	}
	return func(b *coldata.Batch) error {
		v, err := x.Eval(b)
		if err != nil {
			return err
		}
		b.Sel = keepTrue(v, b.Sel, b.Sel[:0])
		return nil
	}
}

// keepTrue appends to out the rows of in where v is true (not NULL).
func keepTrue(v *coldata.Vec, in, out []int) []int {
	for _, i := range in {
		if v.IsNull(i) {
			continue
		}
		if v.Kind == coldata.Bool {
			if v.B[i] {
				out = append(out, i)
			}
		} else if t, _ := v.A[i].(bool); t {
			out = append(out, i)
		}
	}
	return out
}

// vec compiles e into vector kernels, or returns nil when some part of it
// has none.
func (c *Compiler) vec(e *meridianpb.Expr) (Expr, error) {
	switch e.Kind {
	case meridianpb.ExprKind_EXPR_COLUMN:
		i := int(e.Index)
		if i < 0 || i >= len(c.In) {
			return nil, pgerr.New(pgerr.InternalError, "column %d out of range", i)
		}
		return column(i), nil
	case meridianpb.ExprKind_EXPR_CONST:
		d, err := expr.ConstValue(e)
		if err != nil {
			return nil, err
		}
		v := coldata.NewVec(e.TypeOid, coldata.BatchSize)
		if d != nil && !fits(v.Kind, d) {
			return nil, nil
		}
		for i := 0; i < coldata.BatchSize; i++ {
			v.Set(i, d)
		}
		return constant{v}, nil
	case meridianpb.ExprKind_EXPR_AND, meridianpb.ExprKind_EXPR_OR:
		args, err := c.vecAll(e.Args, coldata.Bool)
		if args == nil || err != nil {
			return nil, err
		}
		return &logic{and: e.Kind == meridianpb.ExprKind_EXPR_AND, args: args, out: coldata.NewVec(types.Bool, coldata.BatchSize)}, nil
	case meridianpb.ExprKind_EXPR_NOT:
		args, err := c.vecAll(e.Args, coldata.Bool)
		if args == nil || err != nil || len(args) != 1 {
			return nil, err
		}
		return &not{arg: args[0], out: coldata.NewVec(types.Bool, coldata.BatchSize)}, nil
	case meridianpb.ExprKind_EXPR_IS_NULL, meridianpb.ExprKind_EXPR_IS_NOT_NULL:
		if len(e.Args) != 1 {
			return nil, nil
		}
		a, err := c.vec(e.Args[0])
		if a == nil || err != nil {
			return nil, err
		}
		return &isNull{arg: a, want: e.Kind == meridianpb.ExprKind_EXPR_IS_NULL, out: coldata.NewVec(types.Bool, coldata.BatchSize)}, nil
	case meridianpb.ExprKind_EXPR_IN:
		return c.in(e)
	case meridianpb.ExprKind_EXPR_CAST:
		// text, varchar or name as text (or varchar without a length):
		// the same string (char(n) would lose its trailing spaces).
		if len(e.Args) == 1 && (e.TypeOid == types.Text || e.TypeOid == types.Varchar && e.Typmod < 0) {
			switch e.Args[0].TypeOid {
			case types.Text, types.Varchar, types.Name:
				return c.vec(e.Args[0])
			}
		}
		return nil, nil
	case meridianpb.ExprKind_EXPR_FUNC:
		if len(e.Args) != 2 {
			return nil, nil
		}
		k0, k1 := coldata.KindOf(e.Args[0].TypeOid), coldata.KindOf(e.Args[1].TypeOid)
		switch e.Name {
		case "like", "not like":
			// A constant simple pattern (no _, no escape) over text.
			p := e.Args[1]
			if k0 != coldata.Str || p.Kind != meridianpb.ExprKind_EXPR_CONST {
				return nil, nil
			}
			pv, err := expr.ConstValue(p)
			ps, isStr := pv.(string)
			if err != nil || !isStr {
				return nil, err
			}
			runs, simple := expr.LikeRuns(ps)
			if !simple {
				return nil, nil
			}
			args, err := c.vecAll(e.Args, coldata.Str)
			if args == nil || err != nil {
				return nil, err
			}
			return newLike(runs, e.Name == "not like", args[0], args[1]), nil
		case "=", "<>", "<", "<=", ">", ">=":
			if k0 != k1 || k0 == coldata.Any || k0 == coldata.Bool {
				return nil, nil
			}
			args, err := c.vecAll(e.Args, k0)
			if args == nil || err != nil {
				return nil, err
			}
			bpchar := e.Args[0].TypeOid == types.Bpchar && e.Args[1].TypeOid == types.Bpchar
			return newCompare(e.Name, k0, bpchar, args[0], args[1]), nil
		case "+", "-", "*":
			k := coldata.KindOf(e.TypeOid)
			if k0 != k || k1 != k || (k != coldata.Int && k != coldata.Dec) {
				return nil, nil
			}
			args, err := c.vecAll(e.Args, k)
			if args == nil || err != nil {
				return nil, err
			}
			return &arith{op: e.Name, oid: e.TypeOid, x: args[0], y: args[1], out: coldata.NewVec(e.TypeOid, coldata.BatchSize)}, nil
		}
	}
	return nil, nil
}

// fits reports that d has the Go type vectors of kind k hold.
func fits(k coldata.Kind, d types.Datum) bool {
	switch d.(type) {
	case int64:
		return k == coldata.Int
	case types.DateVal:
		return k == coldata.Date
	case float64:
		return k == coldata.Float
	case *apd.Decimal:
		return k == coldata.Dec
	case string:
		return k == coldata.Str
	case bool:
		return k == coldata.Bool
	}
	return k == coldata.Any
}

// vecAll compiles es into kernels whose results are of kind k, or returns
// nil when one has none.
func (c *Compiler) vecAll(es []*meridianpb.Expr, k coldata.Kind) ([]Expr, error) {
	out := make([]Expr, len(es))
	for i, a := range es {
		if coldata.KindOf(a.TypeOid) != k {
			return nil, nil
		}
		if a.Kind == meridianpb.ExprKind_EXPR_COLUMN && int(a.Index) < len(c.In) && int(a.Index) >= 0 &&
			coldata.KindOf(c.In[a.Index]) != k {
			return nil, nil
		}
		x, err := c.vec(a)
		if x == nil || err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// rowwise compiles e to be evaluated row by row.
func (c *Compiler) rowwise(e *meridianpb.Expr) (Expr, error) {
	compile := c.Row
	if compile == nil {
		compile = expr.Compile
	}
	ev, err := compile(e)
	if err != nil {
		return nil, err
	}
	used := make([]bool, len(c.In))
	MarkColumns(e, used)
	var cols []int
	for i, u := range used {
		if u {
			cols = append(cols, i)
		}
	}
	return &rowExpr{ev: ev, cols: cols, row: make([]types.Datum, len(c.In)),
		typed: coldata.NewVec(e.TypeOid, coldata.BatchSize), boxed: coldata.NewVec(0, coldata.BatchSize)}, nil
}

// MarkColumns marks in used the columns e reads.
func MarkColumns(e *meridianpb.Expr, used []bool) {
	if e == nil {
		return
	}
	if e.Kind == meridianpb.ExprKind_EXPR_COLUMN && e.Index >= 0 && int(e.Index) < len(used) {
		used[e.Index] = true
	}
	for _, a := range e.Args {
		MarkColumns(a, used)
	}
}

type column int

func (c column) Eval(b *coldata.Batch) (*coldata.Vec, error) { return b.Vecs[c], nil }

// constant is a vector of one value in every row.
type constant struct{ v *coldata.Vec }

func (c constant) Eval(*coldata.Batch) (*coldata.Vec, error) { return c.v, nil }

// rowExpr evaluates an expression row by row over the values of the
// columns it reads. Its vector is of the expression's type, as a kernel
// over it expects (a filter on a projection's computed column); a batch
// with a value not of that type's Go representation gets its results as
// datums instead.
type rowExpr struct {
	ev    expr.Eval
	cols  []int
	row   []types.Datum
	typed *coldata.Vec
	boxed *coldata.Vec
}

func (r *rowExpr) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	out := r.typed
	out.Reset()
	for k, i := range b.Sel {
		for _, c := range r.cols {
			r.row[c] = b.Vecs[c].Datum(i)
		}
		v, err := r.ev(r.row)
		if err != nil {
			return nil, err
		}
		if out.Put(i, v) {
			continue
		}
		r.boxed.Reset()
		for _, j := range b.Sel[:k] {
			r.boxed.Set(j, out.Datum(j))
		}
		out = r.boxed
		out.Set(i, v)
	}
	return out, nil
}

// logic is AND or OR, with SQL's three-valued logic.
type logic struct {
	and  bool
	args []Expr
	out  *coldata.Vec
	sel  []int
}

func (l *logic) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	out := l.out
	out.Reset()
	live := b.Sel
	// Rows start at the value that an argument cannot change (true for
	// AND); an argument equal to !and decides a row, which the later
	// arguments then do not see.
	for _, i := range live {
		out.B[i] = l.and
	}
	open := append(l.sel[:0], live...)
	defer func() { b.Sel = live }()
	for _, a := range l.args {
		if len(open) == 0 {
			break
		}
		b.Sel = open
		v, err := a.Eval(b)
		if err != nil {
			return nil, err
		}
		next := open[:0]
		for _, i := range open {
			switch {
			case v.IsNull(i):
				out.SetNull(i)
				next = append(next, i)
			case v.B[i] != l.and:
				out.B[i] = !l.and
				if out.HasNull {
					out.Null[i] = false
				}
			default:
				next = append(next, i)
			}
		}
		open = next
	}
	l.sel = open
	return out, nil
}

type not struct {
	arg Expr
	out *coldata.Vec
}

func (n *not) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	v, err := n.arg.Eval(b)
	if err != nil {
		return nil, err
	}
	n.out.Reset()
	for _, i := range b.Sel {
		if v.IsNull(i) {
			n.out.SetNull(i)
			continue
		}
		n.out.B[i] = !v.B[i]
	}
	return n.out, nil
}

type isNull struct {
	arg  Expr
	want bool
	out  *coldata.Vec
}

func (n *isNull) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	v, err := n.arg.Eval(b)
	if err != nil {
		return nil, err
	}
	n.out.Reset()
	for _, i := range b.Sel {
		n.out.B[i] = v.IsNull(i) == n.want
	}
	return n.out, nil
}

// arith is + - or * of integers or of numerics.
type arith struct {
	op   string
	oid  uint32
	x, y Expr
	out  *coldata.Vec
	dx   apd.Decimal
	dy   apd.Decimal
}

func (a *arith) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	x, err := a.x.Eval(b)
	if err != nil {
		return nil, err
	}
	y, err := a.y.Eval(b)
	if err != nil {
		return nil, err
	}
	out := a.out
	out.Reset()
	nulls := x.HasNull || y.HasNull
	if out.Kind == coldata.Int {
		lo, hi := types.IntRange(a.oid)
		for _, i := range b.Sel {
			if nulls && (x.IsNull(i) || y.IsNull(i)) {
				out.SetNull(i)
				continue
			}
			z, ok := intOp(a.op, x.I[i], y.I[i])
			if !ok || z < lo || z > hi {
				return nil, pgerr.New(pgerr.NumericValueOutOfRange, "%s out of range", types.InfoOf(a.oid).Name)
			}
			out.I[i] = z
		}
		return out, nil
	}
	big := x.HasBig || y.HasBig
	for _, i := range b.Sel {
		if nulls && (x.IsNull(i) || y.IsNull(i)) {
			out.SetNull(i)
			continue
		}
		if !big || (!x.IsBig(i) && !y.IsBig(i)) {
			if c, e, ok := expr.SmallDecArith(a.op, x.I[i], x.E[i], y.I[i], y.E[i]); ok {
				out.I[i], out.E[i] = c, e
				continue
			}
		}
		z, err := expr.NumericArith(a.op, x.DecAt(i, &a.dx), y.DecAt(i, &a.dy))
		if err != nil {
			return nil, err
		}
		d, ok := z.(*apd.Decimal)
		if !ok {
			return nil, pgerr.New(pgerr.InternalError, "numeric %s returned %T", a.op, z)
		}
		out.SetDec(i, d)
	}
	return out, nil
}

// intOp is x op y, false on overflow of int64.
func intOp(op string, x, y int64) (int64, bool) {
	switch op {
	case "+":
		z := x + y
		return z, (z > x) == (y > 0) || y == 0
	case "-":
		z := x - y
		return z, (z < x) == (y > 0) || y == 0
	}
	if x == 0 || y == 0 {
		return 0, true
	}
	z := x * y
	return z, z/y == x && !(x == -1 && y == -1<<63) && !(y == -1 && x == -1<<63)
}

// compare is a comparison of two values of one kind.
type compare struct {
	x, y   Expr
	kernel func(x, y *coldata.Vec, in, out []int) []int
	out    *coldata.Vec
	sel    []int
}

func (c *compare) args(b *coldata.Batch) (*coldata.Vec, *coldata.Vec, error) {
	x, err := c.x.Eval(b)
	if err != nil {
		return nil, nil, err
	}
	y, err := c.y.Eval(b)
	return x, y, err
}

func (c *compare) Eval(b *coldata.Batch) (*coldata.Vec, error) {
	x, y, err := c.args(b)
	if err != nil {
		return nil, err
	}
	out := c.out
	out.Reset()
	for _, i := range b.Sel {
		if x.IsNull(i) || y.IsNull(i) {
			out.SetNull(i)
		}
		out.B[i] = false
	}
	c.sel = c.kernel(x, y, b.Sel, c.sel[:0])
	for _, i := range c.sel {
		out.B[i] = true
	}
	return out, nil
}

func newCompare(op string, k coldata.Kind, bpchar bool, x, y Expr) *compare {
	c := &compare{x: x, y: y, out: coldata.NewVec(types.Bool, coldata.BatchSize), sel: make([]int, 0, coldata.BatchSize)}
	test := testOf(op)
	switch k {
	case coldata.Int, coldata.Date:
		c.kernel = orderedKernel(op, func(v *coldata.Vec) []int64 { return v.I })
	case coldata.Str:
		if bpchar {
			c.kernel = func(x, y *coldata.Vec, in, out []int) []int {
				for _, i := range in {
					if !x.IsNull(i) && !y.IsNull(i) && test(strings.Compare(strings.TrimRight(x.S[i], " "), strings.TrimRight(y.S[i], " "))) {
						out = append(out, i)
					}
				}
				return out
			}
		} else {
			c.kernel = orderedKernel(op, func(v *coldata.Vec) []string { return v.S })
		}
	case coldata.Float:
		c.kernel = func(x, y *coldata.Vec, in, out []int) []int {
			for _, i := range in {
				if !x.IsNull(i) && !y.IsNull(i) && test(types.CompareFloat(x.F[i], y.F[i])) {
					out = append(out, i)
				}
			}
			return out
		}
	case coldata.Dec:
		var dx, dy apd.Decimal
		c.kernel = func(x, y *coldata.Vec, in, out []int) []int {
			big := x.HasBig || y.HasBig
			for _, i := range in {
				if x.IsNull(i) || y.IsNull(i) {
					continue
				}
				var r int
				if !big || (!x.IsBig(i) && !y.IsBig(i)) {
					var ok bool
					if r, ok = CmpSmallDec(x.I[i], x.E[i], y.I[i], y.E[i]); !ok {
						r = types.CompareNumeric(x.DecAt(i, &dx), y.DecAt(i, &dy))
					}
				} else {
					r = types.CompareNumeric(x.DecAt(i, &dx), y.DecAt(i, &dy))
				}
				if test(r) {
					out = append(out, i)
				}
			}
			return out
		}
	}
	return c
}

// in compiles x IN (constants) when x has a vector kernel and the
// constants are of its kind and not NULL.
func (c *Compiler) in(e *meridianpb.Expr) (Expr, error) {
	if len(e.Args) < 2 {
		return nil, nil
	}
	k := coldata.KindOf(e.Args[0].TypeOid)
	if k != coldata.Int && k != coldata.Date && k != coldata.Str && k != coldata.Dec {
		return nil, nil
	}
	bpchar := e.Args[0].TypeOid == types.Bpchar
	var items []types.Datum
	for _, a := range e.Args[1:] {
		if a.Kind != meridianpb.ExprKind_EXPR_CONST || coldata.KindOf(a.TypeOid) != k {
			return nil, nil
		}
		bpchar = bpchar && a.TypeOid == types.Bpchar
		d, err := expr.ConstValue(a)
		if err != nil || d == nil || !fits(k, d) {
			return nil, err
		}
		items = append(items, d)
	}
	args, err := c.vecAll(e.Args[:1], k)
	if args == nil || err != nil {
		return nil, err
	}
	cm := &compare{x: args[0], y: args[0], out: coldata.NewVec(types.Bool, coldata.BatchSize), sel: make([]int, 0, coldata.BatchSize)}
	switch k {
	case coldata.Int, coldata.Date:
		set := map[int64]bool{}
		for _, d := range items {
			if k == coldata.Date {
				set[int64(d.(types.DateVal))] = true
			} else {
				set[d.(int64)] = true
			}
		}
		cm.kernel = func(x, _ *coldata.Vec, in, out []int) []int {
			for _, i := range in {
				if !x.IsNull(i) && set[x.I[i]] {
					out = append(out, i)
				}
			}
			return out
		}
	case coldata.Str:
		trim := func(s string) string { return s }
		if bpchar {
			trim = func(s string) string { return strings.TrimRight(s, " ") }
		}
		set := map[string]bool{}
		for _, d := range items {
			set[trim(d.(string))] = true
		}
		cm.kernel = func(x, _ *coldata.Vec, in, out []int) []int {
			for _, i := range in {
				if !x.IsNull(i) && set[trim(x.S[i])] {
					out = append(out, i)
				}
			}
			return out
		}
	case coldata.Dec:
		var dx apd.Decimal
		cm.kernel = func(x, _ *coldata.Vec, in, out []int) []int {
			for _, i := range in {
				if x.IsNull(i) {
					continue
				}
				for _, d := range items {
					if types.CompareNumeric(x.DecAt(i, &dx), d.(*apd.Decimal)) == 0 {
						out = append(out, i)
						break
					}
				}
			}
			return out
		}
	}
	return cm, nil
}

// newLike is x [NOT] LIKE a constant simple pattern, as a comparison
// whose kernel matches the pattern's runs.
func newLike(runs []string, negate bool, x, pattern Expr) *compare {
	c := &compare{x: x, y: pattern, out: coldata.NewVec(types.Bool, coldata.BatchSize), sel: make([]int, 0, coldata.BatchSize)}
	c.kernel = func(x, _ *coldata.Vec, in, out []int) []int {
		for _, i := range in {
			if !x.IsNull(i) && expr.MatchRuns(x.S[i], runs) != negate {
				out = append(out, i)
			}
		}
		return out
	}
	return c
}

func testOf(op string) func(int) bool {
	switch op {
	case "=":
		return func(c int) bool { return c == 0 }
	case "<>":
		return func(c int) bool { return c != 0 }
	case "<":
		return func(c int) bool { return c < 0 }
	case "<=":
		return func(c int) bool { return c <= 0 }
	case ">":
		return func(c int) bool { return c > 0 }
	}
	return func(c int) bool { return c >= 0 }
}

// CmpSmallDec compares a×10^ea with b×10^eb, false when aligning the
// exponents overflows.
func CmpSmallDec(a int64, ea int32, b int64, eb int32) (int, bool) {
	if ea != eb {
		var ok bool
		if ea > eb {
			a, ok = expr.ScaleInt64(a, ea-eb)
		} else {
			b, ok = expr.ScaleInt64(b, eb-ea)
		}
		if !ok {
			return 0, false
		}
	}
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

// orderedKernel is a comparison of the values of vals with Go's
// operators, one loop per operator.
func orderedKernel[T int64 | string](op string, vals func(*coldata.Vec) []T) func(x, y *coldata.Vec, in, out []int) []int {
	return func(xv, yv *coldata.Vec, in, out []int) []int {
		x, y := vals(xv), vals(yv)
		if xv.HasNull || yv.HasNull {
			test := testOf(op)
			for _, i := range in {
				if !xv.IsNull(i) && !yv.IsNull(i) && test(cmp.Compare(x[i], y[i])) {
					out = append(out, i)
				}
			}
			return out
		}
		switch op {
		case "=":
			for _, i := range in {
				if x[i] == y[i] {
					out = append(out, i)
				}
			}
		case "<>":
			for _, i := range in {
				if x[i] != y[i] {
					out = append(out, i)
				}
			}
		case "<":
			for _, i := range in {
				if x[i] < y[i] {
					out = append(out, i)
				}
			}
		case "<=":
			for _, i := range in {
				if x[i] <= y[i] {
					out = append(out, i)
				}
			}
		case ">":
			for _, i := range in {
				if x[i] > y[i] {
					out = append(out, i)
				}
			}
		case ">=":
			for _, i := range in {
				if x[i] >= y[i] {
					out = append(out, i)
				}
			}
		}
		return out
	}
}
