package githubapp_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/logstore"
)

const printToken = `name: pr
steps:
  - name: clone
    command: repo_cloner && echo "token=$RUNBOOK_REPO_TOKEN ref=$RUNBOOK_REPO_REF"
`

// A pull request runs its head commit (with the token masked in the
// step's output), and "Re-run" on GitHub runs it again.
func TestPullRequestAndRerequest(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": printToken})
	r.install()
	p := r.project("api")
	repo.Git("checkout", "-q", "-b", "feature")
	head := repo.Commit("feature work", map[string]string{"f.txt": "x\n"})
	repoJSON := map[string]any{"id": p.RepoID, "name": "api", "full_name": p.FullName, "owner": map[string]any{"login": "acme"}}
	r.mustDeliver("pull_request", map[string]any{"action": "opened", "number": 12,
		"pull_request": map[string]any{"number": 12, "head": map[string]any{"sha": head, "ref": "feature", "repo": repoJSON},
			"base": map[string]any{"ref": "main", "repo": repoJSON}},
		"repository": repoJSON, "installation": map[string]any{"id": instID}})
	r.eventually("the PR's check completed", func() bool {
		cs := r.checksOn(head)
		return len(cs) == 1 && cs[0].Status == "completed"
	})
	if c := r.checksOn(head)[0]; c.Conclusion != "success" {
		t.Fatalf("PR check %q: %s", c.Conclusion, c.Summary)
	}
	runs := r.runs()
	if len(runs) != 1 || runs[0].Vars.Event != "pull_request" || runs[0].Vars.Branch != "feature" || runs[0].Vars.SHA != head {
		t.Fatalf("runs %+v", runs)
	}
	lines, err := r.logs.Read(logstore.Key{Run: strconv.FormatInt(runs[0].ID, 10), Step: "clone", Attempt: 1}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range lines {
		out.Write(l.Text)
	}
	if !strings.Contains(out.String(), "token=*** ref=refs/pull/12/head") {
		t.Fatalf("step output %q: want the token masked and the PR's ref", out.String())
	}
	for _, tok := range r.gh.Tokens() {
		if strings.Contains(out.String(), tok) {
			t.Fatal("the token is in the step output")
		}
	}

	r.mustDeliver("check_run", map[string]any{"action": "rerequested",
		"check_run":  map[string]any{"id": r.checksOn(head)[0].ID, "head_sha": head, "check_suite": map[string]any{"head_branch": "feature"}},
		"repository": repoJSON, "installation": map[string]any{"id": instID}})
	r.eventually("the re-run's check completed", func() bool {
		cs := r.checksOn(head)
		return len(cs) == 2 && cs[1].Status == "completed"
	})
	r.svc.Wait()
	runs = r.runs()
	if len(runs) != 2 || runs[0].Vars.Event != "rerequest" || runs[0].Status != engine.RunSucceeded {
		t.Fatalf("after the re-run: %+v", runs)
	}
}
