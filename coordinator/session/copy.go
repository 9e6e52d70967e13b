package session

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/coordinator/parser"
	"github.com/meridian-db/meridian/coordinator/pgwire"
	"github.com/meridian-db/meridian/coordinator/planner"
	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/expr"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

func parsedOf(n *pg_query.Node) parser.Stmt { return parser.Stmt{Node: n} }

func unsupportedAnalyze() error { return pgerr.Unsupported("EXPLAIN ANALYZE") }

type copyOpts struct {
	csv       bool
	delim     byte
	null      string
	header    bool
	quote     byte
	escape    byte
	forceNull map[string]bool
}

func parseCopyOpts(opts []*pg_query.Node) (copyOpts, error) {
	o := copyOpts{delim: '\t', null: `\N`, quote: '"', escape: '"'}
	delimSet, nullSet := false, false
	for _, n := range opts {
		d := n.GetDefElem()
		val := ""
		if d.Arg != nil {
			val = argString(d.Arg)
			if val == "" {
				if s := d.Arg.GetString_(); s != nil {
					val = s.Sval
				}
			}
		}
		switch d.Defname {
		case "format":
			switch strings.ToLower(val) {
			case "csv":
				o.csv = true
			case "text":
			case "binary":
				return o, pgerr.Unsupported("COPY binary format")
			default:
				return o, pgerr.New(pgerr.InvalidParameterValue, "COPY format %q not recognized", val)
			}
		case "delimiter":
			if len(val) != 1 {
				return o, pgerr.New(pgerr.FeatureNotSupported, "COPY delimiter must be a single one-byte character")
			}
			o.delim, delimSet = val[0], true
		case "null":
			o.null, nullSet = val, true
		case "header":
			o.header = val == "" || val == "on" || val == "true" || val == "1"
		case "quote":
			if len(val) != 1 {
				return o, pgerr.New(pgerr.FeatureNotSupported, "COPY quote must be a single one-byte character")
			}
			o.quote = val[0]
		case "escape":
			if len(val) != 1 {
				return o, pgerr.New(pgerr.FeatureNotSupported, "COPY escape must be a single one-byte character")
			}
			o.escape = val[0]
		case "freeze", "encoding":
		default:
			return o, pgerr.Unsupported("COPY option " + d.Defname)
		}
	}
	if o.csv {
		if !delimSet {
			o.delim = ','
		}
		if !nullSet {
			o.null = ""
		}
	}
	return o, nil
}

func (s *Session) runCopy(ctx context.Context, c *pg_query.CopyStmt, w pgwire.ResultWriter) (rowIter, string, error) {
	if c.Filename != "" || c.IsProgram {
		return nil, "", pgerr.New("42501", "COPY to or from a file is not allowed; use COPY FROM STDIN / TO STDOUT (psql's \\copy)")
	}
	if c.WhereClause != nil {
		return nil, "", pgerr.Unsupported("COPY ... WHERE")
	}
	opts, err := parseCopyOpts(c.Options)
	if err != nil {
		return nil, "", err
	}
	if c.Query != nil {
		if c.IsFrom {
			return nil, "", pgerr.New(pgerr.SyntaxError, "COPY FROM does not take a query")
		}
		return s.copyOut(ctx, c.Query, opts, w)
	}
	t, ok, err := s.lookupTable(ctx, schemaOf(c.Relation), c.Relation.Relname)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", c.Relation.Relname)
	}
	var cols []int
	if len(c.Attlist) == 0 {
		for i := range t.Columns {
			cols = append(cols, i)
		}
	} else {
		for _, a := range c.Attlist {
			name := a.GetString_().GetSval()
			i := columnOrdinal(t, name)
			if i < 0 {
				return nil, "", pgerr.New(pgerr.UndefinedColumn, "column %q of relation %q does not exist", name, t.Name)
			}
			cols = append(cols, i)
		}
	}
	if !c.IsFrom {
		// COPY table TO STDOUT: a SELECT of the columns.
		var names []string
		for _, i := range cols {
			names = append(names, `"`+strings.ReplaceAll(t.Columns[i].Name, `"`, `""`)+`"`)
		}
		q := "SELECT " + strings.Join(names, ", ") + ` FROM "` + t.Schema + `"."` + t.Name + `"`
		stmts, err := parser.Parse(q)
		if err != nil {
			return nil, "", err
		}
		return s.copyOut(ctx, stmts[0].Node, opts, w)
	}
	return s.copyIn(ctx, t, cols, opts, w)
}

func (s *Session) copyOut(ctx context.Context, q *pg_query.Node, opts copyOpts, w pgwire.ResultWriter) (rowIter, string, error) {
	st, err := s.prepare(ctx, parsedOf(q), nil)
	if err != nil {
		return nil, "", err
	}
	if st.plan == nil || st.plan.Select == nil {
		return nil, "", pgerr.Unsupported("COPY (non-SELECT) TO")
	}
	it, err := s.runSelect(ctx, st.plan.Select, s.bindEnv(nil))
	if err != nil {
		return nil, "", err
	}
	defer it.close()
	if err := w.CopyOut(0, len(st.cols)); err != nil {
		return nil, "", err
	}
	if opts.header {
		var names []string
		for _, c := range st.cols {
			names = append(names, c.Name)
		}
		if err := w.CopyData([]byte(strings.Join(names, string(opts.delim)) + "\n")); err != nil {
			return nil, "", err
		}
	}
	n := 0
	var buf []byte
	for {
		row, err := it.next(ctx)
		if err != nil {
			return nil, "", err
		}
		if row == nil {
			break
		}
		buf = buf[:0]
		for i, col := range st.cols {
			if i > 0 {
				buf = append(buf, opts.delim)
			}
			if row[i] == nil {
				buf = append(buf, opts.null...)
				continue
			}
			txt := types.AppendText(nil, types.Type{OID: col.TypeOID, Typmod: col.TypeModifier}, row[i])
			if opts.csv {
				buf = appendCSVField(buf, txt, opts)
			} else {
				buf = appendTextField(buf, txt, opts.delim)
			}
		}
		buf = append(buf, '\n')
		if err := w.CopyData(buf); err != nil {
			return nil, "", err
		}
		n++
	}
	return nil, "COPY " + itoa(int64(n)), nil
}

func appendTextField(buf, v []byte, delim byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			if c == delim {
				buf = append(buf, '\\', c)
			} else {
				buf = append(buf, c)
			}
		}
	}
	return buf
}

func appendCSVField(buf, v []byte, o copyOpts) []byte {
	need := len(v) == 0 && o.null == ""
	for _, c := range v {
		if c == o.delim || c == o.quote || c == '\n' || c == '\r' {
			need = true
		}
	}
	if !need {
		return append(buf, v...)
	}
	buf = append(buf, o.quote)
	for _, c := range v {
		if c == o.quote || c == o.escape {
			buf = append(buf, o.escape)
		}
		buf = append(buf, c)
	}
	return append(buf, o.quote)
}

// copyIn reads rows from the client and inserts them in batches, all in
// one transaction (the session's, or its own committed at the end).
func (s *Session) copyIn(ctx context.Context, t *meridianpb.TableDesc, cols []int, opts copyOpts, w pgwire.ResultWriter) (rowIter, string, error) {
	r, err := w.CopyIn(0, len(cols))
	if err != nil {
		return nil, "", err
	}
	// Defaults for the columns COPY does not list.
	env := s.bindEnv(nil)
	given := map[int]bool{}
	for _, c := range cols {
		given[c] = true
	}
	defaults := make([]expr.Eval, len(t.Columns))
	for i, c := range t.Columns {
		if given[i] {
			continue
		}
		b, err := planner.Bind(planner.DefaultFor(c), env)
		if err != nil {
			return nil, "", drain(r, err)
		}
		if defaults[i], err = s.compile(ctx, b); err != nil {
			return nil, "", drain(r, err)
		}
	}
	total := int64(0)
	err = s.inTxn(ctx, env, func() error { return s.copyRows(ctx, t, cols, opts, r, defaults, &total) })
	if err != nil {
		return nil, "", drain(r, err)
	}
	return nil, "COPY " + itoa(total), nil
}

// copyRows reads COPY data and inserts it in batches.
func (s *Session) copyRows(ctx context.Context, t *meridianpb.TableDesc, cols []int, opts copyOpts, r io.Reader, defaults []expr.Eval, total *int64) error {
	const batchSize = 4000
	var batch [][]types.Datum
	// One batch is written while the next is parsed: a goroutine writes,
	// this one parses, and a batch waits for the previous one's write.
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	flush := func() error {
		if err := wait(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		rows := batch
		batch = nil
		inflight = make(chan error, 1)
		go func() {
			n, _, err := s.insertRows(ctx, t, rows, nil, false)
			*total += n
			inflight <- err
		}()
		return nil
	}
	defer func() { _ = wait() }()
	line := 0
	build := func(fields []string, nulls []bool) error {
		line++
		if len(fields) != len(cols) {
			if len(fields) < len(cols) {
				return pgerr.New(pgerr.BadCopyFileFormat, "missing data for column %q", t.Columns[cols[len(fields)]].Name).WithDetail("COPY %s, line %d", t.Name, line)
			}
			return pgerr.New(pgerr.BadCopyFileFormat, "extra data after last expected column").WithDetail("COPY %s, line %d", t.Name, line)
		}
		row := make([]types.Datum, len(t.Columns))
		for k, ci := range cols {
			if nulls[k] {
				continue
			}
			col := t.Columns[ci]
			d, err := types.ParseText(types.Type{OID: col.TypeOid, Typmod: col.Typmod}, fields[k])
			if err != nil {
				e := pgerr.As(err)
				e.Detail = "COPY " + t.Name + ", line " + itoa(int64(line)) + ", column " + col.Name + ": \"" + fields[k] + "\""
				return e
			}
			row[ci] = d
		}
		for i, d := range defaults {
			if d != nil {
				v, err := d(nil)
				if err != nil {
					return err
				}
				row[i] = v
			}
		}
		batch = append(batch, row)
		if len(batch) >= batchSize {
			return flush()
		}
		return nil
	}
	if opts.csv {
		br := bufio.NewReaderSize(r, 1<<16)
		first := true
		for {
			rec, quoted, err := readCSVRecord(br, opts)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if first && opts.header {
				first = false
				continue
			}
			first = false
			if len(rec) == 1 && rec[0] == `\.` && !quoted[0] {
				break
			}
			// An unquoted field equal to the NULL string is NULL; a quoted
			// one is a value ("" is the empty string).
			nulls := make([]bool, len(rec))
			for i, f := range rec {
				nulls[i] = !quoted[i] && f == opts.null
			}
			if err := build(rec, nulls); err != nil {
				return err
			}
		}
	} else {
		br := bufio.NewReaderSize(r, 1<<16)
		first := true
		for {
			l, err := br.ReadString('\n')
			if l == "" && errors.Is(err, io.EOF) {
				break
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
			if l == `\.` {
				break
			}
			if first && opts.header {
				first = false
				continue
			}
			first = false
			fields, nulls, perr := splitTextLine(l, opts)
			if perr != nil {
				return perr
			}
			if err := build(fields, nulls); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return wait()
}

// drain reads the rest of the client's COPY data so the protocol stays in
// step, then returns err.
func drain(r io.Reader, err error) error {
	_, _ = io.Copy(io.Discard, r)
	return err
}

// splitTextLine splits a COPY text-format line, undoing backslash escapes.
func splitTextLine(l string, o copyOpts) ([]string, []bool, error) {
	if strings.IndexByte(l, '\\') < 0 {
		// No escapes (most lines): the fields are the line's pieces
		// between delimiters, taken without copying.
		n := strings.Count(l, string(o.delim)) + 1
		fields, nulls := make([]string, 0, n), make([]bool, 0, n)
		for {
			i := strings.IndexByte(l, o.delim)
			if i < 0 {
				break
			}
			fields, nulls = append(fields, l[:i]), append(nulls, l[:i] == o.null)
			l = l[i+1:]
		}
		return append(fields, l), append(nulls, l == o.null), nil
	}
	var fields []string
	var nulls []bool
	var cur strings.Builder
	raw := strings.Builder{}
	end := func() {
		f := cur.String()
		fields = append(fields, f)
		nulls = append(nulls, raw.String() == o.null)
		cur.Reset()
		raw.Reset()
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c == o.delim {
			end()
			continue
		}
		raw.WriteByte(c)
		if c != '\\' || i+1 >= len(l) {
			cur.WriteByte(c)
			continue
		}
		i++
		n := l[i]
		raw.WriteByte(n)
		switch n {
		case 'n':
			cur.WriteByte('\n')
		case 't':
			cur.WriteByte('\t')
		case 'r':
			cur.WriteByte('\r')
		case 'b':
			cur.WriteByte('\b')
		case 'f':
			cur.WriteByte('\f')
		case 'v':
			cur.WriteByte('\v')
		case 'N':
			cur.WriteString(`\N`)
		default:
			if n >= '0' && n <= '7' {
				v := int(n - '0')
				for k := 0; k < 2 && i+1 < len(l) && l[i+1] >= '0' && l[i+1] <= '7'; k++ {
					i++
					raw.WriteByte(l[i])
					v = v*8 + int(l[i]-'0')
				}
				cur.WriteByte(byte(v))
			} else {
				cur.WriteByte(n)
			}
		}
	}
	end()
	return fields, nulls, nil
}

// readCSVRecord reads one CSV record (fields may be quoted, with embedded
// delimiters, quotes doubled or escaped, and newlines) and reports which
// fields were quoted. io.EOF at the end of the data.
func readCSVRecord(br *bufio.Reader, o copyOpts) ([]string, []bool, error) {
	var fields []string
	var quoted []bool
	var cur []byte
	inQuotes, wasQuoted, any := false, false, false
	for {
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && any {
				if inQuotes {
					return nil, nil, pgerr.New(pgerr.BadCopyFileFormat, "unterminated CSV quoted field")
				}
				return append(fields, string(cur)), append(quoted, wasQuoted), nil
			}
			return nil, nil, err
		}
		any = true
		if inQuotes {
			switch {
			case c == o.escape && o.escape != o.quote:
				n, err := br.ReadByte()
				if err != nil {
					return nil, nil, pgerr.New(pgerr.BadCopyFileFormat, "unterminated CSV quoted field")
				}
				if n != o.quote && n != o.escape {
					cur = append(cur, c)
				}
				cur = append(cur, n)
			case c == o.quote:
				n, err := br.ReadByte()
				if err == nil && n == o.quote && o.escape == o.quote {
					cur = append(cur, o.quote)
					continue
				}
				if err == nil {
					_ = br.UnreadByte()
				}
				inQuotes = false
			default:
				cur = append(cur, c)
			}
			continue
		}
		switch c {
		case o.quote:
			inQuotes, wasQuoted = true, true
		case o.delim:
			fields = append(fields, string(cur))
			quoted = append(quoted, wasQuoted)
			cur, wasQuoted = cur[:0:0], false
		case '\n':
			if len(cur) > 0 && cur[len(cur)-1] == '\r' && !wasQuoted {
				cur = cur[:len(cur)-1]
			}
			return append(fields, string(cur)), append(quoted, wasQuoted), nil
		default:
			cur = append(cur, c)
		}
	}
}
