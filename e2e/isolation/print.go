package isolation

import (
	"fmt"
	"strings"
)

// printResult renders a result set as libpq's PQprint does with the
// options isolationtester uses (header, aligned, "|" between fields):
// columns as wide as their longest name or value, numbers right-aligned,
// other values left-aligned, a dashed border under the names, and the
// row count. A NULL prints as nothing.
func printResult(w *strings.Builder, names []string, rows [][][]byte) {
	n := len(names)
	if n == 0 {
		return
	}
	width := make([]int, n)
	notNum := make([]bool, n)
	for j, name := range names {
		width[j] = len(name)
	}
	for _, r := range rows {
		for j, v := range r {
			if len(v) == 0 {
				continue
			}
			width[j] = max(width[j], len(v))
			if !notNum[j] && !looksNumeric(v) {
				notNum[j] = true
			}
		}
	}
	cell := func(j int, s string) string {
		if notNum[j] {
			return fmt.Sprintf("%-*s", width[j], s)
		}
		return fmt.Sprintf("%*s", width[j], s)
	}
	border := make([]string, n)
	for j := range names {
		border[j] = strings.Repeat("-", width[j])
		if j > 0 {
			w.WriteByte('|')
		}
		w.WriteString(cell(j, names[j]))
	}
	w.WriteString("\n" + strings.Join(border, "+") + "\n")
	for _, r := range rows {
		for j, v := range r {
			if j > 0 {
				w.WriteByte('|')
			}
			w.WriteString(cell(j, string(v)))
		}
		w.WriteByte('\n')
	}
	plural := "s"
	if len(rows) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "(%d row%s)\n\n", len(rows), plural)
}

// looksNumeric is PQprint's test: digits, '.', 'E', 'e', ' ' and '-'
// only, not starting with 'E' or 'e', ending with a digit.
func looksNumeric(v []byte) bool {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'E' || c == 'e' || c == ' ' || c == '-') {
			return false
		}
	}
	last := v[len(v)-1]
	return v[0] != 'E' && v[0] != 'e' && last >= '0' && last <= '9'
}
