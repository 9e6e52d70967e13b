package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// ErrCorrupt reports undecodable bytes.
var ErrCorrupt = errors.New("codec: corrupt encoding")

const (
	tagNull  = 0
	tagValue = 1
)

// AppendDatum appends the value encoding of d (NULL or a value).
func AppendDatum(buf []byte, d types.Datum) []byte {
	if d == nil {
		return append(buf, tagNull)
	}
	buf = append(buf, tagValue)
	switch v := d.(type) {
	case int64:
		return binary.AppendVarint(buf, v)
	case float64:
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(v))
	case *apd.Decimal:
		return appendDecimal(buf, v)
	case bool:
		if v {
			return append(buf, 1)
		}
		return append(buf, 0)
	case string:
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		return append(buf, v...)
	case []byte:
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		return append(buf, v...)
	case types.DateVal:
		return binary.AppendVarint(buf, int64(v))
	case time.Time:
		return binary.AppendVarint(buf, v.UnixMicro())
	case types.IntervalVal:
		buf = binary.AppendVarint(buf, int64(v.Months))
		buf = binary.AppendVarint(buf, int64(v.Days))
		return binary.AppendVarint(buf, v.Micros)
	}
	panic(fmt.Sprintf("codec: cannot encode %T", d))
}

// DecodeDatum decodes one datum of type oid from the front of b and
// returns it with the rest of b.
func DecodeDatum(oid uint32, b []byte) (types.Datum, []byte, error) {
	if len(b) == 0 {
		return nil, nil, ErrCorrupt
	}
	switch b[0] {
	case tagNull:
		return nil, b[1:], nil
	case tagValue:
	default:
		return nil, nil, ErrCorrupt
	}
	b = b[1:]
	varint := func() (int64, error) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, ErrCorrupt
		}
		b = b[n:]
		return v, nil
	}
	bytesOf := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, ErrCorrupt
		}
		s := b[n : n+int(l)]
		b = b[n+int(l):]
		return s, nil
	}
	switch oid {
	case types.Int2, types.Int4, types.Int8, types.OID:
		v, err := varint()
		return v, b, err
	case types.Float4, types.Float8:
		if len(b) < 8 {
			return nil, nil, ErrCorrupt
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case types.Numeric:
		d := new(apd.Decimal)
		rest, err := decodeDecimal(d, b)
		if err != nil {
			return nil, nil, err
		}
		return d, rest, nil
	case types.Bool:
		if len(b) < 1 || b[0] > 1 {
			return nil, nil, ErrCorrupt
		}
		return b[0] != 0, b[1:], nil
	case types.Text, types.Varchar, types.Bpchar, types.Name, types.Unknown:
		s, err := bytesOf()
		return string(s), b, err
	case types.Bytea:
		s, err := bytesOf()
		return append([]byte(nil), s...), b, err
	case types.Date:
		v, err := varint()
		return types.DateVal(v), b, err
	case types.Timestamp, types.TimestampTZ:
		v, err := varint()
		return time.UnixMicro(v).UTC(), b, err
	case types.Interval:
		m, err := varint()
		if err != nil {
			return nil, nil, err
		}
		d, err := varint()
		if err != nil {
			return nil, nil, err
		}
		us, err := varint()
		if err != nil || m != int64(int32(m)) || d != int64(int32(d)) {
			return nil, nil, ErrCorrupt
		}
		return types.IntervalVal{Months: int32(m), Days: int32(d), Micros: us}, b, nil
	}
	return nil, nil, fmt.Errorf("codec: cannot decode type %d", oid)
}

// RowFormat is the version of the row encoding (EncodeRow). A datanode
// refuses a data directory whose rows are in another (see
// storage.Config.Format): 1 had no offset table.
const RowFormat = 2

// EncodeRow encodes a row: a header, uvarint(column count<<2 | width
// code), then the end offsets of every column but the last, relative to
// the body, in 1, 2 or 4 bytes each (width code 0, 1, 2: the smallest
// that holds the body's length), then the body: each datum. A reader
// of a few columns of a wide row goes straight to them (rowView.col)
// instead of stepping over the ones before.
func EncodeRow(buf []byte, row []types.Datum) []byte {
	start := len(buf)
	var endsBuf [32]int
	ends := endsBuf[:0]
	for _, d := range row {
		buf = AppendDatum(buf, d)
		ends = append(ends, len(buf)-start)
	}
	return finishRow(buf, start, ends)
}

// finishRow puts the header in front of a row's body, which starts at
// buf[start:]; ends are the body's column end offsets.
func finishRow(buf []byte, start int, ends []int) []byte {
	n, body := len(ends), len(buf)-start
	w, code := 1, uint64(0)
	switch {
	case body > math.MaxUint16:
		w, code = 4, 2
	case body > math.MaxUint8:
		w, code = 2, 1
	}
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n)<<2|code)
	hlen := h
	if n > 1 {
		hlen += (n - 1) * w
	}
	buf = slices.Grow(buf, hlen)[:len(buf)+hlen]
	copy(buf[start+hlen:], buf[start:start+body])
	p := start + copy(buf[start:], hdr[:h])
	for _, e := range ends[:max(n-1, 0)] {
		switch w {
		case 1:
			buf[p] = byte(e)
		case 2:
			binary.LittleEndian.PutUint16(buf[p:], uint16(e))
		default:
			binary.LittleEndian.PutUint32(buf[p:], uint32(e))
		}
		p += w
	}
	return buf
}

// rowView is a parsed row header (EncodeRow): its column count, offset
// table and body.
type rowView struct {
	n    int
	w    int
	offs []byte
	body []byte
	hlen int // bytes before the body
}

