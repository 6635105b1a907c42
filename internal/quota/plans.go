package quota

import (
	"bytes"
	"fmt"

	"github.com/goccy/go-yaml"

	"github.com/runbookhq/runbook/internal/yamlguard"
)

// PlansFile is the shape of a plans file. Tenants nobody assigned a plan
// to are on the plan named "free", so redefining "free" changes the default:
//
//	plans:
//	  - {name: free, minutes: 2000, max_concurrent: 2}
//	  - {name: team, minutes: 20000, max_concurrent: 10}
type PlansFile struct {
	Plans []Plan `yaml:"plans"`
}

// LoadPlans reads and checks a plans file. Unknown keys are errors, so a
// typo never silently falls back to a default.
func LoadPlans(path string) (PlansFile, error) {
	b, err := yamlguard.ReadFile(path, plansLimits)
	if err != nil {
		return PlansFile{}, fmt.Errorf("reading the plans file: %w", err)
	}
	return ParsePlans(path, b)
}

// plansLimits bound a plans file before goccy's Decoder reads it: that
// decoder expands aliases without limit, and a plans file needs none.
var plansLimits = yamlguard.Limits{NoAliases: true}

// ParsePlans checks a plans file's bytes; name is used in errors.
func ParsePlans(name string, b []byte) (PlansFile, error) {
	if err := yamlguard.Check(b, plansLimits); err != nil {
		return PlansFile{}, yamlguard.In(name, err)
	}
	var f PlansFile
	if err := yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField()).Decode(&f); err != nil {
		return PlansFile{}, fmt.Errorf("%s: %w", name, err)
	}
	seen := map[string]bool{}
	for _, p := range f.Plans {
		if err := p.Validate(); err != nil {
			return PlansFile{}, fmt.Errorf("%s: %w", name, err)
		}
		if seen[p.Name] {
			return PlansFile{}, fmt.Errorf("%s: plan %q is listed twice", name, p.Name)
		}
		seen[p.Name] = true
	}
	return f, nil
}
