package codec

import (
	"encoding/binary"
	"math"
	"time"
	"unsafe"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// RowDecoder decodes many rows of one table shape, fast: it decodes only
// the columns asked for, and it takes the memory for the decoded values
// from slabs allocated a batch of rows at a time instead of one
// allocation per value.
//
// Go boxes a non-pointer value put into an interface in an allocation of
// its own; the decoder instead points the interface at the value's slot
// in a slab. A slab is never reused: values handed out stay valid and
// immutable for as long as anything references them — except those of a
// row given back by Unread.
type RowDecoder struct {
	oids    []uint32
	missing []types.Datum
	// cols lists the row positions to decode, ascending; out[i] is where
	// column cols[i] goes in the output row.
	want []bool
	out  []int
	n    int // output row width
	// last is one past the last column decoded; cols lists the columns
	// decoded, ascending. The others are not read (nor checked): the
	// row's offset table leads to the ones asked for.
	last int
	cols []int

	slabs
	// fills counts slab allocations: slabs start small and double up to
	// slabRows, so a point lookup does not allocate for a whole batch.
	fills uint
	// mark: the slabs as they were before the last Decode (Unread).
	mark slabs
	row  []types.Datum // the last row decoded

	// Late decoding (SetLate): the columns of late are only located by
	// Decode, their offsets kept; Finish decodes them once the caller
	// (a scan's filter) keeps the row. Rows a selective filter rejects so
	// cost no decode for the columns only the output reads.
	late    []bool
	lateOn  bool
	lateAt  []int // offsets of the late columns in cur, in column order
	lateCol []int
	cur     []byte
	// seen and kept count rows since the last look at the share kept:
	// late decoding turns off while most rows are kept (each would be
	// located, then decoded).
	seen, kept int
}

// lateWindow is how many rows the decoder looks at before it decides
// again whether late decoding pays.
const lateWindow = 4096

// slabs are the decoder's free slab space.
type slabs struct {
	rows  []types.Datum
	ints  []int64
	flts  []float64
	dates []types.DateVal
	times []time.Time
	decs  []apd.Decimal
	strs  []string
	bytes []byte
}

// Unread gives back the slab space of the row the last Decode returned,
// which nothing may reference any more: a scan whose filter rejected the
// row decodes the next one into the same memory instead of allocating
// (most rows of a selective scan are rejected).
func (d *RowDecoder) Unread() {
	if d.row == nil {
		return
	}
	clear(d.row)
	d.row = nil
	m := &d.mark
	d.rows = rewind(d.rows, m.rows)
	d.ints = rewind(d.ints, m.ints)
	d.flts = rewind(d.flts, m.flts)
	d.dates = rewind(d.dates, m.dates)
	d.times = rewind(d.times, m.times)
	d.decs = rewind(d.decs, m.decs)
	d.strs = rewind(d.strs, m.strs)
	d.bytes = rewind(d.bytes, m.bytes)
}

// rewind returns mark when cur is what is left of the same slab (so the
// values between them are given back), else cur: a slab allocated since
// is kept, and an exhausted one (no capacity left to compare) too.
func rewind[T any](cur, mark []T) []T {
	if cap(cur) == 0 || cap(mark) < cap(cur) {
		return cur
	}
	if &cur[:cap(cur)][cap(cur)-1] != &mark[:cap(mark)][cap(mark)-1] {
		return cur
	}
	return mark
}

// slabRows is how many rows' worth of values a slab holds at most.
const slabRows = 256

// slab returns the size of the next slab (in rows) and counts it.
func (d *RowDecoder) slab() int {
	n := slabRows
	if d.fills < 5 {
		n = 8 << d.fills
	}
	d.fills++
	return n
}

// NewRowDecoder returns a decoder of rows with the given column types
// (and values for columns missing from old rows, as DecodeRow takes)
// that outputs the columns cols, in that order (nil: every column).
func NewRowDecoder(oids []uint32, missing []types.Datum, cols []int) *RowDecoder {
	d := &RowDecoder{oids: oids, missing: missing, want: make([]bool, len(oids)), out: make([]int, len(oids))}
	if cols == nil {
		cols = make([]int, len(oids))
		for i := range cols {
			cols[i] = i
		}
	}
	for i := range d.out {
		d.out[i] = -1
	}
	for i, c := range cols {
		d.want[c] = true
		d.out[c] = i
	}
	d.n = len(cols)
	d.setLast()
	return d
}

func (d *RowDecoder) setLast() {
	d.last, d.cols = 0, d.cols[:0]
	for i, w := range d.want {
		if w {
			d.last = i + 1
			d.cols = append(d.cols, i)
		}
	}
}

// NewSparseRowDecoder returns a decoder whose rows are as wide as the
// table's, with only the columns marked in want decoded (the others are
// NULL).
func NewSparseRowDecoder(oids []uint32, missing []types.Datum, want []bool) *RowDecoder {
	d := &RowDecoder{oids: oids, missing: missing, want: make([]bool, len(oids)), out: make([]int, len(oids)), n: len(oids)}
	for i := range d.out {
		d.out[i] = i
		d.want[i] = i < len(want) && want[i]
	}
	d.setLast()
	return d
}

// eface is the layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	int64Type  = typeOf(int64(0))
	floatType  = typeOf(float64(0))
	dateType   = typeOf(types.DateVal(0))
	timeType   = typeOf(time.Time{})
	stringType = typeOf("")
)