// parseRow parses the header of an encoded row of at most maxCols
// columns. The offsets are checked as columns are read (col).
func parseRow(b []byte, maxCols int) (rowView, error) {
	x, k := uvarint(b)
	if k <= 0 || x>>2 > uint64(maxCols) || x&3 == 3 {
		return rowView{}, ErrCorrupt
	}
	r := rowView{n: int(x >> 2), w: 1 << (x & 3)}
	ol := 0
	if r.n > 1 {
		ol = (r.n - 1) * r.w
	}
	if len(b)-k < ol {
		return rowView{}, ErrCorrupt
	}
	r.offs, r.body, r.hlen = b[k:k+ol], b[k+ol:], k+ol
	return r, nil
}

// end is the end offset of column i (< n) in the body, unchecked.
func (r *rowView) end(i int) int {
	if i == r.n-1 {
		return len(r.body)
	}
	switch r.w {
	case 1:
		return int(r.offs[i])
	case 2:
		return int(binary.LittleEndian.Uint16(r.offs[2*i:]))
	}
	return int(binary.LittleEndian.Uint32(r.offs[4*i:]))
}

// col returns the bytes of column i's datum (i < n) and their offset in
// the body.
func (r *rowView) col(i int) ([]byte, int, error) {
	s := 0
	if i > 0 {
		s = r.end(i - 1)
	}
	e := r.end(i)
	if s > e || e > len(r.body) {
		return nil, 0, ErrCorrupt
	}
	return r.body[s:e:e], s, nil
}

// DecodeRow decodes a row whose columns have the given types. A row
// encoded with fewer columns (written before ADD COLUMN) yields the
// missing trailing columns from missing, indexed like oids (nil, a short
// slice or nil entries give NULL). Bytes after the row are corrupt.
func DecodeRow(oids []uint32, missing []types.Datum, b []byte) ([]types.Datum, error) {
	rv, err := parseRow(b, len(oids))
	if err != nil {
		return nil, err
	}
	row := make([]types.Datum, len(oids))
	for i := 0; i < rv.n; i++ {
		c, _, err := rv.col(i)
		if err != nil {
			return nil, err
		}
		var rest []byte
		if row[i], rest, err = DecodeDatum(oids[i], c); err != nil {
			return nil, err
		}
		if len(rest) != 0 {
			return nil, ErrCorrupt
		}
	}
	for i := rv.n; i < len(oids) && i < len(missing); i++ {
		row[i] = missing[i]
	}
	return row, nil
}

// Decimal value encoding: a flags byte (decNegative, decNaN, decBig), the
// exponent as a varint, then the coefficient's magnitude: a uvarint, or
// with decBig its big-endian bytes after their length.
const (
	decNegative = 1 << 0
	decNaN      = 1 << 1
	decBig      = 1 << 2
)

func appendDecimal(buf []byte, d *apd.Decimal) []byte {
	flags := byte(0)
	if d.Negative {
		flags |= decNegative
	}
	if d.Form == apd.NaN {
		return append(buf, flags|decNaN, 0)
	}
	big := !d.Coeff.IsUint64()
	if big {
		flags |= decBig
	}
	buf = append(buf, flags)
	buf = binary.AppendVarint(buf, int64(d.Exponent))
	if !big {
		return binary.AppendUvarint(buf, d.Coeff.Uint64())
	}
	mag := d.Coeff.Bytes()
	buf = binary.AppendUvarint(buf, uint64(len(mag)))
	return append(buf, mag...)
}

// decimalParts parses an encoded decimal: its flags, its exponent, and
// its coefficient — small (an unsigned varint) or, with decBig, the bytes
// of a big one — and returns the rest of b.
func decimalParts(b []byte) (flags byte, exp int32, small uint64, big, rest []byte, err error) {
	if len(b) < 2 {
		return 0, 0, 0, nil, nil, ErrCorrupt
	}
	flags = b[0]
	if flags&^(decNegative|decNaN|decBig) != 0 {
		return 0, 0, 0, nil, nil, ErrCorrupt
	}
	if flags&decNaN != 0 {
		return flags, 0, 0, nil, b[2:], nil
	}
	e, n := varint(b[1:])
	if n <= 0 || e != int64(int32(e)) {
		return 0, 0, 0, nil, nil, ErrCorrupt
	}
	b = b[1+n:]
	v, n := uvarint(b)
	if n <= 0 {
		return 0, 0, 0, nil, nil, ErrCorrupt
	}
	b = b[n:]
	if flags&decBig == 0 {
		return flags, int32(e), v, nil, b, nil
	}
	if uint64(len(b)) < v {
		return 0, 0, 0, nil, nil, ErrCorrupt
	}
	return flags, int32(e), 0, b[:v], b[v:], nil
}

// decodeDecimal decodes a decimal's value encoding into d.
func decodeDecimal(d *apd.Decimal, b []byte) ([]byte, error) {
	flags, exp, small, big, rest, err := decimalParts(b)
	if err != nil {
		return nil, err
	}
	d.Negative = flags&decNegative != 0
	switch {
	case flags&decNaN != 0:
		// All of d, which may be a reused slot (RowDecoder.Unread).
		d.Form, d.Exponent = apd.NaN, 0
		d.Coeff.SetInt64(0)
	case flags&decBig != 0:
		d.Form, d.Exponent = apd.Finite, exp
		d.Coeff.SetBytes(big)
	default:
		d.Form, d.Exponent = apd.Finite, exp
		d.Coeff.SetUint64(small)
	}
	return rest, nil
}
