package codec

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"

	"github.com/meridian-db/meridian/sql/coldata"
)

// AppendBatchRow appends the row encoding of row i of vecs — the bytes
// EncodeRow gives for the row's datums — read from the vectors without
// boxing a value (a Stream sending column batches).
func AppendBatchRow(buf []byte, vecs []*coldata.Vec, i int) []byte {
	start := len(buf)
	var endsBuf [32]int
	ends := endsBuf[:0]
	for _, v := range vecs {
		buf = appendVecDatum(buf, v, i)
		ends = append(ends, len(buf)-start)
	}
	return finishRow(buf, start, ends)
}

// appendVecDatum is AppendDatum of row i of v.
func appendVecDatum(buf []byte, v *coldata.Vec, i int) []byte {
	if v.IsNull(i) {
		return append(buf, tagNull)
	}
	switch v.Kind {
	case coldata.Int, coldata.Date:
		return binary.AppendVarint(append(buf, tagValue), v.I[i])
	case coldata.Float:
		return binary.BigEndian.AppendUint64(append(buf, tagValue), math.Float64bits(v.F[i]))
	case coldata.Dec:
		if v.IsBig(i) {
			return appendDecimal(append(buf, tagValue), &v.D[i])
		}
		return appendSmallDecimal(append(buf, tagValue), v.I[i], v.E[i])
	case coldata.Str:
		buf = binary.AppendUvarint(append(buf, tagValue), uint64(len(v.S[i])))
		return append(buf, v.S[i]...)
	case coldata.Bool:
		b := byte(0)
		if v.B[i] {
			b = 1
		}
		return append(buf, tagValue, b)
	}
	return AppendDatum(buf, v.A[i])
}

// appendSmallDecimal is appendDecimal of the finite numeric c×10^exp.
func appendSmallDecimal(buf []byte, c int64, exp int32) []byte {
	flags, mag := byte(0), uint64(c)
	if c < 0 {
		flags, mag = decNegative, uint64(^c)+1 // also for math.MinInt64
	}
	buf = binary.AppendVarint(append(buf, flags), int64(exp))
	return binary.AppendUvarint(buf, mag)
}

// BucketOfRow is Bucket of the values in row i of vecs, read from the
// vectors without boxing them.
func BucketOfRow(vecs []*coldata.Vec, i int) uint32 {
	var scratch [64]byte
	b := scratch[:0]
	for _, v := range vecs {
		b = AppendVecKey(b, v, i)
	}
	return uint32(xxhash.Sum64(b) % NumBuckets)
}