// box makes an interface of type typ whose value is at p.
func box(typ, p unsafe.Pointer) types.Datum {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ = typ
	e.data = p
	return v
}

// SetLate makes the columns marked in late (of those decoded) decoded only
// by Finish, after Decode. Columns a filter reads must not be late.
func (d *RowDecoder) SetLate(late []bool) {
	d.late = make([]bool, len(d.oids))
	any := false
	for i := range d.late {
		d.late[i] = i < len(late) && late[i] && d.want[i]
		any = any || d.late[i]
	}
	if !any {
		d.late = nil
	}
	d.lateOn = d.late != nil
}

// Early makes column c decoded by Decode again (a filter added later
// reads it).
func (d *RowDecoder) Early(c int) {
	if c >= 0 && c < len(d.late) {
		d.late[c] = false
	}
}

// Decode decodes one encoded row; with SetLate, Finish must be called
// (while b is still valid) before the row's late columns are read.
func (d *RowDecoder) Decode(b []byte) ([]types.Datum, error) {
	rv, err := parseRow(b, len(d.oids))
	if err != nil {
		return nil, err
	}
	late := d.late != nil && d.lateOn
	if d.late != nil {
		d.lateAt, d.lateCol = d.lateAt[:0], d.lateCol[:0]
		d.cur = b
		if d.seen++; d.seen == lateWindow {
			// Late decoding pays while most rows are rejected.
			d.lateOn = d.kept*2 < d.seen
			d.seen, d.kept = 0, 0
		}
	}
	d.mark = d.slabs
	if len(d.rows) < d.n {
		d.rows = make([]types.Datum, d.n*d.slab())
	}
	row := d.rows[:d.n:d.n]
	d.rows = d.rows[d.n:]
	d.row = row
	for _, i := range d.cols {
		if i >= rv.n {
			break
		}
		c, at, err := rv.col(i)
		if err != nil {
			return nil, err
		}
		if late && d.late[i] {
			d.lateAt = append(d.lateAt, rv.hlen+at)
			d.lateCol = append(d.lateCol, i)
			continue
		}
		var rest []byte
		row[d.out[i]], rest, err = d.datum(d.oids[i], c)
		if err != nil {
			return nil, err
		}
		if len(rest) != 0 {
			return nil, ErrCorrupt
		}
	}
	for i := rv.n; i < len(d.oids); i++ {
		if d.want[i] && i < len(d.missing) {
			row[d.out[i]] = d.missing[i]
		}
	}
	return row, nil
}

