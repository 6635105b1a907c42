package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// helmModule is the Helm CLI the tests render the chart with when no
// `helm` is installed (RUNBOOK_HELM names another binary).
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

const (
	helmRelease   = "rb"
	helmNamespace = "rb-helm"
	helmSteps     = "rb-helm-steps"
)

// helm runs the Helm CLI: $RUNBOOK_HELM, else helm on PATH, else the
// module above through `go run` (built once into Go's build cache).
func helm(args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if bin := os.Getenv("RUNBOOK_HELM"); bin != "" {
		cmd = exec.Command(bin, args...)
	} else if bin, err := exec.LookPath("helm"); err == nil {
		cmd = exec.Command(bin, args...)
	} else {
		cmd = exec.Command("go", append([]string{"run", helmModule}, args...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &helmError{err: err, stderr: stderr.String()}
	}
	return out, nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

var chartValues = []string{
	"--set", "image.repository=registry.example/runbook", "--set", "image.tag=v0.0.0-test",
	"--set", "database.url=postgres://runbook@db:5432/runbook",
	"--set", "secret.tokenSecret=0123456789abcdef0123456789abcdef",
	"--set", "server.publicURL=https://runbook.example.com",
	"--set", "executor.namespace=" + helmSteps,
	"--set", "executor.nodeSelector.kubernetes\\.io/arch=amd64",
	"--set", "githubApp.enabled=true", "--set", "githubApp.appID=123", "--set", "githubApp.defaultTenant=ann",
	"--set", "githubApp.webhookSecret=whsec", "--set", "githubApp.privateKey=PEM",
}

func render(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", helmRelease, "helm/runbook", "--namespace", helmNamespace}, chartValues...)
	out, err := helm(append(args, extra...)...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objs, err := decodeYAML("helm template", out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the chart renders no %s %s", kind, name)
	return nil
}

// TestHelmChartRenders: the chart makes the same installation as the
// kustomize manifests — server, workers, RBAC limited to the steps
// namespace with the same rules, Secrets — wired from the values.
func TestHelmChartRenders(t *testing.T) {
	objs := render(t)
	for _, o := range objs {
		if o.GetKind() != "Namespace" && o.GetKind() != "Role" && o.GetKind() != "RoleBinding" && o.GetNamespace() != helmNamespace {
			t.Errorf("%s %s is in namespace %q, want the release's", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	find(t, objs, "Namespace", helmSteps)
	find(t, objs, "Secret", "rb-runbook-db")
	find(t, objs, "Secret", "rb-runbook-secret")
	find(t, objs, "Secret", "rb-runbook-github")
	find(t, objs, "Service", "rb-runbook")

	server := find(t, objs, "Deployment", "rb-runbook-server")
	args, _, _ := unstructured.NestedSlice(server.Object, "spec", "template", "spec", "containers")
	c := args[0].(map[string]any)
	joined := strings.Join(toStrings(c["args"]), " ")
	for _, want := range []string{"server", "--public-url=https://runbook.example.com", "--github-app-id=123", "--github-default-tenant=ann", "--run-steps=false"} {
		if !strings.Contains(joined, want) {
			t.Errorf("server args %q lack %s", joined, want)
		}
	}
	if c["image"] != "registry.example/runbook:v0.0.0-test" {
		t.Errorf("server image %v", c["image"])
	}
	for _, env := range []string{"RUNBOOK_DATABASE_URL", "RUNBOOK_SECRET", "RUNBOOK_GITHUB_WEBHOOK_SECRET", "RUNBOOK_GITHUB_APP_KEY"} {
		if !strings.Contains(toYAML(t, c["env"]), env) {
			t.Errorf("server env lacks %s", env)
		}
	}

	worker := find(t, objs, "StatefulSet", "rb-runbook-worker")
	wc, _, _ := unstructured.NestedSlice(worker.Object, "spec", "template", "spec", "containers")
	wenv := toYAML(t, wc[0].(map[string]any)["env"])
	for _, want := range []string{"RUNBOOK_KUBERNETES_NAMESPACE", helmSteps, "RUNBOOK_KUBERNETES_INSTANCE", "metadata.name",
		"RUNBOOK_KUBERNETES_NODE_SELECTOR", "kubernetes.io/arch=amd64", "RUNBOOK_KUBERNETES_MEMORY_LIMIT", "RUNBOOK_KUBERNETES_IMAGE"} {
		if !strings.Contains(wenv, want) {
			t.Errorf("worker env lacks %s:\n%s", want, wenv)
		}
	}

	// The Role is the kustomize manifests' Role, which
	// TestWorkerAccountIsEnoughForTheExecutor proves enough and no more.
	role := find(t, objs, "Role", "rb-runbook-executor")
	if role.GetNamespace() != helmSteps {
		t.Errorf("the Role is in %q, want %q", role.GetNamespace(), helmSteps)
	}
	kust, err := decode("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want any
	for _, o := range kust {
		if o.GetKind() == "Role" {
			want = o.Object["rules"]
		}
	}
	if !reflect.DeepEqual(role.Object["rules"], want) {
		t.Errorf("the chart's Role rules differ from rbac.yaml's:\nchart %v\nrbac.yaml %v", role.Object["rules"], want)
	}
	binding := find(t, objs, "RoleBinding", "rb-runbook-executor")
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	if s := subjects[0].(map[string]any); s["name"] != "rb-runbook-worker" || s["namespace"] != helmNamespace {
		t.Errorf("the RoleBinding's subject is %v", s)
	}
}

// TestHelmChartRefusesMissingSettings: without a database or a long enough
// token secret, rendering stops and says which value to set.
func TestHelmChartRefusesMissingSettings(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"database.url=", "set database.url"},
		{"secret.tokenSecret=short", "at least 32 bytes"},
		{"githubApp.defaultTenant=", "githubApp.defaultTenant is required"},
	} {
		args := append([]string{"template", helmRelease, "helm/runbook", "--namespace", helmNamespace}, chartValues...)
		_, err := helm(append(args, "--set", c.set)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: err %v, want one saying %q", c.set, err, c.want)
		}
	}
}

// TestHelmChartInstalls applies the rendered chart to the real API server
// with strict field validation, then checks what its accounts may do.
func TestHelmChartInstalls(t *testing.T) {
	if cluster == nil {
		t.Skip(clusterSkip)
	}
	objs := render(t)
	ctx := context.Background()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Namespaces first, as helm install does.
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	if err := createAll(ctx, "helm template", append(first, rest...)); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.AppsV1().StatefulSets(helmNamespace).Get(ctx, "rb-runbook-worker", metav1.GetOptions{}); err != nil {
		t.Fatalf("worker StatefulSet: %v", err)
	}

	worker := "system:serviceaccount:" + helmNamespace + ":rb-runbook-worker"
	server := "system:serviceaccount:" + helmNamespace + ":rb-runbook-server"
	for _, c := range []struct {
		user, verb, resource, ns string
		allowed                  bool
	}{
		{worker, "create", "jobs", helmSteps, true},
		{worker, "get", "pods/log", helmSteps, true},
		{worker, "create", "secrets", helmSteps, true},
		{worker, "create", "jobs", helmNamespace, false},
		{worker, "list", "secrets", helmNamespace, false},
		{worker, "get", "secrets", helmSteps, false},
		{server, "list", "jobs", helmSteps, false},
		{server, "get", "secrets", helmNamespace, false},
	} {
		group := ""
		res := c.resource
		sub := ""
		if res == "jobs" {
			group = "batch"
		}
		if r, s, ok := strings.Cut(res, "/"); ok {
			res, sub = r, s
		}
		review := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{User: c.user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + helmNamespace, "system:authenticated"},
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: c.ns, Verb: c.verb, Group: group, Resource: res, Subresource: sub}}}
		got, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != c.allowed {
			t.Errorf("%s %s %s in %s: allowed %v, want %v", c.user, c.verb, c.resource, c.ns, got.Status.Allowed, c.allowed)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
