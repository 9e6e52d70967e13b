package codec

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/proto/meridianpb"
	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

// Key tags; their order is the order of NULL and the kinds of values.
const (
	keyNull     = 0x01
	keyInt      = 0x02
	keyFloat    = 0x03
	keyNumNeg   = 0x04
	keyNumZero  = 0x05
	keyNumPos   = 0x06
	keyBool     = 0x07
	keyString   = 0x08
	keyBytes    = 0x09
	keyDate     = 0x0a
	keyTime     = 0x0b
	keyInterval = 0x0c
)

// AppendKey appends an order-preserving, prefix-free encoding of d: for
// datums a, b of one type, bytes.Compare(key(a), key(b)) agrees with
// types.Compare(a, b), and equal values encode equally (1.0 and 1.00 too).
func AppendKey(buf []byte, d types.Datum) []byte {
	switch v := d.(type) {
	case nil:
		return append(buf, keyNull)
	case int64:
		buf = append(buf, keyInt)
		return binary.BigEndian.AppendUint64(buf, uint64(v)^(1<<63))
	case float64:
		return appendFloatKey(buf, v)
	case *apd.Decimal:
		return appendDecimalKey(buf, v)
	case bool:
		buf = append(buf, keyBool)
		if v {
			return append(buf, 1)
		}
		return append(buf, 0)
	case string:
		return appendStringKey(buf, v)
	case []byte:
		buf = append(buf, keyBytes)
		return appendEscaped(buf, v)
	case types.DateVal:
		buf = append(buf, keyDate)
		return binary.BigEndian.AppendUint64(buf, uint64(int64(v))^(1<<63))
	case time.Time:
		buf = append(buf, keyTime)
		return binary.BigEndian.AppendUint64(buf, uint64(v.UnixMicro())^(1<<63))
	case types.IntervalVal:
		// the 128-bit span PostgreSQL orders intervals by ('1 mon' and
		// '30 days' are equal); 64 bits overflow from about 292 years
		buf = append(buf, keyInterval)
		hi, lo := v.Span()
		buf = binary.BigEndian.AppendUint64(buf, uint64(hi)^(1<<63))
		return binary.BigEndian.AppendUint64(buf, lo)
	}
	panic("codec: cannot key-encode value")
}

