package tpch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
)

// Rows are written in PostgreSQL's COPY text format: columns separated by
// a tab, rows ended by a newline, backslash, tab, newline and carriage
// return escaped with a backslash. The generator never produces NULLs.

// flushSize is how much a writer buffers before it writes.
const flushSize = 256 << 10

// appendText appends s escaped for COPY text format.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendInt appends a decimal integer.
func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendMoney appends an amount in cents as a decimal with two places.
func appendMoney(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	return append(b, '.', byte('0'+cents/10%10), byte('0'+cents%10))
}

// appendPadded appends prefix and a key with at least nine digits, as in
// "Supplier#000000001".
func appendPadded(b []byte, prefix string, key int64) []byte {
	b = append(b, prefix...)
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], key, 10)
	for i := len(d); i < 9; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// appendPhone appends a phone number of clause 4.2.2.9:
// country code (nation key + 10), three, three and four digits.
func appendPhone(b []byte, p phone) []byte {
	b = strconv.AppendInt(b, int64(p.nation)+10, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(p.n1), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(p.n2), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(p.n3), 10)
}

// phone is a phone number's parts.
type phone struct{ nation, n1, n2, n3 int16 }

func randomPhone(r *rng, nation int64) phone {
	return phone{int16(nation), int16(r.between(100, 999)), int16(r.between(100, 999)), int16(r.between(1000, 9999))}
}

// tab and nl end a column and a row.
func tab(b []byte) []byte { return append(b, '\t') }
func nl(b []byte) []byte  { return append(b, '\n') }

// appender appends the rows of one unit of a table.
type appender func(b []byte, unit int64) []byte

// appender returns the function that appends the rows of unit i of t.
// Each call returns a new one: it may keep scratch space.
func (g *Generator) appender(t Table) appender {
	switch t {
	case Region:
		return g.appendRegion
	case Nation:
		return g.appendNation
	case Supplier:
		return g.appendSupplier
	case Customer:
		return g.appendCustomer
	case Part:
		var p part
		return func(b []byte, i int64) []byte { g.genPart(i, &p); return p.appendPart(b) }
	case PartSupp:
		var p part
		return func(b []byte, i int64) []byte { g.genPart(i, &p); return p.appendPartSupp(b) }
	case Orders:
		var o order
		return func(b []byte, i int64) []byte { g.genOrder(i, &o); return g.appendOrder(b, &o) }
	case LineItem:
		var o order
		return func(b []byte, i int64) []byte { g.genOrder(i, &o); return g.appendLines(b, &o) }
	}
	return nil
}

// WriteCopy writes the rows of units [lo, hi) of table t to w in COPY
// text format and returns how many rows it wrote.
func (g *Generator) WriteCopy(ctx context.Context, w io.Writer, t Table, lo, hi int64) (int64, error) {
	r, err := g.newChunkReader(ctx, Chunk{t, lo, hi})
	if err != nil {
		return 0, err
	}
	for r.fill() {
		if _, err := w.Write(r.buf); err != nil {
			return r.rows, fmt.Errorf("tpch: write %v: %w", t, err)
		}
	}
	return r.rows, r.err
}

// chunkReader generates a chunk's rows in COPY text format a buffer at a
// time; it is an io.Reader for COPY FROM STDIN.
type chunkReader struct {
	ctx      context.Context
	add      appender
	next, hi int64
	buf      []byte
	off      int   // read position in buf
	rows     int64 // rows generated so far
	err      error
}

func (g *Generator) newChunkReader(ctx context.Context, c Chunk) (*chunkReader, error) {
	add := g.appender(c.Table)
	if add == nil {
		return nil, fmt.Errorf("tpch: unknown table %v", c.Table)
	}
	if c.Lo < 0 || c.Hi > g.Units(c.Table) || c.Lo > c.Hi {
		return nil, fmt.Errorf("tpch: units [%d, %d) out of the %d of %v", c.Lo, c.Hi, g.Units(c.Table), c.Table)
	}
	return &chunkReader{ctx: ctx, add: add, next: c.Lo, hi: c.Hi, buf: make([]byte, 0, flushSize+16<<10)}, nil
}

// fill replaces the buffer with the next rows; false at the end of the
// chunk or when the context is done (r.err).
func (r *chunkReader) fill() bool {
	if r.next == r.hi || r.err != nil {
		return false
	}
	if r.err = r.ctx.Err(); r.err != nil {
		return false
	}
	r.buf, r.off = r.buf[:0], 0
	for r.next < r.hi && len(r.buf) < flushSize {
		r.buf = r.add(r.buf, r.next)
		r.next++
	}
	r.rows += countRows(r.buf)
	return true
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) && !r.fill() {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// countRows counts the newlines of a buffer of whole rows (escaped
// newlines inside values are `\n`, two characters, not a newline).
func countRows(b []byte) int64 {
	return int64(bytes.Count(b, []byte{'\n'}))
}
