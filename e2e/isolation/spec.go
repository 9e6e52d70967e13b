package isolation

import (
	"fmt"
	"strings"
)

// Spec is a parsed isolation test: PostgreSQL's src/test/isolation .spec
// format.
//
//	setup      { SQL }          run before each permutation (may repeat)
//	teardown   { SQL }          run after each permutation
//	session s1                  a connection of its own
//	setup      { SQL }          optional, run on it before each permutation
//	step s1a   { SQL }          a named step (names unique in the spec)
//	teardown   { SQL }          optional
//	permutation s1a s2a(s1a) s2b(*) ...
//
// A permutation lists steps in the order they are sent; a step annotated
// (*) is reported as waiting at once, one annotated with other steps'
// names is not reported complete while one of those is still running.
// Without permutations every interleaving of the sessions' steps runs.
// # starts a comment.
type Spec struct {
	Setup        []string
	Teardown     string
	Sessions     []*Session
	Permutations [][]PermStep
}

// Session is one spec session.
type Session struct {
	Name     string
	Setup    string
	Teardown string
	Steps    []*Step
}

// Step is one named step of a session.
type Step struct {
	Name    string
	SQL     string
	session int // index in Spec.Sessions
}

// PermStep is a step's place in a permutation, with its blockers.
type PermStep struct {
	Name string
	// Once (*): report the step as waiting when it is sent.
	Once bool
	// After: steps that must have completed before this one is reported
	// complete.
	After []string
}

// Parse reads a spec.
func Parse(src string) (*Spec, error) {
	p := &parser{src: src}
	sp := &Spec{}
	for {
		tok, err := p.word()
		if err != nil {
			return nil, err
		}
		switch tok {
		case "":
			return sp, sp.check()
		case "setup":
			sql, err := p.block()
			if err != nil {
				return nil, err
			}
			sp.Setup = append(sp.Setup, sql)
		case "teardown":
			if sp.Teardown, err = p.block(); err != nil {
				return nil, err
			}
		case "session":
			s, err := p.session()
			if err != nil {
				return nil, err
			}
			sp.Sessions = append(sp.Sessions, s)
		case "permutation":
			perm, err := p.permutation()
			if err != nil {
				return nil, err
			}
			sp.Permutations = append(sp.Permutations, perm)
		default:
			return nil, p.errorf("unexpected %q", tok)
		}
	}
}

// check links steps to sessions and permutations to steps.
func (sp *Spec) check() error {
	if len(sp.Sessions) == 0 {
		return fmt.Errorf("spec has no session")
	}
	steps := map[string]*Step{}
	for i, s := range sp.Sessions {
		for _, st := range s.Steps {
			if steps[st.Name] != nil {
				return fmt.Errorf("duplicate step name: %s", st.Name)
			}
			st.session = i
			steps[st.Name] = st
		}
	}
	for _, perm := range sp.Permutations {
		for _, ps := range perm {
			st := steps[ps.Name]
			if st == nil {
				return fmt.Errorf("undefined step %q specified in permutation", ps.Name)
			}
			for _, b := range ps.After {
				if bs := steps[b]; bs == nil {
					return fmt.Errorf("undefined blocking step %q referenced in permutation step %q", b, ps.Name)
				} else if bs.session == st.session {
					return fmt.Errorf("permutation step %q cannot block on its own session", ps.Name)
				}
			}
		}
	}
	return nil
}

// step returns the step called name.
func (sp *Spec) step(name string) *Step {
	for _, s := range sp.Sessions {
		for _, st := range s.Steps {
			if st.Name == name {
				return st
			}
		}
	}
	return nil
}

// allPermutations lists every interleaving of the sessions' steps, in
// the order PostgreSQL's isolationtester runs them.
func (sp *Spec) allPermutations() [][]PermStep {
	var out [][]PermStep
	piles := make([]int, len(sp.Sessions))
	var cur []PermStep
	var rec func()
	rec = func() {
		found := false
		for i, s := range sp.Sessions {
			if piles[i] < len(s.Steps) {
				cur = append(cur, PermStep{Name: s.Steps[piles[i]].Name})
				piles[i]++
				rec()
				piles[i]--
				cur = cur[:len(cur)-1]
				found = true
			}
		}
		if !found {
			out = append(out, append([]PermStep(nil), cur...))
		}
	}
	rec()
	return out
}

type parser struct {
	src  string
	pos  int
	line int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("spec line %d: %s", p.line+1, fmt.Sprintf(format, args...))
}

// skip passes spaces and comments.
func (p *parser) skip() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// word reads an identifier or keyword ("" at the end); a quoted
// identifier keeps its case.
func (p *parser) word() (string, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return "", nil
	}
	if p.src[p.pos] == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return "", p.errorf("unterminated quoted identifier")
		}
		w := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return w, nil
	}
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos], p.pos == start) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("unexpected %q", p.src[p.pos])
	}
	return p.src[start:p.pos], nil
}

// peek returns the next non-space byte (0 at the end).
func (p *parser) peek() byte {
	p.skip()
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

// block reads { SQL }: the text between the braces without the spaces
// next to them, as PostgreSQL's spec scanner keeps it.
func (p *parser) block() (string, error) {
	if p.peek() != '{' {
		return "", p.errorf("expected {")
	}
	end := strings.IndexByte(p.src[p.pos:], '}')
	if end < 0 {
		return "", p.errorf("unterminated SQL block")
	}
	body := p.src[p.pos+1 : p.pos+end]
	p.line += strings.Count(body, "\n")
	p.pos += end + 1
	return strings.TrimRight(strings.TrimLeft(body, " \t\r\n\f"), " \t\r\n\f"), nil
}

func (p *parser) session() (*Session, error) {
	name, err := p.word()
	if err != nil || name == "" {
		return nil, p.errorf("session needs a name")
	}
	s := &Session{Name: name}
	for {
		save, line := p.pos, p.line
		kw, err := p.word()
		if err != nil {
			return nil, err
		}
		switch kw {
		case "setup":
			if s.Setup, err = p.block(); err != nil {
				return nil, err
			}
		case "teardown":
			if s.Teardown, err = p.block(); err != nil {
				return nil, err
			}
		case "step":
			st := &Step{}
			if st.Name, err = p.word(); err != nil || st.Name == "" {
				return nil, p.errorf("step needs a name")
			}
			if st.SQL, err = p.block(); err != nil {
				return nil, err
			}
			s.Steps = append(s.Steps, st)
		default:
			p.pos, p.line = save, line
			if len(s.Steps) == 0 {
				return nil, p.errorf("session %s has no steps", name)
			}
			return s, nil
		}
	}
}

func (p *parser) permutation() ([]PermStep, error) {
	var out []PermStep
	for {
		save, line := p.pos, p.line
		w, err := p.word()
		if err != nil {
			return nil, err
		}
		switch w {
		case "", "setup", "teardown", "session", "permutation":
			p.pos, p.line = save, line
			if len(out) == 0 {
				return nil, p.errorf("empty permutation")
			}
			return out, nil
		}
		ps := PermStep{Name: w}
		if p.peek() == '(' {
			p.pos++
			for {
				if c := p.peek(); c == '*' {
					p.pos++
					ps.Once = true
				} else {
					b, err := p.word()
					if err != nil {
						return nil, err
					}
					ps.After = append(ps.After, b)
				}
				c := p.peek()
				p.pos++
				if c == ')' {
					break
				}
				if c != ',' {
					return nil, p.errorf("expected , or ) in the blockers of %s", w)
				}
			}
		}
		out = append(out, ps)
	}
}
