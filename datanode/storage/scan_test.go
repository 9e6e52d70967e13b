package storage

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// history is a model of the committed versions of each key.
type history map[string][]modelVersion

type modelVersion struct {
	csn   uint64
	value string // "" = tombstone
}

// at returns the model's rows visible at snapshot csn, in key order.
func (h history) at(csn uint64) []string {
	var rows []string
	for k, vs := range h {
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].csn < csn {
				if vs[i].value != "" {
					rows = append(rows, k+"="+vs[i].value)
				}
				break
			}
		}
	}
	slices.Sort(rows)
	return rows
}

// buildHistory writes keys with 1 to 40 versions each (a round per
// transaction, committed at CSN 10*round), random tombstones, aborted and
// in-progress writers mixed in.
func buildHistory(t *testing.T, e *Engine) (history, []string) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	h := history{}
	var keys []string
	nvers := map[string]int{}
	for i := 0; i < 60; i++ {
		k := fmt.Sprintf("k%03d", i)
		if i%7 == 0 {
			k += "\x00x" // exercise escaping
		}
		keys = append(keys, k)
		nvers[k] = []int{1, 2, 5, 12, 40}[i%5]
	}
	slices.Sort(keys)
	gxid := uint64(1)
	for round := 1; round <= 40; round++ {
		txn := e.Txn(gxid)
		gxid++
		aborter := e.Txn(gxid)
		gxid++
		for _, k := range keys {
			if nvers[k] < round {
				continue
			}
			_, seq, _, err := e.GetLatest(ctx, []byte(k), txn)
			if err != nil {
				t.Fatal(err)
			}
			value := fmt.Sprintf("%s@%d", k, round)
			if round > 1 && r.IntN(4) == 0 {
				value = ""
			}
			var v []byte
			if value != "" {
				v = []byte(value)
			}
			if err := txn.Write(ctx, []byte(k), v, 0, seq); err != nil {
				t.Fatal(err)
			}
			h[k] = append(h[k], modelVersion{csn: uint64(10 * round), value: value})
			if r.IntN(5) == 0 {
				// A newer version by a transaction that aborts, left behind.
				if err := e.WriteVersion([]byte(k), []byte("aborted"), aborter.XID(), 0, false); err != nil {
					t.Fatal(err)
				}
			}
		}
		commitAt(t, txn, uint64(10*round))
		if err := aborter.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	// An in-progress writer on a few keys.
	inprog := e.Txn(gxid)
	for _, k := range keys[:5] {
		if err := e.WriteVersion([]byte(k), []byte("in progress"), inprog.XID(), 0, false); err != nil {
			t.Fatal(err)
		}
	}
	return h, keys
}

