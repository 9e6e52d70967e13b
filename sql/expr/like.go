package expr

import (
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func likeBuilder(fold, negate bool) builder {
	return func(at []types.Type, r types.Type) (fn, error) {
		// The pattern is nearly always the same from row to row: its
		// split form is kept for the next row.
		var last atomic.Pointer[likePattern]
		return func(v []types.Datum) (types.Datum, error) {
			s, p := v[0].(string), v[1].(string)
			if fold {
				// ILIKE lowercases both sides, as PostgreSQL does for UTF-8
				s, p = strings.ToLower(s), strings.ToLower(p)
			}
			lp := last.Load()
			if lp == nil || lp.p != p {
				lp = newLikePattern(p)
				last.Store(lp)
			}
			if lp.simple {
				return matchRuns(s, lp.runs) != negate, nil
			}
			ok, err := Like(s, p)
			if err != nil {
				return nil, err
			}
			return ok != negate, nil
		}, nil
	}
}

// likePattern is a LIKE pattern and, when it is simple (literal runs
// between %s: no _ and no escape), its runs.
type likePattern struct {
	p      string
	simple bool
	runs   []string
}

func newLikePattern(p string) *likePattern {
	if strings.ContainsAny(p, "_\\") {
		return &likePattern{p: p}
	}
	return &likePattern{p: p, simple: true, runs: strings.Split(p, "%")}
}

// LikeRuns returns a LIKE pattern split at its %s when it is simple (no
// _ and no escape): then MatchRuns(s, runs) is s LIKE p, and never an
// error.
func LikeRuns(p string) (runs []string, ok bool) {
	lp := newLikePattern(p)
	return lp.runs, lp.simple
}

// MatchRuns is s LIKE p for the runs LikeRuns returned for p.
func MatchRuns(s string, runs []string) bool { return matchRuns(s, runs) }

// matchRuns matches s against a simple pattern split at its %s (Like's
// result for it): the first run is a prefix, the last a suffix, and the
// ones between are found in order, each at its leftmost place after the
// one before (a later place leaves less text for the rest, never more).
// The text is compared bytewise, as Like does; in valid UTF-8 a run can
// only be found at a character boundary.
func matchRuns(s string, runs []string) bool {
	if len(runs) == 1 {
		return s == runs[0]
	}
	first, last := runs[0], runs[len(runs)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, m := range runs[1 : len(runs)-1] {
		i := strings.Index(s, m)
		if i < 0 {
			return false
		}
		s = s[i+len(m):]
	}
	return strings.HasSuffix(s, last)
}

type likeResult int

const (
	likeFalse likeResult = iota
	likeTrue
	// likeAbort: the text ran out, so no later start position can match
	// either; it stops the % search from going quadratic and worse.
	likeAbort
)

// Like matches s against a LIKE pattern (% any run, _ one character,
// backslash escapes the next character). It is PostgreSQL's MatchText: in
// particular a trailing backslash is an error (22025) only when matching
// gets to it with text left (” LIKE '\' is false).
func Like(s, p string) (bool, error) {
	r, err := matchLike(s, p)
	return r == likeTrue, err
}

func escapeAtEnd() error {
	return pgerr.New(pgerr.InvalidEscapeSequence, "LIKE pattern must not end with escape character")
}

// nextChar returns the byte length of the character starting s.
func nextChar(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}

func matchLike(t, p string) (likeResult, error) {
	if p == "%" {
		return likeTrue, nil
	}
	for len(t) > 0 && len(p) > 0 {
		switch p[0] {
		case '\\':
			// the next pattern byte matches literally
			p = p[1:]
			if len(p) == 0 {
				return likeFalse, escapeAtEnd()
			}
			if p[0] != t[0] {
				return likeFalse, nil
			}
		case '%':
			p = p[1:]
			// skip further % and, for each _, one character of text
			for len(p) > 0 {
				if p[0] == '%' {
					p = p[1:]
				} else if p[0] == '_' {
					if len(t) == 0 {
						return likeAbort, nil
					}
					t = t[nextChar(t):]
					p = p[1:]
				} else {
					break
				}
			}
			if len(p) == 0 {
				return likeTrue, nil
			}
			first := p[0]
			if first == '\\' {
				if len(p) < 2 {
					return likeFalse, escapeAtEnd()
				}
				first = p[1]
			}
			for len(t) > 0 {
				if t[0] == first {
					r, err := matchLike(t, p)
					if err != nil || r != likeFalse {
						return r, err
					}
				}
				t = t[nextChar(t):]
			}
			return likeAbort, nil
		case '_':
			t = t[nextChar(t):]
			p = p[1:]
			continue
		default:
			if p[0] != t[0] {
				return likeFalse, nil
			}
		}
		// Literal bytes matched: text and pattern stay in step byte by byte,
		// even inside a multibyte character.
		t, p = t[1:], p[1:]
	}
	if len(t) > 0 {
		return likeFalse, nil
	}
	for len(p) > 0 && p[0] == '%' {
		p = p[1:]
	}
	if len(p) == 0 {
		return likeTrue, nil
	}
	return likeAbort, nil
}
