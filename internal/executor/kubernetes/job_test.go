package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	"pgregory.net/rapid"

	"github.com/runbookhq/runbook/internal/executor"
)

func fullConfig() Config {
	return Config{
		Namespace:        "ci",
		Image:            "registry.example/runbook-step:1",
		ServiceAccount:   "steps",
		ImagePullSecrets: []string{"regcred"},
		NodeSelector:     map[string]string{"kubernetes.io/arch": "amd64"},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		PodAnnotations: map[string]string{"sidecar.istio.io/inject": "false"},
		PodLabels:      map[string]string{"team": "ci", LabelRun: "not-this"},
		Instance:       "worker-1",
		TTL:            5 * time.Minute,
		Steps: map[string]StepConfig{
			"Build": {
				Image:        "golang:1.26",
				NodeSelector: map[string]string{"pool": "big"},
				Resources:    &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			},
		},
	}
}

// createdJob runs ensureJob against a fake clientset and returns what it
// created.
func createdJob(t *testing.T, cfg Config, spec executor.Spec) (*batchv1.Job, *corev1.ConfigMap, *fake.Clientset) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	e := &Executor{client: client, cfg: cfg}
	ctx := context.Background()
	name := JobName(spec.RunID, spec.Step, spec.Attempt)
	if err := e.ensureJob(ctx, spec, name); err != nil {
		t.Fatal(err)
	}
	job, err := client.BatchV1().Jobs(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps(cfg.Namespace).Get(ctx, RunObjectName(spec.RunID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job, cm, client
}

func TestTheJobSpecCarriesEverySetting(t *testing.T) {
	spec := executor.Spec{
		RunID: "run-42", Step: "Unit tests", Attempt: 2, Command: "make test",
		Env:     map[string]string{"B": "2", "A": "1", "RUNBOOK_STEP": "spoofed"},
		Timeout: 90*time.Second + 500*time.Millisecond,
	}
	job, cm, client := createdJob(t, fullConfig(), spec)

	if job.Namespace != "ci" || job.Name != JobName("run-42", "Unit tests", 2) {
		t.Errorf("job %s/%s", job.Namespace, job.Name)
	}
	js := job.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0", js.BackoffLimit)
	}
	if js.ActiveDeadlineSeconds == nil || *js.ActiveDeadlineSeconds != 91 {
		t.Errorf("activeDeadlineSeconds %v, want 91 (the timeout rounded up)", js.ActiveDeadlineSeconds)
	}
	if js.TTLSecondsAfterFinished == nil || *js.TTLSecondsAfterFinished != 300 {
		t.Errorf("ttlSecondsAfterFinished %v, want 300", js.TTLSecondsAfterFinished)
	}
	wantLabels := map[string]string{LabelManagedBy: "runbook", LabelInstance: "worker-1", LabelRun: "run-42", LabelStep: LabelValue("Unit tests"), LabelAttempt: "2"}
	for k, v := range wantLabels {
		if job.Labels[k] != v {
			t.Errorf("job label %s=%q, want %q", k, job.Labels[k], v)
		}
		if job.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s=%q, want %q (the executor's labels win over PodLabels)", k, job.Spec.Template.Labels[k], v)
		}
	}
	if job.Annotations[AnnotationRunID] != "run-42" || job.Annotations[AnnotationStep] != "Unit tests" {
		t.Errorf("annotations %v", job.Annotations)
	}
	pt := job.Spec.Template
	if pt.Labels[LabelJob] != job.Name || pt.Labels["team"] != "ci" || pt.Annotations["sidecar.istio.io/inject"] != "false" {
		t.Errorf("pod labels %v, annotations %v", pt.Labels, pt.Annotations)
	}
	if len(job.OwnerReferences) != 1 || job.OwnerReferences[0].Kind != "ConfigMap" || job.OwnerReferences[0].Name != cm.Name || job.OwnerReferences[0].UID != cm.UID {
		t.Errorf("owner references %+v, want the run's ConfigMap %s", job.OwnerReferences, cm.Name)
	}
	if cm.Labels[LabelRun] != "run-42" || cm.Annotations[AnnotationRunID] != "run-42" {
		t.Errorf("run ConfigMap labels %v annotations %v", cm.Labels, cm.Annotations)
	}

	ps := pt.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s", ps.RestartPolicy)
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds != 2 {
		t.Errorf("terminationGracePeriodSeconds %v, want 2", ps.TerminationGracePeriodSeconds)
	}
	if ps.ServiceAccountName != "steps" || ps.AutomountServiceAccountToken == nil || !*ps.AutomountServiceAccountToken {
		t.Errorf("service account %q automount %v", ps.ServiceAccountName, ps.AutomountServiceAccountToken)
	}
	if ps.NodeSelector["kubernetes.io/arch"] != "amd64" || len(ps.ImagePullSecrets) != 1 || ps.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("node selector %v pull secrets %v", ps.NodeSelector, ps.ImagePullSecrets)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Name != ContainerName || c.Image != "registry.example/runbook-step:1" {
		t.Errorf("container %s image %s", c.Name, c.Image)
	}
	if want := []string{"runbook", "step-exec", "--", "make test"}; !slices.Equal(c.Command, want) {
		t.Errorf("command %q, want %q", c.Command, want)
	}
	if c.Resources.Requests.Cpu().String() != "250m" || c.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("resources %v", c.Resources)
	}
	if c.WorkingDir != "/workspace" || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/workspace" || ps.Volumes[0].EmptyDir == nil {
		t.Errorf("workdir %s mounts %v volumes %v", c.WorkingDir, c.VolumeMounts, ps.Volumes)
	}
	// Spec.Env lives in a Secret: the Job spec never holds its values.
	secret, err := client.CoreV1().Secrets("ci").Get(context.Background(), job.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, v := range c.Env {
		if v.ValueFrom != nil {
			ref := v.ValueFrom.SecretKeyRef
			if ref == nil || ref.Name != secret.Name || v.Value != "" {
				t.Fatalf("env %s: %+v, want a reference to Secret %s", v.Name, v, secret.Name)
			}
			env = append(env, v.Name+"="+string(secret.Data[ref.Key]))
			continue
		}
		env = append(env, v.Name+"="+v.Value)
	}
	want := []string{"A=1", "B=2", "CI=true", "RUNBOOK=true", "RUNBOOK_RUN_ID=run-42", "RUNBOOK_STEP=Unit tests", "RUNBOOK_ATTEMPT=2", "RUNBOOK_WORKSPACE=/workspace"}
	if !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	if _, ok := secret.Data["RUNBOOK_STEP"]; ok || len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].Name != cm.Name {
		t.Errorf("secret data keys %v owners %+v: want no reserved name, owned by the run", secret.Data, secret.OwnerReferences)
	}
}

