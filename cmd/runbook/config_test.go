package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The Kubernetes settings of a worker come from flags, RUNBOOK_* variables
// or the config file, where lists and mappings may be written as YAML.
func TestWorkerKubernetesSettingsFromTheEnvironmentAndTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "worker.yml")
	src := "kubernetes-node-selector: {pool: ci, kubernetes.io/arch: amd64}\n" +
		"kubernetes-image-pull-secrets: [regcred, mirror]\n" +
		"kubernetes-memory-limit: 4Gi\n" +
		"labels: [arch=amd64, gpu=false]\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNBOOK_CONFIG", file)
	t.Setenv("RUNBOOK_KUBERNETES_CPU_REQUEST", "500m")
	t.Setenv("RUNBOOK_KUBERNETES_MEMORY_LIMIT", "8Gi") // the environment wins over the file
	cmd := newWorkerCmd()
	if err := applyConfig(cmd); err != nil {
		t.Fatal(err)
	}
	fl := cmd.Flags()
	sel, _ := fl.GetStringToString("kubernetes-node-selector")
	secrets, _ := fl.GetStringSlice("kubernetes-image-pull-secrets")
	labels, _ := fl.GetStringSlice("labels")
	cpu, _ := fl.GetString("kubernetes-cpu-request")
	mem, _ := fl.GetString("kubernetes-memory-limit")
	if want := map[string]string{"pool": "ci", "kubernetes.io/arch": "amd64"}; !reflect.DeepEqual(sel, want) {
		t.Errorf("node selector %v, want %v", sel, want)
	}
	if want := []string{"regcred", "mirror"}; !reflect.DeepEqual(secrets, want) {
		t.Errorf("pull secrets %v, want %v", secrets, want)
	}
	if want := []string{"arch=amd64", "gpu=false"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %v, want %v", labels, want)
	}
	if cpu != "500m" || mem != "8Gi" {
		t.Errorf("cpu request %q memory limit %q, want 500m and 8Gi", cpu, mem)
	}
}

// TestConfigFileIsBoundedBeforeDecoding: goccy's Decoder is quadratic in
// nesting and expands aliases without limit, so a config file that nests
// too deep, or uses an alias, is refused at its position before decoding.
func TestConfigFileIsBoundedBeforeDecoding(t *testing.T) {
	for src, want := range map[string]string{
		"labels: " + strings.Repeat("[", 20_000) + "\n": "worker.yml:1:72: nesting deeper than 64 levels",
		"a: &a [x, x]\nlabels: *a\n":                    "worker.yml:2:9: aliases (*a) are not allowed",
	} {
		file := filepath.Join(t.TempDir(), "worker.yml")
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("RUNBOOK_CONFIG", file)
		err := applyConfig(newWorkerCmd())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %s", err, want)
		}
	}
}
