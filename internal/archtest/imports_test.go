package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/runbookhq/runbook/"

// rule constrains what the packages matching pkg may depend on,
// transitively, among the module's own packages.
type rule struct {
	pkg    func(path string) bool
	banned func(dep string) bool
	why    string
}

var rules = []rule{
	{
		pkg: in("internal/engine", "internal/workflow"),
		banned: func(dep string) bool {
			return !in("internal/engine", "internal/workflow", "internal/yamlguard")(dep)
		},
		why: "the engine and the workflow model are pure: they import nothing of ours but each other and the YAML guard (ADR 0018)",
	},
	{
		// The one exception above stays pure only while it is a leaf.
		pkg:    in("internal/yamlguard"),
		banned: func(string) bool { return true },
		why:    "the YAML guard is a leaf: the workflow model may use it only while it imports nothing of ours",
	},
	{
		pkg:    in("internal/failure"),
		banned: func(string) bool { return true },
		why:    "the sentinel errors are a leaf: any package may name them",
	},
	{
		pkg:    under("internal/store/"),
		banned: in("internal/server"),
		why:    "a store driver is wired by cmd/runbook, never by the HTTP layer it serves",
	},
}

func in(rel ...string) func(string) bool {
	return func(p string) bool {
		for _, r := range rel {
			if p == module+r {
				return true
			}
		}
		return false
	}
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return strings.HasPrefix(p, module+prefix) }
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// listPackages is `go list -json` of every package of the module, with
// its transitive dependencies (test files excluded: a test may reach
// further than the code it tests).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	checked := make([]int, len(rules))
	for _, p := range pkgs {
		for i, r := range rules {
			if !r.pkg(p.ImportPath) {
				continue
			}
			checked[i]++
			for _, d := range p.Deps {
				if strings.HasPrefix(d, module) && r.banned(d) {
					t.Errorf("%s depends on %s: %s", p.ImportPath, d, r.why)
				}
			}
		}
	}
	// A rule that matches nothing (a package renamed) would pass forever.
	for i, n := range checked {
		if n == 0 {
			t.Errorf("rule %q matched no package: update it", rules[i].why)
		}
	}
}
