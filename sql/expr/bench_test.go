package expr

import (
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/meridian-db/meridian/sql/types"
)

// The per-row cost of a scan filter and of an aggregate's argument of
// TPC-H's shape: Q6's conjunction of comparisons over a date, two
// numerics and an integer, and Q1's l_extendedprice * (1 - l_discount) *
// (1 + l_tax).
func benchRows() [][]types.Datum {
	rows := make([][]types.Datum, 1024)
	for i := range rows {
		rows[i] = []types.Datum{types.DateVal(9000 + i%800), apd.New(int64(1000+i), -2), apd.New(int64(i%11), -2), int64(i % 50), apd.New(int64(i%9), -2)}
	}
	return rows
}

func benchEval(b *testing.B, e *E) {
	f, err := Compile(e)
	if err != nil {
		b.Fatal(err)
	}
	rows := benchRows()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterQ6(b *testing.B) {
	tDate := types.Type{OID: types.Date}
	d, disc, qty := Column(0, tDate), Column(2, tNum), Column(3, tInt4)
	b0, _ := types.Coerce(tDate, types.DateVal(9200))
	b1, _ := types.Coerce(tDate, types.DateVal(9565))
	benchEval(b, and(
		call(">=", tBool, d, Const(tDate, b0)), call("<", tBool, d, Const(tDate, b1)),
		call(">=", tBool, disc, num("0.05")), call("<=", tBool, disc, num("0.07")),
		call("<", tBool, qty, i4(24))))
}

func BenchmarkArithQ1(b *testing.B) {
	price, disc, tax := Column(1, tNum), Column(2, tNum), Column(4, tNum)
	benchEval(b, call("*", tNum, call("*", tNum, price, call("-", tNum, num("1"), disc)), call("+", tNum, num("1"), tax)))
}

// TPC-H Q13's o_comment NOT LIKE '%special%requests%'.
func BenchmarkLikeQ13(b *testing.B) {
	f, err := Compile(call("not like", tBool, Column(0, tText), txt("%special%requests%")))
	if err != nil {
		b.Fatal(err)
	}
	row := []types.Datum{"furiously regular deposits sleep carefully. slyly express requests haggle above the blithely special"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := f(row); err != nil {
			b.Fatal(err)
		}
	}
}
