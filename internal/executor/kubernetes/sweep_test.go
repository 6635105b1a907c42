package kubernetes

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/runbookhq/runbook/internal/executor"
)

// runs is the store's side of the sweep for a test: which runs have ended;
// calls gets a token each time the sweep asks.
type runs struct {
	mu    sync.Mutex
	ended map[string]bool
	calls chan struct{}
}

func newRuns(ended ...string) *runs {
	r := &runs{ended: map[string]bool{}, calls: make(chan struct{}, 100)}
	for _, id := range ended {
		r.ended[id] = true
	}
	return r
}

func (r *runs) EndedRuns(_ context.Context, ids []string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.ended[id] {
			out = append(out, id)
		}
	}
	select {
	case r.calls <- struct{}{}:
	default:
	}
	return out, nil
}

func (r *runs) end(id string) {
	r.mu.Lock()
	r.ended[id] = true
	r.mu.Unlock()
}

// waitAsked waits until the sweep has asked n more times: a sweep that
// asked again has finished the pass before.
func (r *runs) waitAsked(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.calls:
		case <-ctx.Done():
			t.Fatalf("the sweep did not ask which runs ended: %v", ctx.Err())
		}
	}
}

func TestTheSweepDeletesTheObjectsOfEndedRunsOnly(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := env.ctx
	// Owner ConfigMaps as steps leave them, one with a Job hanging off it.
	for _, id := range []string{"ended-1", "live-1", "live-2"} {
		if _, err := env.exec.runOwner(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	owner, err := env.exec.runOwner(ctx, "ended-1")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := env.exec.cfg.forStep("s", nil)
	if err != nil {
		t.Fatal(err)
	}
	job := env.exec.buildJob(executor.Spec{RunID: "ended-1", Step: "s", Attempt: 1, Command: "true"}, owner, ps)
	job.Spec.Template.Annotations[kwokRunsFor] = runsForAnHour
	if _, err := cluster.Client.BatchV1().Jobs(env.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another worker's ended run in the same namespace is not this
	// executor's to judge: that worker sweeps it.
	otherCfg := env.cfg
	otherCfg.Instance = "other-worker"
	other, err := New(ctx, cluster.Client, otherCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	if _, err := other.runOwner(ctx, "ended-other"); err != nil {
		t.Fatal(err)
	}

	rs := newRuns("ended-1", "ended-other")
	cfg := env.cfg
	cfg.Runs = rs
	cfg.SweepEvery = 200 * time.Millisecond
	e, err := New(ctx, cluster.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)

	// Two answers: the first pass (at start) has finished.
	rs.waitAsked(t, ctx, 2)
	cms := env.runConfigMaps()
	if slices.Contains(cms, RunObjectName("ended-1")) {
		t.Errorf("the ended run's ConfigMap is still there after a sweep: %v", cms)
	}
	for _, id := range []string{"live-1", "live-2", "ended-other"} {
		if !slices.Contains(cms, RunObjectName(id)) {
			t.Errorf("run %s's ConfigMap was deleted (ConfigMaps: %v)", id, cms)
		}
	}
	if _, err := cluster.Client.BatchV1().Jobs(env.ns).Get(ctx, job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ended run's Job: %v, want it gone with its run", err)
	}

	// A run that ends later goes at a later sweep, not only at start.
	rs.end("live-2")
	deadline := time.Now().Add(30 * time.Second)
	for slices.Contains(env.runConfigMaps(), RunObjectName("live-2")) {
		if time.Now().After(deadline) {
			t.Fatal("the ConfigMap of a run that ended after the executor started was not swept within 30s")
		}
		rs.waitAsked(t, ctx, 1)
	}
	if !slices.Contains(env.runConfigMaps(), RunObjectName("live-1")) {
		t.Error("the live run's ConfigMap was swept")
	}

	// Close returns once the sweep has stopped (a leak would show in -race
	// runs as a goroutine touching a closed executor).
	e.Close()
}

// runConfigMaps lists the names of the namespace's ConfigMaps.
func (env *testEnv) runConfigMaps() []string {
	env.t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(env.ns).List(env.ctx, metav1.ListOptions{})
	if err != nil {
		env.t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		if cm.DeletionTimestamp == nil {
			names = append(names, cm.Name)
		}
	}
	return names
}
