package codec

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"unsafe"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

// ColDecoder decodes rows of one table shape into the vectors of column
// batches (the vectorized scan): integers, dates, floats and small
// numerics go to their vectors unboxed, without an allocation; text is
// copied into chunks that are never reused (so a string read from a
// vector may be kept).
type ColDecoder struct {
	oids    []uint32
	missing []types.Datum
	vec     []int // vec[c]: the vector column c goes to, -1 when not decoded
	cols    []int // the columns decoded: gated ones first, then ascending
	last    int   // one past the last column decoded
	bytes   []byte
	// late[c]: column c is left by DecodeEarly to DecodeLate (SetLate).
	late []bool
	// gate[c], when set, rejects rows by column c's value (SetGate).
	gate []func(int64) bool
}

// ErrRejected is what decoding a row returns when a gate rejected it
// (SetGate): the row is not to be kept, and the vectors' row it was
// decoded into is free for the next.
var ErrRejected = errors.New("codec: row rejected by a gate")

// SetGate makes decoding stop with ErrRejected as soon as column c of a
// row holds NULL or an integer keep rejects (a join's runtime filter):
// gated columns are decoded first, and a rejected row's others are not
// read. Column c must be decoded (and not late) and of an integer type.
func (d *ColDecoder) SetGate(c int, keep func(int64) bool) {
	if d.gate == nil {
		d.gate = make([]func(int64) bool, len(d.oids))
	}
	d.gate[c] = keep
	// Decode it first: a rejected row costs one column.
	if i := slices.Index(d.cols, c); i > 0 {
		copy(d.cols[1:i+1], d.cols[:i])
		d.cols[0] = c
	}
}

// passes reports row r of column i's vector through column i's gate.
func (d *ColDecoder) passes(i int, vecs []*coldata.Vec, r int) bool {
	if d.gate == nil || d.gate[i] == nil {
		return true
	}
	v := vecs[d.vec[i]]
	return !v.IsNull(r) && d.gate[i](v.I[r])
}

// NewColDecoder returns a decoder of rows with the given column types
// (and values for columns missing from old rows, as DecodeRow takes) that
// puts column cols[i] into vector i. A column may appear once.
func NewColDecoder(oids []uint32, missing []types.Datum, cols []int) *ColDecoder {
	d := &ColDecoder{oids: oids, missing: missing, vec: make([]int, len(oids))}
	for i := range d.vec {
		d.vec[i] = -1
	}
	for i, c := range cols {
		d.vec[c] = i
		d.last = max(d.last, c+1)
	}
	for c, v := range d.vec {
		if v >= 0 {
			d.cols = append(d.cols, c)
		}
	}
	return d
}

// SetLate marks the columns (of those decoded) that DecodeEarly leaves
// to DecodeLate: a scan decodes the columns only its output reads for the
// rows its filter keeps.
func (d *ColDecoder) SetLate(late []bool) {
	d.late = make([]bool, len(d.oids))
	for c := range d.late {
		d.late[c] = c < len(late) && late[c] && d.vec[c] >= 0
	}
}

// Early makes DecodeEarly decode column c again (a filter added later
// reads it).
func (d *ColDecoder) Early(c int) {
	if c >= 0 && c < len(d.late) {
		d.late[c] = false
	}
}

// Decode decodes one encoded row into row r of vecs.
func (d *ColDecoder) Decode(b []byte, vecs []*coldata.Vec, r int) error {
	_, err := d.decode(b, vecs, r, nil, false)
	return err
}

// DecodeEarly decodes the columns of an encoded row that SetLate did not
// mark into row r of vecs, and appends the encoded values of the marked
// ones to buf — a few bytes, not the row — for DecodeLate.
func (d *ColDecoder) DecodeEarly(b []byte, vecs []*coldata.Vec, r int, buf []byte) ([]byte, error) {
	return d.decode(b, vecs, r, buf, d.late != nil)
}

// DecodeLate decodes into row r of vecs the late columns whose encoded
// values DecodeEarly appended to buf (those of a row too old to have
// them were set by DecodeEarly).
func (d *ColDecoder) DecodeLate(buf []byte, vecs []*coldata.Vec, r int) error {
	for c := 0; c < d.last && len(buf) > 0; c++ {
		if d.late == nil || !d.late[c] {
			continue
		}
		var err error
		if buf, err = d.datum(d.oids[c], buf, vecs[d.vec[c]], r); err != nil {
			return err
		}
	}
	if len(buf) != 0 {
		return ErrCorrupt
	}
	return nil
}

