package tpch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The small checking helpers below do not call t.Helper: they run for
// every value of the tables, and their messages name the column.

// tableData is a generated table parsed back from COPY text.
type tableData [][]string

// generate writes a whole table and parses it.
func generate(t *testing.T, g *Generator, tb Table) tableData {
	t.Helper()
	var buf bytes.Buffer
	n, err := g.WriteCopy(context.Background(), &buf, tb, 0, g.Units(tb))
	if err != nil {
		t.Fatalf("%v: %v", tb, err)
	}
	rows := parseCopy(t, tb, buf.Bytes())
	if int64(len(rows)) != n {
		t.Fatalf("%v: WriteCopy reported %d rows, wrote %d", tb, n, len(rows))
	}
	return rows
}

// parseCopy splits COPY text into rows of unescaped fields and checks that
// each row has the table's number of columns.
func parseCopy(t *testing.T, tb Table, b []byte) tableData {
	t.Helper()
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%v: output does not end with a newline", tb)
	}
	cols := len(Columns(tb))
	var rows tableData
	for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != cols {
			t.Fatalf("%v: %d fields, want %d: %q", tb, len(f), cols, line)
		}
		for i := range f {
			f[i] = unescapeCopy(f[i])
		}
		rows = append(rows, f)
	}
	return rows
}

