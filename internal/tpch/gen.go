package tpch

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// DefaultSeed is the seed of the generator when none is given.
const DefaultSeed uint64 = 19920101

// Table is one of the eight TPC-H tables.
type Table int

// The tables, in loading order (the small ones first).
const (
	Region Table = iota
	Nation
	Supplier
	Customer
	Part
	PartSupp
	Orders
	LineItem
)

var tableNames = [...]string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"}

func (t Table) String() string {
	if t < 0 || int(t) >= len(tableNames) {
		return fmt.Sprintf("Table(%d)", int(t))
	}
	return tableNames[t]
}

// Tables returns the eight tables in loading order.
func Tables() []Table {
	return []Table{Region, Nation, Supplier, Customer, Part, PartSupp, Orders, LineItem}
}

// ParseTable returns the table of a name such as "lineitem".
func ParseTable(name string) (Table, error) {
	for i, n := range tableNames {
		if strings.EqualFold(name, n) {
			return Table(i), nil
		}
	}
	return 0, fmt.Errorf("tpch: unknown table %q (one of %s)", name, strings.Join(tableNames[:], ", "))
}

// The dates of clause 4.2.2.12, as days since startDate.
var startDate = time.Date(1992, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	currentDate  = 1263                 // 1995-06-17
	endDate      = 2556                 // 1998-12-31
	lastOrder    = endDate - 151        // O_ORDERDATE is in [0, lastOrder]
	lastReceipt  = lastOrder + 121 + 30 // the latest L_RECEIPTDATE
	minSupplier4 = 4                    // PS_SUPPKEY's formula needs S >= 4
)

// Generator produces the rows of the eight tables for one scale factor and
// seed. It is safe for concurrent use: it holds only what it computed at
// creation (cardinalities, the text pool, date strings), and every row
// draws from its own random stream.
type Generator struct {
	sf        float64
	seed      uint64
	suppliers int64 // S = SF * 10,000
	parts     int64 // SF * 200,000
	customers int64 // SF * 150,000
	orders    int64 // SF * 1,500,000
	clerks    int64 // SF * 1,000
	pool      string
	dates     []string // "YYYY-MM-DD" of each day from startDate to lastReceipt
	// special maps the supplier keys whose comment holds "Customer ...
	// Complaints" or "Customer ... Recommends" to that text.
	special map[int64]string
}

// NewGenerator prepares the data of scale factor sf (1 is about 1 GB;
// fractions such as 0.01 work) from a seed. It fails for a scale factor
// at which the specification's supplier formula for PARTSUPP would give a
// part the same supplier twice (below 0.01 and a few values such as
// 0.015).
func NewGenerator(sf float64, seed uint64) (*Generator, error) {
	if !(sf > 0) || math.IsInf(sf, 0) {
		return nil, fmt.Errorf("tpch: scale factor %v must be positive", sf)
	}
	scaled := func(base float64) int64 { return max(1, int64(math.Round(base*sf))) }
	g := &Generator{
		sf:        sf,
		seed:      seed,
		suppliers: scaled(10_000),
		parts:     scaled(200_000),
		customers: scaled(150_000),
		orders:    scaled(1_500_000),
		clerks:    scaled(1_000),
	}
	if err := g.checkSupplierFormula(); err != nil {
		return nil, err
	}
	if 4*g.orders+32 > math.MaxInt32 {
		return nil, fmt.Errorf("tpch: scale factor %v: order keys would not fit the integer columns", sf)
	}
	g.pool = newTextPool(seed, poolSize)
	for d := 0; d <= lastReceipt; d++ {
		g.dates = append(g.dates, startDate.AddDate(0, 0, d).Format(time.DateOnly))
	}
	g.special = g.pickSpecialSuppliers()
	return g, nil
}

// ScaleFactor is the generator's scale factor.
func (g *Generator) ScaleFactor() float64 { return g.sf }

// checkSupplierFormula verifies that the four suppliers of every part are
// distinct: supplier i of part p is (p + i*(S/4 + (p-1)/S)) mod S + 1, so
// suppliers i and j collide when (i-j)*(S/4 + (p-1)/S) is a multiple of S.
func (g *Generator) checkSupplierFormula() error {
	s := g.suppliers
	if s < minSupplier4 {
		return fmt.Errorf("tpch: scale factor %v has %d suppliers; PARTSUPP needs at least 4", g.sf, s)
	}
	for k := int64(0); k <= (g.parts-1)/s; k++ {
		for d := int64(1); d <= 3; d++ {
			if d*(s/4+k)%s == 0 {
				return fmt.Errorf("tpch: scale factor %v: the PARTSUPP supplier formula gives some parts the same supplier twice; use another scale factor (0.01, 0.1, 1, ...)", g.sf)
			}
		}
	}
	return nil
}

// partSupplier is the supplier key of the i-th (0..3) supplier of a part
// (clause 4.2.3, PS_SUPPKEY; L_SUPPKEY uses the same formula).
func (g *Generator) partSupplier(partKey, i int64) int64 {
	s := g.suppliers
	return (partKey+i*(s/4+(partKey-1)/s))%s + 1
}

// pickSpecialSuppliers chooses the suppliers whose comments hold the
// complaints and recommendations: SF*5 of each (clause 4.2.3), but at
// least one, so that Q16 has something to exclude at small scale factors.
func (g *Generator) pickSpecialSuppliers() map[int64]string {
	n := max(1, int64(math.Ceil(5*g.sf)))
	n = min(n, g.suppliers/2)
	r := newRNG(g.seed, saltSpecial, 0)
	m := make(map[int64]string, 2*n)
	for i := int64(0); i < 2*n; {
		k := r.between(1, g.suppliers)
		if _, dup := m[k]; dup {
			continue
		}
		if i < n {
			m[k] = "Customer Complaints"
		} else {
			m[k] = "Customer Recommends"
		}
		i++
	}
	return m
}

// Units is how many generation units a table has: one per row, except a
// PARTSUPP unit is a part (four rows) and a LINEITEM unit an order (one to
// seven rows). Chunks of units can be generated independently.
func (g *Generator) Units(t Table) int64 {
	switch t {
	case Region:
		return int64(len(regions))
	case Nation:
		return int64(len(nations))
	case Supplier:
		return g.suppliers
	case Customer:
		return g.customers
	case Part, PartSupp:
		return g.parts
	case Orders, LineItem:
		return g.orders
	}
	return 0
}

// Rows is the number of rows of a table. For LINEITEM it draws the number
// of lines of every order (fast: the first draw of each order's stream).
func (g *Generator) Rows(t Table) int64 {
	switch t {
	case PartSupp:
		return 4 * g.parts
	case LineItem:
		var n int64
		for i := range g.orders {
			n += g.lineCount(i)
		}
		return n
	}
	return g.Units(t)
}

// Chunk is a range [Lo, Hi) of a table's units.
type Chunk struct {
	Table  Table
	Lo, Hi int64
}

// Chunks splits a table's units into at most n ranges of about equal size.
func (g *Generator) Chunks(t Table, n int) []Chunk {
	units := g.Units(t)
	n = int(max(1, min(int64(n), units)))
	out := make([]Chunk, n)
	for i := range n {
		out[i] = Chunk{Table: t, Lo: units * int64(i) / int64(n), Hi: units * int64(i+1) / int64(n)}
	}
	return out
}
