package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// fakeEngine is a small in-memory Engine for the tests. Its "SQL" is a
// handful of commands, split on ';' in simple queries:
//
//	select <item>, ...      one row; an item is an integer (int4), 'text',
//	                        null, or $n with an optional ::int4/::int8/::text
//	series <n>              int4 column "n", rows 1..n
//	fail <sqlstate> <msg>   Execute fails with that code
//	sleep                   blocks until cancelled (or maxSleep), then 57014
//	begin/commit/rollback   transaction status T / I
//	set <name> <value>      ParameterStatus
//	notice <msg>            NoticeResponse
//	copy ... from stdin     stores the lines it reads (text)
//	copy ... to stdout      sends the stored lines
//	insert ...              INSERT 0 1
//	panic                   panics (unless noPanic)
//
// plus the three queries pgbench -S sends. Anything else is a 42601.
type fakeEngine struct {
	// started receives a value when a sleep statement starts.
	started chan struct{}
	// maxSleep bounds sleep, in nanoseconds (0: until cancelled).
	maxSleep atomic.Int64
	noPanic  bool
	// maxLines, when set, bounds the lines kept by copy (fuzzing).
	maxLines int

	mu       sync.Mutex
	lines    []string
	sessions []*fakeSession
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{started: make(chan struct{}, 16)}
}

var _ Engine = (*fakeEngine)(nil)

func (e *fakeEngine) NewSession(ctx context.Context, params map[string]string) (Session, error) {
	if params["database"] == "nodb" {
		return nil, pgerr.New(pgerr.InvalidCatalogName, "database \"nodb\" does not exist")
	}
	s := &fakeSession{e: e, params: params, txn: 'I'}
	e.mu.Lock()
	e.sessions = append(e.sessions, s)
	e.mu.Unlock()
	return s, nil
}

// openSessions counts sessions not closed, and portals left open.
func (e *fakeEngine) openSessions() (sessions, portals int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sessions {
		if !s.closed {
			sessions++
		}
		portals += s.openPortals
	}
	return sessions, portals
}

// sessionsClosed counts closed sessions.
func (e *fakeEngine) sessionsClosed() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.sessions {
		if s.closed {
			n++
		}
	}
	return n
}

type fakeSession struct {
	e           *fakeEngine
	params      map[string]string
	txn         byte
	closed      bool
	openPortals int
}

func (s *fakeSession) ParameterStatus() [][2]string {
	return [][2]string{
		{"server_version", "9.9 (must be replaced by the Config's)"},
		{"client_encoding", "UTF8"},
		{"standard_conforming_strings", "on"},
		{"DateStyle", "ISO, MDY"},
		{"TimeZone", "UTC"},
		{"application_name", s.params["application_name"]},
	}
}

