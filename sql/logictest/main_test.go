package logictest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain checks that the clusters the tests start leave no goroutines
// of ours behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if leaked := waitLeaks(10 * time.Second); leaked != "" {
		fmt.Fprintf(os.Stderr, "leaked goroutines after the tests:\n%s\n", leaked)
		code = 1
	}
	os.Exit(code)
}

// waitLeaks waits for goroutines running Meridian code to end and
// returns the stacks of those that do not.
func waitLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/meridian-db/meridian/") && !strings.Contains(g, "sql/logictest.waitLeaks") &&
				!strings.Contains(g, "testing.(*M).Run") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
