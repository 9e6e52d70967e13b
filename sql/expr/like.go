package expr

import (
	"strings"
	"unicode/utf8"

	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func likeBuilder(fold, negate bool) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		return func(v []types.Datum) (types.Datum, error) {
			s, p := v[0].(string), v[1].(string)
			if fold {
				s, p = strings.ToLower(s), strings.ToLower(p)
			}
			ok, err := Like(s, p)
			if err != nil {
				return nil, err
			}
			return ok != negate, nil
		}, nil
	}
}

// Like matches s against a LIKE pattern (% any run, _ one character,
// backslash escapes).
func Like(s, p string) (bool, error) {
	for len(p) > 0 {
		c, n := utf8.DecodeRuneInString(p)
		switch c {
		case '%':
			p = p[n:]
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if p == "" {
				return true, nil
			}
			for i := 0; i <= len(s); {
				ok, err := Like(s[i:], p)
				if err != nil || ok {
					return ok, err
				}
				if i == len(s) {
					break
				}
				_, w := utf8.DecodeRuneInString(s[i:])
				i += w
			}
			return false, nil
		case '_':
			if s == "" {
				return false, nil
			}
			_, w := utf8.DecodeRuneInString(s)
			s, p = s[w:], p[n:]
		case '\\':
			p = p[n:]
			if p == "" {
				return false, pgerr.New(pgerr.InvalidEscapeSequence, "LIKE pattern must not end with escape character")
			}
			c, n = utf8.DecodeRuneInString(p)
			fallthrough
		default:
			sc, w := utf8.DecodeRuneInString(s)
			if s == "" || sc != c {
				return false, nil
			}
			s, p = s[w:], p[n:]
		}
	}
	return s == "", nil
}
