package session

import (
	"slices"
	"testing"
)

// TestSplitTextLine: COPY text lines, with and without escapes (the
// escape-free path takes the line's pieces as they are), the default and a
// custom NULL string, empty fields and another delimiter.
func TestSplitTextLine(t *testing.T) {
	tab := copyOpts{delim: '\t', null: `\N`}
	pipe := copyOpts{delim: '|', null: ""}
	for _, c := range []struct {
		line   string
		o      copyOpts
		fields []string
		nulls  []bool
	}{
		{"a\tb\tc", tab, []string{"a", "b", "c"}, []bool{false, false, false}},
		{"", tab, []string{""}, []bool{false}},
		{"\t", tab, []string{"", ""}, []bool{false, false}},
		{"a\t\\N\t", tab, []string{"a", `\N`, ""}, []bool{false, true, false}},
		{`x\ty`, tab, []string{"x\ty"}, []bool{false}},
		{`\\N`, tab, []string{`\N`}, []bool{false}},
		{`a\101\tb`, tab, []string{"aA\tb"}, []bool{false}},
		{"1|x||", pipe, []string{"1", "x", "", ""}, []bool{false, false, true, true}},
		{`1|a\|b|`, pipe, []string{"1", "a|b", ""}, []bool{false, false, true}},
		{"héllo|wörld", pipe, []string{"héllo", "wörld"}, []bool{false, false}},
	} {
		fields, nulls, err := splitTextLine(c.line, c.o)
		if err != nil || !slices.Equal(fields, c.fields) || !slices.Equal(nulls, c.nulls) {
			t.Errorf("splitTextLine(%q, %q) = %q %v %v, want %q %v", c.line, c.o.delim, fields, nulls, err, c.fields, c.nulls)
		}
	}
}