func appendFloatKey(buf []byte, v float64) []byte {
	buf = append(buf, keyFloat)
	if v == 0 {
		v = 0 // fold -0
	}
	bits := math.Float64bits(v)
	if math.IsNaN(v) {
		bits = math.MaxUint64
	} else if bits&(1<<63) != 0 {
		bits = ^bits
	} else {
		bits |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(buf, bits)
}

func appendStringKey(buf []byte, s string) []byte {
	return appendEscaped(append(buf, keyString), s)
}

// AppendVecKey appends the key encoding of row i of v — AppendKey of
// v.Datum(i) — without boxing the value.
func AppendVecKey(buf []byte, v *coldata.Vec, i int) []byte {
	if v.IsNull(i) {
		return append(buf, keyNull)
	}
	switch v.Kind {
	case coldata.Int:
		buf = append(buf, keyInt)
		return binary.BigEndian.AppendUint64(buf, uint64(v.I[i])^(1<<63))
	case coldata.Date:
		buf = append(buf, keyDate)
		return binary.BigEndian.AppendUint64(buf, uint64(v.I[i])^(1<<63))
	case coldata.Float:
		return appendFloatKey(buf, v.F[i])
	case coldata.Dec:
		if !v.IsBig(i) {
			return appendDecKey(buf, v.I[i], v.E[i])
		}
		return appendDecimalKey(buf, &v.D[i])
	case coldata.Str:
		return appendStringKey(buf, v.S[i])
	case coldata.Bool:
		buf = append(buf, keyBool)
		if v.B[i] {
			return append(buf, 1)
		}
		return append(buf, 0)
	}
	return AppendKey(buf, v.A[i])
}

// appendEscaped writes b with 0x00 escaped as 0x00 0xff and a 0x00 0x01
// terminator, which keeps order and makes the encoding prefix-free.
func appendEscaped[B string | []byte](buf []byte, b B) []byte {
	for i := 0; i < len(b); i++ {
		if c := b[i]; c == 0 {
			buf = append(buf, 0, 0xff)
		} else {
			buf = append(buf, c)
		}
	}
	return append(buf, 0, 1)
}

// appendDecimalKey encodes a finite decimal as sign, then (for positive
// values) the adjusted exponent and the significant digits; negative
// values invert those bytes so larger magnitudes sort first. NaN sorts
// after every number.
func appendDecimalKey(buf []byte, v *apd.Decimal) []byte {
	if v.Form != apd.Finite {
		return append(buf, keyNumPos, 0xff, 0xff, 0xff, 0xff, 0xff)
	}
	if v.IsZero() {
		return append(buf, keyNumZero)
	}
	var scratch [40]byte
	return appendDigitsKey(buf, v.Coeff.Append(scratch[:0], 10), int64(v.Exponent), v.Negative)
}

// appendDecKey is appendDecimalKey of the numeric coeff × 10^exp, without
// building an apd value.
func appendDecKey(buf []byte, coeff int64, exp int32) []byte {
	if coeff == 0 {
		return append(buf, keyNumZero)
	}
	neg := coeff < 0
	mag := uint64(coeff)
	if neg {
		mag = -mag
	}
	var scratch [20]byte
	return appendDigitsKey(buf, strconv.AppendUint(scratch[:0], mag, 10), int64(exp), neg)
}

// appendDigitsKey appends the key of the non-zero numeric whose magnitude
// has the decimal digits digits (no leading zero) times 10^exp.
func appendDigitsKey(buf, digits []byte, exp int64, neg bool) []byte {
	// strip trailing zeros so equal values encode equally
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	adj := exp + int64(len(digits)) // value = 0.digits × 10^adj
	if neg {
		buf = append(buf, keyNumNeg)
	} else {
		buf = append(buf, keyNumPos)
	}
	body := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(int32(adj))^(1<<31))
	for _, c := range digits {
		buf = append(buf, c-'0'+1)
	}
	buf = append(buf, 0)
	if neg {
		for i := body; i < len(buf); i++ {
			buf[i] = ^buf[i]
		}
	}
	return buf
}

// RowKeyPrefix is the prefix of every row of a table.
func RowKeyPrefix(table uint32) []byte {
	b := make([]byte, 0, 5)
	b = append(b, 'r')
	return binary.BigEndian.AppendUint32(b, table)
}

// BucketPrefix is the prefix of the rows of one bucket of a table.
func BucketPrefix(table uint32, bucket uint32) []byte {
	return binary.BigEndian.AppendUint16(RowKeyPrefix(table), uint16(bucket))
}

// RowKey is the logical key of a row: 'r' | table | bucket | suffix
// (RowSuffix).
func RowKey(table, bucket uint32, suffix []byte) []byte {
	return AppendRowKey(make([]byte, 0, 7+len(suffix)), table, bucket, suffix)
}

// AppendRowKey appends the logical key of a row to b.
func AppendRowKey(b []byte, table, bucket uint32, suffix []byte) []byte {
	b = append(b, 'r')
	b = binary.BigEndian.AppendUint32(b, table)
	b = binary.BigEndian.AppendUint16(b, uint16(bucket))
	return append(b, suffix...)
}

// RowSuffix appends what follows the bucket in a row's key: the row id
// (8 bytes, big-endian) after the key encoding of the values of the
// table's cluster index columns (meridianpb.TableDesc.cluster_index), when
// it has one (clustered: nil otherwise). The row id keeps the key unique
// and never changes; the cluster values order the rows of a bucket by
// that key, so that the rows of one key value are adjacent.
func RowSuffix(b []byte, clustered []types.Datum, rowID uint64) []byte {
	for _, v := range clustered {
		b = AppendKey(b, v)
	}
	return binary.BigEndian.AppendUint64(b, rowID)
}

