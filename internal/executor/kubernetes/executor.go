// Package kubernetes runs step attempts as Kubernetes Jobs (client-go).
//
// # Objects
//
// Each attempt is one Job named by JobName(run, step, attempt), with
// backoffLimit 0 (retries are the engine's), restartPolicy Never,
// activeDeadlineSeconds from Spec.Timeout, ttlSecondsAfterFinished and a
// short terminationGracePeriodSeconds. Every Job has an owner reference to
// its run's ConfigMap (RunObjectName), so DeleteRun collects a run's Jobs
// and pods at once. All objects carry the labels app.kubernetes.io/managed-by,
// runbook.dev/executor (Config.Instance), runbook.dev/run, runbook.dev/step
// and runbook.dev/attempt.
//
// # Watching
//
// One shared informer per Executor watches the Jobs and Pods labelled with
// its instance; steps wait on their Job's terminal condition through it,
// never with an informer or a poll loop of their own.
//
// # Output
//
// The container runs `runbook step-exec -- COMMAND`, which frames each output
// line with its stream (package frame). The executor follows the pod's log
// through the API and numbers the lines as the local executor does. The log
// stream is not the end of the step (it may never close): the Job's terminal
// condition is, plus a bounded drain of the log.
//
// # Settings
//
// Pod settings come from Config (the installation), Config.Steps (by step
// name) and the workflow's `kubernetes:` of the step (Spec.Kubernetes), in
// that order; see Config.forStep.
//
// # Sweep
//
// With Config.Runs, the executor deletes at start and every
// Config.SweepEvery the objects of its runs that have ended, which remain
// when a run's last step ended on a worker without this executor.
//
// # Restarts
//
// Run with the spec of a Job that already exists (a worker restarted while
// the step ran) attaches to that Job instead of starting a second one,
// re-reads its log from the start and reports its outcome.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/runbookhq/runbook/internal/executor"
)

// cleanupLimit bounds the wait, after a cancel or timeout, for a step's Job
// and pods to be gone, beyond the pods' grace period.
const cleanupLimit = 30 * time.Second

// podUpdateWait bounds the wait for a failed Job's pod to show its exit
// code in the cache.
const podUpdateWait = 5 * time.Second

// Executor runs step attempts as Jobs. It implements executor.Executor.
type Executor struct {
	client kubernetes.Interface
	cfg    Config

	factory informers.SharedInformerFactory
	jobs    batchlisters.JobNamespaceLister
	pods    corelisters.PodNamespaceLister

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // by Job name

	stop      chan struct{}
	closeOnce sync.Once

	stopSweep context.CancelFunc // nil without Config.Runs
	sweeping  sync.WaitGroup
}

var _ executor.Executor = (*Executor)(nil)

// ErrClosed is the Result.Err of attempts that were still running when the
// Executor was closed. Their Jobs keep running; a new Executor with the same
// Config.Instance attaches to them.
var ErrClosed = errors.New("kubernetes executor: closed while the step ran; its Job was left to a restarted worker")

