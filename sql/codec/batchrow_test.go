package codec

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/coldata"
	"github.com/meridian-db/meridian/sql/types"
)

// A row read from vectors encodes to EncodeRow's bytes and hashes to
// Bucket's bucket, for random rows of every type (NULLs, big and NaN
// numerics, strings with NUL bytes included): a Stream sending column
// batches sends the same bytes to the same datanode as one sending rows.
func TestBatchRowMatchesRow(t *testing.T) {
	g := newGen(77)
	oids := typeOIDs
	vecs := make([]*coldata.Vec, len(oids))
	for i, o := range oids {
		vecs[i] = coldata.NewVec(o, coldata.BatchSize)
	}
	extra := []types.Datum{int64(-1 << 63), apd.New(-1<<63, -3), apd.New(0, 2), "a\x00b", int64(0)}
	for batch := 0; batch < 5; batch++ {
		rows := make([][]types.Datum, coldata.BatchSize)
		for _, v := range vecs {
			v.Reset()
		}
		for r := range rows {
			rows[r] = g.row(oids)
			switch r {
			case 0:
				rows[r][2] = extra[0] // int8's minimum
			case 1:
				rows[r][5] = extra[1] // a numeric whose coefficient is int64's minimum
			case 2:
				rows[r][5], rows[r][7] = extra[2], extra[3]
			}
			for c, d := range rows[r] {
				if !vecs[c].Put(r, d) {
					t.Fatalf("a %T in a vector of type %d", d, oids[c])
				}
			}
		}
		for r, row := range rows {
			if got, want := AppendBatchRow(nil, vecs, r), EncodeRow(nil, row); !bytes.Equal(got, want) {
				t.Fatalf("batch %d row %d %v: encoded %x, EncodeRow %x", batch, r, row, got, want)
			}
			for _, cols := range [][]int{{0}, {2}, {5}, {7}, {11}, {1, 7}, {3, 9, 12}} {
				sub := make([]*coldata.Vec, len(cols))
				vals := make([]types.Datum, len(cols))
				for i, c := range cols {
					sub[i], vals[i] = vecs[c], row[c]
				}
				if got, want := BucketOfRow(sub, r), Bucket(vals); got != want {
					t.Fatalf("batch %d row %d columns %v %v: bucket %d, Bucket %d", batch, r, cols, vals, got, want)
				}
			}
		}
	}
}
