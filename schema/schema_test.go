package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/runbookhq/runbook/internal/workflow"
)

type node struct {
	Schema      string           `json:"$schema"`
	Ref         string           `json:"$ref"`
	Description string           `json:"description"`
	Additional  any              `json:"additionalProperties"`
	Properties  map[string]*node `json:"properties"`
	Definitions map[string]*node `json:"definitions"`
	MaxItems    int              `json:"maxItems"`
	Maximum     int              `json:"maximum"`
	MaxLength   int              `json:"maxLength"`
}

func load(t *testing.T) *node {
	t.Helper()
	var n node
	if err := json.Unmarshal(JSON, &n); err != nil {
		t.Fatalf("runbook.schema.json is not valid JSON: %v", err)
	}
	return &n
}

func keys(m map[string]*node) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestSchemaMatchesParser keeps the schema and the parser from drifting
// apart: the same keys at each level, closed objects, the same limits.
func TestSchemaMatchesParser(t *testing.T) {
	s := load(t)
	if s.Schema != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %q", s.Schema)
	}
	step := s.Definitions["step"]
	if step == nil {
		t.Fatal("no definitions.step")
	}
	type level struct {
		name string
		n    *node
		want []string
	}
	levels := []level{
		{"top level", s, workflow.TopKeys()},
		{"global", s.Properties["global"], workflow.GlobalKeys()},
		{"step", step, workflow.StepKeys()},
	}
	if k := step.Properties["kubernetes"]; k != nil {
		levels = append(levels, level{"step.kubernetes", k, workflow.KubernetesKeys()})
		if r := k.Properties["resources"]; r != nil {
			levels = append(levels, level{"step.kubernetes.resources", r, workflow.ResourcesKeys()})
		}
	}
	if rl := s.Definitions["resourceList"]; rl != nil {
		levels = append(levels, level{"definitions.resourceList", rl, workflow.ResourceListKeys()})
	}
	for _, ref := range []string{"requests", "limits"} {
		if r := step.Properties["kubernetes"]; r == nil || r.Properties["resources"] == nil ||
			r.Properties["resources"].Properties[ref] == nil || r.Properties["resources"].Properties[ref].Ref != "#/definitions/resourceList" {
			t.Errorf("step.kubernetes.resources.%s must refer to #/definitions/resourceList", ref)
		}
	}
	for _, l := range levels {
		if got := keys(l.n.Properties); !reflect.DeepEqual(got, sorted(l.want)) {
			t.Errorf("%s: schema keys %v, parser keys %v", l.name, got, sorted(l.want))
		}
		if l.n.Additional != false {
			t.Errorf("%s: additionalProperties must be false, like the parser", l.name)
		}
	}
	if got := s.Properties["steps"].MaxItems; got != workflow.MaxSteps {
		t.Errorf("steps maxItems = %d, parser allows %d", got, workflow.MaxSteps)
	}
	if got := step.Properties["retries"].Maximum; got != workflow.MaxRetries {
		t.Errorf("retries maximum = %d, parser allows %d", got, workflow.MaxRetries)
	}
	if got := step.Properties["if"].MaxLength; got != workflow.MaxCondSize {
		t.Errorf("if maxLength = %d, parser allows %d", got, workflow.MaxCondSize)
	}
}

// TestSchemaDescribesEveryKey: editors show descriptions on completion.
func TestSchemaDescribesEveryKey(t *testing.T) {
	s := load(t)
	var walk func(path string, n *node)
	walk = func(path string, n *node) {
		for k, p := range n.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", path, k)
			}
			walk(path+"."+k, p)
		}
	}
	walk("", s)
	for k, d := range s.Definitions {
		walk("definitions."+k, d)
	}
}
