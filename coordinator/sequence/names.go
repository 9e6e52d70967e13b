package sequence

import (
	"strings"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// maxIdentLen is PostgreSQL's NAMEDATALEN - 1: longer names are cut.
const maxIdentLen = 63

// ParseName reads a relation name given as text, as nextval('...') does
// (PostgreSQL's stringToQualifiedNameList and makeRangeVarFromNameList):
// dot-separated identifiers, unquoted ones lower-cased, "quoted" ones
// kept as written. It returns the schema ("" when not given) and name.
func ParseName(s string) (schema, name string, err error) {
	parts, ok := splitIdentifiers(s)
	if !ok || len(parts) == 0 {
		return "", "", pgerr.New(pgerr.InvalidName, "invalid name syntax")
	}
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	case 3:
		return parts[1], parts[2], nil // the database name is not checked
	}
	return "", "", pgerr.New(pgerr.SyntaxError, "improper relation name (too many dotted names): %s", strings.Join(parts, "."))
}

// splitIdentifiers is PostgreSQL's SplitIdentifierString with '.'.
func splitIdentifiers(s string) ([]string, bool) {
	var out []string
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	skipSpace()
	if i == len(s) {
		return nil, true
	}
	for {
		var id string
		if s[i] == '"' {
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, false // no closing quote
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			id = b.String()
			if id == "" {
				return nil, false
			}
		} else {
			start := i
			for i < len(s) && s[i] != '.' && !isSpace(s[i]) {
				i++
			}
			if i == start {
				return nil, false
			}
			id = asciiLower(s[start:i])
		}
		if len(id) > maxIdentLen {
			id = id[:maxIdentLen]
		}
		out = append(out, id)
		skipSpace()
		if i == len(s) {
			return out, true
		}
		if s[i] != '.' {
			return nil, false
		}
		i++
		skipSpace()
		if i == len(s) {
			return nil, false
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// asciiLower lower-cases ASCII letters only, as PostgreSQL does for
// unquoted identifiers in a multibyte encoding.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// QuoteIdent quotes an identifier unless it is a plain lower-case one
// (PostgreSQL's quote_identifier, without its keyword list).
func QuoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			plain = false
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
