package tpch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// LoadOptions says how to load.
type LoadOptions struct {
	// Dialect of the schema (DetectDialect finds it).
	Dialect Dialect
	// Jobs is the number of parallel COPY connections (default 2).
	Jobs int
	// ChunkRows is about how many rows one COPY (one transaction) carries
	// (default 250,000).
	ChunkRows int64
	// Log, when set, receives a line per table loaded.
	Log func(format string, args ...any)
}

// LoadStats says what a load did.
type LoadStats struct {
	Rows    map[Table]int64
	Copy    time.Duration // creating tables and COPY
	Index   time.Duration // CREATE INDEX
	Analyze time.Duration // VACUUM ANALYZE (Meridian: VACUUM (FULL, ANALYZE))
	Elapsed time.Duration
}

// Load drops and creates the eight tables on the server at connString,
// loads the generator's rows with COPY FROM STDIN over opts.Jobs
// connections, creates the secondary indexes and runs each server's
// maintenance after a bulk load: VACUUM ANALYZE on PostgreSQL (hint bits,
// visibility map, statistics), VACUUM (FULL, ANALYZE) on Meridian (each
// datanode's LSM tree compacted into one sorted run, statistics). It
// checks that every COPY loaded the number of rows it sent.
func Load(ctx context.Context, connString string, g *Generator, opts LoadOptions) (*LoadStats, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 250_000
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	stats := &LoadStats{Rows: map[Table]int64{}}
	admin, err := pgconn.Connect(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("tpch: connect: %w", err)
	}
	defer admin.Close(context.Background())
	tables := Tables()
	for i := len(tables) - 1; i >= 0; i-- {
		if err := execSQL(ctx, admin, DropTable(tables[i])); err != nil {
			return nil, err
		}
	}
	for _, t := range tables {
		if err := execSQL(ctx, admin, CreateTable(t, opts.Dialect)); err != nil {
			return nil, err
		}
	}

	var chunks []Chunk
	want := map[Table]int64{}
	for _, t := range tables {
		want[t] = g.Rows(t)
		n := (want[t] + opts.ChunkRows - 1) / opts.ChunkRows
		chunks = append(chunks, g.Chunks(t, int(n))...)
	}
	if err := copyChunks(ctx, connString, g, chunks, opts.Jobs, stats.Rows); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if stats.Rows[t] != want[t] {
			return nil, fmt.Errorf("tpch: %v: the server loaded %d rows, the generator made %d", t, stats.Rows[t], want[t])
		}
		logf("%-9v %10d rows", t, stats.Rows[t])
	}
	stats.Copy = time.Since(start)

	t0 := time.Now()
	for _, sql := range Indexes() {
		if err := execSQL(ctx, admin, sql); err != nil {
			return nil, err
		}
	}
	stats.Index = time.Since(t0)
	t0 = time.Now()
	vacuum := "VACUUM ANALYZE "
	if opts.Dialect == Meridian {
		vacuum = "VACUUM (FULL, ANALYZE) "
	}
	for _, t := range tables {
		if err := execSQL(ctx, admin, vacuum+t.String()); err != nil {
			return nil, err
		}
	}
	stats.Analyze = time.Since(t0)
	stats.Elapsed = time.Since(start)
	return stats, nil
}

// copyChunks runs the chunks' COPYs on jobs connections and adds the rows
// the server reported per table to rows.
func copyChunks(ctx context.Context, connString string, g *Generator, chunks []Chunk, jobs int, rows map[Table]int64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan Chunk)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(jobs, len(chunks)) {
		wg.Go(func() {
			conn, err := pgconn.Connect(ctx, connString)
			if err != nil {
				cancel(fmt.Errorf("tpch: connect: %w", err))
				return
			}
			defer conn.Close(context.Background())
			for c := range work {
				n, err := copyChunk(ctx, conn, g, c)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				rows[c.Table] += n
				mu.Unlock()
			}
		})
	}
feed:
	for _, c := range chunks {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// copyChunk loads one chunk with COPY FROM STDIN and returns the rows the
// server reported.
func copyChunk(ctx context.Context, conn *pgconn.PgConn, g *Generator, c Chunk) (int64, error) {
	r, err := g.newChunkReader(ctx, c)
	if err != nil {
		return 0, err
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN", c.Table, strings.Join(Columns(c.Table), ", "))
	tag, err := conn.CopyFrom(ctx, r, sql)
	if err != nil {
		return 0, fmt.Errorf("tpch: COPY %v units [%d, %d): %s", c.Table, c.Lo, c.Hi, Describe(err))
	}
	return tag.RowsAffected(), nil
}

func execSQL(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("tpch: %s: %s", firstLine(sql), Describe(err))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
