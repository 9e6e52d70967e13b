package logictest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// formatValue prints a text-format value for a column of type t as
// sqllogictest does: NULL, (empty) for an empty string, I as an integer,
// R as %.3f. Control characters become '@' so a value stays on one line.
func formatValue(v []byte, t byte) string {
	if v == nil {
		return "NULL"
	}
	s := string(v)
	switch t {
	case 'I':
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s
		}
		// A non-integral number in an integer column: truncate toward
		// zero, as SQLite's runner does when it reads a REAL as int64.
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return strconv.FormatInt(int64(f), 10)
		}
	case 'R':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return fmt.Sprintf("%.3f", f)
		}
	}
	if s == "" {
		return "(empty)"
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' }) >= 0 {
		s = strings.Map(func(r rune) rune {
			if r < ' ' {
				return '@'
			}
			return r
		}, s)
	}
	return s
}

// sortRows orders rows for rowsort (column by column, byte-wise, as
// strcmp does); valuesort is applied by flatten.
func sortRows(rows [][]string, mode SortMode) {
	if mode == RowSort {
		slices.SortStableFunc(rows, slices.Compare[[]string])
	}
}

// flatten lists the values row by row, sorted for valuesort.
func flatten(rows [][]string, mode SortMode) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	if mode == ValueSort {
		slices.Sort(out)
	}
	return out
}

// hashValues is sqllogictest's "N values hashing to H": the MD5 of the
// values, each followed by a newline.
func hashValues(values []string) string {
	h := md5.New()
	for _, v := range values {
		h.Write([]byte(v))
		h.Write([]byte{'\n'})
	}
	return fmt.Sprintf("%d values hashing to %s", len(values), hex.EncodeToString(h.Sum(nil)))
}
