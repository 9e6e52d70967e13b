package tpch

import (
	"cmp"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// How two results of a query are compared (got: the server under test,
// want: the reference):
//
//  1. The same column names, in order, and the same number of rows.
//  2. For a query with ORDER BY, both results must be sorted by its keys
//     (numbers numerically, other values bytewise, as collation "C").
//  3. Rows that tie on every ORDER BY key may come in any order, so each
//     result is cut into runs of equal keys; the runs must have the same
//     keys and sizes, and within a run the rows are matched after sorting
//     them by all columns. Without ORDER BY the whole result is one run: a
//     multiset comparison.
//  4. With LIMIT, when the result is full (as many rows as the limit), the
//     rows of the last run may legitimately differ: the tie may continue
//     past the limit and each server may keep other rows of it. Only that
//     run's keys and size are compared. No other difference is excused.
//
// Values are equal when their text is equal or, when both are decimal
// numbers, when they are equal as numbers (12.5 = 12.50). Beyond that only
// quotients (averages, divisions: more than six decimals, which exact sums
// and products of the schema's numeric(15,2) values never have) get a
// tolerance, because their printed precision is the engine's choice: a
// quotient equals a value it rounds to (25.4914432782940036 ~ 25.49), and
// two quotients equal each other within a relative 1e-12. Sums of money
// stay exact: 1054382179.526988 and 1054382179.526989 differ.

// Mismatch describes how two results differ.
type Mismatch struct {
	Query  Query
	Reason string
}

func (m *Mismatch) Error() string { return fmt.Sprintf("%v: %s", m.Query, m.Reason) }

// Compare compares got against want for query q; nil when they agree.
func Compare(q Query, got, want *Result) error {
	fail := func(format string, args ...any) error {
		return &Mismatch{Query: q, Reason: fmt.Sprintf(format, args...)}
	}
	if !slices.Equal(got.Columns, want.Columns) {
		return fail("columns differ:\n  got:  %s\n  want: %s", strings.Join(got.Columns, ", "), strings.Join(want.Columns, ", "))
	}
	if len(got.Rows) != len(want.Rows) {
		return fail("got %d rows, want %d%s", len(got.Rows), len(want.Rows), firstRows(got, want))
	}
	keys, err := keyColumns(q, want.Columns)
	if err != nil {
		return fail("%v", err)
	}
	if i := unsorted(want.Rows, keys); i > 0 {
		return fail("the reference result is not in ORDER BY order at row %d: %s", i+1, formatRow(want.Rows[i]))
	}
	if i := unsorted(got.Rows, keys); i > 0 {
		return fail("rows not in ORDER BY order at row %d:\n  row %d: %s\n  row %d: %s",
			i+1, i, formatRow(got.Rows[i-1]), i+1, formatRow(got.Rows[i]))
	}
	gotRuns, wantRuns := runs(got.Rows, keys), runs(want.Rows, keys)
	full := q.Limit > 0 && len(want.Rows) == q.Limit
	for r := 0; r < len(gotRuns) && r < len(wantRuns); r++ {
		g, w := gotRuns[r], wantRuns[r]
		if len(keys) > 0 && !rowsEqual(pickCols(g.rows[0], keys), pickCols(w.rows[0], keys)) {
			return fail("row %d differs:\n  got:  %s\n  want: %s", g.start+1, formatRow(g.rows[0]), formatRow(w.rows[0]))
		}
		if len(g.rows) != len(w.rows) {
			return fail("rows %d..: %d rows with ORDER BY keys (%s), want %d:\n  got:  %s\n  want: %s",
				g.start+1, len(g.rows), formatRow(pickCols(g.rows[0], keys)), len(w.rows), formatRow(g.rows[0]), formatRow(w.rows[0]))
		}
		if full && r == len(wantRuns)-1 {
			break // rule 4
		}
		gs, ws := sortedRows(g.rows), sortedRows(w.rows)
		for i := range gs {
			if !rowsEqual(gs[i], ws[i]) {
				where := fmt.Sprintf("row %d", g.start+1)
				if len(gs) > 1 {
					where = fmt.Sprintf("among rows %d..%d (tied on the ORDER BY keys or unordered), a row", g.start+1, g.start+len(gs))
				}
				return fail("%s differs:\n  got:  %s\n  want: %s", where, formatRow(gs[i]), formatRow(ws[i]))
			}
		}
	}
	if len(gotRuns) != len(wantRuns) {
		return fail("got %d distinct ORDER BY key groups, want %d", len(gotRuns), len(wantRuns))
	}
	return nil
}

// firstRows prints the first rows of both results for a message.
func firstRows(got, want *Result) string {
	var b strings.Builder
	for _, side := range []struct {
		name string
		rows [][]Value
	}{{"got", got.Rows}, {"want", want.Rows}} {
		fmt.Fprintf(&b, "\n  %s:", side.name)
		for i, r := range side.rows {
			if i == 3 {
				b.WriteString("\n    ...")
				break
			}
			b.WriteString("\n    " + formatRow(r))
		}
	}
	return b.String()
}

// keyColumns resolves the ORDER BY keys to column positions.
func keyColumns(q Query, columns []string) ([]sortCol, error) {
	var out []sortCol
	for _, k := range q.OrderBy {
		i := slices.Index(columns, k.Column)
		if i < 0 {
			return nil, fmt.Errorf("ORDER BY key %q is not an output column (%s)", k.Column, strings.Join(columns, ", "))
		}
		out = append(out, sortCol{i, k.Desc})
	}
	return out, nil
}

type sortCol struct {
	col  int
	desc bool
}

// unsorted returns the first row that sorts before its predecessor, or 0.
func unsorted(rows [][]Value, keys []sortCol) int {
	for i := 1; i < len(rows); i++ {
		if compareKeys(rows[i-1], rows[i], keys) > 0 {
			return i
		}
	}
	return 0
}

func compareKeys(a, b []Value, keys []sortCol) int {
	for _, k := range keys {
		c := compareValues(a[k.col], b[k.col])
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// run is a maximal stretch of rows with the same ORDER BY keys.
type run struct {
	start int
	rows  [][]Value
}

func runs(rows [][]Value, keys []sortCol) []run {
	var out []run
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && compareKeys(rows[i], rows[j], keys) == 0 {
			j++
		}
		out = append(out, run{i, rows[i:j]})
		i = j
	}
	return out
}

func pickCols(row []Value, keys []sortCol) []Value {
	out := make([]Value, len(keys))
	for i, k := range keys {
		out[i] = row[k.col]
	}
	return out
}

// sortedRows sorts a copy of rows by all columns.
func sortedRows(rows [][]Value) [][]Value {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b []Value) int {
		for i := range a {
			if c := compareValues(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

func rowsEqual(a, b []Value) bool {
	for i := range a {
		if !valuesEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// decimalRE is a decimal number as PostgreSQL prints integers and numerics.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// decimal parses a printed decimal and its scale (digits after the point).
func decimal(s string) (*big.Rat, int, bool) {
	if !decimalRE.MatchString(s) {
		return nil, 0, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, 0, false
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
	}
	return r, scale, true
}

// compareValues orders values: decimals numerically, anything else
// bytewise; NULL after everything (PostgreSQL's default for ASC).
func compareValues(a, b Value) int {
	switch {
	case a.Null && b.Null:
		return 0
	case a.Null:
		return 1
	case b.Null:
		return -1
	}
	if x, _, ok := decimal(a.Text); ok {
		if y, _, ok := decimal(b.Text); ok {
			return x.Cmp(y)
		}
	}
	return cmp.Compare(a.Text, b.Text)
}

// quotientScale is the scale above which a printed number is taken for a
// quotient (an average or a division) rather than an exact sum or product
// of the schema's numeric(15,2) values (which have at most six decimals).
const quotientScale = 6

var relTolerance = big.NewRat(1, 1_000_000_000_000)

// valuesEqual is the value equality described at the top of this file.
func valuesEqual(a, b Value) bool {
	if a.Null || b.Null {
		return a.Null == b.Null
	}
	if a.Text == b.Text {
		return true
	}
	x, sx, ok1 := decimal(a.Text)
	y, sy, ok2 := decimal(b.Text)
	if !ok1 || !ok2 {
		return false
	}
	if x.Cmp(y) == 0 {
		return true
	}
	if max(sx, sy) <= quotientScale {
		return false // exact arithmetic: equal or different
	}
	diff := new(big.Rat).Sub(x, y)
	diff.Abs(diff)
	// The quotient rounds to the other's printed scale: |x-y| <= 0.5 * 10^-scale.
	half := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Mul(big.NewInt(2), pow10(min(sx, sy))))
	if diff.Cmp(half) <= 0 {
		return true
	}
	if min(sx, sy) > quotientScale { // two quotients of different precision
		m := new(big.Rat).Abs(x)
		if ay := new(big.Rat).Abs(y); ay.Cmp(m) > 0 {
			m = ay
		}
		return diff.Cmp(m.Mul(m, relTolerance)) <= 0
	}
	return false
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }
