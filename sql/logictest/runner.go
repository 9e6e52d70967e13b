package logictest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// FeatureNotSupported is the SQLSTATE of features a server does not have.
const FeatureNotSupported = "0A000"

// Config says how a Runner treats the files it runs.
type Config struct {
	// Engines are the names skipif/onlyif match; default {"postgresql"}.
	Engines []string
	// StripDistribute removes GaussDB DISTRIBUTE BY clauses from the SQL
	// (to run Meridian's suites on PostgreSQL).
	StripDistribute bool
	// AllowUnsupported counts records that fail with 0A000 as
	// unsupported rather than failed, and skips (as unsupported) the
	// records that name a table a failed statement left incomplete.
	AllowUnsupported bool
	// RecordTimeout bounds each record (default one minute).
	RecordTimeout time.Duration
	// Rewrite makes RunFile replace every query's expected results with
	// the results it got (only meant against PostgreSQL, the reference).
	Rewrite bool
}

// Failure is one record that did not give the expected outcome.
type Failure struct {
	Pos      string // file:line
	SQL      string
	Expected string
	Got      string
}

func (f Failure) String() string {
	return fmt.Sprintf("%s:\n    %s\n  expected:\n%s\n  got:\n%s", f.Pos, indent(f.SQL, "    "),
		indent(f.Expected, "    "), indent(f.Got, "    "))
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// Result counts the outcomes of one file's records.
type Result struct {
	File        string
	Passed      int
	Unsupported int // 0A000, or needing a table an unsupported statement left incomplete
	Failed      int
	Skipped     int // skipif/onlyif
	Failures    []Failure
	// Reasons counts unsupported records by cause: the 0A000 message,
	// or the statement that left a table they need incomplete.
	Reasons map[string]int
	Elapsed time.Duration

	actual map[int][]string // Config.Rewrite: record line → result lines
}

// Add accumulates o into r (for totals).
func (r *Result) Add(o *Result) {
	r.Passed += o.Passed
	r.Failed += o.Failed
	r.Skipped += o.Skipped
	r.Elapsed += o.Elapsed
	for k, v := range o.Reasons {
		r.unsupported(k, v)
	}
}

var quotedRE = regexp.MustCompile(`"[^"]*"`)

// unsupported counts n unsupported records; names in the reason are
// blanked so that causes aggregate across tables.
func (r *Result) unsupported(reason string, n int) {
	reason = quotedRE.ReplaceAllString(reason, `"…"`)
	if r.Reasons == nil {
		r.Reasons = map[string]int{}
	}
	r.Unsupported += n
	r.Reasons[reason] += n
}

func (r *Result) String() string {
	return fmt.Sprintf("%s: %d passed, %d unsupported, %d failed, %d skipped (%v)", r.File, r.Passed, r.Unsupported,
		r.Failed, r.Skipped, r.Elapsed.Round(time.Millisecond))
}

// Runner runs test files over one connection at a time.
type Runner struct {
	cfg     Config
	connect func(context.Context) (*pgx.Conn, error)
}

// NewRunner makes a runner; connect opens a new session (see Connector).
func NewRunner(cfg Config, connect func(context.Context) (*pgx.Conn, error)) *Runner {
	if len(cfg.Engines) == 0 {
		cfg.Engines = []string{"postgresql"}
	}
	if cfg.RecordTimeout == 0 {
		cfg.RecordTimeout = time.Minute
	}
	return &Runner{cfg: cfg, connect: connect}
}

// Connector returns a connect function for a DSN that uses the simple
// query protocol, so every result arrives as text.
func Connector(dsn string) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		return pgx.ConnectConfig(ctx, cfg)
	}
}

// RunFile parses and runs one file in a new session.
func (r *Runner) RunFile(ctx context.Context, path string) (*Result, error) {
	recs, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	res, err := r.Run(ctx, path, recs)
	if err != nil || !r.cfg.Rewrite {
		return res, err
	}
	return res, rewrite(path, recs, res.actual)
}

// fileState is what a file's run keeps between records.
type fileState struct {
	conn      *pgx.Conn
	res       *Result
	threshold int
	labels    map[string]string   // label → hash line of its first result
	poisoned  map[string]string   // tables a failed statement left incomplete → why
	created   []string            // tables the file created, to drop at the end
	createdOK map[string]struct{} // set of created
}

// Run runs records in a new session and drops the tables they created.
// The error is for a session that cannot be opened; record outcomes are
// in the Result.
func (r *Runner) Run(ctx context.Context, name string, recs []Record) (*Result, error) {
	start := time.Now()
	st := &fileState{res: &Result{File: name}, labels: map[string]string{}, poisoned: map[string]string{}, createdOK: map[string]struct{}{}}
	conn, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	st.conn = conn
	defer func() {
		r.cleanup(ctx, st)
		st.conn.Close(context.WithoutCancel(ctx))
		st.res.Elapsed = time.Since(start)
	}()
	for i := range recs {
		rec := &recs[i]
		if !r.applies(rec) {
			if rec.Kind == KindStatement || rec.Kind == KindQuery {
				st.res.Skipped++
			}
			continue
		}
		switch rec.Kind {
		case KindHalt:
			return st.res, nil
		case KindHashThreshold:
			st.threshold = rec.Threshold
			continue
		}
		if err := ctx.Err(); err != nil {
			return st.res, err
		}
		if st.conn.IsClosed() {
			c, err := r.connect(ctx)
			if err != nil {
				return st.res, fmt.Errorf("%s: reconnect: %w", rec.Pos(), err)
			}
			st.conn = c
		}
		r.runRecord(ctx, st, rec)
	}
	return st.res, nil
}

// applies evaluates skipif/onlyif as SQLite's runner does: every onlyif
// must name one of our engines, no skipif may.
func (r *Runner) applies(rec *Record) bool {
	for _, e := range rec.SkipIf {
		if slices.Contains(r.cfg.Engines, e) {
			return false
		}
	}
	for _, e := range rec.OnlyIf {
		if !slices.Contains(r.cfg.Engines, e) {
			return false
		}
	}
	return true
}

var distributeRE = regexp.MustCompile(`(?i)\bdistribute\s+by\s+(?:hash\s*\([^)]*\)|replication)`)

func (r *Runner) sql(rec *Record) string {
	if r.cfg.StripDistribute {
		return distributeRE.ReplaceAllString(rec.SQL, "")
	}
	return rec.SQL
}

func (st *fileState) fail(rec *Record, expected, got string) {
	st.res.Failed++
	st.res.Failures = append(st.res.Failures, Failure{Pos: rec.Pos(), SQL: rec.SQL, Expected: expected, Got: got})
}

func (r *Runner) runRecord(ctx context.Context, st *fileState, rec *Record) {
	if r.cfg.AllowUnsupported && len(st.poisoned) > 0 {
		for _, id := range identifiers(rec.SQL) {
			if why, ok := st.poisoned[id]; ok {
				st.res.unsupported("needs a table left incomplete by: "+why, 1)
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RecordTimeout)
	defer cancel()
	sql := r.sql(rec)
	if rec.Kind == KindStatement {
		_, err := st.conn.Exec(ctx, sql)
		r.checkStatement(st, rec, err)
		return
	}
	rows, err := st.conn.Query(ctx, sql)
	var cols int
	var got [][]string
	if err == nil {
		cols = len(rows.FieldDescriptions())
		for rows.Next() {
			raw := rows.RawValues()
			row := make([]string, len(raw))
			for i, v := range raw {
				t := byte('T')
				if i < len(rec.Types) {
					t = rec.Types[i]
				}
				row[i] = formatValue(v, t)
			}
			got = append(got, row)
		}
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		if r.cfg.AllowUnsupported && errCode(err) == FeatureNotSupported {
			st.res.unsupported(errMessage(err), 1)
			return
		}
		st.fail(rec, expectedText(rec), "error: "+describeErr(err))
		return
	}
	if cols != len(rec.Types) {
		st.fail(rec, fmt.Sprintf("%d columns (%s)", len(rec.Types), rec.Types), fmt.Sprintf("%d columns", cols))
		return
	}
	r.checkQuery(st, rec, got)
}

// checkStatement judges a statement's outcome.
func (r *Runner) checkStatement(st *fileState, rec *Record, err error) {
	code := errCode(err)
	if !rec.ExpectError {
		if err == nil {
			if t := createdTable(rec.SQL); t != "" {
				if _, ok := st.createdOK[t]; !ok {
					st.createdOK[t] = struct{}{}
					st.created = append(st.created, t)
				}
			}
			st.res.Passed++
			return
		}
		if r.cfg.AllowUnsupported {
			if t := targetTable(rec.SQL); t != "" {
				if _, ok := st.poisoned[t]; !ok {
					st.poisoned[t] = describeErr(err)
				}
			}
			if code == FeatureNotSupported {
				st.res.unsupported(errMessage(err), 1)
				return
			}
		}
		st.fail(rec, "ok", "error: "+describeErr(err))
		return
	}
	want := "an error"
	if rec.ErrCode != "" {
		want = "error " + rec.ErrCode
	}
	if rec.ErrPattern != nil {
		want += " matching " + rec.ErrPattern.String()
	}
	switch {
	case err == nil:
		st.fail(rec, want, "ok")
	case rec.ErrCode != "" && code != rec.ErrCode:
		if r.cfg.AllowUnsupported && code == FeatureNotSupported {
			st.res.unsupported(errMessage(err), 1)
			return
		}
		st.fail(rec, want, "error: "+describeErr(err))
	case rec.ErrPattern != nil && !rec.ErrPattern.MatchString(errMessage(err)):
		st.fail(rec, want, "error: "+describeErr(err))
	default:
		st.res.Passed++
	}
}

// checkQuery compares a query's formatted rows with the expectation.
func (r *Runner) checkQuery(st *fileState, rec *Record, got [][]string) {
	sortRows(got, rec.Sort)
	values := flatten(got, rec.Sort)
	hashed := hashValues(values)
	if r.cfg.Rewrite {
		lines := rowLines(got)
		switch {
		case st.threshold > 0 && len(values) > st.threshold:
			lines = []string{hashed}
		case rec.Sort == ValueSort:
			lines = values
		}
		if st.res.actual == nil {
			st.res.actual = map[int][]string{}
		}
		st.res.actual[rec.Line] = lines
		st.res.Passed++
		return
	}
	if rec.Label != "" {
		if prev, ok := st.labels[rec.Label]; ok && prev != hashed {
			st.fail(rec, "the result of earlier queries labelled "+rec.Label+": "+prev, hashed+"\n"+strings.Join(rowLines(got), "\n"))
			return
		}
		st.labels[rec.Label] = hashed
	}
	if rec.Hashed {
		if hashed != fmt.Sprintf("%d values hashing to %s", rec.HashCount, rec.Hash) {
			st.fail(rec, expectedText(rec), gotText(rec, got, values, hashed))
			return
		}
		st.res.Passed++
		return
	}
	if matchLines(rec.Expected, values) || (rec.Sort != ValueSort && matchLines(rec.Expected, rowLines(got))) {
		st.res.Passed++
		return
	}
	st.fail(rec, expectedText(rec), gotText(rec, got, values, hashed))
}

func matchLines(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != got[i] {
			return false
		}
	}
	return true
}

func expectedText(rec *Record) string {
	if len(rec.Expected) == 0 {
		return "(no rows)"
	}
	return strings.Join(rec.Expected, "\n")
}

// gotText shows a result: its rows (values for valuesort), after the
// hash line when the expectation is a hash.
func gotText(rec *Record, got [][]string, values []string, hashed string) string {
	if len(got) == 0 {
		return "(no rows)"
	}
	lines := rowLines(got)
	if rec.Sort == ValueSort {
		lines = values
	}
	if len(lines) > 200 {
		lines = append(lines[:200:200], fmt.Sprintf("... %d more", len(lines)-200))
	}
	if rec.Hashed {
		lines = append([]string{hashed}, lines...)
	}
	return strings.Join(lines, "\n")
}

func rowLines(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, " ")
	}
	return out
}

