package tpch

import "testing"

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tdatanode\nVmPeak:\t 2000000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
	got, err := parseVmHWM([]byte(status))
	if err != nil || got != 123456<<10 {
		t.Fatalf("parseVmHWM = %d, %v; want %d", got, err, 123456<<10)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\n", "VmHWM:\tx kB\n"} {
		if _, err := parseVmHWM([]byte(bad)); err == nil {
			t.Errorf("parseVmHWM(%q) gave no error", bad)
		}
	}
	if s := formatRSS([]int64{512 << 20, 1<<30 + 600<<10}); s != "512/1025" {
		t.Errorf("formatRSS = %q", s)
	}
}