// New starts the executor's informer and waits for its first sync. Call
// Close when done.
func New(ctx context.Context, client kubernetes.Interface, cfg Config) (*Executor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Executor{client: client, cfg: cfg, subs: map[string]map[chan struct{}]struct{}{}, stop: make(chan struct{})}
	selector := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelInstance: cfg.Instance}).String()
	e.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	jobInf := e.factory.Batch().V1().Jobs()
	podInf := e.factory.Core().V1().Pods()
	jobHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.notify(jobKey(obj)) },
		UpdateFunc: func(_, obj any) { e.notify(jobKey(obj)) },
		DeleteFunc: func(obj any) { e.notify(jobKey(obj)) },
	}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.notify(podJob(obj)) },
		UpdateFunc: func(_, obj any) { e.notify(podJob(obj)) },
		DeleteFunc: func(obj any) { e.notify(podJob(obj)) },
	}
	if _, err := jobInf.Informer().AddEventHandler(jobHandler); err != nil {
		return nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(podHandler); err != nil {
		return nil, fmt.Errorf("kubernetes executor: %w", err)
	}
	e.jobs = jobInf.Lister().Jobs(cfg.Namespace)
	e.pods = podInf.Lister().Pods(cfg.Namespace)
	e.factory.Start(e.stop)
	for typ, ok := range e.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			e.Close()
			return nil, fmt.Errorf("kubernetes executor: the informer for %v in namespace %s did not sync (is the API server reachable, and may this account list and watch Jobs and Pods there?): %w", typ, cfg.Namespace, context.Cause(ctx))
		}
	}
	if cfg.Runs != nil {
		// The sweep lives as long as the executor, not as New's ctx.
		sweepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		e.stopSweep = stop
		e.sweeping.Go(func() { e.sweepLoop(sweepCtx) })
	}
	return e, nil
}

// Close stops the informer. Runs still in progress return ErrClosed and
// leave their Jobs running.
func (e *Executor) Close() {
	e.closeOnce.Do(func() {
		if e.stopSweep != nil {
			e.stopSweep()
		}
		close(e.stop)
		e.factory.Shutdown()
		e.sweeping.Wait()
	})
}

func jobKey(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if j, ok := obj.(*batchv1.Job); ok {
		return j.Name
	}
	return ""
}

func podJob(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		return p.Labels[LabelJob]
	}
	return ""
}

// subscribe returns a channel that receives a token whenever the Job name or
// one of its pods changes.
func (e *Executor) subscribe(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.mu.Lock()
	if e.subs[name] == nil {
		e.subs[name] = map[chan struct{}]struct{}{}
	}
	e.subs[name][ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		delete(e.subs[name], ch)
		if len(e.subs[name]) == 0 {
			delete(e.subs, name)
		}
		e.mu.Unlock()
	}
}

func (e *Executor) notify(name string) {
	if name == "" {
		return
	}
	e.mu.Lock()
	for ch := range e.subs[name] {
		select {
		case ch <- struct{}{}:
		default: // a token is already pending
		}
	}
	e.mu.Unlock()
}

// cached returns the Job and its newest pod from the informer's cache.
func (e *Executor) cached(name string) (*batchv1.Job, *corev1.Pod, []*corev1.Pod) {
	job, err := e.jobs.Get(name)
	if err != nil {
		job = nil
	}
	pods, _ := e.pods.List(labels.SelectorFromSet(labels.Set{LabelJob: name}))
	sort.Slice(pods, func(i, j int) bool {
		return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
	})
	var newest *corev1.Pod
	if len(pods) > 0 {
		newest = pods[len(pods)-1]
	}
	return job, newest, pods
}

// Run runs one attempt as a Job. See the package doc and executor.Executor.
func (e *Executor) Run(ctx context.Context, spec executor.Spec, sink executor.Sink) executor.Result {
	if ctx.Err() != nil {
		return executor.Result{ExitCode: -1, Cancelled: true}
	}
	name := JobName(spec.RunID, spec.Step, spec.Attempt)
	events, unsubscribe := e.subscribe(name)
	defer unsubscribe()

	fail := func(err error) executor.Result {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, err)}
	}
	if err := e.ensureJob(ctx, spec, name); err != nil {
		if ctx.Err() != nil {
			e.cleanup(ctx, name)
			return executor.Result{ExitCode: -1, Cancelled: true}
		}
		return fail(err)
	}
	logs := e.followLogs(name, sink)
	res := e.wait(ctx, spec, name, events)
	drain := e.cfg.Drain
	if res.Cancelled {
		drain = min(drain, 500*time.Millisecond) // what a cancelled step prints last matters little
	}
	if err := logs.finish(drain); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("step %q: writing its output: %w", spec.Step, err)
	}
	if errors.Is(res.Err, errNoExitCode) {
		// The pod is gone or shows no exit code; step-exec's exit record,
		// if it was read, still tells.
		if code, ok := logs.exitCode(); ok {
			res = executor.Result{ExitCode: code}
		}
	}
	if !errors.Is(res.Err, ErrClosed) {
		e.deleteSecret(ctx, name)
	}
	return res
}

