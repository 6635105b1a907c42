// Package k8stest starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, with kwok
// playing one node and its pods. The binaries come from scripts/k8s-testenv,
// whose last line is the directory to put in RUNBOOK_K8S_BIN. Nothing is
// downloaded.
//
// A test package starts one cluster in TestMain with Setup and stops it
// after m.Run; tests take a fresh namespace each with Namespace.
package k8stest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// BinEnv names the directory holding the control plane's binaries.
const BinEnv = "RUNBOOK_K8S_BIN"

//go:embed stages.yaml
var stages []byte

// binaries are what a cluster needs from BinEnv.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwokctl"}

// Cluster is a running control plane with one kwok node.
type Cluster struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	// LogDir is a scratch directory for pod log files (see SetLogs).
	LogDir string

	workdir string
	name    string
}

// Setup is for TestMain. It starts a cluster from the binaries in
// RUNBOOK_K8S_BIN. Without that variable it returns a reason to skip the
// tests that need a cluster, unless CI is "true": there the missing cluster
// is an error, so that CI cannot pass without running them.
func Setup() (c *Cluster, skip string, err error) {
	bin := os.Getenv(BinEnv)
	if bin == "" {
		msg := BinEnv + " is not set: run scripts/k8s-testenv (about 20 minutes cold, seconds warm) and export " + BinEnv + "=<its last line> to run the tests against a real control plane"
		if os.Getenv("CI") == "true" {
			return nil, "", errors.New("k8stest: under CI=true the Kubernetes tests must run: " + msg)
		}
		return nil, msg, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err = Start(ctx, bin)
	return c, "", err
}

// Start starts a cluster from the binaries in bin.
func Start(ctx context.Context, bin string) (*Cluster, error) {
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(bin, b)); err != nil || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("k8stest: %s has no executable %s (run scripts/k8s-testenv): %v", bin, b, err)
		}
	}
	work, err := os.MkdirTemp("", "runbook-k8stest-")
	if err != nil {
		return nil, fmt.Errorf("k8stest: %w", err)
	}
	c := &Cluster{workdir: work, name: "rb", LogDir: filepath.Join(work, "logs")}
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("k8stest: %w", err)
	}
	stagesFile := filepath.Join(work, "stages.yaml")
	if err := os.WriteFile(stagesFile, stages, 0o644); err != nil {
		return nil, fmt.Errorf("k8stest: %w", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kwokctl"), "create", "cluster",
		"--name", c.name,
		"--runtime", "binary",
		"--etcd-binary", filepath.Join(bin, "etcd"),
		"--kube-apiserver-binary", filepath.Join(bin, "kube-apiserver"),
		"--kube-controller-manager-binary", filepath.Join(bin, "kube-controller-manager"),
		"--kube-scheduler-binary", filepath.Join(bin, "kube-scheduler"),
		"--kwok-controller-binary", filepath.Join(bin, "kwok"),
		"--enable-crds", "ClusterLogs",
		"--config", stagesFile,
	)
	// kwokctl polls readiness with kubectl, which is not built here: true
	// answers its polls, and we wait for /readyz ourselves below.
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+work, "KWOK_KUBECTL_BINARY=/bin/true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("k8stest: kwokctl create cluster: %w\n%s", err, out)
	}
	c.Kubeconfig = filepath.Join(work, "clusters", c.name, "kubeconfig.yaml")
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		c.Stop()
		return nil, fmt.Errorf("k8stest: reading %s: %w", c.Kubeconfig, err)
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(c.Config); err == nil {
		c.Dynamic, err = dynamic.NewForConfig(c.Config)
	}
	if err == nil {
		err = c.waitReady(ctx)
	}
	if err == nil {
		err = c.waitLogs(ctx)
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("k8stest: %w\nkwokctl said:\n%s", err, out)
	}
	return c, nil
}

// waitReady waits for /readyz, adds the kwok node and waits until it may
// take pods.
func (c *Cluster) waitReady(ctx context.Context) error {
	var last error
	for ctx.Err() == nil {
		_, last = c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last == nil {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the API server did not become ready: %v", last)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        "kwok-node-0",
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
	}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("adding the kwok node: %w", err)
	}
	for ctx.Err() == nil {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			return nil
		}
		last = err
		sleep(ctx, 100*time.Millisecond)
	}
	return fmt.Errorf("the kwok node did not become ready and schedulable: %v", last)
}

// waitLogs waits until kwok serves a pod's log through the API server as a
// ClusterLogs object says: its watch on that resource starts some seconds
// after the cluster, and a test's first step would otherwise find no log.
func (c *Cluster) waitLogs(ctx context.Context) error {
	ns, err := c.Namespace(ctx, "k8stest-warmup")
	if err != nil {
		return err
	}
	defer func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	}()
	file := filepath.Join(c.LogDir, ns+".log")
	if err := os.WriteFile(file, []byte(CRILine("warm")), 0o644); err != nil {
		return err
	}
	if err := c.SetLogs(ctx, ns, file); err != nil {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "warmup", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "none"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the warm-up pod: %w", err)
	}
	var last error
	for ctx.Err() == nil {
		var b []byte
		b, last = c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "c"}).DoRaw(ctx)
		if last == nil && strings.Contains(string(b), "warm") {
			return nil
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return fmt.Errorf("kwok never served the warm-up pod's log: %v", last)
}

func nodeReady(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Stop kills the cluster's processes (SIGTERM, then SIGKILL after a few
// seconds: the API server lingers long after SIGTERM) and removes its files.
func (c *Cluster) Stop() {
	pids := c.pids()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && alive(pid) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = os.RemoveAll(c.workdir)
}

// pids reads the process ids kwokctl recorded for the cluster's components.
func (c *Cluster) pids() []int {
	files, _ := filepath.Glob(filepath.Join(c.workdir, "clusters", c.name, "pids", "*.pid"))
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive tells whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Namespace creates a fresh namespace and waits for its default service
// account, without which no pod can be created there.
func (c *Cluster) Namespace(ctx context.Context, prefix string) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("k8stest: creating a namespace: %w", err)
	}
	for ctx.Err() == nil {
		if _, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return ns.Name, nil
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return "", fmt.Errorf("k8stest: namespace %s got no default service account: %w", ns.Name, ctx.Err())
}

var clusterLogs = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}

// SetLogs makes kwok serve file as the log of every container of every pod
// in namespace. The file is in the container runtime's log format (see
// CRILine); kwok follows it as it grows.
func (c *Cluster) SetLogs(ctx context.Context, namespace, file string) error {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}},
			"logs":     []any{map[string]any{"logsFile": file, "follow": true}},
		},
	}}
	if _, err := c.Dynamic.Resource(clusterLogs).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("k8stest: creating ClusterLogs for namespace %s: %w", namespace, err)
	}
	return nil
}

// CRILine is one line of a container log file as container runtimes write
// it, which is what kwok serves: timestamp, stream, "F" (a full line), text.
func CRILine(text string) string {
	return time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + text + "\n"
}
