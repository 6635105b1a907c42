package githubapp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/logstore"
)

const cloneAndBuild = `name: ci
steps:
  - name: clone
    command: repo_cloner
  - name: build
    depends_on: [clone]
    command: cd api && ./build.sh
`

// A signed push runs the pushed commit: repo_cloner fetches it with the
// step's token, a script from the repository runs, and the check run goes
// queued → in_progress → completed/success on GitHub. A redelivery of the
// same push creates nothing more.
func TestPushRunsTheCommitAndReportsTheCheck(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild,
		"build.sh": "#!/bin/sh\necho \"built $(git rev-parse HEAD)\"\n"})
	r.install()
	p := r.project("api")
	if !p.Enabled || p.CloneURL != r.gh.CloneURL(repo) || p.DefaultBranch != "main" {
		t.Fatalf("project %+v", p)
	}
	sha := repo.Head()
	push := pushPayload(p, sha)
	id := r.mustDeliver("push", push)

	r.eventually("the check completed", func() bool {
		cs := r.checksOn(sha)
		return len(cs) == 1 && cs[0].Status == "completed"
	})
	c := r.checksOn(sha)[0]
	if want := []string{"queued", "in_progress", "completed"}; !slices.Equal(c.History, want) || c.Conclusion != "success" {
		t.Fatalf("check history %v conclusion %q (summary %q), want %v success", c.History, c.Conclusion, c.Summary, want)
	}
	runs := r.runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	run := runs[0]
	if run.Status != engine.RunSucceeded || run.Vars.SHA != sha || run.Vars.Branch != "main" || run.Vars.Event != "push" ||
		run.Vars.Repo != "acme/api" || run.ProjectID != p.ID {
		t.Fatalf("run %+v", run)
	}
	if want := "https://runbook.example/t/" + strconv.FormatInt(r.tenant, 10) + "/runs/" + strconv.FormatInt(run.ID, 10); c.DetailsURL != want {
		t.Errorf("details_url %q, want %q", c.DetailsURL, want)
	}
	if !strings.Contains(c.Summary, "| clone | succeeded |") || !strings.Contains(c.Summary, "| build | succeeded |") {
		t.Errorf("summary lacks the step table: %q", c.Summary)
	}
	lines, err := r.logs.Read(logstore.Key{Run: strconv.FormatInt(run.ID, 10), Step: "build", Attempt: 1}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range lines {
		out.Write(l.Text)
	}
	if !strings.Contains(out.String(), "built "+sha) {
		t.Errorf("build output %q, want the cloned commit %s", out.String(), sha)
	}
	for _, tok := range r.gh.Tokens() { // never in a step's log
		for _, step := range []string{"clone", "build"} {
			ls, _ := r.logs.Read(logstore.Key{Run: strconv.FormatInt(run.ID, 10), Step: step, Attempt: 1}, 0, 1000)
			for _, l := range ls {
				if strings.Contains(string(l.Text), tok) {
					t.Fatalf("a token appears in the %s log", step)
				}
			}
		}
	}

	// Redelivery: accepted, nothing new.
	if code, _ := r.deliver("push", push, id, ""); code != http.StatusAccepted {
		t.Fatalf("redelivery: %d", code)
	}
	r.svc.Wait()
	if n := len(r.runs()); n != 1 {
		t.Fatalf("%d runs after a redelivery, want 1", n)
	}
	if n := len(r.checksOn(sha)); n != 1 {
		t.Fatalf("%d check runs after a redelivery, want 1", n)
	}
}

// A forged signature is refused before anything is stored.
func TestForgedWebhookIsRefused(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild})
	r.install()
	p := r.project("api")
	code, id := r.deliver("push", pushPayload(p, strings.Repeat("a", 40)), "", "sha256="+strings.Repeat("0", 64))
	if code != http.StatusUnauthorized {
		t.Fatalf("forged delivery: %d, want 401", code)
	}
	r.svc.Wait()
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs after a forged delivery", n)
	}
	// Its id was not recorded: recording it now is new.
	isNew, err := r.st.RecordDelivery(context.Background(), githubapp.Delivery{ID: id, Event: "push", Body: []byte("{}")})
	if err != nil || !isNew {
		t.Fatalf("the forged delivery was recorded (new=%v, err=%v)", isNew, err)
	}
}

// No .runbook.yml: no run, and a neutral check that says so.
func TestPushWithoutWorkflow(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "docs", map[string]string{"README.md": "hello\n"})
	r.install()
	p := r.project("docs")
	sha := repo.Head()
	r.mustDeliver("push", pushPayload(p, sha))
	r.eventually("the check", func() bool { cs := r.checksOn(sha); return len(cs) == 1 && cs[0].Status == "completed" })
	c := r.checksOn(sha)[0]
	if c.Conclusion != "neutral" || !strings.Contains(c.Title, "no .runbook.yml at "+sha) {
		t.Fatalf("check %q %q, want neutral saying no .runbook.yml at %s", c.Conclusion, c.Title, sha)
	}
	r.svc.Wait()
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs without a workflow file", n)
	}
}

