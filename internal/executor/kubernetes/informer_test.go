package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/runbookhq/runbook/internal/executor"
)

// The fake clientset runs no Job controller: the test plays it, finishing
// each step's pod and Job by hand, and checks that three concurrent steps
// share one watch on Jobs and one on Pods.
func TestStepsShareOneInformerAndEndOnTheJobsCondition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := fake.NewClientset()
	e, err := New(ctx, client, Config{Namespace: "ns", Image: "step", Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	codes := map[string]int32{"a": 0, "b": 3, "c": 0}
	results := map[string]executor.Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for step := range codes {
		wg.Go(func() {
			res := e.Run(ctx, executor.Spec{RunID: "r", Step: step, Attempt: 1, Command: "x"}, newSink())
			mu.Lock()
			results[step] = res
			mu.Unlock()
		})
	}
	for step, code := range codes {
		name := JobName("r", step, 1)
		var job *batchv1.Job
		for job == nil {
			if job, err = client.BatchV1().Jobs("ns").Get(ctx, name, metav1.GetOptions{}); err != nil {
				job = nil
				select {
				case <-ctx.Done():
					t.Fatalf("Job %s was never created", name)
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		phase, cond := corev1.PodSucceeded, batchv1.JobComplete
		if code != 0 {
			phase, cond = corev1.PodFailed, batchv1.JobFailed
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-x", Namespace: "ns", Labels: job.Spec.Template.Labels},
			Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
				Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}},
			}}},
		}
		if _, err := client.CoreV1().Pods("ns").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		job.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded}}
		if _, err := client.BatchV1().Jobs("ns").UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for step, code := range codes {
		if r := results[step]; r.ExitCode != int(code) || r.Err != nil || r.Cancelled || r.TimedOut {
			t.Errorf("step %s: %+v, want exit code %d", step, r, code)
		}
	}
	watches := map[string]int{}
	for _, a := range client.Actions() {
		if a.GetVerb() == "watch" {
			watches[a.GetResource().Resource]++
		}
	}
	if fmt.Sprint(watches) != "map[jobs:1 pods:1]" {
		t.Fatalf("watches %v, want one on jobs and one on pods for all steps", watches)
	}
}
