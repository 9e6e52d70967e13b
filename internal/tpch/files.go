package tpch

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// FileName is the name of a table's data file in a directory written by
// WriteFiles: COPY text format (tab-separated), so that
// `\copy lineitem FROM 'lineitem.tbl'` in psql loads it.
func FileName(t Table) string { return t.String() + ".tbl" }

// WriteFiles writes the tables' rows to dir, one file per table, jobs
// tables at a time, and returns the rows written per table.
func WriteFiles(ctx context.Context, g *Generator, dir string, tables []Table, jobs int) (map[Table]int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tpch: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rows := map[Table]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(jobs, 1))
	for _, t := range tables {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			n, err := writeFile(ctx, g, filepath.Join(dir, FileName(t)), t)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			rows[t] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return rows, nil
}

func writeFile(ctx context.Context, g *Generator, path string, t Table) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("tpch: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := g.WriteCopy(ctx, w, t, 0, g.Units(t))
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("tpch: %s: %w", path, err)
	}
	return n, nil
}
