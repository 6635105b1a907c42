package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		name, ldVersion, ldCommit string
		info                      *debug.BuildInfo
		want                      buildVersion
	}{
		{"build info only", "dev", "", info, buildVersion{"v0.3.0", "0123456789abcdef0123456789abcdef01234567", "2026-12-01T10:00:00Z", true}},
		{"ldflags win", "v1.2.3", "feedface", info, buildVersion{"v1.2.3", "feedface", "2026-12-01T10:00:00Z", true}},
		{"a go build in a clone", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, buildVersion{Version: "dev"}},
		{"no build info", "", "", nil, buildVersion{}},
	} {
		if got := readVersion(c.ldVersion, c.ldCommit, c.info, c.info != nil); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	s := buildVersion{"v1.2.3", "feedface", "2026-12-01T10:00:00Z", true}.String()
	if !strings.HasPrefix(s, "runbook v1.2.3 commit feedface (2026-12-01T10:00:00Z, modified) go") {
		t.Errorf("String() = %q", s)
	}
}

// TestVersionOfABuiltBinary builds the binary as scripts/release does and
// runs `runbook version`: the stamped version and commit come out.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runbook")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=v9.8.7 -X main.commit=abc123", ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("runbook version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "runbook v9.8.7 commit abc123 ") {
		t.Errorf("runbook version printed %q", out)
	}
}
