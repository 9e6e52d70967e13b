package exec

import (
	"cmp"
	"context"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/colexpr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// ColMergeJoin is the vectorized form of MergeJoin: both inputs arrive in
// column batches sorted by their join keys (ascending, NULLs last), and
// it walks them once. The right rows of the current key value (its
// group) are copied by column; each left row of that key is paired with
// them into output batches, on which the residual is evaluated; the rows
// of one side alone (left, right, full and anti joins; a semi join's
// rows) are copied into batches of their own. Rows with a NULL key match
// nothing. Output rows are not in key order: a left batch's own rows come
// after its pairs.
type ColMergeJoin struct {
	typ         JoinType
	left, right ColSource
	lkeys       []colexpr.Expr
	rkeys       []colexpr.Expr
	residual    colexpr.Filter
	types       []uint32 // left ++ right
	lw, rw      int
	env         *Env
	st          *Stats
	mem         *memory // the group's rows

	// The left batch being joined, its key vectors, the position in its
	// selection of the next row, and which of its rows matched.
	lb      *coldata.Batch
	lk      []*coldata.Vec
	li      int
	matched []bool
	leof    bool
	// The right batch read, its keys and the position of its next row.
	rb   *coldata.Batch
	rk   []*coldata.Vec
	ri   int
	reof bool

	// The current group: right rows of key gkey, by column in chunks of
	// BatchSize, and which of them some left row matched.
	group    []*coldata.Batch
	gn       int
	gkey     []*coldata.Vec // one row
	gmatched []bool

	// Pairs being assembled (left row of lb, group row) and the rows of
	// one side alone.
	pairs  *coldata.Batch
	pairsL []int
	pairsG []int
	side   *coldata.Batch
	ready  []*coldata.Batch
	done   bool
}

var _ ColSource = (*ColMergeJoin)(nil)

// buildColMergeJoin returns the vectorized merge join of a join node, or
// nil when an input is not read in column batches (both must be).
func (env *Env) buildColMergeJoin(n *meridianpb.PlanNode, j *meridianpb.JoinNode, st *Stats) (ColSource, error) {
	if !env.batchesAtTop(n.Inputs[0]) || !env.batchesAtTop(n.Inputs[1]) {
		return nil, nil
	}
	if len(j.LeftKeys) == 0 || len(j.LeftKeys) != len(j.RightKeys) {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: merge join of %d left and %d right keys", n.Id, len(j.LeftKeys), len(j.RightKeys))
	}
	if t := JoinType(j.Type); t < JoinInner || t > JoinAnti {
		return nil, pgerr.New(pgerr.InternalError, "plan node %d: unknown join type %d", n.Id, j.Type)
	}
	left, right, err := env.buildColPair(n)
	if err != nil {
		return nil, err
	}
	m := &ColMergeJoin{typ: JoinType(j.Type), left: left, right: right, lw: len(left.Types()), rw: len(right.Types()), env: env, st: st}
	m.types = append(append([]uint32(nil), left.Types()...), right.Types()...)
	if m.lkeys, err = compileAll(&colexpr.Compiler{In: left.Types(), Row: env.Compile}, j.LeftKeys); err == nil {
		m.rkeys, err = compileAll(&colexpr.Compiler{In: right.Types(), Row: env.Compile}, j.RightKeys)
	}
	if err == nil && j.Residual != nil {
		m.residual, err = (&colexpr.Compiler{In: m.types, Row: env.Compile}).CompileFilter(j.Residual)
	}
	if err == nil && len(m.types) != len(n.Inputs[0].Types)+len(n.Inputs[1].Types) {
		err = pgerr.New(pgerr.InternalError, "plan node %d: inputs of %d columns where %d were planned", n.Id, len(m.types), len(n.Inputs[0].Types)+len(n.Inputs[1].Types))
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	m.gkey = make([]*coldata.Vec, len(j.RightKeys))
	return m, nil
}

// Types are left ++ right, or the left input's alone for a semi or anti
// join.
func (m *ColMergeJoin) Types() []uint32 {
	if m.typ == JoinSemi || m.typ == JoinAnti {
		return m.types[:m.lw]
	}
	return m.types
}

func (m *ColMergeJoin) Vectorized() bool { return true }

func (m *ColMergeJoin) Open(ctx context.Context) error {
	if err := m.left.Open(ctx); err != nil {
		return err
	}
	if err := m.right.Open(ctx); err != nil {
		return err
	}
	m.matched = make([]bool, coldata.BatchSize)
	m.mem = newMemory(m.env, m.st)
	return m.advanceRight(ctx)
}

func (m *ColMergeJoin) keepsLeft() bool {
	return m.typ == JoinLeft || m.typ == JoinFull || m.typ == JoinAnti
}

func (m *ColMergeJoin) keepsRight() bool { return m.typ == JoinRight || m.typ == JoinFull }

// pairsNeeded: joined rows are assembled (for the output, or for a semi
// or anti join's residual).
func (m *ColMergeJoin) pairsNeeded() bool {
	return (m.typ != JoinSemi && m.typ != JoinAnti) || m.residual != nil
}

func (m *ColMergeJoin) Next(ctx context.Context) (*coldata.Batch, error) {
	for len(m.ready) == 0 {
		if m.done {
			return nil, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, canceled(ctx)
		}
		if err := m.step(ctx); err != nil {
			return nil, err
		}
	}
	b := m.ready[0]
	m.ready = m.ready[1:]
	return b, nil
}

// step joins the next left row, or ends the left batch, or moves on.
func (m *ColMergeJoin) step(ctx context.Context) error {
	if m.lb == nil || m.li >= len(m.lb.Sel) {
		return m.nextLeft(ctx)
	}
	r := m.lb.Sel[m.li]
	if hasNull(m.lk, r) {
		m.li++ // matches nothing
		return nil
	}
	if m.gn > 0 {
		if compareVecKeys(m.lk, r, m.gkey, 0) == 0 {
			m.li++
			return m.joinGroup(r)
		}
		// Past the group's key (the left input is sorted).
		if err := m.flushPairs(); err != nil {
			return err
		}
		return m.dropGroup()
	}
	// Right rows before the left row's key, or with a NULL key, match no
	// left row.
	for !m.reof {
		rr := m.rb.Sel[m.ri]
		if !hasNull(m.rk, rr) && compareVecKeys(m.rk, rr, m.lk, r) >= 0 {
			break
		}
		if m.keepsRight() {
			if err := m.sideRight(m.rb, rr); err != nil {
				return err
			}
		}
		m.ri++
		if err := m.advanceRight(ctx); err != nil {
			return err
		}
	}
	if !m.reof && compareVecKeys(m.rk, m.rb.Sel[m.ri], m.lk, r) == 0 {
		return m.collectGroup(ctx)
	}
	m.li++ // no right row of its key
	return nil
}

// nextLeft ends the left batch — its pairs evaluated, its rows of the
// left alone emitted — and reads the next one; at the end of the left
// input, the right rows left (right and full joins) are emitted.
func (m *ColMergeJoin) nextLeft(ctx context.Context) error {
	if m.lb != nil {
		if err := m.flushPairs(); err != nil {
			return err
		}
		for _, r := range m.lb.Sel {
			switch {
			case m.typ == JoinSemi && m.matched[r], m.keepsLeft() && !m.matched[r]:
				if err := m.sideLeft(r); err != nil {
					return err
				}
			}
			m.matched[r] = false
		}
		m.lb = nil
	}
	if !m.leof {
		b, err := m.left.Next(ctx)
		if err != nil {
			return err
		}
		if b != nil {
			m.lb, m.li = b, 0
			m.lk, err = evalAll(m.lkeys, b)
			return err
		}
		m.leof = true
	}
	if err := m.dropGroup(); err != nil {
		return err
	}
	for m.keepsRight() && !m.reof {
		if err := m.sideRight(m.rb, m.rb.Sel[m.ri]); err != nil {
			return err
		}
		m.ri++
		if err := m.advanceRight(ctx); err != nil {
			return err
		}
	}
	m.flushSide()
	m.done = true
	return nil
}

// advanceRight makes (rb, ri) the next right row, reading batches as
// needed, or sets reof.
func (m *ColMergeJoin) advanceRight(ctx context.Context) error {
	for !m.reof && (m.rb == nil || m.ri >= len(m.rb.Sel)) {
		b, err := m.right.Next(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			m.reof, m.rb = true, nil
			return nil
		}
		m.rb, m.ri = b, 0
		if m.rk, err = evalAll(m.rkeys, b); err != nil {
			return err
		}
	}
	return nil
}

// collectGroup copies the right rows of the current right row's key into
// the group.
func (m *ColMergeJoin) collectGroup(ctx context.Context) error {
	for i, k := range m.rk {
		if m.gkey[i] == nil || m.gkey[i].Kind != k.Kind {
			m.gkey[i] = coldata.NewVecOf(k.Kind, k.Oid, 1)
		}
		m.gkey[i].Reset()
		m.gkey[i].CopyFrom(0, k, m.rb.Sel[m.ri])
	}
	for !m.reof {
		r := m.rb.Sel[m.ri]
		if hasNull(m.rk, r) || compareVecKeys(m.rk, r, m.gkey, 0) != 0 {
			break
		}
		if m.gn%coldata.BatchSize == 0 {
			// A chunk more: counted as 16 bytes a value, the group
			// cannot spill.
			if !m.mem.grow(int64(coldata.BatchSize*16*m.rw)) && m.mem.short {
				return m.mem.outOfMemory("a merge join's right rows of one key")
			}
			if m.gn/coldata.BatchSize == len(m.group) {
				m.group = append(m.group, coldata.NewBatch(m.right.Types()))
			}
		}
		ch, at := m.group[m.gn/coldata.BatchSize], m.gn%coldata.BatchSize
		if at == 0 {
			ch.Reset()
		}
		if err := copyRow(ch, 0, at, m.rb, r); err != nil {
			return err
		}
		m.gn++
		m.ri++
		if err := m.advanceRight(ctx); err != nil {
			return err
		}
	}
	if cap(m.gmatched) < m.gn {
		m.gmatched = make([]bool, m.gn)
	}
	m.gmatched = m.gmatched[:m.gn]
	clear(m.gmatched)
	return nil
}

// dropGroup emits the group's rows no left row matched (right and full
// joins) and forgets it; its pairs must have been evaluated.
func (m *ColMergeJoin) dropGroup() error {
	if m.keepsRight() {
		for g := 0; g < m.gn; g++ {
			if !m.gmatched[g] {
				if err := m.sideRight(m.group[g/coldata.BatchSize], g%coldata.BatchSize); err != nil {
					return err
				}
			}
		}
	}
	m.gn = 0
	m.mem.release()
	return nil
}

// joinGroup pairs left row r with the group's rows.
func (m *ColMergeJoin) joinGroup(r int) error {
	if !m.pairsNeeded() {
		m.matched[r] = true
		return nil
	}
	for g := 0; g < m.gn; g++ {
		if m.pairs == nil {
			m.pairs = coldata.NewBatch(m.types)
			m.pairs.Reset()
		}
		n := len(m.pairsL)
		if err := copyRow(m.pairs, 0, n, m.lb, r); err != nil {
			return err
		}
		if err := copyRow(m.pairs, m.lw, n, m.group[g/coldata.BatchSize], g%coldata.BatchSize); err != nil {
			return err
		}
		m.pairsL, m.pairsG = append(m.pairsL, r), append(m.pairsG, g)
		if len(m.pairsL) == coldata.BatchSize {
			if err := m.flushPairs(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushPairs evaluates the residual on the pairs assembled, marks the
// rows that matched and, unless the join emits no joined row, makes the
// pairs that passed an output batch.
func (m *ColMergeJoin) flushPairs() error {
	if len(m.pairsL) == 0 {
		return nil
	}
	b := m.pairs
	b.SelectAll(len(m.pairsL))
	if m.residual != nil {
		if err := m.residual(b); err != nil {
			return err
		}
	}
	for _, p := range b.Sel {
		m.matched[m.pairsL[p]] = true
		m.gmatched[m.pairsG[p]] = true
	}
	m.pairsL, m.pairsG = m.pairsL[:0], m.pairsG[:0]
	if m.typ == JoinSemi || m.typ == JoinAnti || len(b.Sel) == 0 {
		b.Reset()
		return nil
	}
	m.ready = append(m.ready, b)
	m.pairs = nil
	return nil
}

// sideLeft adds left row r of lb alone (NULL right columns).
func (m *ColMergeJoin) sideLeft(r int) error {
	n := m.sideRow()
	if err := copyRow(m.side, 0, n, m.lb, r); err != nil {
		return err
	}
	for c := m.lw; c < len(m.side.Vecs); c++ {
		m.side.Vecs[c].SetNull(n)
	}
	m.sideDone(n)
	return nil
}

// sideRight adds row r of b, a right batch, alone (NULL left columns).
func (m *ColMergeJoin) sideRight(b *coldata.Batch, r int) error {
	n := m.sideRow()
	for c := 0; c < m.lw; c++ {
		m.side.Vecs[c].SetNull(n)
	}
	if err := copyRow(m.side, m.lw, n, b, r); err != nil {
		return err
	}
	m.sideDone(n)
	return nil
}

// copyRow stores row r of src at row n of dst's columns from off on.
func copyRow(dst *coldata.Batch, off, n int, src *coldata.Batch, r int) error {
	for c, v := range src.Vecs {
		if !dst.Vecs[off+c].Copy(n, v, r) {
			return pgerr.New(pgerr.InternalError, "a %T in a column of type %d", v.Datum(r), dst.Vecs[off+c].Oid)
		}
	}
	return nil
}

// sideRow returns the row of the side batch to fill.
func (m *ColMergeJoin) sideRow() int {
	if m.side == nil {
		m.side = coldata.NewBatch(m.Types())
		m.side.Reset()
	}
	return m.side.N
}

func (m *ColMergeJoin) sideDone(n int) {
	m.side.N = n + 1
	if m.side.N == coldata.BatchSize {
		m.flushSide()
	}
}

// flushSide makes the rows of one side alone an output batch.
func (m *ColMergeJoin) flushSide() {
	if m.side == nil || m.side.N == 0 {
		return
	}
	m.side.SelectAll(m.side.N)
	m.ready = append(m.ready, m.side)
	m.side = nil
}

func (m *ColMergeJoin) Close() {
	m.mem.release()
	if m.left != nil {
		m.left.Close()
	}
	if m.right != nil {
		m.right.Close()
	}
	m.group, m.ready, m.pairs, m.side = nil, nil, nil, nil
}

// hasNull reports a NULL among keys' values at row r.
func hasNull(keys []*coldata.Vec, r int) bool {
	for _, k := range keys {
		if k.IsNull(r) {
			return true
		}
	}
	return false
}

// compareVecKeys compares the non-NULL key values of row i of a with
// those of row j of b, as types.Compare orders them.
func compareVecKeys(a []*coldata.Vec, i int, b []*coldata.Vec, j int) int {
	for k, x := range a {
		if c := compareVecValues(x, i, b[k], j); c != 0 {
			return c
		}
	}
	return 0
}

// compareVecValues compares the non-NULL value at row i of x with the
// one at row j of y, as types.Compare orders them.
func compareVecValues(x *coldata.Vec, i int, y *coldata.Vec, j int) int {
	switch {
	case x.Kind == y.Kind && (x.Kind == coldata.Int || x.Kind == coldata.Date):
		return cmp.Compare(x.I[i], y.I[j])
	case x.Kind == coldata.Str && y.Kind == coldata.Str:
		return strings.Compare(x.S[i], y.S[j])
	case x.Kind == coldata.Float && y.Kind == coldata.Float:
		return types.CompareFloat(x.F[i], y.F[j])
	case x.Kind == coldata.Dec && y.Kind == coldata.Dec:
		if !x.IsBig(i) && !y.IsBig(j) {
			if c, ok := colexpr.CmpSmallDec(x.I[i], x.E[i], y.I[j], y.E[j]); ok {
				return c
			}
		}
		var a, b apd.Decimal
		return types.CompareNumeric(x.DecAt(i, &a), y.DecAt(j, &b))
	}
	return types.Compare(x.Datum(i), y.Datum(j))
}
