package tpch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Peak resident memory of server processes per query (Linux): before a
// query's timed runs each watched process's high-water mark is reset to
// its current resident size (clear_refs 5, Linux 4.0+), after them VmHWM
// is read. So the figure is the most memory the process held during the
// query, whatever it held before.

// resetPeakRSS resets pid's high-water mark of resident memory.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS of process %d: %w", pid, err)
	}
	return nil
}

// peakRSS reads pid's high-water mark of resident memory, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of process %d: %w", pid, err)
	}
	return parseVmHWM(b)
}

// parseVmHWM reads the VmHWM line of a /proc/PID/status file.
func parseVmHWM(status []byte) (int64, error) { return parseStatusKB(status, "VmHWM:") }

// parseStatusKB reads a "<field> N kB" line of a /proc/PID/status file, in
// bytes.
func parseStatusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected %s line %q", field, sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in the process status", field)
}

// rssWatch is the processes watched: reset resets their peaks, read
// reads them.
type rssWatch []int

func (w rssWatch) reset() error {
	for _, pid := range w {
		if err := resetPeakRSS(pid); err != nil {
			return err
		}
	}
	return nil
}

func (w rssWatch) read() ([]int64, error) {
	out := make([]int64, len(w))
	for i, pid := range w {
		v, err := peakRSS(pid)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// formatRSS prints peaks in MB, separated by slashes.
func formatRSS(v []int64) string {
	parts := make([]string, len(v))
	for i, b := range v {
		parts[i] = strconv.FormatInt((b+(1<<19))>>20, 10)
	}
	return strings.Join(parts, "/")
}