func scanRows(t *testing.T, e *Engine, snap Snapshot, start, end []byte) []string {
	t.Helper()
	var rows []string
	var last []byte
	err := e.Scan(context.Background(), snap, start, end, func(key, value []byte, seq uint64) error {
		if last != nil && bytes.Compare(key, last) <= 0 {
			return fmt.Errorf("key %q after %q", key, last)
		}
		last = bytes.Clone(key)
		// The seq is that of the version Get returns.
		v, gseq, found, err := e.Get(context.Background(), snap, key)
		if err != nil || !found || gseq != seq || !bytes.Equal(v, value) {
			return fmt.Errorf("Get(%q) = %q@%d %v %v, Scan gave %q@%d", key, v, gseq, found, err, value, seq)
		}
		rows = append(rows, string(key)+"="+string(value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkOtherScans scans with ScanValues and with a Reader's Scan, which must
// agree with Scan (rows from scanRows).
func checkOtherScans(t *testing.T, e *Engine, snap Snapshot, rows []string) {
	t.Helper()
	var values []string
	err := e.ScanValues(context.Background(), snap, nil, nil, func(key, value []byte, _ uint64) error {
		if key != nil {
			return fmt.Errorf("ScanValues gave key %q", key)
		}
		values = append(values, string(value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range rows {
		want = append(want, r[bytes.IndexByte([]byte(r), '=')+1:])
	}
	if !slices.Equal(values, want) {
		t.Fatalf("ScanValues:\n got %q\nwant %q", values, want)
	}
	rd, err := e.NewReader(snap)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []string
	if err := rd.Scan(context.Background(), []byte("k"), []byte("l"), func(key, value []byte, _ uint64) error {
		got = append(got, string(key)+"="+string(value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rows) {
		t.Fatalf("Reader.Scan:\n got %q\nwant %q", got, rows)
	}
	values = values[:0]
	if err := rd.ScanValues(context.Background(), []byte("k"), []byte("l"), func(key, value []byte, _ uint64) error {
		if key != nil {
			return fmt.Errorf("Reader.ScanValues gave key %q", key)
		}
		values = append(values, string(value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values, want) {
		t.Fatalf("Reader.ScanValues:\n got %q\nwant %q", values, want)
	}
}

func TestScanManyVersions(t *testing.T) {
	e := openMem(t, nil)
	h, keys := buildHistory(t, e)
	// In the memtable, then in sstables (where NextPrefix steps over a
	// key's versions by the blocks' prefix marks).
	for _, flushed := range []bool{false, true} {
		if flushed {
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		for _, csn := range []uint64{1, 10, 11, 15, 55, 125, 200, 395, 401, Latest} {
			want := h.at(csn)
			got := scanRows(t, e, at(csn), nil, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("scan at %d (flushed %v):\n got %q\nwant %q", csn, flushed, got, want)
			}
			checkOtherScans(t, e, at(csn), got)
		}
	}
	// Sub-ranges, including bounds between and on keys.
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 30; i++ {
		a, b := keys[r.IntN(len(keys))], keys[r.IntN(len(keys))]
		if a > b {
			a, b = b, a
		}
		if i%3 == 0 {
			a += "\x00"
		}
		var end []byte
		if i%5 != 0 {
			end = []byte(b)
		}
		csn := uint64(r.IntN(420))
		var want []string
		for _, row := range h.at(csn) {
			k := row[:bytes.IndexByte([]byte(row), '=')]
			if k >= a && (end == nil || k < b) {
				want = append(want, row)
			}
		}
		if got := scanRows(t, e, at(csn), []byte(a), end); !slices.Equal(got, want) {
			t.Fatalf("scan [%q, %q) at %d:\n got %q\nwant %q", a, end, csn, got, want)
		}
	}
}

// TestScanOwnWrites: a transaction's scan sees its earlier commands'
// writes over committed rows, including deletes.
func TestScanOwnWrites(t *testing.T) {
	e := openMem(t, nil)
	ctx := context.Background()
	for i, k := range []string{"a", "b", "c"} {
		put(t, e, uint64(i+1), k, k+"0", 5)
	}
	txn := e.Txn(10)
	if err := txn.Write(ctx, []byte("b"), nil, 1, seqOf(t, e, "b")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Write(ctx, []byte("c"), []byte("c1"), 1, seqOf(t, e, "c")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Insert(ctx, []byte("d"), []byte("d1"), 1); err != nil {
		t.Fatal(err)
	}
	got := scanRows(t, e, Snapshot{CSN: 10, Txn: txn, CommandID: 2}, nil, nil)
	if want := []string{"a=a0", "c=c1", "d=d1"}; !slices.Equal(got, want) {
		t.Fatalf("own scan %q, want %q", got, want)
	}
	got = scanRows(t, e, Snapshot{CSN: 10, Txn: txn, CommandID: 1}, nil, nil)
	if want := []string{"a=a0", "b=b0", "c=c0"}; !slices.Equal(got, want) {
		t.Fatalf("scan before own command %q, want %q", got, want)
	}
}

// TestScanAllVersionsRebuild copies every version into a second key space,
// as an index build does, and checks both read the same at every snapshot.
func TestScanAllVersionsRebuild(t *testing.T) {
	e := openMem(t, nil)
	h, _ := buildHistory(t, e)
	ctx := context.Background()
	var copied int
	err := e.ScanAllVersions(ctx, []byte("k"), []byte("l"), func(key, value []byte, xid uint64, cmd uint32, tomb bool, seq uint64) error {
		copied++
		if string(value) == "aborted" {
			return fmt.Errorf("version of an aborted writer: %q", key)
		}
		return e.WriteVersion(append([]byte("ix/"), key...), value, xid, cmd, tomb)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, vs := range h {
		total += len(vs)
	}
	if copied != total+5 { // + the in-progress versions
		t.Fatalf("copied %d versions, want %d", copied, total+5)
	}
	for _, csn := range []uint64{1, 11, 155, 401, Latest} {
		orig := scanRows(t, e, at(csn), []byte("k"), []byte("l"))
		ix := scanRows(t, e, at(csn), []byte("ix/"), []byte("ix0"))
		for i := range ix {
			ix[i] = ix[i][len("ix/"):]
		}
		if !slices.Equal(orig, ix) {
			t.Fatalf("at %d: index %q\n original %q", csn, ix, orig)
		}
	}
}

func TestDeleteRange(t *testing.T) {
	e := openMem(t, nil)
	for i, k := range []string{"", "a", "a\x00", "b", "b\xff", "c"} {
		put(t, e, uint64(i+1), k, "v"+k, 5)
	}
	if err := e.DeleteRange([]byte("a\x00"), []byte("b\xff")); err != nil {
		t.Fatal(err)
	}
	rows := scanRows(t, e, at(Latest), nil, nil)
	if want := []string{"=v", "a=va", "b\xff=vb\xff", "c=vc"}; !slices.Equal(rows, want) {
		t.Fatalf("after delete range: %q", rows)
	}
	if err := e.DeleteRange([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteRange([]byte("x"), nil); err != nil { // empty range
		t.Fatal(err)
	}
	rows = scanRows(t, e, at(Latest), nil, nil)
	if want := []string{"=v", "a=va"}; !slices.Equal(rows, want) {
		t.Fatalf("after open-ended delete range: %q", rows)
	}
	// System keys are untouched: counters and transaction records survive.
	if err := e.DeleteRange(nil, nil); err != nil {
		t.Fatal(err)
	}
	if rows := scanRows(t, e, at(Latest), nil, nil); len(rows) != 0 {
		t.Fatalf("rows left: %q", rows)
	}
	put(t, e, 100, "z", "vz", 6)
	if got := get(t, e, at(Latest), "z"); got != "vz" {
		t.Fatalf("z = %q", got)
	}
}

// A Reader's Get and GetView read the visible version of a key (GetView
// without copying it), and a GetView's value stays intact while the
// reader's Scan, on its own iterator, runs.
func TestReaderGetView(t *testing.T) {
	e := openDir(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	keys := [][]byte{[]byte("a\x00b"), []byte("a\x00c"), []byte("z")}
	txn := e.Txn(1)
	for i, k := range keys {
		if err := txn.Insert(ctx, k, []byte{byte('A' + i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	commitAt(t, txn, 10)
	rd, err := e.NewReader(at(20))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for i, k := range keys {
		got, _, found, err := rd.GetView(ctx, k)
		if err != nil || !found || string(got) != string(rune('A'+i)) {
			t.Fatalf("GetView(%q) = %q, %v, %v", k, got, found, err)
		}
		scanned := 0
		if err := rd.Scan(ctx, []byte("a"), []byte("b"), func(_, _ []byte, _ uint64) error { scanned++; return nil }); err != nil || scanned != 2 {
			t.Fatalf("scan: %d rows, %v", scanned, err)
		}
		if string(got) != string(rune('A'+i)) {
			t.Fatalf("GetView(%q)'s value changed to %q by a scan", k, got)
		}
		copied, _, _, _ := rd.Get(ctx, k)
		if string(copied) != string(got) {
			t.Fatalf("Get(%q) = %q, GetView %q", k, copied, got)
		}
	}
	if _, _, found, err := rd.GetView(ctx, []byte("a")); err != nil || found {
		t.Fatalf("GetView of a missing key: found %v, %v", found, err)
	}
}
