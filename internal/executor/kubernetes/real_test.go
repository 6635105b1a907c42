//go:build k8sreal

package kubernetes

// The opt-in suite for a real cluster: real containers, real signals, real
// images. kwok (cluster_test.go) cannot show these. Run it with
//
//	RUNBOOK_K8S_IMAGE=registry.example/runbook:dev KUBECONFIG=~/.kube/config \
//	  go test -tags k8sreal -run TestReal -v ./internal/executor/kubernetes/
//
// RUNBOOK_K8S_IMAGE is an image built from the Containerfile that the
// cluster can pull. Each test makes its own namespace and deletes it.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/runbookhq/runbook/internal/executor"
)

func realExecutor(t *testing.T) (*Executor, kubernetes.Interface, string) {
	t.Helper()
	image := os.Getenv("RUNBOOK_K8S_IMAGE")
	if image == "" {
		t.Fatal("set RUNBOOK_K8S_IMAGE to an image built from the Containerfile that the cluster can pull")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		t.Fatalf("no kubeconfig (set KUBECONFIG): %v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "runbook-real-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	for {
		if _, err := client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no default service account")
		case <-time.After(100 * time.Millisecond):
		}
	}
	e, err := New(ctx, client, Config{Namespace: ns.Name, Image: image, Instance: "real-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, client, ns.Name
}

func TestRealStreamsExitCodeAndSecretEnv(t *testing.T) {
	e, _, _ := realExecutor(t)
	s := newSink()
	res := e.Run(context.Background(), executor.Spec{
		RunID: "real-1", Step: "streams", Attempt: 1,
		Command: `echo out; echo err >&2; printf 'partial'; test "$TOKEN" = s3cret || exit 9; exit 3`,
		Env:     map[string]string{"TOKEN": "s3cret"},
		Timeout: 5 * time.Minute,
	}, s)
	if res != (executor.Result{ExitCode: 3}) {
		t.Fatalf("result %+v, want exit code 3", res)
	}
	want := []string{"1 stdout out", "2 stderr err", "3 stdout partial"}
	if got := s.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestRealCancelSendsSIGTERMAndLeavesNothing(t *testing.T) {
	e, client, ns := realExecutor(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := newSink()
	done := make(chan executor.Result, 1)
	go func() {
		done <- e.Run(ctx, executor.Spec{RunID: "real-2", Step: "sleeper", Attempt: 1,
			Command: `trap 'echo got TERM; exit 0' TERM; echo ready; sleep 600 & wait`}, s)
	}()
	s.waitLine(t, "1 stdout ready")
	cancel()
	res := <-done
	if !res.Cancelled || res.ExitCode != -1 {
		t.Fatalf("result %+v, want cancelled", res)
	}
	sel := LabelRun + "=real-2"
	jobs, _ := client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	pods, _ := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if len(jobs.Items)+len(pods.Items) != 0 {
		t.Fatalf("%d jobs and %d pods remain", len(jobs.Items), len(pods.Items))
	}
}

func TestRealTimeout(t *testing.T) {
	e, _, _ := realExecutor(t)
	res := e.Run(context.Background(), executor.Spec{RunID: "real-3", Step: "slow", Attempt: 1,
		Command: "sleep 600", Timeout: 10 * time.Second}, newSink())
	if !res.TimedOut {
		t.Fatalf("result %+v, want a timeout", res)
	}
}
