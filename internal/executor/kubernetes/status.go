package kubernetes

import (
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// outcome is what a Job and its pod say about a step attempt.
type outcome struct {
	Done     bool  // the attempt has ended
	ExitCode int   // valid when Done; -1 when unknown (deadline, eviction)
	TimedOut bool  // activeDeadlineSeconds stopped it
	Err      error // it cannot run (bad image, bad config) or failed without a container exit
}

// errNoExitCode marks a failed Job whose pod shows no exit code (yet: the
// pod's last update may reach the cache after the Job's).
var errNoExitCode = errors.New("its container left no exit code")

// unstartable are container waiting reasons after which the step will not
// start by itself; waiting for the deadline would only hide the reason.
var unstartable = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
}

// jobOutcome maps a Job and its newest pod (either may be nil) to an
// outcome. Only the Job's terminal conditions end an attempt: since
// Kubernetes 1.31 the Job controller adds them once its pods have
// terminated, so a Done attempt has no container left running.
func jobOutcome(job *batchv1.Job, pod *corev1.Pod) outcome {
	if job == nil {
		return outcome{}
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return outcome{Done: true, ExitCode: 0}
		case batchv1.JobFailed:
			if c.Reason == batchv1.JobReasonDeadlineExceeded {
				return outcome{Done: true, ExitCode: -1, TimedOut: true}
			}
			if code, ok := containerExit(pod); ok {
				return outcome{Done: true, ExitCode: code}
			}
			return outcome{Done: true, ExitCode: -1, Err: fmt.Errorf("job %s failed: %s: %s: %w", job.Name, c.Reason, c.Message, errNoExitCode)}
		}
	}
	if pod != nil {
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && unstartable[w.Reason] {
				return outcome{Done: true, ExitCode: -1, Err: fmt.Errorf("pod %s cannot start its container: %s: %s", pod.Name, w.Reason, w.Message)}
			}
		}
	}
	return outcome{}
}

// containerExit is the exit code of the step's container, if it has
// terminated.
func containerExit(pod *corev1.Pod) (int, bool) {
	if pod == nil {
		return 0, false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ContainerName {
			continue
		}
		if t := cs.State.Terminated; t != nil {
			return int(t.ExitCode), true
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			return int(t.ExitCode), true
		}
	}
	return 0, false
}

// containerStarted tells whether the step's container has started, so its
// log can be read.
func containerStarted(pod *corev1.Pod) bool {
	if pod == nil {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == ContainerName && (cs.State.Running != nil || cs.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// podGone tells whether a pod holds no running container any more.
func podGone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
