package docgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/api"
	"github.com/runbookhq/runbook/internal/apidoc"
	"github.com/runbookhq/runbook/schema"
)

// Regenerate is the command that writes the generated pages.
const Regenerate = "go run ./cmd/runbook docs-gen"

// Pages renders every generated file of the documentation site, by path
// relative to the repository root (root: where the source is read from).
func Pages(root string, cli *cobra.Command, extra []EnvVar) (map[string][]byte, error) {
	spec, err := apidoc.Parse(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	wf, err := Workflow(schema.JSON)
	if err != nil {
		return nil, err
	}
	ts, err := TroubleshootingPage(root)
	if err != nil {
		return nil, err
	}
	adrs, err := ADRIndex(root)
	if err != nil {
		return nil, err
	}
	changelog, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"docs/reference/cli.md":              CLI(cli, extra),
		"docs/reference/workflow.md":         wf,
		"docs/reference/runbook.schema.json": schema.JSON,
		"docs/reference/api.md":              spec.Markdown("openapi.yaml"),
		"docs/reference/openapi.yaml":        api.OpenAPI,
		"docs/troubleshooting.md":            ts,
		"docs/adr/index.md":                  adrs,
		"docs/changelog.md":                  changelog,
	}, nil
}

// Write writes the pages under root.
func Write(root string, pages map[string][]byte) error {
	for _, name := range sortedKeys(pages) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, pages[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stale lists the pages whose file under root differs from the generation.
func Stale(root string, pages map[string][]byte) []string {
	var out []string
	for _, name := range sortedKeys(pages) {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, pages[name]) {
			out = append(out, name)
		}
	}
	return out
}

// StaleError says which pages are stale and how to regenerate them.
func StaleError(stale []string) error {
	return fmt.Errorf("generated documentation is out of date: %v; run `%s` and commit the result", stale, Regenerate)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
