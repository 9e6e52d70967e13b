package logictest

import (
	"os"
	"slices"
	"strings"
)

// rewrite replaces the expected results of the queries in path with
// actual (record line → result lines), keeping everything else.
func rewrite(path string, recs []Record, actual map[int][]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	// Last record first, so earlier line numbers stay valid.
	for i := len(recs) - 1; i >= 0; i-- {
		rec := &recs[i]
		got, ok := actual[rec.Line]
		if rec.Kind != KindQuery || !ok {
			continue
		}
		start := rec.resultSep + 1
		repl := got
		if rec.resultSep < 0 {
			start = rec.resultEnd
			repl = append([]string{"----"}, got...)
		}
		lines = slices.Replace(lines, start, rec.resultEnd, repl...)
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
}
