package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/meridian-db/meridian/gtm/server"
)

func TestParseConfigLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gtm.json")
	if err := os.WriteFile(file, []byte(`{"name": "from-file", "window": 500, "etcd": ["http://e1:2379"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--config", file, "--name", "from-flag", "--etcd", "http://a:1, http://b:2"})
	if err != nil {
		t.Fatal(err)
	}
	want := server.NewConfig()
	want.Name = "from-flag"                                   // flag over file
	want.Window = 500                                         // file over default
	want.EtcdEndpoints = []string{"http://a:1", "http://b:2"} // flag list
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config\n%+v\nwant\n%+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--config", "/does/not/exist.json"},
		{"stray"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("parseConfig(%q) succeeded", args)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"windoww": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig([]string{"--config", bad}); err == nil {
		t.Error("unknown field in the config file accepted")
	}
}
