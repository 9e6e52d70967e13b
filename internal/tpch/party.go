package tpch

// SUPPLIER and CUSTOMER rows (clause 4.2.3) begin alike: a key, a name
// made of the key, a random v-string address, a nation, a phone number of
// that nation and an account balance in [-999.99, 9,999.99].

// appendVString appends a random v-string of clause 4.2.2.7: lo to hi
// characters of a 64-symbol alphabet.
func appendVString(b []byte, r *rng, lo, hi int64) []byte {
	n := r.between(lo, hi)
	for range n {
		b = append(b, alnum[r.intn(int64(len(alnum)))])
	}
	return b
}

// appendParty appends the columns both tables share: key, name
// (prefix and the key's nine digits), address, nation key, phone, account
// balance, each followed by a tab.
func appendParty(b []byte, r *rng, prefix string, key int64) []byte {
	b = tab(appendInt(b, key))
	b = tab(appendPadded(b, prefix, key))
	b = tab(appendVString(b, r, 10, 40))
	nation := r.between(0, 24)
	b = tab(appendInt(b, nation))
	b = tab(appendPhone(b, randomPhone(r, nation)))
	return tab(appendMoney(b, r.between(-99_999, 999_999)))
}

// appendSupplier appends supplier unit i: S_SUPPKEY, S_NAME, S_ADDRESS,
// S_NATIONKEY, S_PHONE, S_ACCTBAL, S_COMMENT. The comments of the
// suppliers picked by pickSpecialSuppliers hold "Customer Complaints" or
// "Customer Recommends" at a random position.
func (g *Generator) appendSupplier(b []byte, i int64) []byte {
	r := newRNG(g.seed, saltSupplier, i)
	key := i + 1
	b = appendParty(b, &r, "Supplier#", key)
	comment := g.text(&r, 25, 100)
	if s, ok := g.special[key]; ok {
		at := r.between(0, int64(len(comment)-len(s)))
		comment = comment[:at] + s + comment[at+int64(len(s)):]
	}
	return nl(appendText(b, comment))
}

// appendCustomer appends customer unit i: C_CUSTKEY, C_NAME, C_ADDRESS,
// C_NATIONKEY, C_PHONE, C_ACCTBAL, C_MKTSEGMENT, C_COMMENT.
func (g *Generator) appendCustomer(b []byte, i int64) []byte {
	r := newRNG(g.seed, saltCustomer, i)
	b = appendParty(b, &r, "Customer#", i+1)
	b = tab(append(b, pick(&r, segments[:])...))
	return nl(appendText(b, g.text(&r, 29, 116)))
}
