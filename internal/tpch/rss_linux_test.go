//go:build linux

package tpch

import (
	"os"
	"runtime/debug"
	"syscall"
	"testing"
)

// TestPeakRSSReset checks on this process that the peak follows memory
// touched and that a reset brings it down to the current resident size
// once that memory is gone. The memory is an anonymous mapping, not Go
// heap, so that its pages are new to the process and leave it at munmap.
func TestPeakRSSReset(t *testing.T) {
	const size = 256 << 20
	// The heap earlier tests left goes back to the OS first: else the
	// scavenger may return it while the test runs, and the resident size
	// fall by as much as the mapping adds (a flake: peak 511 MB after
	// touching 256 MB, 465 MB before).
	debug.FreeOSMemory()
	w := rssWatch{os.Getpid()}
	if err := w.reset(); err != nil {
		t.Fatal(err)
	}
	before, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
	high, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	if high[0] < before[0]+200<<20 {
		t.Fatalf("peak %d MB after touching 256 MB, %d MB before", high[0]>>20, before[0]>>20)
	}
	if err := syscall.Munmap(m); err != nil {
		t.Fatal(err)
	}
	if err := w.reset(); err != nil {
		t.Fatal(err)
	}
	after, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	// Right after a reset the peak is the resident size, which lost the
	// 256 MB (other memory of the process may have come and gone; the
	// resident size read a moment later may differ a little).
	if after[0] >= high[0] {
		t.Fatalf("peak %d MB after a reset, %d MB at the high point", after[0]>>20, high[0]>>20)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	rss, err := parseStatusKB(status, "VmRSS:")
	if err != nil {
		t.Fatal(err)
	}
	if d := after[0] - rss; d < -64<<20 || d > 64<<20 {
		t.Fatalf("peak %d MB right after a reset, resident %d MB", after[0]>>20, rss>>20)
	}
}
