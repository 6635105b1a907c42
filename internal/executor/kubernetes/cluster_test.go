package kubernetes

// Tests against a real control plane (etcd, kube-apiserver, controller
// manager, scheduler) with kwok playing the node: see internal/k8stest. kwok
// runs no containers, so each test namespace gets a pod log file that the
// test writes in step-exec's framing, and pod annotations and labels steer
// what the "container" does (internal/k8stest/stages.yaml).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/kubernetes/frame"
	"github.com/runbookhq/runbook/internal/k8stest"
	"github.com/runbookhq/runbook/internal/logline"
)

var (
	cluster     *k8stest.Cluster
	clusterSkip string
)

func TestMain(m *testing.M) {
	start := time.Now()
	c, skip, err := k8stest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if c != nil {
		fmt.Fprintf(os.Stderr, "MEASURE control plane up (kwokctl, ready node, kwok serving logs) in %v\n", time.Since(start).Round(time.Millisecond))
	}
	cluster, clusterSkip = c, skip
	code := m.Run()
	if c != nil {
		c.Stop()
	}
	os.Exit(code)
}

const (
	kwokFail      = "pod-container-running-failed.stage.kwok.x-k8s.io"
	kwokExitCode  = "pod-container-running-failed.stage.kwok.x-k8s.io/exit-code"
	kwokRunsFor   = "pod-complete.stage.kwok.x-k8s.io/delay"
	runsForAnHour = "1h"
)

// testEnv is one test's namespace, its pod log file and an executor.
type testEnv struct {
	t       *testing.T
	ctx     context.Context
	ns      string
	logFile string
	cfg     Config
	exec    *Executor
}

func newTestEnv(t *testing.T, steps map[string]StepConfig) *testEnv {
	t.Helper()
	if cluster == nil {
		t.Skip(clusterSkip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ns, err := cluster.Namespace(ctx, "rb-test")
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, ctx: ctx, ns: ns, logFile: filepath.Join(cluster.LogDir, ns+".log")}
	if err := os.WriteFile(env.logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cluster.SetLogs(ctx, ns, env.logFile); err != nil {
		t.Fatal(err)
	}
	env.cfg = Config{Namespace: ns, Image: "runbook-step:test", Instance: "test-worker", Drain: time.Second, Steps: steps}
	env.exec = env.newExecutor()
	return env
}

func (env *testEnv) newExecutor() *Executor {
	env.t.Helper()
	e, err := New(env.ctx, cluster.Client, env.cfg)
	if err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(e.Close)
	return e
}

// writeLog appends records, in step-exec's framing, to the namespace's pod
// log, as a container would while it runs.
func (env *testEnv) writeLog(records ...string) {
	env.t.Helper()
	f, err := os.OpenFile(env.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		env.t.Fatal(err)
	}
	defer f.Close()
	for _, r := range records {
		if _, err := f.WriteString(k8stest.CRILine(r)); err != nil {
			env.t.Fatal(err)
		}
	}
}

func rec(kind byte, seq uint64, text string) string {
	return strings.TrimSuffix(string(frame.Append(nil, kind, seq, []byte(text))), "\n")
}

// sink keeps the lines it gets and lets a test wait for one.
type sink struct {
	mu      sync.Mutex
	lines   []string // "N stream text"
	changed chan struct{}
}

func newSink() *sink { return &sink{changed: make(chan struct{}, 1)} }

func (s *sink) WriteLine(l logline.Line) error {
	s.mu.Lock()
	s.lines = append(s.lines, fmt.Sprintf("%d %s %s", l.N, l.Stream, l.Text))
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// waitLine waits until the sink has a line equal to want.
func (s *sink) waitLine(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		for _, l := range s.got() {
			if l == want {
				return
			}
		}
		select {
		case <-s.changed:
		case <-timeout:
			t.Fatalf("no line %q after 60s; got %q", want, s.got())
		}
	}
}

type runResult struct {
	res  executor.Result
	took time.Duration
}

// start runs spec in the background.
func (env *testEnv) start(ctx context.Context, e *Executor, spec executor.Spec, s *sink) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		start := time.Now()
		res := e.Run(ctx, spec, s)
		done <- runResult{res, time.Since(start)}
	}()
	return done
}

func (env *testEnv) wait(done <-chan runResult) runResult {
	env.t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(90 * time.Second):
		env.t.Fatal("Run did not return within 90s")
		return runResult{}
	}
}

// runObjects lists, through the API and not a cache, the Jobs and pods of a
// run.
func (env *testEnv) runObjects(runID string) (jobs []batchv1.Job, pods []corev1.Pod) {
	env.t.Helper()
	sel := labels.Set{LabelRun: LabelValue(runID)}.String()
	jl, err := cluster.Client.BatchV1().Jobs(env.ns).List(env.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		env.t.Fatal(err)
	}
	pl, err := cluster.Client.CoreV1().Pods(env.ns).List(env.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		env.t.Fatal(err)
	}
	return jl.Items, pl.Items
}

