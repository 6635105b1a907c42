package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/runbookhq/runbook/internal/executor"
)

// Labels and annotations on every object the executor creates. The label
// values are the IDs where they are valid label values, and a readable
// prefix plus a hash where not; the annotations keep the exact IDs.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "runbook"
	LabelInstance  = "runbook.dev/executor"
	LabelRun       = "runbook.dev/run"
	LabelStep      = "runbook.dev/step"
	LabelAttempt   = "runbook.dev/attempt"
	LabelJob       = "runbook.dev/job" // on pods: the Job they run for
	// LabelNetwork is "none" on the pods of steps with `network: none`;
	// deploy/networkpolicy-steps.yaml denies them all egress.
	LabelNetwork = "runbook.dev/network"

	AnnotationRunID = "runbook.dev/run-id"
	AnnotationStep  = "runbook.dev/step-name"
)

// ContainerName is the name of the step's container in its pod.
const ContainerName = "step"

// hashOf is a short, stable digest of parts.
func hashOf(n int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:n]
}

// slug keeps the lowercase alphanumerics and dashes of s, at most n bytes,
// with no dash at either end.
func slug(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
		if b.Len() >= n {
			break
		}
	}
	out := b.String()
	if len(out) > n {
		out = out[:n]
	}
	return strings.Trim(out, "-")
}

// JobName is the deterministic name of a step attempt's Job: the same run,
// step and attempt always give the same name, so a restarted worker finds
// the Job again instead of starting a second one.
func JobName(runID, step string, attempt int) string {
	name := "rb-"
	if s := slug(step, 30); s != "" {
		name += s + "-"
	}
	return name + strconv.Itoa(attempt) + "-" + hashOf(10, runID, step, strconv.Itoa(attempt))
}

// RunObjectName is the name of a run's owner ConfigMap. Every Job of the
// run has an owner reference to it, so deleting it collects them all.
func RunObjectName(runID string) string {
	return "rb-run-" + hashOf(16, runID)
}

// LabelValue turns an ID into a label value.
func LabelValue(id string) string {
	if len(validation.IsValidLabelValue(id)) == 0 {
		return id
	}
	s := slug(id, 40)
	if s != "" {
		s += "-"
	}
	return s + hashOf(12, id)
}

// runLabels are the labels of a run's objects.
func (e *Executor) runLabels(runID string) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedBy,
		LabelInstance:  e.cfg.Instance,
		LabelRun:       LabelValue(runID),
	}
}

func (e *Executor) stepLabels(spec executor.Spec) map[string]string {
	l := e.runLabels(spec.RunID)
	l[LabelStep] = LabelValue(spec.Step)
	l[LabelAttempt] = strconv.Itoa(spec.Attempt)
	return l
}

// buildJob is the Job of one step attempt. owner is the run's ConfigMap;
// StepUID is the user and group step containers run as: nobody.
const StepUID = 65534

