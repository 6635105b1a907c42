package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runbookhq/runbook/internal/yamlguard"
)

// applyConfig fills every flag the command line did not set, first from
// RUNBOOK_<FLAG> environment variables (dashes become underscores), then
// from the YAML config file named by --config, whose keys are flag names.
// So the order of precedence is: flag, environment, file, default.
func applyConfig(cmd *cobra.Command) error {
	file := map[string]any{}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("RUNBOOK_CONFIG")
	}
	if path != "" {
		// Bounded and alias-free before goccy's Decoder, which expands
		// aliases without limit.
		src, err := yamlguard.ReadFile(path, yamlguard.Limits{NoAliases: true})
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := yaml.Unmarshal(src, &file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var errs []string
	known := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		env := "RUNBOOK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", env, v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := f.Value.Set(fileValue(v)); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %s: %v", path, f.Name, err))
			}
		}
	})
	for k := range file {
		if !known[k] {
			errs = append(errs, fmt.Sprintf("%s: unknown setting %q (settings are the flags of `runbook %s --help`)", path, k, cmd.Name()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// fileValue is a config file value as a flag reads it: a YAML list as
// a,b and a mapping as k=v,k=v (--labels, --kubernetes-node-selector).
func fileValue(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, k+"="+fmt.Sprint(x[k]))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