// deleteSecret removes an ended attempt's environment Secret. Its one pod
// read it when it started and the Job makes no other (backoffLimit 0), so
// a Secret that may hold a repository token goes now, not with the run.
func (e *Executor) deleteSecret(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
	defer cancel()
	// A failure leaves it to DeleteRun, through the run's owner ConfigMap.
	_ = e.client.CoreV1().Secrets(e.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
}

// ensureJob creates the attempt's Job, or adopts the one a previous
// executor created.
func (e *Executor) ensureJob(ctx context.Context, spec executor.Spec, name string) error {
	// Settings no Job could carry fail the attempt before anything exists.
	ps, err := e.cfg.forStep(spec.Step, spec.Kubernetes)
	if err != nil {
		return err
	}
	owner, err := e.runOwner(ctx, spec.RunID)
	if err != nil {
		return err
	}
	if secret := e.buildSecret(spec, owner); secret != nil {
		secrets := e.client.CoreV1().Secrets(e.cfg.Namespace)
		_, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		}
		if err != nil {
			// The API's message could quote the object; never its values.
			return fmt.Errorf("storing the step's environment in Secret %s: %s (variable names must be valid Secret keys: letters, digits, '-', '_' and '.')", secret.Name, apierrors.ReasonForError(err))
		}
	}
	_, err = e.client.BatchV1().Jobs(e.cfg.Namespace).Create(ctx, e.buildJob(spec, owner, ps), metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Job %s in namespace %s: %w", name, e.cfg.Namespace, err)
	}
	old, err := e.client.BatchV1().Jobs(e.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the existing Job %s: %w", name, err)
	}
	want := e.stepLabels(spec)
	for k, v := range want {
		if old.Labels[k] != v {
			return fmt.Errorf("a Job named %s already exists but is not this attempt's (label %s=%q, want %q)", name, k, old.Labels[k], v)
		}
	}
	if old.DeletionTimestamp != nil {
		return fmt.Errorf("the Job %s of this attempt is being deleted", name)
	}
	return nil
}

// runOwner returns the run's owner ConfigMap, creating it on first use.
func (e *Executor) runOwner(ctx context.Context, runID string) (*corev1.ConfigMap, error) {
	cms := e.client.CoreV1().ConfigMaps(e.cfg.Namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:        RunObjectName(runID),
		Namespace:   e.cfg.Namespace,
		Labels:      e.runLabels(runID),
		Annotations: map[string]string{AnnotationRunID: runID},
	}}
	got, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = cms.Get(ctx, cm.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("creating the run's owner ConfigMap %s in namespace %s: %w", cm.Name, e.cfg.Namespace, err)
	}
	if got.DeletionTimestamp != nil {
		return nil, fmt.Errorf("the run's objects are being deleted (ConfigMap %s)", cm.Name)
	}
	return got, nil
}

