package githubapp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type projectsJSON struct {
	Projects []struct {
		ID        int64  `json:"id"`
		FullName  string `json:"full_name"`
		Enabled   bool   `json:"enabled"`
		LastError string `json:"last_error"`
	} `json:"projects"`
}

// The projects API: listed for members only, disabled projects ignore
// pushes, a run by hand at a branch, and App errors shown as last_error.
func TestProjectsAPI(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild, "build.sh": "#!/bin/sh\ntrue\n"})
	r.install()
	p := r.project("api")
	r.svc.Wait()
	alice, mallory := r.token("alice"), r.token("mallory")
	base := fmt.Sprintf("/api/v1/tenants/%d/projects", r.tenant)

	var list projectsJSON
	if code := r.api("GET", base, alice, "", &list); code != http.StatusOK || len(list.Projects) != 1 ||
		list.Projects[0].FullName != "acme/api" || !list.Projects[0].Enabled {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := r.api("GET", base, mallory, "", nil); code != http.StatusNotFound {
		t.Fatalf("another user lists the projects: %d", code)
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/disable", base, p.ID), mallory, "", nil); code != http.StatusNotFound {
		t.Fatalf("another user disables: %d", code)
	}

	if code := r.api("POST", fmt.Sprintf("%s/%d/disable", base, p.ID), alice, "", nil); code != http.StatusOK {
		t.Fatalf("disable: %d", code)
	}
	r.mustDeliver("push", pushPayload(p, repo.Head()))
	r.svc.Wait()
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs of a disabled project", n)
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"branch":"main"}`, nil); code != http.StatusConflict {
		t.Fatalf("manual run of a disabled project: %d, want 409", code)
	}
	r.api("POST", fmt.Sprintf("%s/%d/enable", base, p.ID), alice, "", nil)

	var created struct {
		RunID int64 `json:"run_id"`
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"sha":"`+repo.Head()+`"}`, &created); code != http.StatusCreated || created.RunID == 0 {
		t.Fatalf("manual run: %d %+v", code, created)
	}
	head := repo.Commit("second", map[string]string{"NOTES": "x\n"})
	var byBranch struct {
		RunID int64 `json:"run_id"`
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"branch":"main"}`, &byBranch); code != http.StatusCreated {
		t.Fatalf("manual run of a branch: %d", code)
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"branch":"nope"}`, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("manual run of a missing branch: %d, want 422", code)
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"sha":"abc"}`, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("a short sha: %d, want 422", code)
	}
	r.svc.Wait()
	// Newest first: the branch's head, then the sha given.
	if runs := r.runs(); len(runs) != 2 || runs[0].ID != byBranch.RunID || runs[0].Vars.SHA != head || runs[0].Vars.Branch != "main" ||
		runs[1].ID != created.RunID || runs[1].Vars.SHA == head || runs[1].Trigger != "manual" {
		t.Fatalf("runs %+v", runs)
	}

	r.gh.Uninstall(instID) // GitHub forgot the installation: say so on the project
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"sha":"`+repo.Head()+`"}`, nil); code != http.StatusBadGateway {
		t.Fatalf("manual run after uninstalling: %d, want 502", code)
	}
	r.api("GET", base, alice, "", &list)
	if len(list.Projects) != 1 || !strings.Contains(list.Projects[0].LastError, "was it uninstalled? Reinstall the app") {
		t.Fatalf("last_error %+v", list.Projects)
	}
}

// A .runbook.yml with errors starts no run; Run now answers 422 naming each
// problem by line, the project keeps them as last_error until the file
// parses again.
func TestProjectWorkflowErrors(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": "steps:\n  - name: build\n    comand: make\n"})
	r.install()
	p := r.project("api")
	r.svc.Wait()
	alice := r.token("alice")
	base := fmt.Sprintf("/api/v1/tenants/%d/projects", r.tenant)

	var fail struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"branch":"main"}`, &fail); code != http.StatusUnprocessableEntity ||
		!strings.Contains(fail.Error.Message, ".runbook.yml:3:5: ") {
		t.Fatalf("run now of a broken file: %d %q", code, fail.Error.Message)
	}
	var list projectsJSON
	r.api("GET", base, alice, "", &list)
	if len(list.Projects) != 1 || !strings.HasPrefix(list.Projects[0].LastError, ".runbook.yml:3:5: ") {
		t.Fatalf("last_error of a broken file: %+v", list.Projects)
	}
	if n := len(r.runs()); n != 0 {
		t.Fatalf("%d runs of a broken file", n)
	}

	repo.Commit("fix", map[string]string{".runbook.yml": "steps:\n  - name: build\n    command: \"true\"\n"})
	if code := r.api("POST", fmt.Sprintf("%s/%d/runs", base, p.ID), alice, `{"branch":"main"}`, nil); code != http.StatusCreated {
		t.Fatalf("run now of the fixed file: %d", code)
	}
	r.svc.Wait()
	var fixed projectsJSON // a fresh one: an empty last_error is left out
	r.api("GET", base, alice, "", &fixed)
	if len(fixed.Projects) != 1 || fixed.Projects[0].LastError != "" {
		t.Fatalf("last_error after the fix: %+v", fixed.Projects)
	}
}