// ps is the step's pod settings (Config.forStep).
func (e *Executor) buildJob(spec executor.Spec, owner *corev1.ConfigMap, ps podSettings) *batchv1.Job {
	name := JobName(spec.RunID, spec.Step, spec.Attempt)
	labels := e.stepLabels(spec)
	annotations := map[string]string{AnnotationRunID: spec.RunID, AnnotationStep: spec.Step}

	podLabels := maps.Clone(ps.PodLabels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, labels)
	podLabels[LabelJob] = name
	if spec.Network == "none" {
		podLabels[LabelNetwork] = "none"
	}
	podAnnotations := maps.Clone(ps.PodAnnotations)
	if podAnnotations == nil {
		podAnnotations = map[string]string{}
	}
	maps.Copy(podAnnotations, annotations)

	var pullSecrets []corev1.LocalObjectReference
	for _, s := range ps.ImagePullSecrets {
		pullSecrets = append(pullSecrets, corev1.LocalObjectReference{Name: s})
	}
	grace := int64(math.Ceil(e.cfg.GracePeriod.Seconds()))
	ttl := int32(math.Ceil(e.cfg.TTL.Seconds()))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       e.cfg.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(owner)},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            new(int32(0)), // retries are the engine's decision
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: &grace,
					ServiceAccountName:            ps.ServiceAccount,
					// A step gets API credentials only from an account
					// chosen for it.
					AutomountServiceAccountToken: new(ps.ServiceAccount != ""),
					EnableServiceLinks:           new(false),
					// Steps run as nobody, unprivileged, whatever the
					// image's USER says; fsGroup makes the workspace theirs.
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: new(true), RunAsUser: new(int64(StepUID)), RunAsGroup: new(int64(StepUID)), FSGroup: new(int64(StepUID)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					NodeSelector:     ps.NodeSelector,
					ImagePullSecrets: pullSecrets,
					Containers: []corev1.Container{{
						Name:         ContainerName,
						Image:        ps.Image,
						Command:      append(slices.Clone(e.cfg.Entrypoint), spec.Command),
						WorkingDir:   e.cfg.WorkDir,
						Env:          e.env(spec),
						Resources:    ps.Resources,
						VolumeMounts: []corev1.VolumeMount{{Name: "workspace", MountPath: e.cfg.WorkDir}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: new(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{
						Name:         "workspace",
						VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
					}},
				},
			},
		},
	}
	if spec.Timeout > 0 {
		secs := int64(math.Ceil(spec.Timeout.Seconds()))
		job.Spec.ActiveDeadlineSeconds = &secs
	}
	return job
}

// reservedEnv are set by the executor and win over Spec.Env.
var reservedEnv = []string{"CI", "RUNBOOK", "RUNBOOK_RUN_ID", "RUNBOOK_STEP", "RUNBOOK_ATTEMPT", "RUNBOOK_WORKSPACE"}

// env is the step's environment: Spec.Env in name order, each read from the
// step's Secret (Spec.Env may hold tokens, and a Job's spec is readable by
// anyone who may list Jobs), then the RUNBOOK_* variables, which replace a
// Spec.Env entry of the same name as on the local executor.
func (e *Executor) env(spec executor.Spec) []corev1.EnvVar {
	secret := JobName(spec.RunID, spec.Step, spec.Attempt)
	names := slices.Sorted(maps.Keys(spec.Env))
	env := make([]corev1.EnvVar, 0, len(names)+len(reservedEnv))
	for _, k := range names {
		if slices.Contains(reservedEnv, k) {
			continue
		}
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret},
			Key:                  k,
		}}})
	}
	return append(env,
		corev1.EnvVar{Name: "CI", Value: "true"},
		corev1.EnvVar{Name: "RUNBOOK", Value: "true"},
		corev1.EnvVar{Name: "RUNBOOK_RUN_ID", Value: spec.RunID},
		corev1.EnvVar{Name: "RUNBOOK_STEP", Value: spec.Step},
		corev1.EnvVar{Name: "RUNBOOK_ATTEMPT", Value: strconv.Itoa(spec.Attempt)},
		corev1.EnvVar{Name: "RUNBOOK_WORKSPACE", Value: e.cfg.WorkDir},
	)
}

// buildSecret holds the step's Spec.Env; nil when it has none. It belongs to
// the run's ConfigMap, so it goes with the run.
func (e *Executor) buildSecret(spec executor.Spec, owner *corev1.ConfigMap) *corev1.Secret {
	data := map[string][]byte{}
	for k, v := range spec.Env {
		if !slices.Contains(reservedEnv, k) {
			data[k] = []byte(v)
		}
	}
	if len(data) == 0 {
		return nil
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(spec.RunID, spec.Step, spec.Attempt),
			Namespace:       e.cfg.Namespace,
			Labels:          e.stepLabels(spec),
			Annotations:     map[string]string{AnnotationRunID: spec.RunID, AnnotationStep: spec.Step},
			OwnerReferences: []metav1.OwnerReference{ownerRef(owner)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

func ownerRef(owner *corev1.ConfigMap) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}
}

// safetyMargin is how long past Spec.Timeout the executor waits for the Job
// controller to enforce activeDeadlineSeconds before it stops the Job
// itself: the deadline counts from the Job's start, which the controller
// records a little after creation.
func safetyMargin(timeout time.Duration) time.Duration {
	return max(30*time.Second, timeout/10)
}