// wait follows the Job through the informer until it ends, ctx is
// cancelled, the safety deadline passes or the executor closes.
func (e *Executor) wait(ctx context.Context, spec executor.Spec, name string, events <-chan struct{}) executor.Result {
	var deadline <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout + safetyMargin(spec.Timeout))
		defer t.Stop()
		deadline = t.C
	}
	// The cache may lag behind our create; a Job that never shows up (or
	// vanishes) is checked against the API now and then.
	check := time.NewTicker(5 * time.Second)
	defer check.Stop()
	seen := false
	var noExitSince time.Time
	for {
		job, pod, _ := e.cached(name)
		if job != nil {
			seen = true
		} else if seen {
			return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: its Job %s was deleted by someone else", spec.Step, name)}
		}
		o := jobOutcome(job, pod)
		if errors.Is(o.Err, errNoExitCode) {
			// The two informers deliver independently: give the pod's
			// final update a moment to arrive after the Job's.
			if noExitSince.IsZero() {
				noExitSince = time.Now()
			}
			if time.Since(noExitSince) < podUpdateWait {
				select {
				case <-events:
				case <-time.After(podUpdateWait - time.Since(noExitSince)):
				}
				continue
			}
		}
		if o.Done {
			res := executor.Result{ExitCode: o.ExitCode, TimedOut: o.TimedOut}
			if o.Err != nil {
				res.Err = fmt.Errorf("step %q: %w", spec.Step, o.Err)
				e.cleanup(ctx, name) // a pod that cannot start would wait for its deadline
			} else {
				e.waitPodsDone(ctx, name, events)
			}
			return res
		}
		select {
		case <-events:
		case <-check.C:
			if !seen {
				if _, err := e.client.BatchV1().Jobs(e.cfg.Namespace).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: its Job %s was deleted before it started", spec.Step, name)}
				}
			}
		case <-ctx.Done():
			e.cleanup(ctx, name)
			return executor.Result{ExitCode: -1, Cancelled: true}
		case <-deadline:
			e.cleanup(ctx, name)
			return executor.Result{ExitCode: -1, TimedOut: true}
		case <-e.stop:
			return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, ErrClosed)}
		}
	}
}

// waitPodsDone waits, boundedly, until no pod of the Job still runs: a
// Job's terminal condition may be seen before its pods' last update.
func (e *Executor) waitPodsDone(ctx context.Context, name string, events <-chan struct{}) {
	limit := time.NewTimer(e.cfg.GracePeriod + cleanupLimit)
	defer limit.Stop()
	for {
		_, _, pods := e.cached(name)
		running := false
		for _, p := range pods {
			if !podGone(p) {
				running = true
			}
		}
		if !running {
			return
		}
		select {
		case <-events:
		case <-limit.C:
			return
		case <-ctx.Done():
			e.cleanup(ctx, name)
			return
		case <-e.stop:
			return
		}
	}
}

// cleanup deletes a step's Job and its pods and waits until the informer
// has seen them go. It runs on a context that ctx's cancellation does not
// reach: a cancelled step must still be stopped.
func (e *Executor) cleanup(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.GracePeriod+cleanupLimit)
	defer cancel()
	events, unsubscribe := e.subscribe(name)
	defer unsubscribe()
	_ = e.deleteObjects(ctx, labels.Set{LabelJob: name}, func(ctx context.Context) error {
		err := e.client.BatchV1().Jobs(e.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	for {
		job, _, pods := e.cached(name)
		if job == nil && len(pods) == 0 {
			return
		}
		select {
		case <-events:
		case <-ctx.Done():
			return
		case <-e.stop:
			return
		}
	}
}

// deleteObjects deletes the owner object with deleteOwner, then the pods
// that podLabels select explicitly: deleting a Job alone leaves its pods to
// the garbage collector and their full grace period.
func (e *Executor) deleteObjects(ctx context.Context, podLabels labels.Set, deleteOwner func(context.Context) error) error {
	var errs []error
	if err := deleteOwner(ctx); err != nil {
		errs = append(errs, err)
	}
	grace := int64(e.cfg.GracePeriod.Seconds())
	sel := labels.SelectorFromSet(podLabels).String()
	err := e.client.CoreV1().Pods(e.cfg.Namespace).DeleteCollection(ctx,
		metav1.DeleteOptions{GracePeriodSeconds: &grace},
		metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("deleting pods %s: %w", sel, err))
	}
	return errors.Join(errs...)
}

// DeleteRun deletes every object of a run: its owner ConfigMap (and through
// it, with foreground propagation, its Jobs), and its pods explicitly. Call
// it once a run has ended or was cancelled; it waits until the API server
// lists none of the run's Jobs or pods, at most until ctx ends.
func (e *Executor) DeleteRun(ctx context.Context, runID string) error {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.GracePeriod+cleanupLimit)
	defer cancel()
	return e.deleteRun(ctx, runID)
}

