package kubernetes

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	"pgregory.net/rapid"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/workflow"
)

// The workflow's `kubernetes:` settings as the parser hands them over.
func parsedStep(t *testing.T, src string) *workflow.Kubernetes {
	t.Helper()
	wf, err := workflow.Parse(".runbook.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return wf.Steps[0].Kubernetes
}

func TestTheWorkflowsStepSettingsReachTheJob(t *testing.T) {
	k := parsedStep(t, `steps:
  - name: Build
    command: go build
    kubernetes:
      image: golang:1.26-arm
      resources:
        requests: {memory: 2Gi}
        limits: {cpu: 3, memory: 4Gi}
      node_selector: {kubernetes.io/arch: arm64, zone: a}
`)
	// fullConfig's Build override (image golang:1.26, pool=big, cpu limit
	// 4) comes between the installation and the workflow.
	job, _, _ := createdJob(t, fullConfig(), executor.Spec{RunID: "r", Step: "Build", Attempt: 1, Command: "go build", Kubernetes: k})
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Image != "golang:1.26-arm" {
		t.Errorf("image %s, want the workflow's", c.Image)
	}
	want := map[string]string{"pool": "big", "kubernetes.io/arch": "arm64", "zone": "a"}
	if fmt.Sprint(ps.NodeSelector) != fmt.Sprint(want) {
		t.Errorf("node selector %v, want %v (the workflow's labels added to the installation's)", ps.NodeSelector, want)
	}
	r := c.Resources
	if r.Requests.Memory().String() != "2Gi" || r.Limits.Cpu().String() != "3" || r.Limits.Memory().String() != "4Gi" {
		t.Errorf("resources %v, want the workflow's quantities", r)
	}
	if _, ok := r.Requests[corev1.ResourceCPU]; ok {
		t.Errorf("cpu request %s, want none: Config.Steps[Build] replaced the installation's resources", r.Requests.Cpu())
	}
	if ps.ServiceAccountName != "steps" || len(ps.ImagePullSecrets) != 1 || ps.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("service account %q pull secrets %v: the installation's alone", ps.ServiceAccountName, ps.ImagePullSecrets)
	}

	// A step with no Config.Steps entry: each quantity the workflow sets
	// replaces the installation's, the others stay.
	job, _, _ = createdJob(t, fullConfig(), executor.Spec{RunID: "r", Step: "Compile", Attempt: 1, Command: "go build", Kubernetes: k})
	r = job.Spec.Template.Spec.Containers[0].Resources
	if r.Requests.Cpu().String() != "250m" || r.Requests.Memory().String() != "2Gi" || r.Limits.Cpu().String() != "3" || r.Limits.Memory().String() != "4Gi" {
		t.Errorf("resources %v, want cpu request 250m from the installation and the rest from the workflow", r)
	}
}

func TestTheWorkflowsNodeLabelWinsOverTheInstallations(t *testing.T) {
	k := parsedStep(t, "steps:\n  - {name: s, command: x, kubernetes: {node_selector: {kubernetes.io/arch: arm64}}}\n")
	job, _, _ := createdJob(t, fullConfig(), executor.Spec{RunID: "r", Step: "s", Attempt: 1, Kubernetes: k})
	if got := job.Spec.Template.Spec.NodeSelector; len(got) != 1 || got["kubernetes.io/arch"] != "arm64" {
		t.Errorf("node selector %v, want arch=arm64 only", got)
	}
	// The installation's map is not changed by a step's merge.
	if cfg := fullConfig(); cfg.NodeSelector["kubernetes.io/arch"] != "amd64" {
		t.Fatal("fixture changed")
	}
	job2, _, _ := createdJob(t, fullConfig(), executor.Spec{RunID: "r", Step: "other", Attempt: 1})
	if got := job2.Spec.Template.Spec.NodeSelector["kubernetes.io/arch"]; got != "amd64" {
		t.Errorf("a step without settings got arch=%s", got)
	}
}

func TestAStepRequestAboveTheInstallationsLimitFailsBeforeAnyObject(t *testing.T) {
	cfg, err := Config{Image: "step", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
	}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	k := parsedStep(t, "steps:\n  - {name: s, command: x, kubernetes: {resources: {requests: {cpu: 3}}}}\n")
	client := fake.NewClientset()
	e := &Executor{client: client, cfg: cfg}
	spec := executor.Spec{RunID: "r", Step: "s", Attempt: 1, Kubernetes: k, Env: map[string]string{"A": "1"}}
	err = e.ensureJob(context.Background(), spec, JobName("r", "s", 1))
	if err == nil || !strings.Contains(err.Error(), "kubernetes.resources clash with the installation's: the cpu request 3 is more than its limit 2") {
		t.Fatalf("err %v, want the clash named", err)
	}
	cms, _ := client.CoreV1().ConfigMaps(cfg.Namespace).List(context.Background(), metav1.ListOptions{})
	secrets, _ := client.CoreV1().Secrets(cfg.Namespace).List(context.Background(), metav1.ListOptions{})
	if len(cms.Items)+len(secrets.Items) != 0 {
		t.Errorf("%d ConfigMaps and %d Secrets created for an attempt that cannot run", len(cms.Items), len(secrets.Items))
	}
}

