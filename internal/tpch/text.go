package tpch

// Comments are "text strings" (clause 4.2.2.10): a substring of random
// length and offset of a text pool made of sentences of a small grammar.
// dbgen's pool is 300 MB; ours is poolSize bytes, enough for comments
// (at most 198 characters) at random offsets to rarely repeat.

const poolSize = 8 << 20

// chooser picks words of a weighted list with their probabilities.
type chooser struct {
	words []string
	cum   []int64 // cumulative weights
}

func newChooser(w weighted) chooser {
	c := chooser{words: w.words, cum: make([]int64, len(w.words))}
	var sum int64
	for i := range w.words {
		wt := int64(1)
		if w.weights != nil {
			wt = int64(w.weights[i])
		}
		sum += wt
		c.cum[i] = sum
	}
	return c
}

func (c *chooser) pick(r *rng) string {
	x := r.intn(c.cum[len(c.cum)-1])
	lo, hi := 0, len(c.cum)-1
	for lo < hi { // the first i with cum[i] > x
		m := (lo + hi) / 2
		if c.cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return c.words[lo]
}

// grammar generates the sentences of clause 4.2.2.10:
//
//	sentence: N V T | N V P T | N V N T | N P V N T | N P V P T
//	N (noun phrase): noun | adjective noun | adjective, adjective noun | adverb adjective noun
//	V (verb phrase): verb | auxiliary verb | verb adverb | auxiliary verb adverb
//	P (prepositional phrase): preposition the N
//	T: terminator
type grammar struct {
	sentence, np, vp                      chooser
	noun, verb, adj, adv, prep, aux, term chooser
}

func newGrammar() *grammar {
	return &grammar{
		sentence: newChooser(sentences), np: newChooser(nounPhrases), vp: newChooser(verbPhrases),
		noun: newChooser(nouns), verb: newChooser(verbs), adj: newChooser(adjectives),
		adv: newChooser(adverbs), prep: newChooser(prepositions), aux: newChooser(auxiliaries),
		term: newChooser(terminators),
	}
}

// appendWord appends a word, after a space unless b is empty.
func appendWord(b []byte, w string) []byte {
	if len(b) > 0 {
		b = append(b, ' ')
	}
	return append(b, w...)
}

// appendPhrase appends a noun or verb phrase from its template.
func (g *grammar) appendPhrase(b []byte, r *rng, tmpl string) []byte {
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case 'n':
			b = appendWord(b, g.noun.pick(r))
		case 'j':
			b = appendWord(b, g.adj.pick(r))
		case 'd':
			b = appendWord(b, g.adv.pick(r))
		case 'v':
			b = appendWord(b, g.verb.pick(r))
		case 'x':
			b = appendWord(b, g.aux.pick(r))
		case ',':
			b = append(b, ',')
		}
	}
	return b
}

// appendSentence appends one sentence.
func (g *grammar) appendSentence(b []byte, r *rng) []byte {
	tmpl := g.sentence.pick(r)
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case 'N':
			b = g.appendPhrase(b, r, g.np.pick(r))
		case 'V':
			b = g.appendPhrase(b, r, g.vp.pick(r))
		case 'P':
			b = appendWord(b, g.prep.pick(r))
			b = appendWord(b, "the")
			b = g.appendPhrase(b, r, g.np.pick(r))
		case 'T':
			b = append(b, g.term.pick(r)...)
		}
	}
	return b
}

// newTextPool generates size bytes of sentences from the seed.
func newTextPool(seed uint64, size int) string {
	g := newGrammar()
	r := newRNG(seed, saltPool, 0)
	b := make([]byte, 0, size+256)
	for len(b) < size {
		b = g.appendSentence(b, &r)
	}
	return string(b[:size])
}

// text is a text string of clause 4.2.2.10: a substring of the pool of a
// length uniform in [lo, hi], at a random offset.
func (g *Generator) text(r *rng, lo, hi int64) string {
	n := r.between(lo, hi)
	off := r.intn(int64(len(g.pool)) - hi)
	return g.pool[off : off+n]
}
