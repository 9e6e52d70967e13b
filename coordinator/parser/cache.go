package parser

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Cache remembers parse trees of single DML and query statements by their
// shape: the text with every numeric and string literal taken out. A
// statement of a known shape is not parsed again (PostgreSQL's parser
// runs in C behind cgo and costs tens of microseconds); the literals of
// the new text are written into the cached tree instead. pgbench's and
// ORMs' statements differ only in literals, so they hit.
//
// A Cache belongs to one session: the trees it returns are reused by the
// next call, so a caller must be done with one before parsing again.
type Cache struct {
	m     map[string]*cacheEntry
	order []string
	max   int
}

type cacheEntry struct {
	stmt  Stmt
	slots []slot
}

// slot is where one literal of the text lives in the tree.
type slot struct {
	node    *pg_query.A_Const
	negated bool // the parser folded a preceding '-' into the constant
}

// NewCache returns a cache of at most max shapes.
func NewCache(max int) *Cache { return &Cache{m: map[string]*cacheEntry{}, max: max} }

// literal is a numeric or string literal found by the lexer.
type literal struct {
	pos   int    // byte offset of the literal
	minus int    // offset of a '-' right before it, or -1
	kind  byte   // 'i' integer fitting int32, 'f' other number, 's' string
	text  string // number text, or the unescaped string
}

