package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A short run of every mode: transactions go through, nothing fails, and
// the sums of all balances read during transfers are 0 where the mode
// promises a global snapshot.
func TestBenchSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, workload := range []string{"transfer", "tpcb"} {
		rs, err := Run(ctx, Config{Modes: []string{"gtm", "gtm-lite", "gtm-free"}, Workload: workload,
			Duration: time.Second, Clients: 3, DNs: 2, Accounts: 300, Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", workload, err)
		}
		var out bytes.Buffer
		Markdown(&out, rs)
		t.Logf("%s:\n%s", workload, out.String())
		if len(rs) != 3 || strings.Count(out.String(), "\n") != 5 {
			t.Fatalf("%d results, table:\n%s", len(rs), out.String())
		}
		for _, r := range rs {
			if r.Txns == 0 || r.Errors != 0 || r.GTMRequests < 0 {
				t.Errorf("%s %s: %d transactions, %d errors, %.2f GTM requests each", r.Mode, workload, r.Txns, r.Errors, r.GTMRequests)
			}
			if r.Mode != "gtm-free" && r.BadSums != 0 {
				t.Errorf("%s: %d of %d sums of all balances were not 0", r.Mode, r.BadSums, r.Sums)
			}
		}
	}
}