// cleanup drops the tables the file created, leaving the cluster as it
// found it for the next file.
func (r *Runner) cleanup(ctx context.Context, st *fileState) {
	if len(st.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RecordTimeout)
	defer cancel()
	failed := func(sql string, err error) {
		st.res.Failed++
		st.res.Failures = append(st.res.Failures, Failure{Pos: st.res.File + ": cleanup", SQL: sql, Expected: "ok", Got: "error: " + describeErr(err)})
	}
	if st.conn.IsClosed() {
		c, err := r.connect(ctx)
		if err != nil {
			failed("(connect)", err)
			return
		}
		st.conn = c
	}
	if st.conn.PgConn().TxStatus() != 'I' {
		if _, err := st.conn.Exec(ctx, "ROLLBACK"); err != nil {
			failed("ROLLBACK", err)
		}
	}
	for _, t := range st.created {
		sql := "DROP TABLE IF EXISTS " + t
		if _, err := st.conn.Exec(ctx, sql); err != nil {
			failed(sql, err)
		}
	}
}

func errCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func errMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func describeErr(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code + " " + pe.Message
	}
	return err.Error()
}

var (
	identRE   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	createRE  = regexp.MustCompile(`(?is)^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?([A-Za-z_][A-Za-z0-9_.]*)`)
	targetREs = []*regexp.Regexp{
		createRE,
		regexp.MustCompile(`(?is)^\s*create\s+(?:unique\s+)?index\s+(?:if\s+not\s+exists\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\s+)?on\s+([A-Za-z_][A-Za-z0-9_.]*)`),
		regexp.MustCompile(`(?is)^\s*create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?view\s+(?:if\s+not\s+exists\s+)?([A-Za-z_][A-Za-z0-9_.]*)`),
		regexp.MustCompile(`(?is)^\s*insert\s+into\s+([A-Za-z_][A-Za-z0-9_.]*)`),
		regexp.MustCompile(`(?is)^\s*update\s+([A-Za-z_][A-Za-z0-9_.]*)`),
		regexp.MustCompile(`(?is)^\s*delete\s+from\s+([A-Za-z_][A-Za-z0-9_.]*)`),
		regexp.MustCompile(`(?is)^\s*alter\s+table\s+(?:if\s+exists\s+)?([A-Za-z_][A-Za-z0-9_.]*)`),
	}
)

// identifiers lists the lower-cased words of sql.
func identifiers(sql string) []string {
	ids := identRE.FindAllString(sql, -1)
	for i, id := range ids {
		ids[i] = strings.ToLower(id)
	}
	return ids
}

// createdTable is the table a CREATE TABLE statement makes ("" if none).
func createdTable(sql string) string {
	if m := createRE.FindStringSubmatch(sql); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// targetTable is the table (or view) a DDL or DML statement changes.
func targetTable(sql string) string {
	for _, re := range targetREs {
		if m := re.FindStringSubmatch(sql); m != nil {
			name := strings.ToLower(m[1])
			if k := strings.LastIndex(name, "."); k >= 0 {
				name = name[k+1:]
			}
			return name
		}
	}
	return ""
}
