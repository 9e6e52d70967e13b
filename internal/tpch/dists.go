package tpch

// The value domains of TPC-H specification v3, clause 4.2.2.13 (lists) and
// 4.2.3 (nations and regions). These are the only package-level tables.

// nations are the 25 nations with their region keys (clause 4.2.3); the
// index is N_NATIONKEY.
var nations = [25]struct {
	name   string
	region int
}{
	{"ALGERIA", 0}, {"ARGENTINA", 1}, {"BRAZIL", 1}, {"CANADA", 1}, {"EGYPT", 4},
	{"ETHIOPIA", 0}, {"FRANCE", 3}, {"GERMANY", 3}, {"INDIA", 2}, {"INDONESIA", 2},
	{"IRAN", 4}, {"IRAQ", 4}, {"JAPAN", 2}, {"JORDAN", 4}, {"KENYA", 0},
	{"MOROCCO", 0}, {"MOZAMBIQUE", 0}, {"PERU", 1}, {"CHINA", 2}, {"ROMANIA", 3},
	{"SAUDI ARABIA", 4}, {"VIETNAM", 2}, {"RUSSIA", 3}, {"UNITED KINGDOM", 3}, {"UNITED STATES", 1},
}

// regions are the 5 regions; the index is R_REGIONKEY.
var regions = [5]string{"AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"}

// colors are the 92 words P_NAME is made of.
var colors = [92]string{
	"almond", "antique", "aquamarine", "azure", "beige", "bisque", "black", "blanched", "blue",
	"blush", "brown", "burlywood", "burnished", "chartreuse", "chiffon", "chocolate", "coral",
	"cornflower", "cornsilk", "cream", "cyan", "dark", "deep", "dim", "dodger", "drab", "firebrick",
	"floral", "forest", "frosted", "gainsboro", "ghost", "goldenrod", "green", "grey", "honeydew",
	"hot", "indian", "ivory", "khaki", "lace", "lavender", "lawn", "lemon", "light", "lime", "linen",
	"magenta", "maroon", "medium", "metallic", "midnight", "mint", "misty", "moccasin", "navajo",
	"navy", "olive", "orange", "orchid", "pale", "papaya", "peach", "peru", "pink", "plum", "powder",
	"puff", "purple", "red", "rose", "rosy", "royal", "saddle", "salmon", "sandy", "seashell",
	"sienna", "sky", "slate", "smoke", "snow", "spring", "steel", "tan", "thistle", "tomato",
	"turquoise", "violet", "wheat", "white", "yellow",
}

// P_TYPE is one word of each of the three syllable lists (150 types).
var (
	typeS1 = [6]string{"STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO"}
	typeS2 = [5]string{"ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED"}
	typeS3 = [5]string{"TIN", "NICKEL", "BRASS", "STEEL", "COPPER"}
)

// P_CONTAINER is one word of each of the two syllable lists (40 containers).
var (
	containerS1 = [5]string{"SM", "LG", "MED", "JUMBO", "WRAP"}
	containerS2 = [8]string{"CASE", "BOX", "BAG", "JAR", "PKG", "PACK", "CAN", "DRUM"}
)

var (
	segments     = [5]string{"AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD"}
	priorities   = [5]string{"1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"}
	instructions = [4]string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}
	shipModes    = [7]string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}
)

// alnum is the alphabet of random v-strings (addresses): 64 symbols.
const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,."

// weighted is a word list with the weights of dbgen's dists.dss, for the
// text grammar of clause 4.2.2.10.
type weighted struct {
	words   []string
	weights []int
}

var (
	nouns = weighted{
		[]string{"packages", "requests", "accounts", "deposits", "foxes", "ideas", "theodolites",
			"pinto beans", "instructions", "dependencies", "excuses", "platelets", "asymptotes",
			"courts", "dolphins", "multipliers", "sauternes", "warthogs", "frets", "dinos",
			"attainments", "somas", "Tiresias", "patterns", "forges", "braids", "frays", "warhorses",
			"dugouts", "notornis", "epitaphs", "pearls", "tithes", "waters", "orbits", "gifts",
			"sheaves", "depths", "sentiments", "decoys", "realms", "pains", "grouches", "escapades",
			"hockey players"},
		[]int{40, 40, 40, 40, 20, 20, 20, 20, 20, 10, 10, 10, 10, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	verbs = weighted{
		[]string{"sleep", "wake", "are", "cajole", "haggle", "nag", "use", "boost", "affix",
			"detect", "integrate", "maintain", "nod", "was", "lose", "sublate", "solve", "thrash",
			"promise", "engage", "hinder", "print", "x-ray", "breach", "eat", "grow", "impress",
			"mold", "poach", "serve", "run", "dazzle", "snooze", "doze", "unwind", "kindle", "play",
			"hang", "believe", "doubt"},
		[]int{20, 20, 20, 20, 20, 10, 10, 10, 5, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	adjectives = weighted{
		[]string{"special", "pending", "unusual", "express", "furious", "sly", "careful",
			"blithe", "quick", "fluffy", "slow", "quiet", "ruthless", "thin", "close", "dogged",
			"daring", "brave", "stealthy", "permanent", "enticing", "idle", "busy", "regular",
			"final", "ironic", "even", "bold", "silent"},
		[]int{20, 20, 20, 20, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 50, 40, 40,
			30, 20, 10},
	}
	adverbs = weighted{
		[]string{"sometimes", "always", "never", "furiously", "slyly", "carefully", "blithely",
			"quickly", "fluffily", "slowly", "quietly", "ruthlessly", "thinly", "closely",
			"doggedly", "daringly", "bravely", "stealthily", "permanently", "enticingly", "idly",
			"busily", "regularly", "finally", "ironically", "evenly", "boldly", "silently"},
		[]int{1, 1, 1, 50, 50, 50, 40, 30, 20, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			1, 1},
	}
	prepositions = weighted{
		[]string{"about", "above", "according to", "across", "after", "against", "along",
			"alongside of", "among", "around", "at", "atop", "before", "behind", "beneath",
			"beside", "besides", "between", "beyond", "by", "despite", "during", "except", "for",
			"from", "in place of", "inside", "instead of", "into", "near", "of", "on", "outside",
			"over", "past", "since", "through", "throughout", "to", "toward", "under", "until",
			"up", "upon", "without", "with", "within"},
		nil, // all equally likely
	}
	auxiliaries = weighted{
		[]string{"do", "may", "might", "shall", "will", "would", "can", "could", "should",
			"ought to", "must", "will have to", "shall have to", "could have to", "should have to",
			"must have to", "need to", "try to"},
		nil,
	}
	terminators = weighted{
		[]string{".", ";", ":", "?", "!", "--"},
		[]int{50, 1, 1, 1, 1, 1},
	}
	// sentences, noun phrases and verb phrases as templates: N noun phrase,
	// V verb phrase, P prepositional phrase, T terminator; in phrases
	// n noun, j adjective, d adverb, v verb, x auxiliary, ',' a comma.
	sentences   = weighted{[]string{"NVT", "NVPT", "NVNT", "NPVNT", "NPVPT"}, []int{3, 3, 3, 1, 1}}
	nounPhrases = weighted{[]string{"n", "jn", "j,jn", "djn"}, []int{10, 20, 10, 50}}
	verbPhrases = weighted{[]string{"v", "xv", "vd", "xvd"}, []int{30, 1, 40, 1}}
)
