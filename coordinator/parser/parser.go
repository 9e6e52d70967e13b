// Package parser is the coordinator's SQL front end: PostgreSQL's own
// parser (pg_query) plus GaussDB's DISTRIBUTE BY clause, which pg_query
// does not know. The clause is found with pg_query's scanner, blanked out
// of the text (so error positions still point into the original) and
// returned beside the statement it belongs to.
package parser

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// DistKind is how DISTRIBUTE BY spreads a table.
type DistKind int

const (
	DistDefault DistKind = iota
	DistHash
	DistReplication
)

// Distribute is a parsed DISTRIBUTE BY clause.
type Distribute struct {
	Kind    DistKind
	Columns []string // HASH columns, lower-cased unless quoted
}

// Stmt is one parsed statement.
type Stmt struct {
	Node *pg_query.Node
	SQL  string // the statement's own text (with DISTRIBUTE BY blanked)
	Dist Distribute
}

// Parse parses a query string that may hold several statements.
func Parse(sql string) ([]Stmt, error) {
	clean, dists, err := stripDistribute(sql)
	if err != nil {
		return nil, err
	}
	tree, err := pg_query.Parse(clean)
	if err != nil {
		return nil, syntaxError(err)
	}
	out := make([]Stmt, 0, len(tree.Stmts))
	for _, rs := range tree.Stmts {
		start := int(rs.StmtLocation)
		end := start + int(rs.StmtLen)
		if rs.StmtLen == 0 {
			end = len(clean)
		}
		st := Stmt{Node: rs.Stmt, SQL: strings.TrimSpace(clean[start:end])}
		for _, d := range dists {
			if d.pos >= start && d.pos < end {
				st.Dist = d.Distribute
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func syntaxError(err error) error {
	var pe *pgparser.Error
	if errors.As(err, &pe) {
		e := pgerr.New(pgerr.SyntaxError, "%s", pe.Message)
		if strings.Contains(pe.Message, "unterminated") {
			e.Code = pgerr.SyntaxError
		}
		return e
	}
	return pgerr.New(pgerr.SyntaxError, "%s", err.Error())
}

type distAt struct {
	Distribute
	pos int
}

// stripDistribute blanks every DISTRIBUTE BY clause out of sql.
func stripDistribute(sql string) (string, []distAt, error) {
	if !strings.Contains(strings.ToLower(sql), "distribute") {
		return sql, nil, nil
	}
	sr, err := pg_query.Scan(sql)
	if err != nil {
		return "", nil, syntaxError(err)
	}
	toks := sr.Tokens
	text := func(i int) string { return sql[toks[i].Start:toks[i].End] }
	b := []byte(sql)
	var out []distAt
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Token != pg_query.Token_IDENT || !strings.EqualFold(text(i), "distribute") || toks[i+1].Token != pg_query.Token_BY {
			continue
		}
		if i+2 >= len(toks) {
			return "", nil, pgerr.New(pgerr.SyntaxError, "syntax error at end of input")
		}
		d := distAt{pos: int(toks[i].Start)}
		j := i + 2
		kind := strings.ToLower(text(j))
		switch kind {
		case "replication":
			d.Kind = DistReplication
			j++
		case "hash":
			d.Kind = DistHash
			j++
			if j >= len(toks) || toks[j].Token != pg_query.Token_ASCII_40 {
				return "", nil, pgerr.New(pgerr.SyntaxError, "syntax error: DISTRIBUTE BY HASH needs a column list")
			}
			j++
			for {
				if j >= len(toks) {
					return "", nil, pgerr.New(pgerr.SyntaxError, "syntax error at end of input")
				}
				name := text(j)
				if strings.HasPrefix(name, `"`) {
					name = strings.ReplaceAll(strings.Trim(name, `"`), `""`, `"`)
				} else {
					name = strings.ToLower(name)
				}
				d.Columns = append(d.Columns, name)
				j++
				if j < len(toks) && toks[j].Token == pg_query.Token_ASCII_44 {
					j++
					continue
				}
				if j < len(toks) && toks[j].Token == pg_query.Token_ASCII_41 {
					j++
					break
				}
				return "", nil, pgerr.New(pgerr.SyntaxError, "syntax error in DISTRIBUTE BY HASH column list")
			}
		case "roundrobin", "modulo", "range", "list":
			return "", nil, pgerr.Unsupported("DISTRIBUTE BY " + strings.ToUpper(kind))
		default:
			return "", nil, pgerr.New(pgerr.SyntaxError, "syntax error at or near %q", text(j))
		}
		end := len(sql)
		if j < len(toks) {
			end = int(toks[j].Start)
		}
		for k := int(toks[i].Start); k < end; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
		out = append(out, d)
		i = j - 1
	}
	return string(b), out, nil
}
