package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/api"
	"github.com/runbookhq/runbook/internal/apidoc"
	"github.com/runbookhq/runbook/internal/docgen"
	"github.com/runbookhq/runbook/internal/workflow"
)

const repoRoot = "../.."

// TestReferenceDocsAreCurrent: the committed reference pages are what the
// generator makes of today's commands, schema, API and error texts. A new
// flag, workflow key, route or message fails here until regenerated.
func TestReferenceDocsAreCurrent(t *testing.T) {
	pages, err := docgen.Pages(repoRoot, newRoot(), docEnv)
	if err != nil {
		t.Fatal(err)
	}
	if stale := docgen.Stale(repoRoot, pages); len(stale) > 0 {
		t.Fatal(docgen.StaleError(stale))
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReferenceDocsCoverEverything reads the committed pages themselves:
// every visible command and flag (with its variable where the command reads
// them), every workflow key the parser knows, and every API route.
func TestReferenceDocsCoverEverything(t *testing.T) {
	cli := readDoc(t, "docs/reference/cli.md")
	cmds := docgen.Commands(newRoot())
	if len(cmds) < 7 {
		t.Fatalf("only %d commands", len(cmds))
	}
	for _, c := range cmds {
		section := "\n## " + c.CommandPath() + "\n"
		i := strings.Index(cli, section)
		if i < 0 {
			t.Errorf("docs/reference/cli.md has no section for %s", c.CommandPath())
			continue
		}
		body := cli[i+len(section):]
		if j := strings.Index(body, "\n## "); j >= 0 {
			body = body[:j]
		}
		for _, f := range docgen.Flags(c) {
			if !strings.Contains(body, "`--"+f.Name+"`") {
				t.Errorf("docs/reference/cli.md: %s lacks --%s", c.CommandPath(), f.Name)
			}
			if docgen.Configurable(c) && !strings.Contains(body, "`"+docgen.EnvName(f.Name)+"`") {
				t.Errorf("docs/reference/cli.md: %s lacks %s", c.CommandPath(), docgen.EnvName(f.Name))
			}
		}
	}

	wf := readDoc(t, "docs/reference/workflow.md")
	check := func(prefix string, keys []string) {
		for _, k := range keys {
			if !strings.Contains(wf, "## `"+prefix+k+"`\n") {
				t.Errorf("docs/reference/workflow.md lacks %s%s", prefix, k)
			}
		}
	}
	check("", workflow.TopKeys())
	check("global.", workflow.GlobalKeys())
	check("steps[].", workflow.StepKeys())
	check("steps[].kubernetes.", workflow.KubernetesKeys())

	ref := readDoc(t, "docs/reference/api.md")
	spec, err := apidoc.Parse(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range spec.Routes() {
		if !strings.Contains(ref, "\n### "+r+"\n") {
			t.Errorf("docs/reference/api.md lacks %s", r)
		}
	}
}