// Parse parses sql, from the cache when its shape is known.
func (c *Cache) Parse(sql string) ([]Stmt, error) {
	shape, lits, ok := lex(sql)
	if !ok {
		return Parse(sql)
	}
	if e, hit := c.m[shape]; hit && len(e.slots) == len(lits) {
		for i, l := range lits {
			e.slots[i].set(l)
		}
		e.stmt.SQL = strings.TrimSpace(sql)
		return []Stmt{e.stmt}, nil
	}
	stmts, err := Parse(sql)
	if err != nil || len(stmts) != 1 || stmts[0].Dist.Kind != DistDefault || !cacheable(stmts[0].Node) {
		return stmts, err
	}
	consts := map[int32]*pg_query.A_Const{}
	collectConsts(stmts[0].Node.ProtoReflect().Interface(), consts)
	e := &cacheEntry{stmt: stmts[0]}
	for _, l := range lits {
		if n, ok := consts[int32(l.pos)]; ok && n != nil {
			e.slots = append(e.slots, slot{node: n})
		} else if n, ok := consts[int32(l.minus)]; ok && n != nil && l.minus >= 0 {
			e.slots = append(e.slots, slot{node: n, negated: true})
		} else {
			return stmts, nil // a literal the tree does not hold as a constant
		}
	}
	if len(consts) != len(lits) {
		return stmts, nil
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[shape] = e
	c.order = append(c.order, shape)
	return stmts, nil
}

func (s slot) set(l literal) {
	switch l.kind {
	case 'i':
		v, _ := strconv.ParseInt(l.text, 10, 32)
		if s.negated {
			v = -v
		}
		s.node.Val = &pg_query.A_Const_Ival{Ival: &pg_query.Integer{Ival: int32(v)}}
	case 'f':
		t := l.text
		if s.negated {
			t = "-" + t
		}
		s.node.Val = &pg_query.A_Const_Fval{Fval: &pg_query.Float{Fval: t}}
	default:
		s.node.Val = &pg_query.A_Const_Sval{Sval: &pg_query.String{Sval: l.text}}
	}
	s.node.Isnull = false
}

func cacheable(n *pg_query.Node) bool {
	switch n.Node.(type) {
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt,
		// BEGIN, COMMIT, ...: twice per pgbench transaction. Their
		// string arguments (PREPARE TRANSACTION 'gid') are no
		// constants in the tree, so such a shape is never cached.
		*pg_query.Node_TransactionStmt:
		return true
	}
	return false
}

// lex splits sql into its shape and literals. ok = false for anything it
// does not fully understand (escape strings, dollar quotes, several
// statements, ...): those are parsed every time.
func lex(sql string) (shape string, lits []literal, ok bool) {
	var b strings.Builder
	b.Grow(len(sql))
	lastMinus := -1
	prevString := false
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			continue
		case c == '-' && i+1 < n && sql[i+1] == '-':
			return "", nil, false
		case c == '/' && i+1 < n && sql[i+1] == '*':
			return "", nil, false
		case c == ';':
			if strings.TrimSpace(sql[i+1:]) != "" {
				return "", nil, false
			}
			i = n
			continue
		case c == '\'':
			if prevString {
				return "", nil, false // 'a' 'b' concatenation
			}
			var sb strings.Builder
			j := i + 1
			for {
				if j >= n {
					return "", nil, false
				}
				if sql[j] == '\'' {
					if j+1 < n && sql[j+1] == '\'' {
						sb.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(sql[j])
				j++
			}
			lits = append(lits, literal{pos: i, minus: -1, kind: 's', text: sb.String()})
			b.WriteString("'?'")
			i = j + 1
			prevString = true
			lastMinus = -1
			continue
		case c >= '0' && c <= '9' || (c == '.' && i+1 < n && sql[i+1] >= '0' && sql[i+1] <= '9'):
			j := i
			isFloat := false
			for j < n && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j < n && sql[j] == '.' && !(j+1 < n && sql[j+1] == '.') {
				isFloat = true
				j++
				for j < n && sql[j] >= '0' && sql[j] <= '9' {
					j++
				}
			}
			if j < n && (sql[j] == 'e' || sql[j] == 'E') {
				isFloat = true
				j++
				if j < n && (sql[j] == '+' || sql[j] == '-') {
					j++
				}
				if j >= n || sql[j] < '0' || sql[j] > '9' {
					return "", nil, false
				}
				for j < n && sql[j] >= '0' && sql[j] <= '9' {
					j++
				}
			}
			if j < n && (isIdent(sql[j]) || sql[j] == '.') {
				return "", nil, false
			}
			text := sql[i:j]
			kind := byte('f')
			if !isFloat {
				if _, err := strconv.ParseInt(text, 10, 32); err == nil {
					kind = 'i'
				}
			}
			lits = append(lits, literal{pos: i, minus: lastMinus, kind: kind, text: text})
			b.WriteByte('#')
			b.WriteByte(kind)
			i = j
			prevString = false
			lastMinus = -1
			continue
		case isIdent(c) || c >= 0x80:
			j := i
			for j < n && (isIdent(sql[j]) || sql[j] >= 0x80 || (sql[j] >= '0' && sql[j] <= '9') || sql[j] == '$') {
				j++
			}
			word := sql[i:j]
			// E'', B'', X'', U&'', N'' strings are not handled here.
			if j < n && (sql[j] == '\'' || sql[j] == '&') && len(word) <= 2 {
				return "", nil, false
			}
			b.WriteString(strings.ToLower(word))
			i = j
			prevString = false
			lastMinus = -1
			continue
		case c == '"':
			j := i + 1
			for j < n && sql[j] != '"' {
				j++
			}
			if j >= n {
				return "", nil, false
			}
			b.WriteString(sql[i : j+1])
			i = j + 1
			prevString = false
			lastMinus = -1
			continue
		case c == '$':
			j := i + 1
			for j < n && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j == i+1 {
				return "", nil, false // dollar quoting
			}
			b.WriteString(sql[i:j])
			i = j
			prevString = false
			lastMinus = -1
			continue
		}
		if c == '-' {
			lastMinus = i
		} else {
			lastMinus = -1
		}
		prevString = false
		b.WriteByte(c)
		i++
	}
	return b.String(), lits, true
}

func isIdent(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// collectConsts maps every A_Const of a tree by its location; a location
// seen twice (a copied node) is recorded as nil so the shape is not cached.
func collectConsts(m protoreflect.ProtoMessage, out map[int32]*pg_query.A_Const) {
	if ac, ok := m.(*pg_query.A_Const); ok {
		if _, dup := out[ac.Location]; dup {
			out[ac.Location] = nil
		} else {
			out[ac.Location] = ac
		}
		return
	}
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() || fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				collectConsts(l.Get(i).Message().Interface(), out)
			}
		default:
			collectConsts(v.Message().Interface(), out)
		}
		return true
	})
}
