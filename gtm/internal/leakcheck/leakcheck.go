package leakcheck

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long the check waits for goroutines to exit.
const Wait = 5 * time.Second

// ignored marks goroutines that belong to the embedded etcd server or to
// the runtime and testing machinery.
var ignored = []string{
	"go.etcd.io/etcd/server/",
	"go.etcd.io/raft/",
	"testing.(*T).Run",
	"testing.(*B).run",
	"testing.tRunner.func",
	"runtime.goexit0",
	"os/signal.",
}

// Check records the running goroutines and registers the check.
func Check(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(Wait)
		for {
			var leaked []goroutine
			for _, g := range goroutines() {
				if !before[g.id] && !g.ignored() {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				var b strings.Builder
				for _, g := range leaked {
					b.WriteString(g.stack)
					b.WriteString("\n\n")
				}
				t.Errorf("leakcheck: %d goroutines still running %v after the test:\n%s", len(leaked), Wait, b.String())
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

type goroutine struct {
	id    string
	stack string
}

func (g goroutine) ignored() bool {
	for _, s := range ignored {
		if strings.Contains(g.stack, s) {
			return true
		}
	}
	return false
}

// goroutines returns every goroutine but the calling one.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, st := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		// "goroutine 123 [chan receive]:"
		head, _, _ := bytes.Cut(st, []byte(" ["))
		out = append(out, goroutine{id: string(bytes.TrimPrefix(head, []byte("goroutine "))), stack: string(st)})
	}
	return out
}
