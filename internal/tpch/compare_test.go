package tpch

import (
	"errors"
	"strings"
	"testing"
)

// res builds a result from rows of "|"-separated values ("NULL" is NULL).
func res(columns string, rows ...string) *Result {
	r := &Result{Columns: strings.Split(columns, ",")}
	for _, row := range rows {
		var vals []Value
		for _, f := range strings.Split(row, "|") {
			if f == "NULL" {
				vals = append(vals, Value{Null: true})
			} else {
				vals = append(vals, Value{Text: f})
			}
		}
		r.Rows = append(r.Rows, vals)
	}
	return r
}

func TestValuesEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"BUILDING", "BUILDING", true},
		{"BUILDING", "BUILDING  ", false}, // char(n) padding is part of the value
		{"12.5", "12.50", true},
		{"12", "12.00", true},
		{"-0.05", "-0.050", true},
		{"100.01", "100.02", false},                                // money: same scale, exact
		{"1054382179.526988", "1054382179.526989", false},          // sum of products: exact
		{"1014084449.6465", "1014084449.64650000", true},           // more digits, same value
		{"25.4914432782940036", "25.49", true},                     // rounded to its scale
		{"25.4914432782940036", "25.50", false},                    // not the rounding
		{"2.165", "2.17", false},                                   // not quotients: exact
		{"2.1650000", "2.17", true},                                // a quotient, half way
		{"20", "20.01", false},                                     // not a rounding of a quotient
		{"0.05024667424293067718", "0.05024667424293067719", true}, // quotients, 1e-12 relative
		{"0.050246674243", "0.050246674299", false},                // quotients too far apart
		{"1995", "1995.0", true},
		{"1e5", "100000", false}, // only plain decimals are numbers
		{"13", "13", true},
		{"1/2", "0.5", false},
	} {
		if got := valuesEqual(Value{Text: c.a}, Value{Text: c.b}); got != c.want {
			t.Errorf("valuesEqual(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := valuesEqual(Value{Text: c.b}, Value{Text: c.a}); got != c.want {
			t.Errorf("valuesEqual(%s, %s) = %v, want %v (not symmetric)", c.b, c.a, got, c.want)
		}
	}
	if !valuesEqual(Value{Null: true}, Value{Null: true}) || valuesEqual(Value{Null: true}, Value{Text: ""}) {
		t.Error("NULL equals NULL only")
	}
}

func TestCompare(t *testing.T) {
	ordered := Query{Num: 99, OrderBy: []SortKey{{"revenue", true}, {"d", false}}}
	limited := ordered
	limited.Limit = 3
	unordered := Query{Num: 98}
	for _, c := range []struct {
		name      string
		q         Query
		got, want *Result
		diff      string // "" when equal, else a part of the message
	}{
		{"same", ordered, res("k,revenue,d", "1|30.5|1995-01-01", "2|20|1995-01-01"),
			res("k,revenue,d", "1|30.50|1995-01-01", "2|20.00|1995-01-01"), ""},
		{"ties in another order", ordered,
			res("k,revenue,d", "1|30|1995-01-01", "2|30|1995-01-01", "3|10|1995-01-01"),
			res("k,revenue,d", "2|30|1995-01-01", "1|30|1995-01-01", "3|10|1995-01-01"), ""},
		{"numbers sort numerically", ordered,
			res("k,revenue,d", "1|100|1995-01-01", "2|99|1995-01-01"),
			res("k,revenue,d", "1|100|1995-01-01", "2|99|1995-01-01"), ""},
		{"not sorted", ordered,
			res("k,revenue,d", "3|10|1995-01-01", "1|30|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "3|10|1995-01-01"), "not in ORDER BY order at row 2"},
		{"second key not sorted", ordered,
			res("k,revenue,d", "1|30|1995-02-01", "2|30|1995-01-01"),
			res("k,revenue,d", "2|30|1995-01-01", "1|30|1995-02-01"), "not in ORDER BY order"},
		{"a value differs", ordered,
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|20.01|1995-01-01"), "row 2 differs"},
		{"a tied row differs", ordered,
			res("k,revenue,d", "1|30|1995-01-01", "5|30|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|30|1995-01-01"), "among rows 1..2"},
		{"tie sizes differ", ordered,
			res("k,revenue,d", "1|30|1995-01-01", "2|30|1995-01-01", "3|10|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "3|10|1995-01-01"), "rows 1..: 2 rows"},
		{"row count", unordered, res("a", "1", "2"), res("a", "1"), "got 2 rows, want 1"},
		{"column names", unordered, res("a,sum", "1|2"), res("a,total", "1|2"), "columns differ"},
		{"unordered multiset", unordered, res("a,b", "1|x", "2|y", "1|x"), res("a,b", "2|y", "1|x", "1|x"), ""},
		{"unordered multiset differs", unordered, res("a,b", "1|x", "2|y", "2|y"), res("a,b", "2|y", "1|x", "1|x"), "differs"},
		{"NULL", unordered, res("a", "NULL"), res("a", "0"), "differs"},
		{"empty", ordered, res("k,revenue,d"), res("k,revenue,d"), ""},
		{"full LIMIT: the last tie may keep other rows", limited,
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "7|10|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "4|10|1995-01-01"), ""},
		{"full LIMIT: earlier rows still count", limited,
			res("k,revenue,d", "1|30|1995-01-01", "9|20|1995-01-01", "7|10|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "4|10|1995-01-01"), "row 2 differs"},
		{"full LIMIT: the last tie's keys count", limited,
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "7|11|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "2|20|1995-01-01", "4|10|1995-01-01"), "row 3 differs"},
		{"LIMIT not reached: every row counts", limited,
			res("k,revenue,d", "1|30|1995-01-01", "7|10|1995-01-01"),
			res("k,revenue,d", "1|30|1995-01-01", "4|10|1995-01-01"), "row 2 differs"},
	} {
		err := Compare(c.q, c.got, c.want)
		switch {
		case c.diff == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.diff != "" && err == nil:
			t.Errorf("%s: no difference found, want %q", c.name, c.diff)
		case c.diff != "" && !strings.Contains(err.Error(), c.diff):
			t.Errorf("%s: %v; want a message with %q", c.name, err, c.diff)
		}
		var m *Mismatch
		if err != nil && (!errors.As(err, &m) || m.Query.Num != c.q.Num) {
			t.Errorf("%s: error %v is not a *Mismatch of the query", c.name, err)
		}
	}
}

func TestCompareUnknownOrderKey(t *testing.T) {
	q := Query{Num: 1, OrderBy: []SortKey{{"missing", false}}}
	if err := Compare(q, res("a", "1"), res("a", "1")); err == nil || !strings.Contains(err.Error(), "not an output column") {
		t.Errorf("Compare with an ORDER BY key not in the output: %v", err)
	}
}