// deleteRun is DeleteRun on ctx as it is: the sweep's stops when the
// executor closes.
func (e *Executor) deleteRun(ctx context.Context, runID string) error {
	runSel := labels.Set{LabelManagedBy: ManagedBy, LabelInstance: e.cfg.Instance, LabelRun: LabelValue(runID)}
	err := e.deleteObjects(ctx, runSel, func(ctx context.Context) error {
		err := e.client.CoreV1().ConfigMaps(e.cfg.Namespace).Delete(ctx, RunObjectName(runID),
			metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationForeground)})
		if apierrors.IsNotFound(err) {
			err = nil
		}
		// Objects whose owner reference points at an older ConfigMap of the
		// same run are deleted by label too.
		list := metav1.ListOptions{LabelSelector: runSel.String()}
		if jerr := e.client.BatchV1().Jobs(e.cfg.Namespace).DeleteCollection(ctx,
			metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)}, list); jerr != nil && !apierrors.IsNotFound(jerr) {
			err = errors.Join(err, jerr)
		}
		if serr := e.client.CoreV1().Secrets(e.cfg.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, list); serr != nil && !apierrors.IsNotFound(serr) {
			err = errors.Join(err, serr)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting run %s: %w", runID, err)
	}
	for {
		jobs, err := e.client.BatchV1().Jobs(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runSel.String()})
		if err == nil && len(jobs.Items) == 0 {
			pods, perr := e.client.CoreV1().Pods(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runSel.String()})
			if perr == nil && len(pods.Items) == 0 {
				return nil
			}
			err = perr
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("objects remain")
			}
			return fmt.Errorf("deleting run %s: waited for its Jobs and pods to go: %w", runID, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// sweepLoop sweeps at once, then every Config.SweepEvery until ctx ends.
func (e *Executor) sweepLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.SweepEvery)
	defer t.Stop()
	for {
		if n, err := e.sweep(ctx); err != nil && ctx.Err() == nil {
			e.cfg.Logger.Warn("kubernetes executor: sweeping the objects of ended runs", "namespace", e.cfg.Namespace, "instance", e.cfg.Instance, "deleted_runs", n, "err", err)
		} else if n > 0 {
			e.cfg.Logger.Info("kubernetes executor: deleted the objects of ended runs", "namespace", e.cfg.Namespace, "instance", e.cfg.Instance, "runs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep deletes, with DeleteRun, the runs of this Instance whose owner
// ConfigMap remains although Config.Runs says they have ended. It lists
// the ConfigMaps before asking, so that a run whose first step starts
// meanwhile is not in the question. It returns how many runs it deleted.
func (e *Executor) sweep(ctx context.Context) (int, error) {
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelInstance: e.cfg.Instance}).String()
	cms, err := e.client.CoreV1().ConfigMaps(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, fmt.Errorf("listing run ConfigMaps (%s): %w", sel, err)
	}
	var ids []string
	for _, cm := range cms.Items {
		id := cm.Annotations[AnnotationRunID]
		// Only the run owners this executor names; nothing else it labels
		// is a ConfigMap, but a hand-made one is not ours to judge.
		if id != "" && cm.Name == RunObjectName(id) && cm.DeletionTimestamp == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	ended, err := e.cfg.Runs.EndedRuns(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("asking which runs have ended: %w", err)
	}
	var errs []error
	n := 0
	for _, id := range ended {
		if !slices.Contains(ids, id) {
			continue // not a ConfigMap we listed
		}
		runCtx, cancel := context.WithTimeout(ctx, e.cfg.GracePeriod+cleanupLimit)
		err := e.deleteRun(runCtx, id)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
