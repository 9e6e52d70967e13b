package cmtest

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// watched are the frames that mark a goroutine as started by the code under
// test: Meridian's own packages and the etcd session keep-alive loop.
var watched = []string{
	"github.com/meridian-db/meridian/",
	"go.etcd.io/etcd/client/v3/concurrency.",
}

// CheckLeaks returns a function to defer right after the servers under
// test are started (before anything is closed): it fails t if, within 5s of
// being called, goroutines running Meridian code (other than the caller)
// are still alive. Goroutines of the etcd client and server, closed by
// t.Cleanup later, are not counted.
func CheckLeaks(t testing.TB) func() {
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := leaked()
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) leaked:\n\n%s", len(left), strings.Join(left, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func leaked() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// The first goroutine is the caller.
	gs := strings.Split(string(buf), "\n\n")[1:]
	var out []string
	for _, g := range gs {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "cmtest.") {
			continue
		}
		for _, w := range watched {
			if strings.Contains(g, w) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Eventually polls cond every 10ms until it is true or d has passed, then
// fails t with msg.
func Eventually(t testing.TB, d time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