// unescapeCopy undoes COPY text escaping (backslash sequences).
func unescapeCopy(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func newGen(t *testing.T, sf float64) *Generator {
	t.Helper()
	g, err := NewGenerator(sf, DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func atoi(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}

func rat(t *testing.T, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/eE") {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

// cents parses a decimal with two places into hundredths, exactly.
func cents(t *testing.T, s string) int64 {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 2 {
		t.Fatalf("not a decimal with two places: %q", s)
	}
	n := atoi(t, whole+frac)
	return n
}

func date(t *testing.T, s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatalf("not a date: %q", s)
	}
	return d
}

func days(d time.Duration) time.Duration { return d * 24 * time.Hour }

func TestDates(t *testing.T) {
	for _, c := range []struct {
		days int
		want string
	}{{0, "1992-01-01"}, {currentDate, "1995-06-17"}, {endDate, "1998-12-31"}, {lastOrder, "1998-08-02"}} {
		if got := startDate.AddDate(0, 0, c.days).Format(time.DateOnly); got != c.want {
			t.Errorf("day %d is %s, want %s", c.days, got, c.want)
		}
	}
}

// checkCardinalities checks the row counts of clause 4.2.3.
func checkCardinalities(t *testing.T, g *Generator, data map[Table]tableData) {
	t.Helper()
	sf := g.sf
	want := map[Table]int64{
		Region: 5, Nation: 25,
		Supplier: int64(math.Round(10_000 * sf)), Customer: int64(math.Round(150_000 * sf)),
		Part: int64(math.Round(200_000 * sf)), PartSupp: int64(math.Round(800_000 * sf)),
		Orders: int64(math.Round(1_500_000 * sf)),
	}
	for _, tb := range Tables() {
		rows := int64(len(data[tb]))
		if rows != g.Rows(tb) {
			t.Errorf("%v: generated %d rows, Rows says %d", tb, rows, g.Rows(tb))
		}
		if tb == LineItem {
			// 1..7 lines per order, 4 on average.
			orders := want[Orders]
			if mean := float64(rows) / float64(orders); rows < orders || rows > 7*orders || math.Abs(mean-4) > 0.05 {
				t.Errorf("lineitem: %d rows for %d orders (%.3f per order), want about 4 per order", rows, orders, mean)
			}
			continue
		}
		if rows != want[tb] {
			t.Errorf("%v: %d rows, want %d", tb, rows, want[tb])
		}
	}
}

// digest hashes a table's COPY text.
func digest(t *testing.T, g *Generator, tb Table, chunks int) [32]byte {
	t.Helper()
	h := sha256.New()
	for _, c := range g.Chunks(tb, chunks) {
		if _, err := g.WriteCopy(context.Background(), h, c.Table, c.Lo, c.Hi); err != nil {
			t.Fatal(err)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestDeterministic(t *testing.T) {
	g1, g2 := newGen(t, 0.01), newGen(t, 0.01)
	other, err := NewGenerator(0.01, DefaultSeed+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables() {
		whole := digest(t, g1, tb, 1)
		if digest(t, g2, tb, 1) != whole {
			t.Errorf("%v: two generators of the same scale factor and seed differ", tb)
		}
		if digest(t, g1, tb, 7) != whole {
			t.Errorf("%v: generated in 7 chunks differs from generated whole", tb)
		}
		if digest(t, other, tb, 1) == whole {
			t.Errorf("%v: another seed gives the same data", tb)
		}
	}
}

func TestNewGeneratorRejects(t *testing.T) {
	for _, sf := range []float64{0, -1, math.NaN(), math.Inf(1), 0.001, 0.015} {
		if _, err := NewGenerator(sf, DefaultSeed); err == nil {
			t.Errorf("NewGenerator(%v) succeeded, want an error", sf)
		}
	}
	for _, sf := range []float64{0.01, 0.02, 0.05, 0.1, 0.3, 1, 10, 100} {
		if _, err := NewGenerator(sf, DefaultSeed); err != nil {
			t.Errorf("NewGenerator(%v): %v", sf, err)
		}
	}
}

// TestTables generates the eight tables at two scale factors and checks,
// on the COPY text, the cardinalities, keys, domains and derived values of
// clause 4.2.3.
func TestTables(t *testing.T) {
	for _, sf := range []float64{0.01, 0.1} {
		t.Run(fmt.Sprint("SF", sf), func(t *testing.T) {
			g := newGen(t, sf)
			data := map[Table]tableData{}
			for _, tb := range Tables() {
				data[tb] = generate(t, g, tb)
			}
			checkCardinalities(t, g, data)
			checkRelations(t, g, data)
		})
	}
}

// checkRelations checks keys, domains and derived values.
func checkRelations(t *testing.T, g *Generator, data map[Table]tableData) {
	nSupp, nCust := int64(len(data[Supplier])), int64(len(data[Customer]))

	// PART: keys 1..n, retail price formula, domains.
	retail := map[int64]int64{}
	for i, p := range data[Part] {
		key := atoi(t, p[0])
		if key != int64(i+1) {
			t.Fatalf("part %d has key %d", i+1, key)
		}
		// (90000 + ((P_PARTKEY/10) modulo 20001) + 100 * (P_PARTKEY modulo 1000)) / 100
		if want := 90000 + (key/10)%20001 + 100*(key%1000); cents(t, p[7]) != want {
			t.Errorf("part %d: p_retailprice %s, want %d hundredths", key, p[7], want)
		}
		retail[key] = cents(t, p[7])
		checkPartDomains(t, p)
	}

	// PARTSUPP: four rows per part with the spec's supplier formula.
	ps := map[[2]int64]bool{}
	for i, r := range data[PartSupp] {
		part, supp := atoi(t, r[0]), atoi(t, r[1])
		j := int64(i % 4)
		if part != int64(i/4+1) {
			t.Fatalf("partsupp row %d: part %d, want %d", i, part, i/4+1)
		}
		if want := (part+j*(nSupp/4+(part-1)/nSupp))%nSupp + 1; supp != want {
			t.Errorf("partsupp (%d, supplier %d): suppkey %d, want %d", part, j, supp, want)
		}
		if ps[[2]int64{part, supp}] {
			t.Errorf("partsupp key (%d, %d) repeats", part, supp)
		}
		ps[[2]int64{part, supp}] = true
		inRange(t, "ps_availqty", rat(t, r[2]), 1, 9999)
		inRange(t, "ps_supplycost", rat(t, r[3]), 1, 1000)
		lengthIn(t, "ps_comment", r[4], 49, 198)
	}

	// SUPPLIER and CUSTOMER: names, phones by nation, balances.
	complaints, recommends := 0, 0
	for i, s := range data[Supplier] {
		checkParty(t, s, "Supplier#", int64(i+1))
		lengthIn(t, "s_comment", s[6], 25, 100)
		if complaintRE.MatchString(s[6]) {
			complaints++
		}
		if recommendRE.MatchString(s[6]) {
			recommends++
		}
	}
	wantSpecial := max(1, int(math.Ceil(5*g.sf)))
	if complaints != wantSpecial || recommends != wantSpecial {
		t.Errorf("suppliers with Customer%%Complaints: %d, with Customer%%Recommends: %d; want %d each", complaints, recommends, wantSpecial)
	}
	for i, c := range data[Customer] {
		checkParty(t, c, "Customer#", int64(i+1))
		oneOf(t, "c_mktsegment", c[6], segments[:])
		lengthIn(t, "c_comment", c[7], 29, 116)
	}

	// ORDERS: sparse unique keys, customers not multiples of 3.
	type orderInfo struct {
		status string
		total  int64 // cents
		date   time.Time
		lines  int
		// sum of L_EXTENDEDPRICE * (1+L_TAX) * (1-L_DISCOUNT), exact, in
		// 1/10000 of a cent
		sum  int64
		open int // lines with L_LINESTATUS 'O'
	}
	orders := map[int64]*orderInfo{}
	special := 0
	for i, o := range data[Orders] {
		key := atoi(t, o[0])
		if key != sparseKey(int64(i)) || key&24 != 0 {
			t.Fatalf("order %d: key %d, want %d (8 of every 32 keys)", i, key, sparseKey(int64(i)))
		}
		if orders[key] != nil {
			t.Fatalf("order key %d repeats", key)
		}
		cust := atoi(t, o[1])
		if cust < 1 || cust > nCust || cust%3 == 0 {
			t.Errorf("order %d: o_custkey %d (want 1..%d, not a multiple of 3)", key, cust, nCust)
		}
		d := date(t, o[4])
		if d.Before(startDate) || d.After(startDate.Add(days(lastOrder))) {
			t.Errorf("order %d: o_orderdate %s out of range", key, o[4])
		}
		oneOf(t, "o_orderpriority", o[5], priorities[:])
		if clerk := atoi(t, strings.TrimPrefix(o[6], "Clerk#")); len(o[6]) != 15 || clerk < 1 || clerk > max(1, int64(math.Round(1000*g.sf))) {
			t.Errorf("order %d: o_clerk %q", key, o[6])
		}
		if o[7] != "0" {
			t.Errorf("order %d: o_shippriority %s", key, o[7])
		}
		lengthIn(t, "o_comment", o[8], 19, 78)
		if specialRequestsRE.MatchString(o[8]) {
			special++
		}
		orders[key] = &orderInfo{status: o[2], total: cents(t, o[3]), date: d}
	}
	if special == 0 || special > len(data[Orders])/10 {
		t.Errorf("%d of %d order comments match %%special%%requests%% (Q13), want some but not many", special, len(data[Orders]))
	}

	// LINEITEM: existing orders and partsupp rows, numbering, prices,
	// dates and flags.
	current := startDate.Add(days(currentDate))
	for _, l := range data[LineItem] {
		key, part, supp, num := atoi(t, l[0]), atoi(t, l[1]), atoi(t, l[2]), atoi(t, l[3])
		o := orders[key]
		if o == nil {
			t.Fatalf("l_orderkey %d is not an order", key)
		}
		o.lines++
		if num != int64(o.lines) || num > 7 {
			t.Errorf("order %d: line number %d, want %d (1..7)", key, num, o.lines)
		}
		if !ps[[2]int64{part, supp}] {
			t.Errorf("line (%d, %d): (l_partkey %d, l_suppkey %d) is not in partsupp", key, num, part, supp)
		}
		qty, ext, disc, tax := cents(t, l[4]), cents(t, l[5]), cents(t, l[6]), cents(t, l[7])
		if qty%100 != 0 || qty < 100 || qty > 5000 {
			t.Errorf("line (%d, %d): l_quantity %s, want an integer in 1..50", key, num, l[4])
		}
		if want := qty / 100 * retail[part]; ext != want {
			t.Errorf("line (%d, %d): l_extendedprice %s, want %d hundredths", key, num, l[5], want)
		}
		if disc < 0 || disc > 10 || tax < 0 || tax > 8 {
			t.Errorf("line (%d, %d): l_discount %s, l_tax %s, want 0..0.10 and 0..0.08", key, num, l[6], l[7])
		}
		o.sum += ext * (100 + tax) * (100 - disc)
		ship, commit, receipt := date(t, l[10]), date(t, l[11]), date(t, l[12])
		within(t, "l_shipdate", ship, o.date, 1, 121)
		within(t, "l_commitdate", commit, o.date, 30, 90)
		within(t, "l_receiptdate", receipt, ship, 1, 30)
		switch {
		case !receipt.After(current) && l[8] != "R" && l[8] != "A":
			t.Errorf("line (%d, %d) received %s: l_returnflag %q, want R or A", key, num, l[12], l[8])
		case receipt.After(current) && l[8] != "N":
			t.Errorf("line (%d, %d) received %s: l_returnflag %q, want N", key, num, l[12], l[8])
		}
		if want := map[bool]string{true: "O", false: "F"}[ship.After(current)]; l[9] != want {
			t.Errorf("line (%d, %d) shipped %s: l_linestatus %q, want %q", key, num, l[10], l[9], want)
		}
		if l[9] == "O" {
			o.open++
		}
		oneOf(t, "l_shipinstruct", l[13], instructions[:])
		oneOf(t, "l_shipmode", l[14], shipModes[:])
		lengthIn(t, "l_comment", l[15], 10, 43)
	}
	statuses := map[string]int{}
	for key, o := range orders {
		if o.lines == 0 {
			t.Errorf("order %d has no lines", key)
			continue
		}
		// O_TOTALPRICE is the exact sum rounded to cents.
		if diff := o.total*10_000 - o.sum; diff < -5_000 || diff > 5_000 {
			t.Errorf("order %d: o_totalprice %d cents, sum over its lines %d/10000 cents", key, o.total, o.sum)
		}
		want := "P"
		switch o.open {
		case 0:
			want = "F"
		case o.lines:
			want = "O"
		}
		if o.status != want {
			t.Errorf("order %d: o_orderstatus %s with %d of %d lines open, want %s", key, o.status, o.open, o.lines, want)
		}
		statuses[o.status]++
	}
	if statuses["F"] == 0 || statuses["O"] == 0 || statuses["P"] == 0 {
		t.Errorf("order statuses %v: want all of F, O and P", statuses)
	}

	// NATION and REGION: the spec's fixed rows.
	for i, n := range data[Nation] {
		if n[0] != fmt.Sprint(i) || n[1] != nations[i].name || n[2] != fmt.Sprint(nations[i].region) {
			t.Errorf("nation row %d: %v", i, n[:3])
		}
		lengthIn(t, "n_comment", n[3], 31, 114)
	}
	wantRegions := []string{"AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"}
	for i, r := range data[Region] {
		if r[0] != fmt.Sprint(i) || r[1] != wantRegions[i] {
			t.Errorf("region row %d: %v", i, r[:2])
		}
		lengthIn(t, "r_comment", r[2], 31, 115)
	}
	if data[Nation][7][1] != "GERMANY" || data[Nation][7][2] != "3" || data[Nation][20][1] != "SAUDI ARABIA" {
		t.Errorf("nations 7 and 20: %v, %v", data[Nation][7][:3], data[Nation][20][:3])
	}
}

var (
	partNameRE  = regexp.MustCompile(`^[a-z]+( [a-z]+){4}$`)
	mfgrBrandRE = regexp.MustCompile(`^Manufacturer#([1-5])$`)
	brandRE     = regexp.MustCompile(`^Brand#([1-5])([1-5])$`)
	phoneRE     = regexp.MustCompile(`^(\d\d)-\d{3}-\d{3}-\d{4}$`)

	complaintRE       = regexp.MustCompile(`Customer.*Complaints`) // Q16
	recommendRE       = regexp.MustCompile(`Customer.*Recommends`)
	specialRequestsRE = regexp.MustCompile(`special.*requests`) // Q13
)

// checkPartDomains checks P_NAME .. P_COMMENT of a part row.
func checkPartDomains(t *testing.T, p []string) {
	t.Helper()
	words := strings.Fields(p[1])
	if !partNameRE.MatchString(p[1]) || len(slices.Compact(slices.Sorted(slices.Values(words)))) != 5 {
		t.Errorf("part %s: p_name %q, want five distinct colours", p[0], p[1])
	}
	for _, w := range words {
		oneOf(t, "p_name word", w, colors[:])
	}
	m, b := mfgrBrandRE.FindStringSubmatch(p[2]), brandRE.FindStringSubmatch(p[3])
	if m == nil || b == nil || b[1] != m[1] {
		t.Errorf("part %s: p_mfgr %q, p_brand %q", p[0], p[2], p[3])
	}
	syl := strings.Split(p[4], " ")
	if len(syl) != 3 || !slices.Contains(typeS1[:], syl[0]) || !slices.Contains(typeS2[:], syl[1]) || !slices.Contains(typeS3[:], syl[2]) {
		t.Errorf("part %s: p_type %q", p[0], p[4])
	}
	inRange(t, "p_size", rat(t, p[5]), 1, 50)
	syl = strings.Split(p[6], " ")
	if len(syl) != 2 || !slices.Contains(containerS1[:], syl[0]) || !slices.Contains(containerS2[:], syl[1]) {
		t.Errorf("part %s: p_container %q", p[0], p[6])
	}
	lengthIn(t, "p_comment", p[8], 5, 22)
}

// checkParty checks the columns SUPPLIER and CUSTOMER share.
func checkParty(t *testing.T, r []string, prefix string, key int64) {
	t.Helper()
	if atoi(t, r[0]) != key || r[1] != fmt.Sprintf("%s%09d", prefix, key) {
		t.Errorf("%s%d: key %s, name %q", prefix, key, r[0], r[1])
	}
	lengthIn(t, "address", r[2], 10, 40)
	nation := atoi(t, r[3])
	m := phoneRE.FindStringSubmatch(r[4])
	if nation < 0 || nation > 24 || m == nil || atoi(t, m[1]) != nation+10 {
		t.Errorf("%s%d: nation %d, phone %q (country code is nation + 10)", prefix, key, nation, r[4])
	}
	inRange(t, "acctbal", rat(t, r[5]), -999.99, 9999.99)
}

func inRange(t *testing.T, what string, v *big.Rat, lo, hi float64) {
	if f, _ := v.Float64(); f < lo || f > hi {
		t.Errorf("%s %s out of [%v, %v]", what, v.FloatString(2), lo, hi)
	}
}

func lengthIn(t *testing.T, what, s string, lo, hi int) {
	if len(s) < lo || len(s) > hi {
		t.Errorf("%s %q: length %d out of [%d, %d]", what, s, len(s), lo, hi)
	}
}

func oneOf(t *testing.T, what, s string, list []string) {
	if !slices.Contains(list, s) {
		t.Errorf("%s %q is not one of %v", what, s, list)
	}
}

// within checks that d is base plus lo..hi days.
func within(t *testing.T, what string, d, base time.Time, lo, hi int) {
	if n := int(d.Sub(base) / days(1)); n < lo || n > hi {
		t.Errorf("%s %s is %d days after %s, want %d..%d", what, d.Format(time.DateOnly), n, base.Format(time.DateOnly), lo, hi)
	}
}

func TestCopyText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, 1.5", "plain text, 1.5"},
		{"tab\there", `tab\there`},
		{"new\nline\r", `new\nline\r`},
		{`back\slash`, `back\\slash`},
		{`\N`, `\\N`}, // not NULL
		{"ünïcode", "ünïcode"},
	} {
		got := string(appendText(nil, c.in))
		if got != c.want {
			t.Errorf("appendText(%q) = %q, want %q", c.in, got, c.want)
		}
		if back := unescapeCopy(got); back != c.in {
			t.Errorf("unescape(appendText(%q)) = %q", c.in, back)
		}
	}
	for _, c := range []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {-5, "-0.05"}, {-99999, "-999.99"}, {100, "1.00"}, {123456789, "1234567.89"}} {
		if got := string(appendMoney(nil, c.cents)); got != c.want {
			t.Errorf("appendMoney(%d) = %q, want %q", c.cents, got, c.want)
		}
	}
	if got := string(appendPadded(nil, "Clerk#", 42)); got != "Clerk#000000042" {
		t.Errorf("appendPadded = %q", got)
	}
	if got := string(appendPadded(nil, "Customer#", 1234567890)); got != "Customer#1234567890" {
		t.Errorf("appendPadded of ten digits = %q", got)
	}
	if got := string(appendPhone(nil, phone{24, 100, 999, 1000})); got != "34-100-999-1000" {
		t.Errorf("appendPhone = %q", got)
	}
}

func TestSparseKeys(t *testing.T) {
	var got []int64
	for i := range int64(17) {
		got = append(got, sparseKey(i))
	}
	want := []int64{1, 2, 3, 4, 5, 6, 7, 32, 33, 34, 35, 36, 37, 38, 39, 64, 65}
	if !slices.Equal(got, want) {
		t.Errorf("sparse keys %v, want %v", got, want)
	}
	if k := sparseKey(1_500_000 - 1); k != 6_000_000 {
		t.Errorf("the last order key of SF 1 is %d, want 6000000 (as dbgen)", k)
	}
}

func TestWriteCopyRange(t *testing.T) {
	g := newGen(t, 0.01)
	var buf bytes.Buffer
	if _, err := g.WriteCopy(context.Background(), &buf, Orders, 10, g.Units(Orders)+1); err == nil {
		t.Error("WriteCopy past the last unit succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.WriteCopy(ctx, &buf, LineItem, 0, g.Units(LineItem)); err == nil {
		t.Error("WriteCopy with a canceled context succeeded")
	}
	n, err := g.WriteCopy(context.Background(), &buf, PartSupp, 5, 5)
	if err != nil || n != 0 {
		t.Errorf("an empty range: %d rows, %v", n, err)
	}
}

func BenchmarkGenerate(b *testing.B) {
	g, err := NewGenerator(0.1, DefaultSeed)
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for b.Loop() {
		for _, tb := range Tables() {
			w := &countingWriter{}
			if _, err := g.WriteCopy(context.Background(), w, tb, 0, g.Units(tb)); err != nil {
				b.Fatal(err)
			}
			bytes += w.n
		}
	}
	b.SetBytes(bytes / int64(b.N))
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