// Finish decodes the late columns of the row the last Decode returned
// (from the bytes it was given, which must still be valid).
func (d *RowDecoder) Finish() error {
	if d.late == nil {
		return nil
	}
	d.kept++
	for j, at := range d.lateAt {
		i := d.lateCol[j]
		v, _, err := d.datum(d.oids[i], d.cur[at:])
		if err != nil {
			return err
		}
		d.row[d.out[i]] = v
	}
	return nil
}

func (d *RowDecoder) datum(oid uint32, b []byte) (types.Datum, []byte, error) {
	if len(b) == 0 {
		return nil, nil, ErrCorrupt
	}
	if b[0] == tagNull {
		return nil, b[1:], nil
	}
	if b[0] != tagValue {
		return nil, nil, ErrCorrupt
	}
	b = b[1:]
	switch oid {
	case types.Int2, types.Int4, types.Int8, types.OID:
		v, k := varint(b)
		if k <= 0 {
			return nil, nil, ErrCorrupt
		}
		if len(d.ints) == 0 {
			d.ints = make([]int64, d.slab())
		}
		d.ints[0] = v
		p := unsafe.Pointer(&d.ints[0])
		d.ints = d.ints[1:]
		return box(int64Type, p), b[k:], nil
	case types.Float4, types.Float8:
		if len(b) < 8 {
			return nil, nil, ErrCorrupt
		}
		if len(d.flts) == 0 {
			d.flts = make([]float64, d.slab())
		}
		d.flts[0] = math.Float64frombits(binary.BigEndian.Uint64(b))
		p := unsafe.Pointer(&d.flts[0])
		d.flts = d.flts[1:]
		return box(floatType, p), b[8:], nil
	case types.Numeric:
		if len(d.decs) == 0 {
			d.decs = make([]apd.Decimal, d.slab())
		}
		dec := &d.decs[0]
		d.decs = d.decs[1:]
		rest, err := decodeDecimal(dec, b)
		if err != nil {
			return nil, nil, err
		}
		return dec, rest, nil
	case types.Text, types.Varchar, types.Bpchar, types.Name, types.Unknown:
		l, k := uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, nil, ErrCorrupt
		}
		src := b[k : k+int(l)]
		if len(d.bytes) < len(src) {
			d.bytes = make([]byte, max(len(src), 128*d.slab()))
		}
		buf := d.bytes[:len(src):len(src)]
		d.bytes = d.bytes[len(src):]
		copy(buf, src)
		if len(d.strs) == 0 {
			d.strs = make([]string, d.slab())
		}
		d.strs[0] = unsafe.String(unsafe.SliceData(buf), len(buf))
		p := unsafe.Pointer(&d.strs[0])
		d.strs = d.strs[1:]
		return box(stringType, p), b[k+int(l):], nil
	case types.Date:
		v, k := varint(b)
		if k <= 0 {
			return nil, nil, ErrCorrupt
		}
		if len(d.dates) == 0 {
			d.dates = make([]types.DateVal, d.slab())
		}
		d.dates[0] = types.DateVal(v)
		p := unsafe.Pointer(&d.dates[0])
		d.dates = d.dates[1:]
		return box(dateType, p), b[k:], nil
	case types.Timestamp, types.TimestampTZ:
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, nil, ErrCorrupt
		}
		if len(d.times) == 0 {
			d.times = make([]time.Time, d.slab())
		}
		d.times[0] = time.UnixMicro(v).UTC()
		p := unsafe.Pointer(&d.times[0])
		d.times = d.times[1:]
		return box(timeType, p), b[k:], nil
	}
	// The others (bool, bytea, interval) are rare in bulk: decode them as
	// DecodeDatum does.
	return DecodeDatum(oid, append([]byte{tagValue}, b...))
}

// uvarint is binary.Uvarint with the one-byte case inline.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// varint is binary.Varint with the one-byte case inline.
func varint(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return binary.Varint(b)
}
