package tpch

import "slices"

// PART and PARTSUPP (clause 4.2.3). A part and its four PARTSUPP rows come
// from the part's one random stream, so the two tables can be generated
// separately and still agree.

// part is one part and its four suppliers.
type part struct {
	key       int64
	name      [5]uint8 // indexes into colors, distinct
	mfgr      int64    // M in [1, 5]
	brand     int64    // N in [1, 5]: Brand#MN
	typ       [3]uint8 // syllables of P_TYPE
	size      int64
	container [2]uint8 // syllables of P_CONTAINER
	comment   string
	supp      [4]partSupp
}

type partSupp struct {
	suppKey    int64
	availQty   int64
	supplyCost int64 // cents
	comment    string
}

// retailPrice is P_RETAILPRICE in cents:
// (90000 + ((P_PARTKEY/10) modulo 20001) + 100 * (P_PARTKEY modulo 1000)) / 100.
func retailPrice(partKey int64) int64 {
	return 90000 + (partKey/10)%20001 + 100*(partKey%1000)
}

// genPart fills p with part unit i.
func (g *Generator) genPart(i int64, p *part) {
	r := newRNG(g.seed, saltPart, i)
	p.key = i + 1
	for j := range p.name { // five distinct colours
		c := uint8(r.intn(int64(len(colors))))
		for slices.Contains(p.name[:j], c) {
			c = uint8(r.intn(int64(len(colors))))
		}
		p.name[j] = c
	}
	p.mfgr = r.between(1, 5)
	p.brand = r.between(1, 5)
	p.typ = [3]uint8{uint8(r.intn(int64(len(typeS1)))), uint8(r.intn(int64(len(typeS2)))), uint8(r.intn(int64(len(typeS3))))}
	p.size = r.between(1, 50)
	p.container = [2]uint8{uint8(r.intn(int64(len(containerS1)))), uint8(r.intn(int64(len(containerS2))))}
	p.comment = g.text(&r, 5, 22)
	for j := range p.supp {
		p.supp[j] = partSupp{
			suppKey:    g.partSupplier(p.key, int64(j)),
			availQty:   r.between(1, 9_999),
			supplyCost: r.between(100, 100_000),
			comment:    g.text(&r, 49, 198),
		}
	}
}

// appendPart appends P_PARTKEY, P_NAME, P_MFGR, P_BRAND, P_TYPE, P_SIZE,
// P_CONTAINER, P_RETAILPRICE, P_COMMENT.
func (p *part) appendPart(b []byte) []byte {
	b = tab(appendInt(b, p.key))
	for j, c := range p.name {
		if j > 0 {
			b = append(b, ' ')
		}
		b = append(b, colors[c]...)
	}
	b = tab(b)
	b = tab(appendInt(append(b, "Manufacturer#"...), p.mfgr))
	b = tab(appendInt(append(b, "Brand#"...), p.mfgr*10+p.brand))
	b = append(b, typeS1[p.typ[0]]...)
	b = append(append(b, ' '), typeS2[p.typ[1]]...)
	b = tab(append(append(b, ' '), typeS3[p.typ[2]]...))
	b = tab(appendInt(b, p.size))
	b = append(b, containerS1[p.container[0]]...)
	b = tab(append(append(b, ' '), containerS2[p.container[1]]...))
	b = tab(appendMoney(b, retailPrice(p.key)))
	return nl(appendText(b, p.comment))
}

// appendPartSupp appends the part's four rows: PS_PARTKEY, PS_SUPPKEY,
// PS_AVAILQTY, PS_SUPPLYCOST, PS_COMMENT.
func (p *part) appendPartSupp(b []byte) []byte {
	for _, s := range p.supp {
		b = tab(appendInt(b, p.key))
		b = tab(appendInt(b, s.suppKey))
		b = tab(appendInt(b, s.availQty))
		b = tab(appendMoney(b, s.supplyCost))
		b = nl(appendText(b, s.comment))
	}
	return b
}
