package kubernetes

import (
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Config.
const (
	DefaultNamespace   = "runbook"
	DefaultInstance    = "default"
	DefaultWorkDir     = "/workspace"
	DefaultGracePeriod = 2 * time.Second
	DefaultTTL         = 10 * time.Minute
	DefaultDrain       = 2 * time.Second
)

// DefaultEntrypoint runs the step's command through the runbook binary in
// the step image; the command is appended as the last argument.
var DefaultEntrypoint = []string{"runbook", "step-exec", "--"}

// Config is how an installation runs its steps on Kubernetes. Steps holds
// overrides by step name; a field left empty there keeps the installation's
// value (maps and slices replace, they do not merge).
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

func (c Config) forStep(step string) podSettings {
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