func (s *fakeSession) PrepareMulti(ctx context.Context, sql string) ([]Statement, error) {
	var out []Statement
	for part := range strings.SplitSeq(sql, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		st, err := parseFake(part, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *fakeSession) Prepare(ctx context.Context, sql string, paramOIDs []uint32) (Statement, error) {
	return parseFake(strings.TrimSuffix(strings.TrimSpace(sql), ";"), paramOIDs)
}

func (s *fakeSession) TxnStatus() byte { return s.txn }

func (s *fakeSession) Close() {
	s.e.mu.Lock()
	s.closed = true
	s.e.mu.Unlock()
}

// Type OIDs the fake knows.
const (
	oidInt8 = 20
	oidInt4 = 23
	oidText = 25
)

type fakeItem struct {
	param int // 1-based parameter, 0 for a constant
	typ   uint32
	val   []byte // text form of a constant; nil for NULL
}

type fakeStmt struct {
	kind   string
	arg    string
	n      int
	items  []fakeItem
	params []uint32
	cols   []Column
}

func (st *fakeStmt) Empty() bool         { return st.kind == "empty" }
func (st *fakeStmt) ParamOIDs() []uint32 { return st.params }
func (st *fakeStmt) Columns() []Column   { return st.cols }

func typeSize(oid uint32) int16 {
	switch oid {
	case oidInt4:
		return 4
	case oidInt8:
		return 8
	}
	return -1
}

func col(name string, oid uint32) Column {
	return Column{Name: name, TypeOID: oid, TypeSize: typeSize(oid), TypeModifier: -1}
}

func parseFake(sql string, declared []uint32) (*fakeStmt, error) {
	s := strings.TrimSpace(sql)
	if s == "" {
		return &fakeStmt{kind: "empty"}, nil
	}
	lower := strings.ToLower(s)
	words := strings.Fields(lower)
	st := &fakeStmt{kind: words[0]}
	switch words[0] {
	case "select":
		switch {
		case strings.Contains(lower, "pgbench_branches"):
			st.kind = "rows"
			st.cols = []Column{col("count", oidInt8)}
			st.items = []fakeItem{{typ: oidInt8, val: []byte("1")}}
			return st, nil
		case strings.Contains(lower, "partstrat"):
			st.kind = "rows"
			st.cols = []Column{col("n", oidInt4), col("partstrat", oidText), col("count", oidInt8)}
			st.items = []fakeItem{{typ: oidInt4, val: []byte("1")}, {typ: oidText}, {typ: oidInt8, val: []byte("0")}}
			return st, nil
		case strings.Contains(lower, "from pgbench_accounts"):
			st.kind = "rows"
			st.params = []uint32{oidInt4}
			st.cols = []Column{col("abalance", oidInt4)}
			st.items = []fakeItem{{typ: oidInt4, val: []byte("0")}}
			return st, nil
		}
		st.kind = "rows"
		for item := range strings.SplitSeq(s[len("select"):], ",") {
			it, err := parseItem(strings.TrimSpace(item))
			if err != nil {
				return nil, err
			}
			st.items = append(st.items, it)
			if it.param > 0 {
				for len(st.params) < it.param {
					st.params = append(st.params, 0)
				}
				if it.typ != 0 {
					st.params[it.param-1] = it.typ
				}
			}
		}
		for i := range st.params {
			if st.params[i] == 0 {
				st.params[i] = oidText
				if i < len(declared) && declared[i] != 0 {
					st.params[i] = declared[i]
				}
			}
		}
		for i, it := range st.items {
			if it.param > 0 {
				st.items[i].typ = st.params[it.param-1]
			}
			st.cols = append(st.cols, col("?column?", st.items[i].typ))
		}
	case "series":
		n, err := strconv.Atoi(strings.TrimSpace(s[len("series"):]))
		if err != nil || n < 0 {
			return nil, pgerr.New(pgerr.SyntaxError, "series needs a count")
		}
		st.kind, st.n = "rows", n
		st.cols = []Column{col("n", oidInt4)}
	case "fail":
		f := strings.Fields(s)
		if len(f) < 3 {
			return nil, pgerr.New(pgerr.SyntaxError, "fail needs a code and a message")
		}
		st.arg = f[1] + " " + strings.Join(f[2:], " ")
	case "set":
		f := strings.Fields(s)
		if len(f) < 3 {
			return nil, pgerr.New(pgerr.SyntaxError, "set needs a name and a value")
		}
		st.arg = f[1] + " " + f[len(f)-1]
	case "notice":
		st.arg = strings.TrimSpace(s[len("notice"):])
	case "copy":
		switch {
		case strings.Contains(lower, "from stdin"):
			st.kind = "copyin"
		case strings.Contains(lower, "to stdout"):
			st.kind = "copyout"
		default:
			return nil, pgerr.Unsupported("COPY with a file")
		}
	case "sleep", "begin", "start", "commit", "end", "rollback", "insert", "panic":
	default:
		return nil, pgerr.New(pgerr.SyntaxError, "syntax error at or near %q", strings.Fields(s)[0])
	}
	return st, nil
}

func parseItem(item string) (fakeItem, error) {
	lower := strings.ToLower(item)
	switch {
	case lower == "null":
		return fakeItem{typ: oidText}, nil
	case strings.HasPrefix(item, "$"):
		name, cast, _ := strings.Cut(lower[1:], "::")
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 || n > 100 {
			return fakeItem{}, pgerr.New(pgerr.SyntaxError, "bad parameter %q", item)
		}
		it := fakeItem{param: n}
		switch cast {
		case "":
		case "int4", "int", "integer":
			it.typ = oidInt4
		case "int8", "bigint":
			it.typ = oidInt8
		case "text":
			it.typ = oidText
		default:
			return fakeItem{}, pgerr.New(pgerr.UndefinedObject, "type %q does not exist", cast)
		}
		return it, nil
	case len(item) >= 2 && item[0] == '\'' && item[len(item)-1] == '\'':
		return fakeItem{typ: oidText, val: []byte(item[1 : len(item)-1])}, nil
	}
	if _, err := strconv.ParseInt(item, 10, 32); err != nil {
		return fakeItem{}, pgerr.New(pgerr.SyntaxError, "syntax error at or near %q", item)
	}
	return fakeItem{typ: oidInt4, val: []byte(item)}, nil
}

func (s *fakeSession) Bind(ctx context.Context, stmt Statement, params [][]byte, paramFormats, resultFormats []int16) (Portal, error) {
	st := stmt.(*fakeStmt)
	p := &fakePortal{s: s, st: st}
	p.formats = make([]int16, len(st.cols))
	for i := range p.formats {
		p.formats[i] = formatOf(resultFormats, i)
	}
	switch {
	case st.kind == "rows" && st.n > 0:
		for i := 1; i <= st.n; i++ {
			v, err := encodeValue(oidInt4, []byte(strconv.Itoa(i)), p.formats[0])
			if err != nil {
				return nil, err
			}
			p.rows = append(p.rows, [][]byte{v})
		}
	case st.kind == "rows" && len(st.items) > 0:
		row := make([][]byte, len(st.items))
		for i, it := range st.items {
			text := it.val
			if it.param > 0 {
				raw := params[it.param-1]
				if raw == nil {
					continue
				}
				var err error
				text, err = decodeValue(it.typ, raw, formatOf(paramFormats, it.param-1))
				if err != nil {
					return nil, err
				}
			}
			if text == nil {
				continue
			}
			v, err := encodeValue(it.typ, text, p.formats[i])
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		p.rows = [][][]byte{row}
	}
	s.e.mu.Lock()
	s.openPortals++
	s.e.mu.Unlock()
	return p, nil
}

// decodeValue turns a parameter into its text form.
func decodeValue(typ uint32, raw []byte, format int16) ([]byte, error) {
	if format == 0 {
		if typ != oidText {
			if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
				return nil, pgerr.New(pgerr.InvalidTextRepresentation, "invalid input syntax for type integer: %q", raw)
			}
		}
		return raw, nil
	}
	switch typ {
	case oidInt4:
		if len(raw) != 4 {
			return nil, pgerr.New(pgerr.InvalidBinaryRepresentation, "incorrect binary data format in bind parameter")
		}
		return []byte(strconv.Itoa(int(int32(binary.BigEndian.Uint32(raw))))), nil
	case oidInt8:
		if len(raw) != 8 {
			return nil, pgerr.New(pgerr.InvalidBinaryRepresentation, "incorrect binary data format in bind parameter")
		}
		return []byte(strconv.FormatInt(int64(binary.BigEndian.Uint64(raw)), 10)), nil
	}
	return raw, nil
}

// encodeValue turns a text value into format.
func encodeValue(typ uint32, text []byte, format int16) ([]byte, error) {
	if format == 0 || typ == oidText {
		return bytes.Clone(text), nil
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil {
		return nil, pgerr.New(pgerr.InvalidTextRepresentation, "invalid integer %q", text)
	}
	if typ == oidInt4 {
		return binary.BigEndian.AppendUint32(nil, uint32(int32(n))), nil
	}
	return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
}

type fakePortal struct {
	s       *fakeSession
	st      *fakeStmt
	formats []int16
	rows    [][][]byte
	pos     int
	closed  bool
}

func (p *fakePortal) Columns() []Column { return p.st.cols }
func (p *fakePortal) Formats() []int16  { return p.formats }

func (p *fakePortal) Close() {
	if !p.closed {
		p.closed = true
		p.s.e.mu.Lock()
		p.s.openPortals--
		p.s.e.mu.Unlock()
	}
}

func (p *fakePortal) Execute(ctx context.Context, maxRows int, w ResultWriter) (string, bool, error) {
	tag, suspended, err := p.execute(ctx, maxRows, w)
	if err != nil && p.s.txn == 'T' {
		p.s.txn = 'E'
	}
	return tag, suspended, err
}

func (p *fakePortal) execute(ctx context.Context, maxRows int, w ResultWriter) (string, bool, error) {
	s, e := p.s, p.s.e
	if p.closed {
		return "", false, pgerr.New(pgerr.InvalidCursorName, "portal is closed")
	}
	if s.txn == 'E' && p.st.kind != "rollback" && p.st.kind != "commit" && p.st.kind != "end" {
		return "", false, pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	switch p.st.kind {
	case "rows":
		n := 0
		for p.pos < len(p.rows) {
			if maxRows > 0 && n == maxRows {
				return "", true, nil
			}
			if err := w.WriteRow(p.rows[p.pos]); err != nil {
				return "", false, err
			}
			p.pos++
			n++
		}
		return fmt.Sprintf("SELECT %d", n), false, nil
	case "fail":
		code, msg, _ := strings.Cut(p.st.arg, " ")
		return "", false, pgerr.New(code, "%s", msg).WithDetail("fake detail").WithHint("fake hint")
	case "sleep":
		select {
		case e.started <- struct{}{}:
		default:
		}
		var timeout <-chan time.Time
		if d := time.Duration(e.maxSleep.Load()); d > 0 {
			timeout = time.After(d)
		}
		select {
		case <-ctx.Done():
			return "", false, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request")
		case <-timeout:
			return "SLEEP", false, nil
		}
	case "begin", "start":
		s.txn = 'T'
		return "BEGIN", false, nil
	case "commit", "end":
		tag := "COMMIT"
		if s.txn == 'E' {
			tag = "ROLLBACK"
		}
		s.txn = 'I'
		return tag, false, nil
	case "rollback":
		s.txn = 'I'
		return "ROLLBACK", false, nil
	case "set":
		name, val, _ := strings.Cut(p.st.arg, " ")
		if err := w.ParameterStatus(name, val); err != nil {
			return "", false, err
		}
		return "SET", false, nil
	case "notice":
		if err := w.Notice("NOTICE", "00000", p.st.arg); err != nil {
			return "", false, err
		}
		return "DO", false, nil
	case "copyin":
		r, err := w.CopyIn(0, 1)
		if err != nil {
			return "", false, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return "", false, err
		}
		if err := ctx.Err(); err != nil {
			return "", false, pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request")
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			lines = nil
		}
		// psql forwards the end-of-data marker of an inline COPY; the text
		// format ends there.
		for i, l := range lines {
			if l == `\.` {
				lines = lines[:i]
				break
			}
		}
		e.mu.Lock()
		e.lines = append(e.lines, lines...)
		if e.maxLines > 0 && len(e.lines) > e.maxLines {
			e.lines = append([]string(nil), e.lines[len(e.lines)-e.maxLines:]...)
		}
		e.mu.Unlock()
		return fmt.Sprintf("COPY %d", len(lines)), false, nil
	case "copyout":
		if err := w.CopyOut(0, 1); err != nil {
			return "", false, err
		}
		e.mu.Lock()
		lines := append([]string(nil), e.lines...)
		e.mu.Unlock()
		for _, l := range lines {
			if err := w.CopyData([]byte(l + "\n")); err != nil {
				return "", false, err
			}
		}
		return fmt.Sprintf("COPY %d", len(lines)), false, nil
	case "insert":
		return "INSERT 0 1", false, nil
	case "panic":
		if !e.noPanic {
			panic("fake engine panic")
		}
		return "PANIC", false, nil
	}
	return "", false, pgerr.New(pgerr.InternalError, "fake: unknown kind %q", p.st.kind)
}
