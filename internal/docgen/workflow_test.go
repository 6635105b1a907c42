package docgen

import (
	"slices"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/workflow"
	"github.com/runbookhq/runbook/schema"
)

// TestWorkflowExamplesParse: every key's example, in the smallest workflow
// around it, is accepted by the real parser, so the reference shows no
// example that `runbook validate` would refuse.
func TestWorkflowExamplesParse(t *testing.T) {
	keys, err := WorkflowKeys(schema.JSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		doc, err := ExampleYAML(k, true)
		if err != nil {
			t.Errorf("%s: %v", k.Name(), err)
			continue
		}
		if _, err := workflow.Parse("example.runbook.yml", doc); err != nil {
			t.Errorf("the example of %s does not parse: %v\n%s", k.Name(), err, doc)
		}
	}
}

// TestWorkflowKeysAreTheParsers: the reference lists exactly the keys the
// parser reads, at every level.
func TestWorkflowKeysAreTheParsers(t *testing.T) {
	keys, err := WorkflowKeys(schema.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Name())
	}
	var want []string
	add := func(prefix string, ks []string) {
		for _, k := range ks {
			want = append(want, prefix+k)
		}
	}
	add("", workflow.TopKeys())
	add("global.", workflow.GlobalKeys())
	add("steps[].", workflow.StepKeys())
	add("steps[].kubernetes.", workflow.KubernetesKeys())
	add("steps[].kubernetes.resources.", workflow.ResourcesKeys())
	add("steps[].kubernetes.resources.requests.", workflow.ResourceListKeys())
	add("steps[].kubernetes.resources.limits.", workflow.ResourceListKeys())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("reference keys %v\nparser keys %v", got, want)
	}
	page, err := Workflow(schema.JSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if !strings.Contains(string(page), "## `"+k+"`\n") {
			t.Errorf("the workflow reference has no section for %s", k)
		}
	}
}

// TestWorkflowKeyWithoutExample: a key the schema gives no example stops
// the generation and says which and where.
func TestWorkflowKeyWithoutExample(t *testing.T) {
	src := `{"type":"object","properties":{"a":{"description":"A.","type":"string","examples":["x"]},"b":{"description":"B.","type":"string"}}}`
	_, err := Workflow([]byte(src))
	if err == nil || !strings.Contains(err.Error(), `b has no "examples"`) {
		t.Fatalf("err = %v, want one naming b", err)
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"a | b":               `a \| b`,
		"matches `x|y` only":  "matches <code>x&#124;y</code> only",
		"keeps `code` as is":  "keeps `code` as is",
		"one ` backtick | ok": "one ` backtick \\| ok",
		"`<a|b>`":             "<code>&lt;a&#124;b&gt;</code>",
		"`\\.x|y`":            "<code>&#92;.x&#124;y</code>",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
