package kubernetes

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func jobWith(conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{Status: batchv1.JobStatus{Conditions: conds}}
}

func cond(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason}
}

func podIn(state corev1.ContainerState) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName, State: state}}}}
}

func exited(code int32) *corev1.Pod {
	return podIn(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}})
}

func TestJobStatusMapsToTheStepsOutcome(t *testing.T) {
	running := podIn(corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
	tests := []struct {
		name    string
		job     *batchv1.Job
		pod     *corev1.Pod
		want    outcome
		wantErr bool
	}{
		{"no job yet", nil, nil, outcome{}, false},
		{"just created", jobWith(), nil, outcome{}, false},
		{"running", jobWith(), running, outcome{}, false},
		{"success criteria met but pods not yet gone", jobWith(cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached")), exited(0), outcome{}, false},
		{"failure target but pods not yet gone", jobWith(cond(batchv1.JobFailureTarget, "BackoffLimitExceeded")), exited(3), outcome{}, false},
		{"a false condition is no condition", jobWith(batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}), running, outcome{}, false},
		{"complete", jobWith(cond(batchv1.JobSuccessCriteriaMet, ""), cond(batchv1.JobComplete, "")), exited(0), outcome{Done: true, ExitCode: 0}, false},
		{"failed with an exit code", jobWith(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)), exited(42), outcome{Done: true, ExitCode: 42}, false},
		{"deadline exceeded", jobWith(cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)), nil, outcome{Done: true, ExitCode: -1, TimedOut: true}, false},
		{"failed with no container exit", jobWith(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)), nil, outcome{Done: true, ExitCode: -1}, true},
		{"image cannot be pulled", jobWith(), podIn(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}), outcome{Done: true, ExitCode: -1}, true},
		{"container config is broken", jobWith(), podIn(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError"}}), outcome{Done: true, ExitCode: -1}, true},
		{"still creating the container", jobWith(), podIn(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}), outcome{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jobOutcome(tt.job, tt.pod)
			if (got.Err != nil) != tt.wantErr {
				t.Fatalf("err %v, want an error: %v", got.Err, tt.wantErr)
			}
			got.Err = nil
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTheContainersExitCodeComesFromItsLastTermination(t *testing.T) {
	p := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		{Name: "sidecar", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 9}}},
		{Name: ContainerName, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 5}}},
	}}}
	if code, ok := containerExit(p); !ok || code != 5 {
		t.Fatalf("containerExit = %d %v, want the step container's 5", code, ok)
	}
	if containerStarted(p) {
		t.Fatal("a step container with no current state counts as started")
	}
}
