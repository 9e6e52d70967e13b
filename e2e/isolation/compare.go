package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExpectedFile is the expected output of spec file f: expected/<name>.out
// beside it.
func ExpectedFile(f string) string {
	return filepath.Join(filepath.Dir(f), "expected", strings.TrimSuffix(filepath.Base(f), ".spec")+".out")
}

// Diff compares output with the expected file and describes the first
// difference ("" when they are equal).
func Diff(expectedFile, got string) string {
	b, err := os.ReadFile(expectedFile)
	if err != nil {
		return err.Error()
	}
	want := string(b)
	if want == got {
		return ""
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	show := func(ls []string) string {
		lo, hi := max(i-6, 0), min(i+6, len(ls))
		return strings.Join(ls[lo:hi], "\n")
	}
	return fmt.Sprintf("output differs from %s at line %d:\n--- expected\n%s\n--- got\n%s\n--- whole output\n%s",
		expectedFile, i+1, show(wl), show(gl), got)
}
