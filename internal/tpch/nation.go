package tpch

// NATION and REGION have fixed rows (clause 4.2.3); only their comments
// are generated: text strings of 31 to 114 (nation) and 31 to 115 (region)
// characters.

// appendNation appends nation i: N_NATIONKEY, N_NAME, N_REGIONKEY, N_COMMENT.
func (g *Generator) appendNation(b []byte, i int64) []byte {
	r := newRNG(g.seed, saltNation, i)
	n := nations[i]
	b = tab(appendInt(b, i))
	b = tab(append(b, n.name...))
	b = tab(appendInt(b, int64(n.region)))
	return nl(appendText(b, g.text(&r, 31, 114)))
}

// appendRegion appends region i: R_REGIONKEY, R_NAME, R_COMMENT.
func (g *Generator) appendRegion(b []byte, i int64) []byte {
	r := newRNG(g.seed, saltRegion, i)
	b = tab(appendInt(b, i))
	b = tab(append(b, regions[i]...))
	return nl(appendText(b, g.text(&r, 31, 115)))
}