// ClusterLookup returns, when a lookup of the first nkeys columns of
// index ix of table t can read the rows directly — ix is the table's
// cluster index and those columns hold every distribution column, so the
// values give the bucket — the positions of the distribution columns among
// the looked-up columns, in distribution key order; else nil.
func ClusterLookup(t *meridianpb.TableDesc, ix *meridianpb.IndexDesc, nkeys int) []int {
	if ix == nil || t.ClusterIndex == 0 || t.ClusterIndex != ix.Id || t.Dist != meridianpb.DistKind_DIST_HASH || nkeys > len(ix.Columns) {
		return nil
	}
	pos := make([]int, len(t.DistColumns))
	for i, d := range t.DistColumns {
		p := slices.Index(ix.Columns[:nkeys], d)
		if p < 0 {
			return nil
		}
		pos[i] = p
	}
	return pos
}

// rowKeyHeader is the length of a row key's 'r' | table | bucket.
const rowKeyHeader = 7

// DecodeRowKey splits a row key (RowKey) into its parts; suffix aliases k.
func DecodeRowKey(k []byte) (table, bucket uint32, suffix []byte, err error) {
	if len(k) < rowKeyHeader+8 || k[0] != 'r' {
		return 0, 0, nil, ErrCorrupt
	}
	return binary.BigEndian.Uint32(k[1:5]), uint32(binary.BigEndian.Uint16(k[5:7])), k[rowKeyHeader:], nil
}

// RowKeyColumn, among the table columns a plan's scan returns, stands
// for the row's logical key (RowKey, as bytea).
const RowKeyColumn = -1

// IndexPrefix is the prefix of every entry of an index.
func IndexPrefix(index uint32) []byte {
	b := make([]byte, 0, 5)
	b = append(b, 'i')
	return binary.BigEndian.AppendUint32(b, index)
}

// IndexKey is the logical key of an index entry over vals; the row's key
// suffix (RowSuffix) is appended when the entry need not be unique
// (non-unique index, or a NULL among vals).
func IndexKey(index uint32, vals []types.Datum, unique bool, suffix []byte) []byte {
	b := IndexPrefix(index)
	hasNull := false
	for _, v := range vals {
		if v == nil {
			hasNull = true
		}
		b = AppendKey(b, v)
	}
	if !unique || hasNull {
		b = append(b, suffix...)
	}
	return b
}

// IndexValue is the value of an index entry: where its row is, the row's
// bucket and key suffix (RowSuffix).
func IndexValue(bucket uint32, suffix []byte) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(suffix)), uint16(bucket))
	return append(b, suffix...)
}

// DecodeIndexValue reverses IndexValue; suffix aliases v.
func DecodeIndexValue(v []byte) (bucket uint32, suffix []byte, err error) {
	if len(v) < 2+8 {
		return 0, nil, ErrCorrupt
	}
	return uint32(binary.BigEndian.Uint16(v)), v[2:], nil
}

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	if end := AppendPrefixEnd(nil, p); len(end) > 0 {
		return end
	}
	return nil // no end
}

// AppendPrefixEnd appends PrefixEnd(p) to dst (nothing when p has no end:
// all 0xff).
func AppendPrefixEnd(dst, p []byte) []byte {
	n := len(dst)
	dst = append(dst, p...)
	for i := len(dst) - 1; i >= n; i-- {
		dst[i]++
		if dst[i] != 0 {
			return dst[:i+1]
		}
	}
	return dst[:n]
}

// NumBuckets is the number of hash buckets.
const NumBuckets = 16384

// Bucket returns the bucket of a row whose distribution key columns hold
// vals (each already of its column's type).
func Bucket(vals []types.Datum) uint32 {
	var scratch [64]byte
	b := scratch[:0]
	for _, v := range vals {
		b = AppendKey(b, v)
	}
	return uint32(xxhash.Sum64(b) % NumBuckets)
}

// FormatKey renders a logical key for logs.
func FormatKey(k []byte) string { return strconv.Quote(string(k)) }
