package github

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/workflow"
)

func TestListInstallationReposPaginates(t *testing.T) {
	f := setup(t)
	names := make([]string, 250)
	for i := range names {
		names[i] = fmt.Sprintf("repo-%03d", i)
	}
	f.srv.AddRepos(inst, names...)
	repos, err := f.app.ListInstallationRepos(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 250 || repos[0].Name != "repo-000" || repos[249].FullName != "acme/repo-249" {
		t.Fatalf("got %d repos", len(repos))
	}
	if n := f.srv.Calls("GET /api/v3/installation/repositories"); n != 3 {
		t.Errorf("250 repositories took %d calls; want 3 pages of 100", n)
	}
}

const wfV1 = "steps:\n  - name: build\n    command: ./build.sh\n"
const wfV2 = "steps:\n  - name: test\n    command: ./test.sh\n"

func TestFetchWorkflowAtExactCommit(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	g := f.srv.CreateRepo(inst, "svc", map[string]string{".runbook.yml": wfV1, "build.sh": "echo hi\n"})
	sha1 := g.Head()
	sha2 := g.Commit("second", map[string]string{".runbook.yml": wfV2})
	sha3 := g.Commit("drop the workflow", map[string]string{".runbook.yml": ""})
	for sha, want := range map[string]string{sha1: wfV1, sha2: wfV2} {
		got, err := f.app.FetchWorkflow(ctx, inst, "acme", "svc", sha)
		if err != nil || string(got) != want {
			t.Fatalf("at %s: %q, %v; want %q", sha, got, err, want)
		}
	}
	_, err := f.app.FetchWorkflow(ctx, inst, "acme", "svc", sha3)
	if !errors.Is(err, ErrNoWorkflow) || err.Error() != "no .runbook.yml at "+sha3 {
		t.Fatalf("err = %v", err)
	}
	// Fetching used one token narrowed to the repository and contents:read.
	if n := f.srv.Calls(tokensRoute); n != 1 {
		t.Errorf("%d token requests; want 1", n)
	}
}

// Over 1 MB GitHub sends no content in JSON; the raw media type gets it,
// cut one byte past the limit so that workflow.Parse reports the size.
func TestFetchWorkflowLarge(t *testing.T) {
	f := setup(t)
	big := "steps:\n  - name: a\n    command: echo " + strings.Repeat("x", workflow.MaxFileSize+10) + "\n"
	g := f.srv.CreateRepo(inst, "big", map[string]string{".runbook.yml": big})
	got, err := f.app.FetchWorkflow(context.Background(), inst, "acme", "big", g.Head())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workflow.MaxFileSize+1 || string(got) != big[:workflow.MaxFileSize+1] {
		t.Fatalf("got %d bytes; want the first %d", len(got), workflow.MaxFileSize+1)
	}
	_, perr := workflow.Parse(".runbook.yml", got)
	if perr == nil || !strings.Contains(perr.Error(), "limit") {
		t.Errorf("parse error = %v", perr)
	}
	mid := strings.Repeat("#", 1<<20-100) + "\nsteps:\n  - name: a\n    command: echo hi\n"
	sha := g.Commit("mid-size", map[string]string{".runbook.yml": mid})
	if got, err := f.app.FetchWorkflow(context.Background(), inst, "acme", "big", sha); err != nil || string(got) != mid {
		t.Fatalf("a 1 MiB file: %d bytes, %v", len(got), err)
	}
}

func TestChecksLifecycle(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	g := f.srv.CreateRepo(inst, "svc", map[string]string{".runbook.yml": wfV1})
	c, err := f.app.CreateCheckRun(ctx, inst, "acme", "svc", g.Head(), "http://runbook.test/runs/1")
	if err != nil || c.Statuses || c.CheckRunID == 0 {
		t.Fatalf("%+v, %v", c, err)
	}
	if err := f.app.UpdateCheckRun(ctx, c, CheckReport{Status: StatusInProgress}); err != nil {
		t.Fatal(err)
	}
	steps := []StepReport{{"build", "succeeded", 1500 * time.Millisecond}, {"deploy | prod", "failed", 2 * time.Second}}
	if err := f.app.UpdateCheckRun(ctx, c, CheckReport{Status: StatusCompleted, Conclusion: ConclusionFailure, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	runs := f.srv.CheckRuns()
	if len(runs) != 1 {
		t.Fatalf("%d check runs", len(runs))
	}
	r := runs[0]
	if strings.Join(r.History, ",") != "queued,in_progress,completed" || r.Conclusion != "failure" ||
		r.DetailsURL != "http://runbook.test/runs/1" || r.HeadSHA != g.Head() || r.Name != CheckName {
		t.Fatalf("check run %+v", r)
	}
	for _, want := range []string{"| Step | Status | Duration |", "| build | succeeded | 1.5s |", `| deploy \| prod | failed | 2s |`} {
		if !strings.Contains(r.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.Summary)
		}
	}
}

func TestInvalidWorkflowSummary(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	g := f.srv.CreateRepo(inst, "svc", map[string]string{".runbook.yml": "steps:\n  - name: a\n    depends_on: [zz]\n    command: x\n"})
	src, err := f.app.FetchWorkflow(ctx, inst, "acme", "svc", g.Head())
	if err != nil {
		t.Fatal(err)
	}
	_, perr := workflow.Parse(".runbook.yml", src)
	var list workflow.ErrorList
	if !errors.As(perr, &list) {
		t.Fatalf("parse: %v", perr)
	}
	c, err := f.app.CreateCheckRun(ctx, inst, "acme", "svc", g.Head(), "http://runbook.test/runs/2")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.UpdateCheckRun(ctx, c, CheckReport{Status: StatusCompleted, Conclusion: ConclusionFailure, Problems: list}); err != nil {
		t.Fatal(err)
	}
	r := f.srv.CheckRuns()[0]
	want := fmt.Sprintf("- line %d, column %d: ", list[0].Pos.Line, list[0].Pos.Col)
	if list[0].Pos.Line != 3 || !strings.Contains(r.Summary, want) || !strings.Contains(r.Summary, "zz") || r.Conclusion != "failure" {
		t.Fatalf("summary:\n%s", r.Summary)
	}
}

func TestStatusesFallback(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.srv.DenyChecks(true)
	g := f.srv.CreateRepo(inst, "svc", map[string]string{".runbook.yml": wfV1})
	c, err := f.app.CreateCheckRun(ctx, inst, "acme", "svc", g.Head(), "http://runbook.test/runs/3")
	if err != nil || !c.Statuses {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, r := range []CheckReport{{Status: StatusInProgress}, {Status: StatusCompleted, Conclusion: ConclusionCancelled}} {
		if err := f.app.UpdateCheckRun(ctx, c, r); err != nil {
			t.Fatal(err)
		}
	}
	st := f.srv.Statuses()
	var states []string
	for _, s := range st {
		states = append(states, s.State)
		if s.SHA != g.Head() || s.Context != CheckName || s.TargetURL != "http://runbook.test/runs/3" {
			t.Errorf("status %+v", s)
		}
	}
	if strings.Join(states, ",") != "pending,pending,error" || len(f.srv.CheckRuns()) != 0 {
		t.Fatalf("states %v", states)
	}
}

// The token the App hands out clones the repository over smart HTTP; no
// token, or a token narrowed to another repository, does not.
func TestCloneWithInstallationToken(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	g := f.srv.CreateRepo(inst, "svc", map[string]string{".runbook.yml": wfV1, "build.sh": "echo built\n"})
	f.srv.CreateRepo(inst, "other", map[string]string{"README": "x"})
	clone := func(tok string) (string, error) {
		dir := filepath.Join(t.TempDir(), "svc")
		args := []string{"clone", "-q", "--depth", "1", f.srv.CloneURL(g), dir}
		if tok != "" {
			args = append([]string{"-c", "http.extraHeader=Authorization: Basic " + basic(tok)}, args...)
		}
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=")
		out, err := cmd.CombinedOutput()
		return dir, fmt.Errorf("%w: %s", err, out)
	}
	it, err := f.app.InstallationToken(ctx, inst, ReadRepo("svc"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := clone(it.Token.Reveal())
	if b, rerr := os.ReadFile(filepath.Join(dir, "build.sh")); rerr != nil || string(b) != "echo built\n" {
		t.Fatalf("clone with the token: %v (%v)", err, rerr)
	}
	if _, err := clone(""); !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "could not read Username") {
		t.Errorf("clone without a token: %v", err)
	} else if _, serr := os.Stat(filepath.Join(t.TempDir(), "svc", "build.sh")); serr == nil {
		t.Error("clone without a token produced files")
	}
	other, err := f.app.InstallationToken(ctx, inst, ReadRepo("other"))
	if err != nil {
		t.Fatal(err)
	}
	if dir, err := clone(other.Token.Reveal()); !strings.Contains(err.Error(), "exit status") {
		t.Errorf("a token narrowed to another repository cloned: %v", err)
	} else if _, serr := os.Stat(filepath.Join(dir, "build.sh")); serr == nil {
		t.Error("a token narrowed to another repository cloned the files")
	}
}
