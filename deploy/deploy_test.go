// Package deploy_test checks the manifests in this directory against a real
// control plane (internal/k8stest): the API server must accept every object
// with strict field validation, and the worker's service account must be
// allowed exactly what the Kubernetes executor does, no more.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/kubernetes"
	"github.com/runbookhq/runbook/internal/executor/kubernetes/frame"
	"github.com/runbookhq/runbook/internal/k8stest"
	"github.com/runbookhq/runbook/internal/logline"
)

var (
	cluster     *k8stest.Cluster
	clusterSkip string
)

func TestMain(m *testing.M) {
	c, skip, err := k8stest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster, clusterSkip = c, skip
	code := m.Run()
	if c != nil {
		c.Stop()
	}
	os.Exit(code)
}

const (
	stepsNamespace = "runbook-steps"
	workerAccount  = "system:serviceaccount:runbook:runbook-worker"
	serverAccount  = "system:serviceaccount:runbook:runbook-server"
)

var (
	applyOnce sync.Once
	applyErr  error
)

// applied creates every object of kustomization.yaml's resources, once per
// cluster, with strict field validation: a misspelt or misplaced field is
// an error, not silently dropped.
func applied(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip(clusterSkip)
	}
	applyOnce.Do(func() { applyErr = apply(context.Background()) })
	if applyErr != nil {
		t.Fatal(applyErr)
	}
}

func apply(ctx context.Context) error {
	var kust struct {
		Resources []string `json:"resources"`
	}
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, &kust); err != nil {
		return fmt.Errorf("kustomization.yaml: %w", err)
	}
	for _, file := range kust.Resources {
		objs, err := decode(file)
		if err != nil {
			return err
		}
		if err := createAll(ctx, file, objs); err != nil {
			return err
		}
	}
	return nil
}

// createAll creates objs (read from source) with strict field validation.
func createAll(ctx context.Context, source string, objs []*unstructured.Unstructured) error {
	disco, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", source, gvk.Kind, obj.GetName(), err)
		}
		res := cluster.Dynamic.Resource(m.Resource)
		var ri interface {
			Create(context.Context, *unstructured.Unstructured, metav1.CreateOptions, ...string) (*unstructured.Unstructured, error)
		} = res
		if ns := obj.GetNamespace(); ns != "" {
			ri = res.Namespace(ns)
		}
		if _, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			return fmt.Errorf("%s: creating %s %s: %w", source, gvk.Kind, obj.GetName(), err)
		}
	}
	return nil
}

// decode reads the objects of a multi-document YAML file.
func decode(file string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return decodeYAML(file, raw)
}

