package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/forge/forgetest"
)

// TestRunClonesTheRepositoryAndMasksTheToken runs a workflow whose step
// clones a repository from the local GitHub with repo_cloner, runs a
// script from it, and prints the token: the script runs, and neither the
// terminal nor the stored logs show the token.
func TestRunClonesTheRepositoryAndMasksTheToken(t *testing.T) {
	srv := forgetest.NewAppServer(t)
	srv.AddInstallation(7, "octo-org")
	repo := srv.CreateRepo(7, "hello", map[string]string{"build.sh": "#!/bin/sh\necho \"built $(cat version.txt)\"\n", "version.txt": "v1"})
	sha := repo.Head()
	repo.Commit("newer", map[string]string{"version.txt": "v2"})
	token := srv.IssueToken(7)

	dir := t.TempDir()
	wf := filepath.Join(dir, "clone.runbook.yml")
	if err := os.WriteFile(wf, []byte(`steps:
  - name: Build
    command: |
      repo_cloner
      cd hello && ./build.sh
      echo "token: $RUNBOOK_REPO_TOKEN"
      printf 'x-access-token:%s' "$RUNBOOK_REPO_TOKEN" | base64 -w0; echo
`), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	r := runbook(t, "run", "--color", "never", "--logs", logs, wf,
		"--env", "RUNBOOK_REPO_URL="+srv.CloneURL(repo), "--env", "RUNBOOK_REPO_SHA="+sha,
		"--env", "RUNBOOK_REPO_REF=main", "--env", "RUNBOOK_REPO_TOKEN="+token)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "built v1") {
		t.Errorf("the repository's script did not run at the run's commit:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "token: ***") {
		t.Errorf("the token line is not masked:\n%s", r.stdout)
	}

	var stored strings.Builder
	_ = filepath.WalkDir(logs, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			stored.Write(b)
		}
		return nil
	})
	if !strings.Contains(stored.String(), "built v1") {
		t.Fatalf("the stored logs lack the step's output; looked in %s", logs)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	for where, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "stored logs": stored.String()} {
		if strings.Contains(text, token) || strings.Contains(text, basic) {
			t.Errorf("the token appears in %s", where)
		}
	}
}
