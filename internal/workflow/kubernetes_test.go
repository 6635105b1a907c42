package workflow

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func TestParseKubernetes(t *testing.T) {
	src := `steps:
  - name: build
    command: make
    kubernetes:
      image: golang:1.26
      resources:
        requests: {cpu: 500m, memory: 1Gi}
        limits: {cpu: 2, memory: 1.5Gi}
      node_selector: {kubernetes.io/arch: arm64, pool: "", big: true}
  - name: test
    command: make test
    kubernetes: {resources: {limits: {memory: 512Mi}}}
  - name: plain
    command: x
    kubernetes: {}
  - name: nulls
    command: x
    kubernetes:
`
	wf, err := Parse(".runbook.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Kubernetes{
		Image: "golang:1.26",
		Resources: Resources{
			Requests: ResourceList{CPU: "500m", Memory: "1Gi"},
			Limits:   ResourceList{CPU: "2", Memory: "1.5Gi"},
		},
		NodeSelector: map[string]string{"kubernetes.io/arch": "arm64", "pool": "", "big": "true"},
	}
	if got := wf.Steps[0].Kubernetes; !reflect.DeepEqual(got, want) {
		t.Errorf("build kubernetes = %+v, want %+v", got, want)
	}
	if got := wf.Steps[1].Kubernetes; got == nil || got.Resources != (Resources{Limits: ResourceList{Memory: "512Mi"}}) || got.Image != "" || got.NodeSelector != nil {
		t.Errorf("test kubernetes = %+v", got)
	}
	for _, i := range []int{2, 3} {
		if got := wf.Steps[i].Kubernetes; got != nil {
			t.Errorf("step %s: an empty kubernetes: gave %+v, want nil", wf.Steps[i].Name, got)
		}
	}
}

func TestParseKubernetesErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"not a mapping", "steps:\n  - {name: a, kubernetes: big}\n",
			[]string{`2:27: step "a": kubernetes must be a mapping (with image, resources, node_selector), not a string`}},
		{"typo", "steps:\n  - name: a\n    kubernetes:\n      imgae: x\n",
			[]string{`4:7: unknown key "imgae" in step "a" kubernetes: did you mean "image"?`}},
		{"typo in resources", "steps:\n  - name: a\n    kubernetes:\n      resources: {request: {cpu: 1}}\n",
			[]string{`4:19: unknown key "request" in step "a" kubernetes.resources: did you mean "requests"?`}},
		{"typo in requests", "steps:\n  - name: a\n    kubernetes:\n      resources:\n        limits: {cpus: 1, ephemeral-storage: 1Gi}\n",
			[]string{`5:18: unknown key "cpus" in step "a" kubernetes.resources.limits: did you mean "cpu"?`,
				`5:27: unknown key "ephemeral-storage" in step "a" kubernetes.resources.limits (valid keys: cpu, memory)`}},
		{"invalid quantities", "steps:\n  - name: a\n    kubernetes:\n      resources:\n        requests: {cpu: 1.5.1, memory: 1GB}\n        limits: {cpu: -1, memory: true}\n",
			[]string{`5:25: step "a": kubernetes.resources.requests.cpu: "1.5.1" is not a quantity (a quantity is such as 500m or 2)`,
				`5:40: step "a": kubernetes.resources.requests.memory: "1GB" is not a quantity (a quantity is such as 512Mi or 4Gi)`,
				`6:23: step "a": kubernetes.resources.limits.cpu: "-1" is negative (a quantity is such as 500m or 2)`,
				`6:35: step "a": kubernetes.resources.limits.memory must be a quantity such as 512Mi or 4Gi, not a bool`}},
		{"huge exponent", "steps:\n  - {name: a, kubernetes: {resources: {limits: {cpu: 1e999999999}}}}\n",
			[]string{`2:54: step "a": kubernetes.resources.limits.cpu: "1e999999999": the exponent must be between -30 and 30 (a quantity is such as 500m or 2)`}},
		{"request above limit", "steps:\n  - name: a\n    kubernetes:\n      resources:\n        requests: {cpu: 2500m, memory: 1Gi}\n        limits: {cpu: 2, memory: 1024Mi}\n",
			[]string{`5:25: step "a": kubernetes.resources.requests.cpu (2500m) is more than limits.cpu (2): a request must not exceed its limit`}},
		{"resources not a mapping", "steps:\n  - {name: a, kubernetes: {resources: [1]}}\n",
			[]string{`2:39: step "a": kubernetes.resources must be a mapping with requests and limits, not a list`}},
		{"bad image", "steps:\n  - {name: a, kubernetes: {image: \"golang 1.26\"}}\n",
			[]string{`2:35: step "a": kubernetes.image must be an image reference such as golang:1.26 or registry.example/ci/build:3 (holding the runbook binary), not "golang 1.26"`}},
		{"bad node selector", "steps:\n  - name: a\n    kubernetes:\n      node_selector: {Example.com/x: a, pool: \"a b\", -x: y, arch: [1]}\n",
			[]string{`4:23: step "a" kubernetes.node_selector: invalid node label "Example.com/x": its prefix before / must be a DNS subdomain (lowercase letters, digits, - and .), such as kubernetes.io`,
				`4:41: step "a" kubernetes.node_selector: invalid value "a b" of node label "pool": use at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit`,
				`4:54: step "a" kubernetes.node_selector: invalid node label "-x": the name must be 1 to 63 letters, digits, -, _ or ., starting and ending with a letter or digit`,
				`4:67: node label arch in step "a" kubernetes.node_selector must be a string, number or bool, not a list`}},
		{"service account", "steps:\n  - name: a\n    kubernetes:\n      service_account: admin\n      serviceAccountName: admin\n",
			[]string{`4:7: step "a": kubernetes.service_account cannot be set in a workflow: the step pods' service account is the installation's (--kubernetes-service-account), since a workflow that chose it could take that account's API rights`,
				`5:7: step "a": kubernetes.serviceAccountName cannot be set in a workflow: the step pods' service account is the installation's (--kubernetes-service-account), since a workflow that chose it could take that account's API rights`}},
		{"pull secrets", "steps:\n  - {name: a, kubernetes: {image_pull_secrets: [regcred]}}\n",
			[]string{`2:28: step "a": kubernetes.image_pull_secrets cannot be set in a workflow: image pull secrets are the installation's (--kubernetes-image-pull-secrets), since a workflow that chose them could use any registry credential in the namespace`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wf, err := Parse("f.yml", []byte(tt.src))
			if wf != nil {
				t.Errorf("got a workflow with errors")
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

func TestQuantity(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want *big.Rat
	}{
		{"2", big.NewRat(2, 1)},
		{"500m", big.NewRat(1, 2)},
		{"1.5", big.NewRat(3, 2)},
		{".5", big.NewRat(1, 2)},
		{"1.", big.NewRat(1, 1)},
		{"+1k", big.NewRat(1000, 1)},
		{"-0", big.NewRat(0, 1)},
		{"1Ki", big.NewRat(1024, 1)},
		{"1.5Gi", big.NewRat(3<<29, 1)},
		{"2E", new(big.Rat).SetInt64(2e18)},
		{"1Ei", new(big.Rat).SetInt64(1 << 60)},
		{"1e3", big.NewRat(1000, 1)},
		{"25E-2", big.NewRat(1, 4)},
		{"1e-30", new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil))},
	} {
		got, err := Quantity(tt.in)
		if err != nil || got.Cmp(tt.want) != 0 {
			t.Errorf("Quantity(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "m", "1e", "1 m", "1mi", "1KI", "1k1", "1..5", "0x10", "-1", "-1Mi", "1e31", "1e-31", strings.Repeat("1", 65), "Infinity", "NaN"} {
		if got, err := Quantity(in); err == nil {
			t.Errorf("Quantity(%q) = %v, want an error", in, got)
		}
	}
}
