package exec

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/codec"
	"github.com/meridian-db/meridian/sql/pgerr"
	"github.com/meridian-db/meridian/sql/types"
)

// DefaultWorkMem is the memory budget of one operator that holds rows
// when the caller sets none.
const DefaultWorkMem = 64 << 20

// MemPool is the memory the row-holding operators of every query of a
// process share (a datanode's --query-mem), on top of each operator's own
// budget (work_mem): an operator reserves from the pool in chunks as it
// grows and gives its reservation back when it frees its rows or closes.
// When the pool is used up, an operator that can spill spills as if over
// its own budget, and one that cannot fails with 53200 (out_of_memory)
// rather than growing the process without bound. Safe for concurrent use.
type MemPool struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

// poolChunk is the least an operator reserves from the pool at a time.
const poolChunk = 1 << 20

// poolFloor is what an operator may hold whatever the pool's state: with
// the pool used up by others, an operator still works (and a spilled
// partition is processed) with this much before it spills again, instead
// of spilling at once at every level. The pool can so be passed by this
// much per running operator.
const poolFloor = 4 << 20

// NewMemPool returns a pool of limit bytes.
func NewMemPool(limit int64) *MemPool { return &MemPool{limit: limit} }

// Limit is the pool's size in bytes.
func (p *MemPool) Limit() int64 { return p.limit }

// Used is the bytes operators hold reserved now.
func (p *MemPool) Used() int64 { return p.used.Load() }

// Peak is the most ever reserved at once.
func (p *MemPool) Peak() int64 { return p.peak.Load() }

// take reserves n bytes, even beyond the limit (the rows are in memory
// already), and reports whether the pool is still within it.
func (p *MemPool) take(n int64) bool {
	u := p.used.Add(n)
	for {
		pk := p.peak.Load()
		if u <= pk || p.peak.CompareAndSwap(pk, u) {
			break
		}
	}
	return u <= p.limit
}

func (p *MemPool) give(n int64) { p.used.Add(-n) }

// memory tracks the bytes an operator holds against its budget and the
// process's pool.
type memory struct {
	limit int64
	used  int64
	st    *Stats
	pool  *MemPool
	held  int64 // reserved from pool
	// short: the pool was over its limit when the operator last grew
	// past its reservation.
	short bool
}

func newMemory(env *Env, st *Stats) *memory {
	limit := env.WorkMem
	if limit <= 0 {
		limit = DefaultWorkMem
	}
	return &memory{limit: limit, st: st, pool: env.Pool}
}

// grow adds n bytes and reports whether the operator is still within its
// budget and the pool within its own.
func (m *memory) grow(n int64) bool {
	m.used += n
	if m.st != nil && m.used > m.st.PeakMemory {
		m.st.PeakMemory = m.used
	}
	if m.pool != nil && m.used > m.held {
		chunk := max(m.used-m.held, poolChunk)
		over := !m.pool.take(chunk)
		m.held += chunk
		m.short = over && m.held > poolFloor
	}
	return m.used <= m.limit && !m.short
}

// outOfMemory is the error of an operator that cannot spill when the
// pool is used up.
func (m *memory) outOfMemory(what string) error {
	return pgerr.New(pgerr.OutOfMemory, "out of memory: %s holds %d kB and cannot spill, and the query memory of this node (%d MB) is in use",
		what, m.used>>10, m.pool.limit>>20)
}

// release frees the operator's rows: its count and its reservation. It
// may be called more than once (a spill, then Close).
func (m *memory) release() {
	if m == nil {
		return
	}
	m.used = 0
	if m.pool != nil && m.held > 0 {
		m.pool.give(m.held)
	}
	m.held, m.short = 0, false
}

// rowSize estimates the bytes a row holds in memory.
func rowSize(r Row) int64 {
	n := int64(24 + 16*len(r))
	for _, d := range r {
		switch v := d.(type) {
		case string:
			n += int64(len(v)) + 16
		case []byte:
			n += int64(len(v)) + 24
		case *apd.Decimal:
			n += 56 + int64(len(v.Coeff.Bits()))*8
		case time.Time:
			n += 24
		case int64, float64, types.DateVal:
			n += 8
		case types.IntervalVal:
			n += 16
		}
	}
	return n
}

// spillFile is a temporary file of encoded rows, written once and then
// read back (possibly several times). It is removed on close.
type spillFile struct {
	f     *os.File
	w     *bufio.Writer
	oids  []uint32
	rows  int64
	buf   []byte
	st    *Stats
	wrote bool
}

func newSpillFile(env *Env, oids []uint32, st *Stats) (*spillFile, error) {
	dir := env.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "create spill directory")
	}
	f, err := os.CreateTemp(dir, "spill-*")
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "create spill file")
	}
	// Unlinked at once: the space is freed when the file is closed, even
	// if the process dies.
	_ = os.Remove(f.Name())
	return &spillFile{f: f, w: bufio.NewWriterSize(f, 256<<10), oids: oids, st: st}, nil
}

func (s *spillFile) write(r Row) error {
	s.buf = codec.EncodeRow(s.buf[:0], r)
	var lenBuf [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lenBuf[:], uint64(len(s.buf)))
	if _, err := s.w.Write(lenBuf[:k]); err != nil {
		return pgerr.Wrap(err, pgerr.IOError, "write spill file")
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return pgerr.Wrap(err, pgerr.IOError, "write spill file")
	}
	s.rows++
	s.wrote = true
	if s.st != nil {
		s.st.SpilledBytes += int64(k + len(s.buf))
	}
	return nil
}

// reader flushes the file and returns a reader from its start.
func (s *spillFile) reader() (*spillReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "flush spill file")
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "rewind spill file")
	}
	return &spillReader{r: bufio.NewReaderSize(s.f, 256<<10), oids: s.oids}, nil
}

func (s *spillFile) close() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

type spillReader struct {
	r    *bufio.Reader
	oids []uint32
	buf  []byte
}

// next returns the next row, or nil at the end.
func (r *spillReader) next() (Row, error) {
	n, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "read spill file")
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return nil, pgerr.Wrap(err, pgerr.IOError, "read spill file")
	}
	row, err := codec.DecodeRow(r.oids, nil, r.buf)
	if err != nil {
		return nil, pgerr.Wrap(err, pgerr.DataCorrupted, "decode spill file")
	}
	return row, nil
}

// spillOp reads a spill file as an operator.
type spillOp struct {
	f *spillFile
	r *spillReader
}

func (s *spillOp) Open(context.Context) error {
	r, err := s.f.reader()
	s.r = r
	return err
}

func (s *spillOp) Next(ctx context.Context) (*Batch, error) {
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	var out rowBuffer
	for !out.full() {
		row, err := s.r.next()
		if err != nil {
			return nil, err
		}
		if row == nil {
			break
		}
		out.add(row)
	}
	return out.take(), nil
}

func (s *spillOp) Close() { s.f.close() }
