//go:build linux

package tpch

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestPeakRSSReset checks on this process that a reset brings the peak
// down to the current resident size after memory was given back.
func TestPeakRSSReset(t *testing.T) {
	w := rssWatch{os.Getpid()}
	if err := w.reset(); err != nil {
		t.Fatal(err)
	}
	before, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	// Touch 256 MB, then let it go.
	b := make([]byte, 256<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	high, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	if high[0] < before[0]+200<<20 {
		t.Fatalf("peak %d MB after touching 256 MB, %d MB before", high[0]>>20, before[0]>>20)
	}
	b = nil
	runtime.GC()
	debug.FreeOSMemory()
	if err := w.reset(); err != nil {
		t.Fatal(err)
	}
	after, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	if after[0] > high[0]-100<<20 {
		t.Fatalf("peak %d MB after a reset, %d MB at the high point", after[0]>>20, high[0]>>20)
	}
}
