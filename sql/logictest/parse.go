package logictest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Kind is the kind of a record.
type Kind int

const (
	// KindStatement runs SQL that must succeed or fail.
	KindStatement Kind = iota
	// KindQuery runs SQL and compares its rows.
	KindQuery
	// KindHashThreshold sets hash-threshold (kept for the format's sake).
	KindHashThreshold
	// KindHalt ends the file.
	KindHalt
)

// SortMode is how a query's results are ordered before comparison.
type SortMode int

const (
	// NoSort compares rows in the order the server returns them.
	NoSort SortMode = iota
	// RowSort sorts rows (column by column, as byte strings).
	RowSort
	// ValueSort sorts every value on its own.
	ValueSort
)

// Record is one test record.
type Record struct {
	Kind   Kind
	File   string
	Line   int      // line of the statement/query keyword
	SkipIf []string // engines the record is skipped on
	OnlyIf []string // engines the record runs on (any of)
	SQL    string

	// statement
	ExpectError bool
	ErrCode     string         // SQLSTATE the error must have ("" = any)
	ErrPattern  *regexp.Regexp // must match the error message (nil = any)

	// query
	Types     string // one letter per column: I, T, R
	Sort      SortMode
	Label     string
	Expected  []string // result lines (values or rows)
	Hashed    bool     // Expected is "N values hashing to H"
	HashCount int
	Hash      string
	// Result lines in the file (0-based, for rewriting): the "----" line
	// (-1: none) and the line after the last result line.
	resultSep, resultEnd int

	// hash-threshold
	Threshold int
}

// Pos is the record's file:line.
func (r *Record) Pos() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

var (
	hashLine   = regexp.MustCompile(`^(\d+) values hashing to ([0-9a-f]{32})$`)
	sqlstateRE = regexp.MustCompile(`^[0-9A-Z]{5}$`)
	digitRE    = regexp.MustCompile(`[0-9]`)
)

// ParseFile parses a test file.
func ParseFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// isSQLSTATE reports a token that is a SQLSTATE rather than the start of
// a regexp: five digits or capitals with at least one digit (every
// SQLSTATE has one; "ERROR" does not).
func isSQLSTATE(tok string) bool {
	return sqlstateRE.MatchString(tok) && digitRE.MatchString(tok)
}

// Parse parses records from r; name is used in positions.
func Parse(name string, r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Record
	errf := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line+1, fmt.Sprintf(format, args...))
	}
	i := 0
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	comment := func(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "#") }
	for i < len(lines) {
		if blank(lines[i]) || comment(lines[i]) {
			i++
			continue
		}
		rec := Record{File: name}
		// Conditions.
		for i < len(lines) {
			f := fields(lines[i])
			if len(f) == 0 || (f[0] != "skipif" && f[0] != "onlyif") {
				break
			}
			if len(f) < 2 {
				return nil, errf(i, "%s needs an engine name", f[0])
			}
			if f[0] == "skipif" {
				rec.SkipIf = append(rec.SkipIf, f[1])
			} else {
				rec.OnlyIf = append(rec.OnlyIf, f[1])
			}
			i++
		}
		if i >= len(lines) || blank(lines[i]) {
			return nil, errf(i-1, "skipif/onlyif without a record")
		}
		f := fields(lines[i])
		rec.Line = i + 1
		switch f[0] {
		case "halt":
			rec.Kind = KindHalt
			i++
		case "hash-threshold":
			if len(f) != 2 {
				return nil, errf(i, "hash-threshold needs a number")
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, errf(i, "hash-threshold: %v", err)
			}
			rec.Kind, rec.Threshold = KindHashThreshold, n
			i++
		case "statement":
			rec.Kind = KindStatement
			if len(f) < 2 {
				return nil, errf(i, "statement needs ok or error")
			}
			switch f[1] {
			case "ok":
			case "error":
				rec.ExpectError = true
				rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "statement"))
				rest = strings.TrimSpace(strings.TrimPrefix(rest, "error"))
				if tok, after, _ := strings.Cut(rest, " "); isSQLSTATE(tok) {
					rec.ErrCode = tok
					rest = strings.TrimSpace(after)
				}
				if rest != "" {
					re, err := regexp.Compile(rest)
					if err != nil {
						return nil, errf(i, "statement error: bad regexp: %v", err)
					}
					rec.ErrPattern = re
				}
			default:
				return nil, errf(i, "statement %s: want ok or error", f[1])
			}
			i++
			var sql []string
			for i < len(lines) && !blank(lines[i]) {
				if !comment(lines[i]) {
					sql = append(sql, lines[i])
				}
				i++
			}
			rec.SQL = strings.Join(sql, "\n")
		case "query":
			rec.Kind = KindQuery
			if len(f) < 2 {
				return nil, errf(i, "query needs column types")
			}
			rec.Types = f[1]
			for _, c := range rec.Types {
				if c != 'I' && c != 'T' && c != 'R' {
					return nil, errf(i, "query: unknown column type %q (want I, T or R)", c)
				}
			}
			rest := f[2:]
			if len(rest) > 0 {
				switch rest[0] {
				case "nosort":
					rest = rest[1:]
				case "rowsort":
					rec.Sort, rest = RowSort, rest[1:]
				case "valuesort":
					rec.Sort, rest = ValueSort, rest[1:]
				}
			}
			if len(rest) > 0 {
				rec.Label = rest[0]
				rest = rest[1:]
			}
			if len(rest) > 0 {
				return nil, errf(i, "query: unexpected %q", strings.Join(rest, " "))
			}
			i++
			var sql []string
			for i < len(lines) && !blank(lines[i]) && strings.TrimSpace(lines[i]) != "----" {
				if !comment(lines[i]) {
					sql = append(sql, lines[i])
				}
				i++
			}
			rec.SQL = strings.Join(sql, "\n")
			rec.resultSep = -1
			if i < len(lines) && strings.TrimSpace(lines[i]) == "----" {
				rec.resultSep = i
				i++
				for i < len(lines) && !blank(lines[i]) {
					rec.Expected = append(rec.Expected, lines[i])
					i++
				}
			}
			rec.resultEnd = i
			if len(rec.Expected) == 1 {
				if m := hashLine.FindStringSubmatch(strings.TrimSpace(rec.Expected[0])); m != nil {
					rec.Hashed = true
					rec.HashCount, _ = strconv.Atoi(m[1])
					rec.Hash = m[2]
				}
			}
		default:
			return nil, errf(i, "unknown record %q", f[0])
		}
		if (rec.Kind == KindStatement || rec.Kind == KindQuery) && strings.TrimSpace(rec.SQL) == "" {
			return nil, errf(rec.Line-1, "record without SQL")
		}
		out = append(out, rec)
	}
	return out, nil
}

// fields splits a control line into words, dropping a trailing # comment.
func fields(line string) []string {
	if k := strings.Index(line, "#"); k >= 0 {
		line = line[:k]
	}
	return strings.Fields(line)
}