func TestAStepOverridesTheInstallationsPodSettings(t *testing.T) {
	job, _, _ := createdJob(t, fullConfig(), executor.Spec{RunID: "r", Step: "Build", Attempt: 1, Command: "go build"})
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Image != "golang:1.26" || ps.NodeSelector["pool"] != "big" || len(ps.NodeSelector) != 1 || c.Resources.Limits.Cpu().String() != "4" {
		t.Errorf("image %s node selector %v resources %v", c.Image, ps.NodeSelector, c.Resources)
	}
	if ps.ServiceAccountName != "steps" || ps.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("settings the step does not override must stay: %q %v", ps.ServiceAccountName, ps.ImagePullSecrets)
	}
}

func TestNoTimeoutMeansNoDeadlineAndNoAccountMeansNoToken(t *testing.T) {
	job, _, _ := createdJob(t, Config{Image: "step"}, executor.Spec{RunID: "r", Step: "s", Attempt: 1, Command: "true"})
	if job.Namespace != DefaultNamespace || job.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("namespace %s deadline %v", job.Namespace, job.Spec.ActiveDeadlineSeconds)
	}
	ps := job.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken %v, want false without a chosen account", ps.AutomountServiceAccountToken)
	}
	if *job.Spec.TTLSecondsAfterFinished != int32(DefaultTTL.Seconds()) {
		t.Errorf("ttl %d", *job.Spec.TTLSecondsAfterFinished)
	}
	if _, ok := job.Spec.Template.Labels[LabelNetwork]; ok {
		t.Errorf("pod labels %v: a step with the default network needs no network label", job.Spec.Template.Labels)
	}
}

// Step pods run unprivileged whatever their image says (issue 14, item 6),
// and `network: none` labels them for deploy/networkpolicy-steps.yaml.
func TestStepPodsRunUnprivileged(t *testing.T) {
	job, _, _ := createdJob(t, Config{Image: "step"}, executor.Spec{RunID: "r", Step: "s", Attempt: 1, Command: "true", Network: "none"})
	ps := job.Spec.Template.Spec
	sc := ps.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != StepUID ||
		sc.FSGroup == nil || *sc.FSGroup != StepUID || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v, want non-root %d with fsGroup and the runtime's seccomp profile", sc, StepUID)
	}
	c := ps.Containers[0].SecurityContext
	if c == nil || c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation || c.Capabilities == nil ||
		len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v, want no privilege escalation and every capability dropped", c)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken %v, want false", ps.AutomountServiceAccountToken)
	}
	if got := job.Spec.Template.Labels[LabelNetwork]; got != "none" {
		t.Errorf("pod label %s = %q, want none", LabelNetwork, got)
	}
}

func TestConfigErrorsSayWhatToSet(t *testing.T) {
	_, err := Config{Namespace: "Bad_NS", Instance: "a b"}.withDefaults()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"image is empty", "namespace \"Bad_NS\"", "instance \"a b\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestAJobOfAnotherAttemptIsNotAdopted(t *testing.T) {
	cfg, _ := Config{Image: "step"}.withDefaults()
	name := JobName("r", "s", 1)
	client := fake.NewClientset(&batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: cfg.Namespace, Labels: map[string]string{LabelRun: "other"},
	}})
	e := &Executor{client: client, cfg: cfg}
	err := e.ensureJob(context.Background(), executor.Spec{RunID: "r", Step: "s", Attempt: 1}, name)
	if err == nil || !strings.Contains(err.Error(), "is not this attempt's") {
		t.Fatalf("err %v, want a refusal to adopt", err)
	}
}

func TestNamesAndLabelValuesAreValidAndDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		run := rapid.String().Draw(t, "run")
		step := rapid.String().Draw(t, "step")
		attempt := rapid.IntRange(1, 10000).Draw(t, "attempt")
		name := JobName(run, step, attempt)
		if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
			t.Fatalf("JobName(%q, %q, %d) = %q: %v", run, step, attempt, name, msgs)
		}
		if name != JobName(run, step, attempt) || name == JobName(run, step, attempt+1) {
			t.Fatalf("JobName is not a function of run, step and attempt alone")
		}
		for _, id := range []string{run, step} {
			if msgs := validation.IsValidLabelValue(LabelValue(id)); len(msgs) > 0 {
				t.Fatalf("LabelValue(%q) = %q: %v", id, LabelValue(id), msgs)
			}
		}
		if msgs := validation.IsDNS1123Subdomain(RunObjectName(run)); len(msgs) > 0 {
			t.Fatalf("RunObjectName(%q): %v", run, msgs)
		}
	})
}