func TestInstallationPodSettingsAreChecked(t *testing.T) {
	_, err := Config{
		Image:            "step",
		ImagePullSecrets: []string{"Reg_Cred"},
		NodeSelector:     map[string]string{"-bad": "x", "ok": "not ok"},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourceCPU: resource.MustParse("-1")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		Steps: map[string]StepConfig{"s": {NodeSelector: map[string]string{"a/b/c": "x"}}},
	}.withDefaults()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`image pull secret "Reg_Cred" is not a Secret name`,
		`node selector: "-bad" is not a label name`,
		`node selector: the value "not ok" of ok is not a label value`,
		`the cpu request -1 is negative`,
		`the memory request 2Gi is more than its limit 1Gi`,
		`step "s": node selector: "a/b/c" is not a label name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The workflow package checks quantities and node labels itself so that
// the default build needs no Kubernetes module; it must accept nothing
// the API would refuse, and read the same values.
func TestTheWorkflowsChecksAgreeWithKubernetes(t *testing.T) {
	for _, s := range []string{"0", "1", "500m", "0.5", ".5", "1.", "+2", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1.5Mi", "4Gi", "1Ti", "1Pi", "1Ei", "1e3", "25E-2", "1e-9", "1234567890123456789", "0.000000001"} {
		v, err := workflow.Quantity(s)
		if err != nil {
			t.Errorf("workflow.Quantity(%q): %v", s, err)
			continue
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			t.Errorf("resource.ParseQuantity(%q): %v", s, err)
			continue
		}
		if got := kubeValue(q); got.Cmp(v) != 0 {
			t.Errorf("%q: workflow reads %s, Kubernetes %s", s, v.FloatString(9), got.FloatString(9))
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[+-]?[0-9.]{0,6}(Ki|Mi|Gi|[mkMGTPEei]|[eE][+-]?[0-9]{1,2})?`).Draw(t, "quantity")
		if v, err := workflow.Quantity(s); err == nil {
			q, kerr := resource.ParseQuantity(s)
			if kerr != nil {
				t.Fatalf("workflow accepts %q (%s), Kubernetes refuses it: %v", s, v.FloatString(9), kerr)
			}
			// Kubernetes rounds up to nano units and caps at 2^63-1; the
			// values a step can mean are exact there.
			nanos := new(big.Rat).Mul(v, big.NewRat(1e9, 1))
			if nanos.IsInt() && v.Cmp(new(big.Rat).SetInt64(math.MaxInt64)) <= 0 && kubeValue(q).Cmp(v) != 0 {
				t.Fatalf("%q: workflow reads %s, Kubernetes %s", s, v.FloatString(9), kubeValue(q).FloatString(9))
			}

		}
		k := rapid.StringMatching(`([a-z0-9.-]{0,8}/)?[A-Za-z0-9._-]{0,8}`).Draw(t, "label")
		val := rapid.StringMatching(`[A-Za-z0-9._ -]{0,8}`).Draw(t, "value")
		werr := workflow.ValidNodeSelector(k, val)
		kok := len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(val)) == 0
		if (werr == nil) != kok {
			t.Fatalf("node label %q=%q: workflow says %v, Kubernetes valid=%v", k, val, werr, kok)
		}
	})
}

// kubeValue is a quantity's exact value.
func kubeValue(q resource.Quantity) *big.Rat {
	d := q.AsDec()
	r := new(big.Rat).SetInt(d.UnscaledBig())
	scale := int64(d.Scale())
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(max(scale, -scale)), nil))
	if scale > 0 {
		return r.Quo(r, p)
	}
	return r.Mul(r, p)
}

// The fake clientset validates nothing: the real API server must accept
// a Job that carries a workflow's pod settings, and keep them.
func TestTheAPIServerTakesAStepsPodSettings(t *testing.T) {
	env := newTestEnv(t, nil)
	k := parsedStep(t, `steps:
  - name: s
    command: x
    kubernetes:
      image: registry.example/ci/go:1.26
      resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: 1.5, memory: 1e9}}
      node_selector: {kubernetes.io/arch: arm64, example.com/pool: ""}
`)
	spec := executor.Spec{RunID: "settings", Step: "s", Attempt: 1, Command: "true", Kubernetes: k}
	name := JobName(spec.RunID, spec.Step, spec.Attempt)
	if err := env.exec.ensureJob(env.ctx, spec, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.exec.DeleteRun(context.Background(), spec.RunID) })
	job, err := cluster.Client.BatchV1().Jobs(env.ns).Get(env.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := job.Spec.Template.Spec
	r := ps.Containers[0].Resources
	if ps.Containers[0].Image != "registry.example/ci/go:1.26" || ps.NodeSelector["kubernetes.io/arch"] != "arm64" || ps.NodeSelector["example.com/pool"] != "" || len(ps.NodeSelector) != 2 {
		t.Errorf("image %s node selector %v", ps.Containers[0].Image, ps.NodeSelector)
	}
	if r.Requests.Cpu().String() != "250m" || r.Requests.Memory().String() != "512Mi" || r.Limits.Cpu().String() != "1500m" || r.Limits.Memory().String() != "1e9" {
		t.Errorf("resources as stored: %v", r)
	}
}