func (d *ColDecoder) decode(b []byte, vecs []*coldata.Vec, r int, buf []byte, late bool) ([]byte, error) {
	rv, err := parseRow(b, len(d.oids))
	if err != nil {
		return buf, err
	}
	for _, i := range d.cols {
		if i >= rv.n {
			continue // missing: below
		}
		c, _, err := rv.col(i)
		if err != nil {
			return buf, err
		}
		if late && d.late[i] {
			buf = append(buf, c...)
			continue
		}
		rest, err := d.datum(d.oids[i], c, vecs[d.vec[i]], r)
		if err != nil {
			return buf, err
		}
		if len(rest) != 0 {
			return buf, ErrCorrupt
		}
		if !d.passes(i, vecs, r) {
			return buf, ErrRejected
		}
	}
	for i := rv.n; i < d.last; i++ {
		if d.vec[i] >= 0 {
			var m types.Datum
			if i < len(d.missing) {
				m = d.missing[i]
			}
			vecs[d.vec[i]].Set(r, m)
			if !(late && d.late[i]) && !d.passes(i, vecs, r) {
				return buf, ErrRejected
			}
		}
	}
	return buf, nil
}

func (d *ColDecoder) datum(oid uint32, b []byte, v *coldata.Vec, r int) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrCorrupt
	}
	if b[0] == tagNull {
		v.SetNull(r)
		return b[1:], nil
	}
	if b[0] != tagValue {
		return nil, ErrCorrupt
	}
	if v.HasNull {
		v.Null[r] = false
	}
	b = b[1:]
	switch v.Kind {
	case coldata.Int, coldata.Date:
		x, k := varint(b)
		if k <= 0 {
			return nil, ErrCorrupt
		}
		v.I[r] = x
		return b[k:], nil
	case coldata.Float:
		if len(b) < 8 {
			return nil, ErrCorrupt
		}
		v.F[r] = math.Float64frombits(binary.BigEndian.Uint64(b))
		return b[8:], nil
	case coldata.Dec:
		flags, exp, small, _, rest, err := decimalParts(b)
		if err != nil {
			return nil, err
		}
		if flags&(decNaN|decBig) == 0 && small <= math.MaxInt64 {
			c := int64(small)
			if flags&decNegative != 0 {
				c = -c
			}
			v.I[r], v.E[r] = c, exp
			if v.HasBig {
				v.Big[r] = false
			}
			return rest, nil
		}
		v.SetBig(r)
		return decodeDecimal(&v.D[r], b)
	case coldata.Str:
		l, k := uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, ErrCorrupt
		}
		src := b[k : k+int(l)]
		if len(d.bytes) < len(src) {
			d.bytes = make([]byte, max(len(src), 64<<10))
		}
		buf := d.bytes[:len(src):len(src)]
		d.bytes = d.bytes[len(src):]
		copy(buf, src)
		v.S[r] = unsafe.String(unsafe.SliceData(buf), len(buf))
		return b[k+int(l):], nil
	}
	x, rest, err := DecodeDatum(oid, append([]byte{tagValue}, b...))
	if err != nil {
		return nil, err
	}
	v.Set(r, x)
	return rest, nil
}

// AppendRows appends the live rows of b to rows, as rows of datums of
// their own: their values are put in slabs allocated for the batch and
// never reused (one allocation per type and batch, not one per value),
// so the rows stay valid after the batch is reused.
func AppendRows(rows [][]types.Datum, b *coldata.Batch) [][]types.Datum {
	n, w := len(b.Sel), len(b.Vecs)
	if n == 0 {
		return rows
	}
	vals := make([]types.Datum, n*w)
	for c, v := range b.Vecs {
		switch v.Kind {
		case coldata.Int:
			slab := make([]int64, n)
			for j, i := range b.Sel {
				if !v.IsNull(i) {
					slab[j] = v.I[i]
					vals[j*w+c] = box(int64Type, unsafe.Pointer(&slab[j]))
				}
			}
		case coldata.Date:
			slab := make([]types.DateVal, n)
			for j, i := range b.Sel {
				if !v.IsNull(i) {
					slab[j] = types.DateVal(v.I[i])
					vals[j*w+c] = box(dateType, unsafe.Pointer(&slab[j]))
				}
			}
		case coldata.Float:
			slab := make([]float64, n)
			for j, i := range b.Sel {
				if !v.IsNull(i) {
					slab[j] = v.F[i]
					vals[j*w+c] = box(floatType, unsafe.Pointer(&slab[j]))
				}
			}
		case coldata.Str:
			slab := make([]string, n)
			for j, i := range b.Sel {
				if !v.IsNull(i) {
					slab[j] = v.S[i]
					vals[j*w+c] = box(stringType, unsafe.Pointer(&slab[j]))
				}
			}
		case coldata.Dec:
			slab := make([]apd.Decimal, n)
			for j, i := range b.Sel {
				if v.IsNull(i) {
					continue
				}
				d := &slab[j]
				if v.IsBig(i) {
					d.Set(&v.D[i])
				} else {
					v.DecAt(i, d)
				}
				vals[j*w+c] = d
			}
		default:
			for j, i := range b.Sel {
				vals[j*w+c] = v.Datum(i)
			}
		}
	}
	for j := 0; j < n; j++ {
		rows = append(rows, vals[j*w:(j+1)*w:(j+1)*w])
	}
	return rows
}