// An invalid file: no run, and a failed check listing its problems by line.
func TestPushWithInvalidWorkflow(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": "name: bad\nsteps:\n  - name: a\n    command: \"true\"\n  - name: b\n    depends_on: [nope]\n    command: \"true\"\n"})
	r.install()
	p := r.project("api")
	sha := repo.Head()
	r.mustDeliver("push", pushPayload(p, sha))
	r.eventually("the check", func() bool { cs := r.checksOn(sha); return len(cs) == 1 && cs[0].Status == "completed" })
	c := r.checksOn(sha)[0]
	if c.Conclusion != "failure" || !strings.Contains(c.Summary, "line 6") || !strings.Contains(c.Summary, "nope") {
		t.Fatalf("check %q, summary %q: want failure listing line 6", c.Conclusion, c.Summary)
	}
	r.svc.Wait()
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs of an invalid file", n)
	}
}

// failingProjectErrors is the real store, except that it cannot save a
// project's error: a database that refuses one write.
type failingProjectErrors struct{ githubapp.Repo }

func (failingProjectErrors) SetProjectError(context.Context, int64, string) error {
	return errors.New("disk I/O error")
}

// A write the trigger cannot make (the project's error) is logged with
// what it was for; the check still tells GitHub why the file is refused.
func TestTriggerLogsAFailedStatusWrite(t *testing.T) {
	var logged syncBuffer
	r := newRig(t, rigOpts{
		repo: func(st githubapp.Repo) githubapp.Repo { return failingProjectErrors{st} },
		log:  slog.New(slog.NewTextHandler(&logged, nil)),
	})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": "steps:\n  - name: a\n    depends_on: [nope]\n    command: \"true\"\n"})
	r.install()
	p := r.project("api")
	sha := repo.Head()
	r.mustDeliver("push", pushPayload(p, sha))
	r.eventually("the check", func() bool { cs := r.checksOn(sha); return len(cs) == 1 && cs[0].Status == "completed" })
	if c := r.checksOn(sha)[0]; c.Conclusion != "failure" {
		t.Errorf("check concluded %q, want failure", c.Conclusion)
	}
	r.svc.Wait()
	out := logged.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "recording the workflow's problems on the project") ||
		!strings.Contains(out, "disk I/O error") || !strings.Contains(out, fmt.Sprintf("project=%d", p.ID)) {
		t.Errorf("the failed write was not logged with its purpose, project and error:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer the service's goroutines may log to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A key of another app: GitHub's refusal is recorded on the installation's
// projects with the sentence that says what to check, and no run.
func TestKeyOfAnotherApp(t *testing.T) {
	good := newRig(t, rigOpts{})
	repo := good.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild})
	// The same fake GitHub, a server configured with a key of another app.
	r := newRig(t, rigOpts{gh: good.gh, key: otherKey(t)})
	r.install()
	r.svc.Wait()
	in, err := r.st.Installation(context.Background(), instID)
	if err != nil {
		t.Fatal(err)
	}
	want := "the private key does not belong to app 4242"
	if !strings.Contains(in.LastError, want) {
		t.Fatalf("installation last_error %q, want it to say %q", in.LastError, want)
	}
	// Projects known from before (synced with the right key) show it too.
	good.install()
	p := good.project("api")
	if err := r.st.PutInstallation(context.Background(), githubapp.Installation{ID: instID, Account: "acme", TenantID: r.tenant}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.SyncProjects(context.Background(), instID, []githubapp.Project{p}, true); err != nil {
		t.Fatal(err)
	}
	r.mustDeliver("push", pushPayload(p, repo.Head()))
	r.svc.Wait()
	ps, err := r.svc.Projects(context.Background(), r.tenant)
	if err != nil || len(ps) != 1 || !strings.Contains(ps[0].LastError, want) {
		t.Fatalf("projects %+v (%v): want last_error saying %q", ps, err, want)
	}
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs with the wrong key", n)
	}
}

// A suspended installation: the error says so on the project, and no run,
// whether GitHub told us (the suspend event) or only refuses tokens.
func TestSuspendedInstallation(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild})
	r.install()
	p := r.project("api")
	r.svc.Wait()

	r.gh.Suspend(instID, true) // no event yet: GitHub refuses the token
	r.mustDeliver("push", pushPayload(p, repo.Head()))
	r.svc.Wait()
	ps, _ := r.svc.Projects(context.Background(), r.tenant)
	if len(ps) != 1 || !strings.Contains(ps[0].LastError, "suspended") {
		t.Fatalf("projects %+v: want last_error saying suspended", ps)
	}

	r.mustDeliver("installation", map[string]any{"action": "suspend",
		"installation": map[string]any{"id": instID, "account": map[string]any{"login": "acme"}}})
	r.svc.Wait()
	_, err := r.svc.Trigger(context.Background(), r.tenant, p.ID, "", repo.Head())
	if !errors.Is(err, errSuspended()) {
		t.Fatalf("manual trigger of a suspended installation: %v", err)
	}
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs of a suspended installation", n)
	}
}
