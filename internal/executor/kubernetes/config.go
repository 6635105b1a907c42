package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/runbookhq/runbook/internal/workflow"
)

// Defaults of Config.
const (
	DefaultNamespace   = "runbook"
	DefaultInstance    = "default"
	DefaultWorkDir     = "/workspace"
	DefaultGracePeriod = 2 * time.Second
	DefaultTTL         = 10 * time.Minute
	DefaultDrain       = 2 * time.Second
	DefaultSweepEvery  = 5 * time.Minute
)

// DefaultEntrypoint runs the step's command through the runbook binary in
// the step image; the command is appended as the last argument.
var DefaultEntrypoint = []string{"runbook", "step-exec", "--"}

// Config is how an installation runs its steps on Kubernetes. Steps holds
// overrides by step name; a field left empty there keeps the installation's
// value (maps and slices replace, they do not merge). A step's own
// `kubernetes:` settings in its workflow (executor.Spec.Kubernetes) come
// last and win; see forStep.
type Config struct {
	// Namespace of every object the executor creates. Default "runbook".
	Namespace string
	// Image of the step container; it must hold the runbook binary (see the
	// Containerfile). Required.
	Image string
	// ServiceAccount the step's pod runs as. Empty: the namespace's default
	// account, and no API token is mounted into the pod.
	ServiceAccount   string
	ImagePullSecrets []string
	NodeSelector     map[string]string
	Resources        corev1.ResourceRequirements
	// PodLabels and PodAnnotations are added to each step's pod (a service
	// mesh opt-out, a cost label). The executor's own labels win.
	PodLabels      map[string]string
	PodAnnotations map[string]string

	// Instance names this executor's objects (label runbook.dev/executor),
	// and so which Jobs its informer watches and a restarted worker finds
	// again. Keep it stable across restarts of one worker. Default "default".
	Instance string
	// Entrypoint is the container command; the step's command is appended.
	Entrypoint []string
	// WorkDir is the step's working directory inside the pod, an emptyDir.
	WorkDir string
	// GracePeriod is the pod's terminationGracePeriodSeconds: how long a
	// cancelled step has between SIGTERM and SIGKILL. Default 2s.
	GracePeriod time.Duration
	// TTL is the Job's ttlSecondsAfterFinished. Default 10m.
	TTL time.Duration
	// Drain bounds the wait for log lines once the Job has ended and the
	// log stream has gone quiet. Default 2s.
	Drain time.Duration

	// Steps overrides the pod settings above for steps of that name.
	Steps map[string]StepConfig

	// Runs tells the sweep which runs have ended. A run's owner ConfigMap
	// outlives its Jobs and is deleted when the run ends by the worker that
	// applies its last step (DeleteRun); when that worker has no Kubernetes
	// executor the ConfigMap stays, so the executor looks for such
	// ConfigMaps of its Instance when it starts and every SweepEvery.
	// nil: no sweep.
	Runs RunLookup
	// SweepEvery is the time between sweeps. Default 5m.
	SweepEvery time.Duration
	// Logger gets the sweep's failures. Default: slog.Default().
	Logger *slog.Logger
}

// RunLookup is what the sweep asks of the engine's store.
type RunLookup interface {
	// EndedRuns returns those of runIDs whose run has ended or does not
	// exist. An ID it does not know the form of is not ended.
	EndedRuns(ctx context.Context, runIDs []string) ([]string, error)
}

// StepConfig overrides the installation's pod settings for one step.
type StepConfig struct {
	Image            string
	ServiceAccount   string
	ImagePullSecrets []string
	NodeSelector     map[string]string
	Resources        *corev1.ResourceRequirements
	PodLabels        map[string]string
	PodAnnotations   map[string]string
}

// withDefaults fills in the defaults and checks what cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Instance == "" {
		c.Instance = DefaultInstance
	}
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = DefaultEntrypoint
	}
	if c.WorkDir == "" {
		c.WorkDir = DefaultWorkDir
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	if c.Image == "" {
		errs = append(errs, errors.New("the image is empty (Image): set the step image (one that holds the runbook binary)"))
	}
	for name, s := range c.Steps {
		if s.Image == "" && c.Image == "" {
			errs = append(errs, fmt.Errorf("step %q has no image", name))
		}
	}
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q is not a valid namespace name: %v", c.Namespace, msgs))
	}
	if msgs := validation.IsValidLabelValue(c.Instance); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("instance %q (Instance) must be a label value: %v", c.Instance, msgs))
	}
	errs = append(errs, checkPodSettings("", c.ImagePullSecrets, c.NodeSelector, &c.Resources)...)
	for _, name := range slices.Sorted(maps.Keys(c.Steps)) {
		s := c.Steps[name]
		errs = append(errs, checkPodSettings(fmt.Sprintf("step %q: ", name), s.ImagePullSecrets, s.NodeSelector, s.Resources)...)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("kubernetes executor config: %w", err)
	}
	return c, nil
}

