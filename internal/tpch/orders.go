package tpch

// ORDERS and LINEITEM (clause 4.2.3). An order and its lines come from the
// order's one random stream: O_TOTALPRICE and O_ORDERSTATUS derive from
// the lines, so generating ORDERS generates the lines too (and drops them).

// order is one order and its lines.
type order struct {
	key        int64
	custKey    int64
	status     byte
	totalPrice int64 // cents
	date       int64 // days since 1992-01-01
	priority   string
	clerk      int64
	comment    string
	nlines     int
	lines      [7]lineItem
}

type lineItem struct {
	partKey, suppKey               int64
	quantity                       int64
	extendedPrice                  int64 // cents
	discount, tax                  int64 // hundredths
	returnFlag, lineStatus         byte
	shipDate, commitDate, recvDate int64
	instruct, mode                 string
	comment                        string
}

// sparseKey is the order key of the i-th order (0-based): the first
// eight keys of every 32 are used, as dbgen does (1..7, 32..39, 64..71, ...).
func sparseKey(i int64) int64 {
	n := i + 1
	return n>>3<<5 | n&7
}

// lineCount is the number of lines of order unit i: the first draw of its
// stream.
func (g *Generator) lineCount(i int64) int64 {
	r := newRNG(g.seed, saltOrder, i)
	return r.between(1, 7)
}

// customerKey maps j in [0, 2/3 of the customers) to the j-th key that is
// not a multiple of three (only two thirds of the customers have orders).
func customerKey(j int64) int64 { return j/2*3 + j%2 + 1 }

// genOrder fills o with order unit i and its lines.
func (g *Generator) genOrder(i int64, o *order) {
	r := newRNG(g.seed, saltOrder, i)
	o.nlines = int(r.between(1, 7)) // first: lineCount relies on it
	o.key = sparseKey(i)
	o.custKey = customerKey(r.intn(g.customers - g.customers/3))
	o.date = r.intn(lastOrder + 1)
	o.priority = pick(&r, priorities[:])
	o.clerk = r.between(1, g.clerks)
	o.comment = g.text(&r, 19, 78)
	var total int64 // in 1/10000 of a cent
	var shipped int
	for j := range o.nlines {
		l := &o.lines[j]
		l.partKey = r.between(1, g.parts)
		l.suppKey = g.partSupplier(l.partKey, r.intn(4))
		l.quantity = r.between(1, 50)
		l.extendedPrice = l.quantity * retailPrice(l.partKey)
		l.discount = r.between(0, 10)
		l.tax = r.between(0, 8)
		l.shipDate = o.date + r.between(1, 121)
		l.commitDate = o.date + r.between(30, 90)
		l.recvDate = l.shipDate + r.between(1, 30)
		l.returnFlag = 'N'
		if l.recvDate <= currentDate {
			l.returnFlag = "RA"[r.intn(2)]
		}
		l.lineStatus = 'O'
		if l.shipDate <= currentDate {
			l.lineStatus = 'F'
			shipped++
		}
		l.instruct = pick(&r, instructions[:])
		l.mode = pick(&r, shipModes[:])
		l.comment = g.text(&r, 10, 43)
		total += l.extendedPrice * (100 + l.tax) * (100 - l.discount)
	}
	// O_TOTALPRICE = sum(L_EXTENDEDPRICE * (1+L_TAX) * (1-L_DISCOUNT)),
	// rounded to cents (half up; it is positive).
	o.totalPrice = (total + 5_000) / 10_000
	switch shipped {
	case o.nlines:
		o.status = 'F'
	case 0:
		o.status = 'O'
	default:
		o.status = 'P'
	}
}

// appendOrder appends O_ORDERKEY, O_CUSTKEY, O_ORDERSTATUS, O_TOTALPRICE,
// O_ORDERDATE, O_ORDERPRIORITY, O_CLERK, O_SHIPPRIORITY (always 0),
// O_COMMENT.
func (g *Generator) appendOrder(b []byte, o *order) []byte {
	b = tab(appendInt(b, o.key))
	b = tab(appendInt(b, o.custKey))
	b = tab(append(b, o.status))
	b = tab(appendMoney(b, o.totalPrice))
	b = tab(append(b, g.dates[o.date]...))
	b = tab(append(b, o.priority...))
	b = tab(appendPadded(b, "Clerk#", o.clerk))
	b = append(b, "0\t"...)
	return nl(appendText(b, o.comment))
}

// appendLines appends the order's lines: L_ORDERKEY, L_PARTKEY,
// L_SUPPKEY, L_LINENUMBER, L_QUANTITY, L_EXTENDEDPRICE, L_DISCOUNT, L_TAX,
// L_RETURNFLAG, L_LINESTATUS, L_SHIPDATE, L_COMMITDATE, L_RECEIPTDATE,
// L_SHIPINSTRUCT, L_SHIPMODE, L_COMMENT.
func (g *Generator) appendLines(b []byte, o *order) []byte {
	for j := range o.nlines {
		l := &o.lines[j]
		b = tab(appendInt(b, o.key))
		b = tab(appendInt(b, l.partKey))
		b = tab(appendInt(b, l.suppKey))
		b = tab(appendInt(b, int64(j+1)))
		b = tab(appendMoney(b, l.quantity*100))
		b = tab(appendMoney(b, l.extendedPrice))
		b = tab(appendMoney(b, l.discount))
		b = tab(appendMoney(b, l.tax))
		b = append(b, l.returnFlag, '\t', l.lineStatus, '\t')
		b = tab(append(b, g.dates[l.shipDate]...))
		b = tab(append(b, g.dates[l.commitDate]...))
		b = tab(append(b, g.dates[l.recvDate]...))
		b = tab(append(b, l.instruct...))
		b = tab(append(b, l.mode...))
		b = nl(appendText(b, l.comment))
	}
	return b
}
