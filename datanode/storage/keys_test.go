package storage

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// randKey draws keys rich in the bytes the escaping cares about.
func randKey(r *rand.Rand) []byte {
	alphabet := []byte{0x00, 0x01, 0x02, 0x7F, 0xFE, 0xFF}
	k := make([]byte, r.IntN(6))
	for i := range k {
		k[i] = alphabet[r.IntN(len(alphabet))]
	}
	return k
}

func TestKeyCodecOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type ver struct {
		key []byte
		seq uint64
		pk  []byte
	}
	for round := 0; round < 50; round++ {
		vers := make([]ver, 300)
		for i := range vers {
			k := randKey(r)
			seq := r.Uint64N(1 << 40)
			if r.IntN(4) == 0 {
				seq = []uint64{1, 0xFF, 0x100, 1<<64 - 2}[r.IntN(4)]
			}
			vers[i] = ver{key: k, seq: seq, pk: appendVersionKey(nil, k, seq)}
		}
		logical := slices.Clone(vers)
		slices.SortStableFunc(logical, func(a, b ver) int {
			if c := bytes.Compare(a.key, b.key); c != 0 {
				return c
			}
			return -cmp.Compare(a.seq, b.seq) // newest first
		})
		physical := slices.Clone(vers)
		slices.SortStableFunc(physical, func(a, b ver) int { return bytes.Compare(a.pk, b.pk) })
		for i := range logical {
			if !bytes.Equal(logical[i].key, physical[i].key) || logical[i].seq != physical[i].seq {
				t.Fatalf("position %d: logical order has %x@%d, physical %x@%d",
					i, logical[i].key, logical[i].seq, physical[i].key, physical[i].seq)
			}
		}
		for _, a := range vers {
			// Round trip.
			p, seq, err := splitVersionKey(a.pk)
			if err != nil || seq != a.seq {
				t.Fatalf("split %x: seq %d err %v, want %d", a.pk, seq, err, a.seq)
			}
			lk, err := appendUnescaped(nil, p)
			if err != nil || !bytes.Equal(lk, a.key) {
				t.Fatalf("unescape %x = %x, %v; want %x", p, lk, err, a.key)
			}
			if !bytes.HasPrefix(a.pk, sysPrefix) && bytes.Compare(a.pk, dataLowest) < 0 {
				t.Fatalf("data key %x sorts below the lowest data key", a.pk)
			}
			if bytes.HasPrefix(a.pk, sysPrefix) {
				t.Fatalf("data key %x is in the system key space", a.pk)
			}
			// Prefix freedom.
			pa := appendPrefix(nil, a.key)
			for _, b := range vers[:20] {
				pb := appendPrefix(nil, b.key)
				if !bytes.Equal(a.key, b.key) && bytes.HasPrefix(pb, pa) {
					t.Fatalf("prefix of %x is a prefix of that of %x", a.key, b.key)
				}
				if inGroup(b.pk, pa) != bytes.Equal(a.key, b.key) {
					t.Fatalf("inGroup(%x, prefix(%x)) wrong", b.pk, a.key)
				}
			}
		}
		// Ranges: a version is inside the physical bounds of [start, end)
		// exactly when its logical key is inside [start, end).
		for i := 0; i < 50; i++ {
			start, end := randKey(r), randKey(r)
			if i%10 == 0 {
				end = nil
			}
			lo, hi := rangeBounds(start, end)
			for _, v := range vers {
				in := bytes.Compare(v.key, start) >= 0 && (end == nil || bytes.Compare(v.key, end) < 0)
				pin := bytes.Compare(v.pk, lo) >= 0 && (hi == nil || bytes.Compare(v.pk, hi) < 0)
				if in != pin {
					t.Fatalf("key %x in [%x, %x): logical %v, physical %v", v.key, start, end, in, pin)
				}
			}
		}
	}
	// System keys sort below every data key, including the empty key's.
	for _, k := range [][]byte{seqHWMKey, xidHWMKey, xidRecordKey(1<<64 - 1)} {
		if bytes.Compare(k, dataLowest) >= 0 || !bytes.HasPrefix(k, sysPrefix) {
			t.Fatalf("system key %x not below data", k)
		}
	}
}

func TestValueCodec(t *testing.T) {
	h := versionHeader{xid: 1<<63 + 5, commandID: 7, tombstone: true}
	v := appendValue(nil, h, []byte("pay"))
	got, payload, err := decodeValue(v)
	if err != nil || got != h || string(payload) != "pay" {
		t.Fatalf("decode: %+v %q %v", got, payload, err)
	}
	if _, _, err := decodeValue(v[:5]); err == nil {
		t.Fatal("short value decoded")
	}
	rec := xidRecord{state: TxnCommitted, gxid: 9, csn: 11}
	xid, r, err := decodeXidRecord(xidRecordKey(3), rec.encode())
	if err != nil || xid != 3 || r != rec {
		t.Fatalf("record: %d %+v %v", xid, r, err)
	}
	prep := xidRecord{state: TxnPrepared, gxid: 9, primary: 2, flags: recExplicit | recCommitIntent, preparedAt: 123456, gid: "g/1"}
	xid, r, err = decodeXidRecord(xidRecordKey(4), prep.encode())
	if err != nil || xid != 4 || r != prep {
		t.Fatalf("prepared record: %d %+v %v", xid, r, err)
	}
	if _, _, err := decodeXidRecord(xidRecordKey(4), prep.encode()[:xidRecordExtLen+1]); err == nil {
		t.Fatal("truncated gid decoded")
	}
	// A prepared record of the first format (21 bytes) still decodes.
	old := prep.encode()[:xidRecordBaseLen]
	if _, r, err = decodeXidRecord(xidRecordKey(4), old); err != nil || r.gid != "" || r.flags != 0 || r.primary != 2 {
		t.Fatalf("21-byte prepared record: %+v %v", r, err)
	}
}
