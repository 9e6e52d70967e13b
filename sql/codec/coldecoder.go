package codec

import (
	"encoding/binary"
	"math"
	"unsafe"

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
	last    int   // one past the last column decoded
	bytes   []byte
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
	return d
}

// Decode decodes one encoded row into row r of vecs.
func (d *ColDecoder) Decode(b []byte, vecs []*coldata.Vec, r int) error {
	n, k := uvarint(b)
	if k <= 0 || n > uint64(len(d.oids)) {
		return ErrCorrupt
	}
	b = b[k:]
	stop := min(int(n), d.last)
	for i := 0; i < stop; i++ {
		var err error
		if d.vec[i] < 0 {
			if b, err = skipDatum(d.oids[i], b); err != nil {
				return err
			}
			continue
		}
		if b, err = d.datum(d.oids[i], b, vecs[d.vec[i]], r); err != nil {
			return err
		}
	}
	if stop == int(n) && len(b) != 0 {
		return ErrCorrupt
	}
	for i := int(n); i < d.last; i++ {
		if d.vec[i] >= 0 {
			var m types.Datum
			if i < len(d.missing) {
				m = d.missing[i]
			}
			vecs[d.vec[i]].Set(r, m)
		}
	}
	return nil
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