// podSettings are the settings of one step's pod after its overrides.
type podSettings struct {
	Image            string
	ServiceAccount   string
	ImagePullSecrets []string
	NodeSelector     map[string]string
	Resources        corev1.ResourceRequirements
	PodLabels        map[string]string
	PodAnnotations   map[string]string
}

// checkPodSettings reports what the API server would refuse in every Job.
func checkPodSettings(where string, pullSecrets []string, nodeSelector map[string]string, res *corev1.ResourceRequirements) []error {
	var errs []error
	for _, s := range pullSecrets {
		if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%simage pull secret %q is not a Secret name: %v", where, s, msgs))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(nodeSelector)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%snode selector: %q is not a label name: %v", where, k, msgs))
		}
		if msgs := validation.IsValidLabelValue(nodeSelector[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%snode selector: the value %q of %s is not a label value: %v", where, nodeSelector[k], k, msgs))
		}
	}
	if res != nil {
		if err := checkResources(*res); err != nil {
			errs = append(errs, fmt.Errorf("%s%w", where, err))
		}
	}
	return errs
}

// checkResources refuses negative quantities and requests above limits.
func checkResources(r corev1.ResourceRequirements) error {
	var errs []error
	for _, l := range []struct {
		what string
		list corev1.ResourceList
	}{{"request", r.Requests}, {"limit", r.Limits}} {
		for _, name := range slices.Sorted(maps.Keys(l.list)) {
			if q := l.list[name]; q.Sign() < 0 {
				errs = append(errs, fmt.Errorf("the %s %s %s is negative", name, l.what, q.String()))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Requests)) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("the %s request %s is more than its limit %s", name, req.String(), lim.String()))
		}
	}
	return errors.Join(errs...)
}

// forStep merges, in order, the installation's settings, Config.Steps for
// the step's name and the step's own `kubernetes:` settings k: an image
// replaces, each quantity replaces the same request or limit, and node
// labels are added (the step's value wins).
func (c Config) forStep(step string, k *workflow.Kubernetes) (podSettings, error) {
	p := c.forStepName(step)
	if k == nil {
		return p, nil
	}
	if k.Image != "" {
		p.Image = k.Image
	}
	if len(k.NodeSelector) > 0 {
		if p.NodeSelector == nil {
			p.NodeSelector = map[string]string{}
		}
		maps.Copy(p.NodeSelector, k.NodeSelector)
	}
	var errs []error
	set := func(list *corev1.ResourceList, name corev1.ResourceName, path, text string) {
		if text == "" {
			return
		}
		q, err := resource.ParseQuantity(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("kubernetes.resources.%s %q: %w", path, text, err))
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
	}
	set(&p.Resources.Requests, corev1.ResourceCPU, "requests.cpu", k.Resources.Requests.CPU)
	set(&p.Resources.Requests, corev1.ResourceMemory, "requests.memory", k.Resources.Requests.Memory)
	set(&p.Resources.Limits, corev1.ResourceCPU, "limits.cpu", k.Resources.Limits.CPU)
	set(&p.Resources.Limits, corev1.ResourceMemory, "limits.memory", k.Resources.Limits.Memory)
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	// The installation may cap what a step asks for below it: say which
	// settings clash instead of relaying the API server's refusal.
	if err := checkResources(p.Resources); err != nil {
		return p, fmt.Errorf("its kubernetes.resources clash with the installation's: %w", err)
	}
	return p, nil
}

func (c Config) forStepName(step string) podSettings {
	p := podSettings{
		Image:            c.Image,
		ServiceAccount:   c.ServiceAccount,
		ImagePullSecrets: c.ImagePullSecrets,
		NodeSelector:     maps.Clone(c.NodeSelector),
		Resources:        *c.Resources.DeepCopy(),
		PodLabels:        maps.Clone(c.PodLabels),
		PodAnnotations:   maps.Clone(c.PodAnnotations),
	}
	s, ok := c.Steps[step]
	if !ok {
		return p
	}
	if s.Image != "" {
		p.Image = s.Image
	}
	if s.ServiceAccount != "" {
		p.ServiceAccount = s.ServiceAccount
	}
	if s.ImagePullSecrets != nil {
		p.ImagePullSecrets = s.ImagePullSecrets
	}
	if s.NodeSelector != nil {
		p.NodeSelector = maps.Clone(s.NodeSelector)
	}
	if s.Resources != nil {
		p.Resources = *s.Resources.DeepCopy()
	}
	if s.PodLabels != nil {
		p.PodLabels = maps.Clone(s.PodLabels)
	}
	if s.PodAnnotations != nil {
		p.PodAnnotations = maps.Clone(s.PodAnnotations)
	}
	return p
}