// decodeYAML reads the objects of multi-document YAML (file names it).
func decodeYAML(file string, raw []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(m) == 0 {
			continue // a document of comments only
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func TestManifestsAreAcceptedByTheAPIServer(t *testing.T) {
	applied(t)
	ctx := context.Background()
	for _, ns := range []string{"runbook", stepsNamespace} {
		if _, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	if _, err := cluster.Client.AppsV1().StatefulSets("runbook").Get(ctx, "runbook-worker", metav1.GetOptions{}); err != nil {
		t.Errorf("worker StatefulSet: %v", err)
	}
}

// as is a client that acts as user, through impersonation: the API server's
// RBAC authorizer judges each call as it would the pod's own token.
func as(t *testing.T, user string) k8s.Interface {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:runbook", "system:authenticated"}}
	c, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The control: RBAC is really enforced here, so the next test means something.
func TestServerAccountMayNotTouchSteps(t *testing.T) {
	applied(t)
	_, err := as(t, serverAccount).BatchV1().Jobs(stepsNamespace).List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("the server's account listing Jobs: err %v, want Forbidden", err)
	}
	_, err = as(t, workerAccount).CoreV1().Secrets("runbook").List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("the worker's account listing Secrets of its own namespace: err %v, want Forbidden", err)
	}
}

// The executor, acting as the worker's account, runs a step to its end,
// cancels another with no Job or Pod left, and collects the run's objects.
func TestWorkerAccountIsEnoughForTheExecutor(t *testing.T) {
	applied(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logFile := filepath.Join(cluster.LogDir, "deploy.log")
	var log bytes.Buffer
	for _, r := range [][]byte{
		frame.Append(nil, frame.Stdout, 1, []byte("hello")),
		frame.Append(nil, frame.Exit, 2, []byte("0")),
	} {
		log.WriteString(k8stest.CRILine(strings.TrimSuffix(string(r), "\n")))
	}
	if err := os.WriteFile(logFile, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cluster.SetLogs(ctx, stepsNamespace, logFile); err != nil {
		t.Fatal(err)
	}
	e, err := kubernetes.New(ctx, as(t, workerAccount), kubernetes.Config{
		Namespace: stepsNamespace, Image: "runbook-step:test", Instance: "deploy-test", Drain: time.Second,
		// kwok's stage: this step's pod runs for an hour unless stopped.
		Steps: map[string]kubernetes.StepConfig{"long": {PodAnnotations: map[string]string{"pod-complete.stage.kwok.x-k8s.io/delay": "1h"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	var lines []string
	sink := sinkFunc(func(l logline.Line) error { lines = append(lines, string(l.Text)); return nil })
	res := e.Run(ctx, executor.Spec{RunID: "deploy-1", Step: "greet", Attempt: 1, Command: "echo hello", Env: map[string]string{"TOKEN": "x"}}, sink)
	if res != (executor.Result{ExitCode: 0}) || strings.Join(lines, "|") != "hello" {
		t.Fatalf("step as the worker's account: %+v, lines %q", res, lines)
	}

	stepCtx, stop := context.WithCancel(ctx)
	done := make(chan executor.Result, 1)
	go func() {
		done <- e.Run(stepCtx, executor.Spec{RunID: "deploy-1", Step: "long", Attempt: 1, Command: "sleep 3600"}, sinkFunc(func(logline.Line) error { return nil }))
	}()
	long := labels.Set{kubernetes.LabelJob: kubernetes.JobName("deploy-1", "long", 1)}.String()
	waitFor(t, "the long step's pod running", func() bool {
		pods, err := cluster.Client.CoreV1().Pods(stepsNamespace).List(ctx, metav1.ListOptions{LabelSelector: long})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning
	})
	stop()
	if res := <-done; !res.Cancelled {
		t.Fatalf("cancelled step: %+v", res)
	}
	if jobs, pods := objects(t, long); jobs+pods != 0 {
		t.Fatalf("after the cancel: %d Jobs and %d Pods of the step left", jobs, pods)
	}
	if err := e.DeleteRun(ctx, "deploy-1"); err != nil {
		t.Fatalf("collecting the run as the worker's account: %v", err)
	}
	run := labels.Set{kubernetes.LabelRun: kubernetes.LabelValue("deploy-1")}.String()
	waitFor(t, "the run's Jobs and Pods gone", func() bool { jobs, pods := objects(t, run); return jobs+pods == 0 })
	if _, err := cluster.Client.CoreV1().ConfigMaps(stepsNamespace).Get(ctx, kubernetes.RunObjectName("deploy-1"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the run's owner ConfigMap after DeleteRun: err %v, want NotFound", err)
	}
}

// objects counts, through the API, the Jobs and Pods matching selector.
func objects(t *testing.T, selector string) (jobs, pods int) {
	t.Helper()
	ctx := context.Background()
	jl, err := cluster.Client.BatchV1().Jobs(stepsNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := cluster.Client.CoreV1().Pods(stepsNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return len(jl.Items), len(pl.Items)
}

type sinkFunc func(logline.Line) error

func (f sinkFunc) WriteLine(l logline.Line) error { return f(l) }

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 60s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The server's pod holds the database URL and the token secret in its
// environment, so no step may run there (issue 14, item 6).
func TestServerRunsNoSteps(t *testing.T) {
	objs, err := decode("server.yaml")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			args, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
			if len(args) > 0 && args[0] == "server" {
				found = true
				if !strings.Contains(strings.Join(args, " "), "--run-steps=false") {
					t.Errorf("server args %q lack --run-steps=false", args)
				}
			}
		}
	}
	if !found {
		t.Fatal("no container runs `runbook server` in server.yaml")
	}
}

// The optional NetworkPolicy selects the pods the executor labels.
func TestStepNetworkPolicySelectsNetworkNone(t *testing.T) {
	objs, err := decode("networkpolicy-steps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	selects := false
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" || o.GetNamespace() != "runbook-steps" {
			t.Errorf("%s %s/%s, want NetworkPolicies in runbook-steps", o.GetKind(), o.GetNamespace(), o.GetName())
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "podSelector", "matchLabels")
		types, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "policyTypes")
		egress, _, _ := unstructured.NestedSlice(o.Object, "spec", "egress")
		if sel[kubernetes.LabelNetwork] == "none" && len(types) == 1 && types[0] == "Egress" && len(egress) == 0 {
			selects = true
		}
	}
	if !selects {
		t.Errorf("no policy denies all egress to pods labelled %s=none", kubernetes.LabelNetwork)
	}
}