// endPod makes kwok end the step's running pod with exit code code.
func (env *testEnv) endPod(spec executor.Spec, code int) {
	env.t.Helper()
	sel := labels.Set{LabelJob: JobName(spec.RunID, spec.Step, spec.Attempt)}.String()
	pods, err := cluster.Client.CoreV1().Pods(env.ns).List(env.ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(pods.Items) != 1 {
		env.t.Fatalf("pods of %s: %v (%d)", sel, err, len(pods.Items))
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"},"annotations":{%q:"%d"}}}`, kwokFail, kwokExitCode, code)
	if _, err := cluster.Client.CoreV1().Pods(env.ns).Patch(env.ctx, pods.Items[0].Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		env.t.Fatal(err)
	}
}

func TestClusterAStepSucceedsWithItsStreamsApart(t *testing.T) {
	env := newTestEnv(t, nil)
	env.writeLog(rec(frame.Stdout, 1, "hello"), rec(frame.Stderr, 2, "a warning"), rec(frame.Stdout, 3, ""), rec(frame.Exit, 4, "0"))
	s := newSink()
	spec := executor.Spec{RunID: "run-ok", Step: "greet", Attempt: 1, Command: "echo hello", Env: map[string]string{"DEPLOY_TOKEN": "s3cret"}}
	r := env.wait(env.start(env.ctx, env.exec, spec, s))
	if r.res != (executor.Result{ExitCode: 0}) {
		t.Fatalf("result %+v, want exit code 0", r.res)
	}
	// The attempt's environment Secret goes when the attempt ends.
	if _, err := cluster.Client.CoreV1().Secrets(env.ns).Get(env.ctx, JobName(spec.RunID, spec.Step, spec.Attempt), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the ended attempt's Secret: err %v, want NotFound", err)
	}
	want := []string{"1 stdout hello", "2 stderr a warning", "3 stdout "}
	if got := s.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", got, want)
	}
	t.Logf("MEASURE job success: Run returned after %v", r.took)
}

func TestClusterANonZeroExitCodeIsPassedThrough(t *testing.T) {
	env := newTestEnv(t, map[string]StepConfig{"fails": {
		PodLabels:      map[string]string{kwokFail: "true"},
		PodAnnotations: map[string]string{kwokExitCode: "42"},
	}})
	// No exit record: the code must come from the pod's status.
	env.writeLog(rec(frame.Stderr, 1, "boom"))
	s := newSink()
	r := env.wait(env.start(env.ctx, env.exec, executor.Spec{RunID: "run-fail", Step: "fails", Attempt: 1, Command: "exit 42"}, s))
	if r.res != (executor.Result{ExitCode: 42}) {
		t.Fatalf("result %+v, want exit code 42", r.res)
	}
	if got := s.got(); len(got) != 1 || got[0] != "1 stderr boom" {
		t.Fatalf("lines %q", got)
	}
	t.Logf("MEASURE job failure: Run returned after %v", r.took)
}

func TestClusterATimeoutStopsTheJob(t *testing.T) {
	env := newTestEnv(t, map[string]StepConfig{"slow": {PodAnnotations: map[string]string{kwokRunsFor: runsForAnHour}}})
	env.writeLog(rec(frame.Stdout, 1, "working"))
	s := newSink()
	spec := executor.Spec{RunID: "run-timeout", Step: "slow", Attempt: 1, Command: "sleep 3600", Timeout: 2 * time.Second}
	r := env.wait(env.start(env.ctx, env.exec, spec, s))
	if r.res != (executor.Result{ExitCode: -1, TimedOut: true}) {
		t.Fatalf("result %+v, want a timeout", r.res)
	}
	if r.took > spec.Timeout+safetyMargin(spec.Timeout) {
		t.Fatalf("took %v: activeDeadlineSeconds did not stop it, the executor's own safety deadline did", r.took)
	}
	_, pods := env.runObjects(spec.RunID)
	for _, p := range pods {
		if !podGone(&p) && p.DeletionTimestamp == nil {
			t.Errorf("pod %s still runs (%s) after the timeout", p.Name, p.Status.Phase)
		}
	}
	t.Logf("MEASURE timeout of 2s: Run returned after %v", r.took)
}

func TestClusterCancelLeavesNoJobOrPodOfTheRun(t *testing.T) {
	runsLong := StepConfig{PodAnnotations: map[string]string{kwokRunsFor: runsForAnHour}}
	env := newTestEnv(t, map[string]StepConfig{"a": runsLong, "b": runsLong})
	env.writeLog(rec(frame.Stdout, 1, "started"))
	ctx, cancel := context.WithCancel(env.ctx)
	defer cancel()
	const run = "run-cancel"
	var dones []<-chan runResult
	for _, step := range []string{"a", "b"} {
		s := newSink()
		dones = append(dones, env.start(ctx, env.exec, executor.Spec{RunID: run, Step: step, Attempt: 1, Command: "sleep 3600"}, s))
		s.waitLine(t, "1 stdout started")
	}
	jobs, pods := env.runObjects(run)
	if len(jobs) != 2 || len(pods) != 2 {
		t.Fatalf("before the cancel: %d jobs and %d pods, want 2 and 2", len(jobs), len(pods))
	}
	cancelled := time.Now()
	cancel()
	var slowest time.Duration
	for _, d := range dones {
		r := env.wait(d)
		if r.res != (executor.Result{ExitCode: -1, Cancelled: true}) {
			t.Errorf("result %+v, want cancelled", r.res)
		}
		slowest = max(slowest, time.Since(cancelled))
	}
	// Run returned: the API server must list nothing of the run any more.
	jobs, pods = env.runObjects(run)
	if len(jobs) != 0 || len(pods) != 0 {
		t.Fatalf("after the cancel: %d jobs and %d pods remain", len(jobs), len(pods))
	}
	t.Logf("MEASURE cancel to no leftovers: %v", slowest)

	if err := env.exec.DeleteRun(env.ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(env.ns).Get(env.ctx, RunObjectName(run), metav1.GetOptions{}); err == nil {
		t.Fatal("the run's owner ConfigMap survived DeleteRun")
	}
}

func TestClusterDeleteRunCollectsARunningRun(t *testing.T) {
	env := newTestEnv(t, map[string]StepConfig{"a": {PodAnnotations: map[string]string{kwokRunsFor: runsForAnHour}}})
	env.writeLog(rec(frame.Stdout, 1, "started"))
	const run = "run-delete"
	s := newSink()
	done := env.start(env.ctx, env.exec, executor.Spec{RunID: run, Step: "a", Attempt: 1, Command: "sleep 3600"}, s)
	s.waitLine(t, "1 stdout started")
	start := time.Now()
	if err := env.exec.DeleteRun(env.ctx, run); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if jobs, pods := env.runObjects(run); len(jobs) != 0 || len(pods) != 0 {
		t.Fatalf("after DeleteRun: %d jobs and %d pods remain", len(jobs), len(pods))
	}
	r := env.wait(done)
	if r.res.Err == nil || !strings.Contains(r.res.Err.Error(), "deleted by someone else") {
		t.Fatalf("result %+v, want an error that names the deletion", r.res)
	}
	t.Logf("MEASURE DeleteRun of a running run: %v", took)
}

func TestClusterLogLinesArriveWhileTheStepRuns(t *testing.T) {
	env := newTestEnv(t, map[string]StepConfig{"live": {PodAnnotations: map[string]string{kwokRunsFor: runsForAnHour}}})
	env.writeLog(rec(frame.Stdout, 1, "first"))
	spec := executor.Spec{RunID: "run-live", Step: "live", Attempt: 1, Command: "./long.sh"}
	s := newSink()
	done := env.start(env.ctx, env.exec, spec, s)
	s.waitLine(t, "1 stdout first")
	jobs, _ := env.runObjects(spec.RunID)
	if len(jobs) != 1 || jobOutcome(&jobs[0], nil).Done {
		t.Fatalf("the first line arrived, but the Job is not running: %+v", jobs)
	}
	env.writeLog(rec(frame.Stderr, 2, "second"))
	s.waitLine(t, "2 stderr second")
	select {
	case r := <-done:
		t.Fatalf("Run returned %+v while the step still runs", r.res)
	default:
	}
	env.writeLog(rec(frame.Exit, 3, "7"))
	env.endPod(spec, 7)
	r := env.wait(done)
	if r.res != (executor.Result{ExitCode: 7}) {
		t.Fatalf("result %+v, want exit code 7", r.res)
	}
	if got := s.got(); len(got) != 2 {
		t.Fatalf("lines %q, want exactly the two", got)
	}
}

func TestClusterARestartedExecutorReattachesToTheRunningJob(t *testing.T) {
	env := newTestEnv(t, map[string]StepConfig{"build": {PodAnnotations: map[string]string{kwokRunsFor: runsForAnHour}}})
	env.writeLog(rec(frame.Stdout, 1, "compiling"))
	spec := executor.Spec{RunID: "run-restart", Step: "build", Attempt: 1, Command: "make"}
	s1 := newSink()
	done1 := env.start(env.ctx, env.exec, spec, s1)
	s1.waitLine(t, "1 stdout compiling")
	jobs, _ := env.runObjects(spec.RunID)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	uid := jobs[0].UID

	// The worker goes away: its executor closes and leaves the Job running.
	env.exec.Close()
	r1 := env.wait(done1)
	if !errors.Is(r1.res.Err, ErrClosed) {
		t.Fatalf("the closed executor's Run returned %+v, want ErrClosed", r1.res)
	}

	restarted := env.newExecutor()
	s2 := newSink()
	done2 := env.start(env.ctx, restarted, spec, s2)
	s2.waitLine(t, "1 stdout compiling")
	jobs, _ = env.runObjects(spec.RunID)
	if len(jobs) != 1 || jobs[0].UID != uid {
		t.Fatalf("after the restart: %d jobs (want the one with uid %s): %+v", len(jobs), uid, jobs)
	}
	env.writeLog(rec(frame.Exit, 2, "3"))
	env.endPod(spec, 3)
	r2 := env.wait(done2)
	if r2.res != (executor.Result{ExitCode: 3}) {
		t.Fatalf("the restarted executor reported %+v, want exit code 3", r2.res)
	}
}
