// Package coldata holds column batches, the unit the vectorized operators
// pass: a batch is up to BatchSize rows stored as one typed vector per
// column, and a selection vector of the rows still live (a filter narrows
// the selection instead of moving values).
//
// A vector stores the values of its kind unboxed: integers and dates as
// int64, floats as float64, text as strings, numerics as an int64
// coefficient and an exponent when the coefficient fits (the
// representation arithmetic and sums take without apd), and any other type
// as boxed datums. Vectors are reused from batch to batch: a value read
// from one is valid until the producer's next batch, except strings,
// whose bytes are never reused.
package coldata

import (
	"fmt"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// BatchSize is the number of rows a batch holds at most.
const BatchSize = 1024

// Kind is how a vector stores its values.
type Kind uint8

const (
	// Any holds boxed datums (A): the types without a vector form of
	// their own, and results of expressions evaluated row by row.
	Any   Kind = iota
	Int        // int2, int4, int8, oid: I
	Date       // date, in days since 1970-01-01: I
	Float      // float4, float8: F
	Dec        // numeric: I (coefficient) and E (exponent), or Big and D
	Str        // text, varchar, char(n), name: S
	Bool       // bool: B
)

// KindOf returns the kind of a vector of values of type oid.
func KindOf(oid uint32) Kind {
	switch oid {
	case types.Int2, types.Int4, types.Int8, types.OID:
		return Int
	case types.Date:
		return Date
	case types.Float4, types.Float8:
		return Float
	case types.Numeric:
		return Dec
	case types.Text, types.Varchar, types.Bpchar, types.Name, types.Unknown:
		return Str
	case types.Bool:
		return Bool
	}
	return Any
}

// Vec is a column of a batch. Only the slice of its kind is used; entries
// of rows outside the batch's selection are undefined.
type Vec struct {
	Kind Kind
	Oid  uint32
	// Null[i] reports row i NULL; when HasNull is false no row is NULL
	// (and Null may hold stale values).
	Null    []bool
	HasNull bool

	I []int64
	E []int32 // Dec: exponents
	// Dec: Big[i] reports row i's numeric in D[i] (its coefficient does
	// not fit an int64, or it is NaN); HasBig is false when none is.
	Big    []bool
	HasBig bool
	D      []apd.Decimal
	F      []float64
	S      []string
	B      []bool
	A      []types.Datum
}

// NewVec returns a vector of type oid for n rows.
func NewVec(oid uint32, n int) *Vec { return NewVecOf(KindOf(oid), oid, n) }

// NewVecOf returns a vector of type oid for n rows that stores its values
// as kind does (Any: as datums, as a vector of results computed row by
// row may).
func NewVecOf(kind Kind, oid uint32, n int) *Vec {
	v := &Vec{Kind: kind, Oid: oid, Null: make([]bool, n)}
	switch v.Kind {
	case Int, Date:
		v.I = make([]int64, n)
	case Float:
		v.F = make([]float64, n)
	case Dec:
		v.I = make([]int64, n)
		v.E = make([]int32, n)
		v.Big = make([]bool, n)
		v.D = make([]apd.Decimal, n)
	case Str:
		v.S = make([]string, n)
	case Bool:
		v.B = make([]bool, n)
	default:
		v.A = make([]types.Datum, n)
	}
	return v
}

// Reset marks the vector as holding no NULL and no big numeric, before a
// producer fills it.
func (v *Vec) Reset() {
	v.HasNull, v.HasBig = false, false
}

// IsNull reports row i NULL.
func (v *Vec) IsNull(i int) bool { return v.HasNull && v.Null[i] }

// SetNull makes row i NULL.
func (v *Vec) SetNull(i int) {
	if !v.HasNull {
		clear(v.Null)
		v.HasNull = true
	}
	v.Null[i] = true
}

// SetDec stores the numeric d at row i (not NULL).
func (v *Vec) SetDec(i int, d *apd.Decimal) {
	if d.Form == apd.Finite && d.Coeff.IsInt64() {
		c := d.Coeff.Int64()
		if d.Negative {
			c = -c
		}
		v.I[i], v.E[i] = c, d.Exponent
		if v.HasBig {
			v.Big[i] = false
		}
		return
	}
	v.SetBig(i)
	v.D[i].Set(d)
}

// SetBig marks row i as held in D[i]; the caller sets D[i].
func (v *Vec) SetBig(i int) {
	if !v.HasBig {
		clear(v.Big)
		v.HasBig = true
	}
	v.Big[i] = true
}

// IsBig reports row i's numeric held in D[i].
func (v *Vec) IsBig(i int) bool { return v.HasBig && v.Big[i] }

// DecAt returns row i's numeric in d (which it may point into: d is
// scratch space the caller owns).
func (v *Vec) DecAt(i int, d *apd.Decimal) *apd.Decimal {
	if v.IsBig(i) {
		return &v.D[i]
	}
	c := v.I[i]
	d.Form, d.Exponent, d.Negative = apd.Finite, v.E[i], c < 0
	if c < 0 {
		c = -c
	}
	d.Coeff.SetInt64(c)
	return d
}

// Datum returns row i's value as a datum of its own (nil for NULL): it
// stays valid after the vector is reused.
func (v *Vec) Datum(i int) types.Datum {
	if v.IsNull(i) {
		return nil
	}
	switch v.Kind {
	case Int:
		return v.I[i]
	case Date:
		return types.DateVal(v.I[i])
	case Float:
		return v.F[i]
	case Dec:
		d := new(apd.Decimal)
		if v.IsBig(i) {
			d.Set(&v.D[i])
			return d
		}
		return v.DecAt(i, d)
	case Str:
		return v.S[i]
	case Bool:
		return v.B[i]
	}
	return v.A[i]
}

// Set stores the datum d (nil: NULL) at row i; it must be of the Go type
// of the vector's kind (Put reports one that is not).
func (v *Vec) Set(i int, d types.Datum) {
	if !v.Put(i, d) {
		panic(fmt.Sprintf("coldata: a %T in a vector of type %d", d, v.Oid))
	}
}

// Put stores the datum d (nil: NULL) at row i, or reports false when it
// is not of the Go type of the vector's kind.
func (v *Vec) Put(i int, d types.Datum) bool {
	if d == nil {
		v.SetNull(i)
		return true
	}
	switch v.Kind {
	case Int:
		x, ok := d.(int64)
		if !ok {
			return false
		}
		v.I[i] = x
	case Date:
		x, ok := d.(types.DateVal)
		if !ok {
			return false
		}
		v.I[i] = int64(x)
	case Float:
		x, ok := d.(float64)
		if !ok {
			return false
		}
		v.F[i] = x
	case Dec:
		x, ok := d.(*apd.Decimal)
		if !ok {
			return false
		}
		v.SetDec(i, x)
	case Str:
		x, ok := d.(string)
		if !ok {
			return false
		}
		v.S[i] = x
	case Bool:
		x, ok := d.(bool)
		if !ok {
			return false
		}
		v.B[i] = x
	default:
		v.A[i] = d
	}
	if v.HasNull {
		v.Null[i] = false
	}
	return true
}

// Copy stores row j of src at row i, as CopyFrom does when both vectors
// store their values alike, else as a datum; false when that datum is not
// of v's kind's Go type.
func (v *Vec) Copy(i int, src *Vec, j int) bool {
	if v.Kind == src.Kind {
		v.CopyFrom(i, src, j)
		return true
	}
	return v.Put(i, src.Datum(j))
}

// CopyFrom stores row j of src, a vector of the same type, at row i: the
// value unboxed, a big numeric copied.
func (v *Vec) CopyFrom(i int, src *Vec, j int) {
	if src.IsNull(j) {
		v.SetNull(i)
		return
	}
	if v.HasNull {
		v.Null[i] = false
	}
	switch v.Kind {
	case Int, Date:
		v.I[i] = src.I[j]
	case Float:
		v.F[i] = src.F[j]
	case Dec:
		if src.IsBig(j) {
			v.SetBig(i)
			v.D[i].Set(&src.D[j])
			return
		}
		v.I[i], v.E[i] = src.I[j], src.E[j]
		if v.HasBig {
			v.Big[i] = false
		}
	case Str:
		v.S[i] = src.S[j]
	case Bool:
		v.B[i] = src.B[j]
	default:
		v.A[i] = src.A[j]
	}
}

// Batch is a group of rows stored by column.
type Batch struct {
	// N is the number of rows stored; Sel lists the live ones, ascending.
	N    int
	Sel  []int
	Vecs []*Vec
}

// identity is 0, 1, ..., BatchSize-1: a full selection, copied from.
var identity = func() []int {
	s := make([]int, BatchSize)
	for i := range s {
		s[i] = i
	}
	return s
}()

// NewBatch returns an empty batch of vectors of the given types.
func NewBatch(oids []uint32) *Batch {
	b := &Batch{Sel: make([]int, 0, BatchSize), Vecs: make([]*Vec, len(oids))}
	for i, o := range oids {
		b.Vecs[i] = NewVec(o, BatchSize)
	}
	return b
}

// Reset empties the batch for a producer to fill.
func (b *Batch) Reset() {
	b.N, b.Sel = 0, b.Sel[:0]
	for _, v := range b.Vecs {
		if v != nil { // a scan's batch has vectors only for the columns it decodes
			v.Reset()
		}
	}
}

// SelectAll makes the first n rows stored the live ones.
func (b *Batch) SelectAll(n int) {
	b.N = n
	b.Sel = append(b.Sel[:0], identity[:n]...)
}

// Row returns live row i's values as datums of their own (Datum).
func (b *Batch) Row(i int) []types.Datum {
	r := make([]types.Datum, len(b.Vecs))
	for c, v := range b.Vecs {
		r[c] = v.Datum(i)
	}
	return r
}
