package scheduler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
)

func TestSubmitReusingRunsOnlyWhatFailed(t *testing.T) {
	r := newRig(t, rigOpts{})
	count := filepath.Join(t.TempDir(), "count")
	src := `steps:
  - name: Build
    command: echo build >> "$COUNT"
  - name: Test
    depends_on: [Build]
    command: echo test >> "$COUNT"
`
	nr := store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: []byte(src), Trigger: "rerun"}
	nr.Vars.Env = map[string]string{"COUNT": count}
	run, err := r.s.SubmitReusing(context.Background(), nr, []string{"Build"}, "succeeded in run 1")
	if err != nil {
		t.Fatal(err)
	}
	done := r.waitEnd(run.ID)
	if done.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %+v", done.Status, done.Steps)
	}
	if b := step(done, "Build"); b.Status != engine.StepSucceeded || b.Reason != "succeeded in run 1" || b.Attempt != 0 {
		t.Errorf("Build %+v, want reused", b)
	}
	got, _ := os.ReadFile(count)
	if strings.TrimSpace(string(got)) != "test" {
		t.Errorf("steps that ran: %q, want only Test", got)
	}
}

func TestRecoveryRequestsARunThatWasNeverRequested(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, dir)
	tn, err := st.CreateTenant(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	// The process died between CreateRun and RunRequested.
	run, err := st.CreateRun(context.Background(), store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte("steps:\n  - name: A\n    command: \"true\"\n"), Trigger: "api"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	r := newRig(t, rigOpts{dir: dir, tenant: tn.ID})
	if done := r.waitEnd(run.ID); done.Status != engine.RunSucceeded {
		t.Fatalf("run %s after recovery, want succeeded", done.Status)
	}
}

func TestStepOutputIsMaskedBeforeItIsStored(t *testing.T) {
	r := newRig(t, rigOpts{})
	const secret = "s3cr3t-deploy-value"
	run := r.submit("steps:\n  - name: Leak\n    command: echo \"token is $DEPLOY_TOKEN\"\n", map[string]string{"DEPLOY_TOKEN": secret})
	if done := r.waitEnd(run.ID); done.Status != engine.RunSucceeded {
		t.Fatalf("run %s", done.Status)
	}
	lines, err := r.logs.Read(logstore.Key{Run: strconv.FormatInt(run.ID, 10), Step: "Leak", Attempt: 1}, 1, 10)
	if err != nil || len(lines) != 1 {
		t.Fatalf("log: %v %v", lines, err)
	}
	if got := string(lines[0].Text); got != "token is ***" {
		t.Errorf("stored line %q, want the secret masked", got)
	}
}

// A step process the records do not know (its server died before writing
// the record, or it left its group with setsid) is still found at start by
// the workspace in its environment, and killed.
func TestStartKillsUnrecordedStepProcesses(t *testing.T) {
	dir := t.TempDir()
	orphan := exec.Command("setsid", "sleep", "300")
	orphan.Env = append(os.Environ(), "RUNBOOK_WORKSPACE="+filepath.Join(workspaceRoot(dir), "42"))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	t.Cleanup(func() { orphan.Process.Kill() })

	newRig(t, rigOpts{dir: dir})
	select {
	case <-exited:
	case <-time.After(waitLimit):
		t.Fatal("the orphaned step process is still running after Start")
	}
	if ws := orphan.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the orphan ended with %v, want SIGKILL", orphan.ProcessState)
	}
}

// Issue 13, item 4.1: a re-run of the failed steps reuses Build, so the
// file Build made must be in the new run's workspace, unchanged (its
// modification time too, so build tools see nothing to redo).
func TestRerunFailedStartsFromTheOldWorkspace(t *testing.T) {
	r := newRig(t, rigOpts{})
	src := `steps:
  - name: Build
    command: echo built > app.bin && ln -s /etc/hostname host-link
  - name: Test
    depends_on: [Build]
    command: cat app.bin && test "$PASS" = 1
`
	nr := store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: []byte(src), Trigger: "api"}
	nr.Vars.Env = map[string]string{"PASS": "0"}
	first, err := r.s.Submit(context.Background(), nr)
	if err != nil {
		t.Fatal(err)
	}
	if done := r.waitEnd(first.ID); done.Status != engine.RunFailed || step(done, "Build").Status != engine.StepSucceeded {
		t.Fatalf("first run %s, steps %+v: want Build to succeed and Test to fail", done.Status, done.Steps)
	}
	old, err := os.Stat(filepath.Join(r.s.workspace(first.ID), "app.bin"))
	if err != nil {
		t.Fatal(err)
	}

	nr.Vars.Env = map[string]string{"PASS": "1"}
	nr.ReusedFrom = first.ID
	rerun, err := r.s.SubmitReusing(context.Background(), nr, []string{"Build"}, "succeeded in run 1")
	if err != nil {
		t.Fatal(err)
	}
	done := r.waitEnd(rerun.ID)
	if b := step(done, "Build"); done.Status != engine.RunSucceeded || b.Attempt != 0 {
		t.Fatalf("re-run %s (%s), Build %+v: want success with Build reused", done.Status, done.Reason, b.StepState)
	}
	lines, err := r.logs.Read(logstore.Key{Run: strconv.FormatInt(rerun.ID, 10), Step: "Test", Attempt: 1}, 1, 10)
	if err != nil || len(lines) != 1 || string(lines[0].Text) != "built" {
		t.Fatalf("Test's log %v, %v: want the reused app.bin's content", lines, err)
	}
	ws := r.s.workspace(rerun.ID)
	got, err := os.Stat(filepath.Join(ws, "app.bin"))
	if err != nil || !got.ModTime().Equal(old.ModTime()) {
		t.Errorf("copied app.bin %v, %v: want the old modification time %v", got, err, old.ModTime())
	}
	// A link is copied as a link: never followed out of the workspace.
	if fi, err := os.Lstat(filepath.Join(ws, "host-link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("host-link copied as %v, %v: want a symlink", fi, err)
	}
	// The old run's workspace is untouched by the new run's steps.
	if _, err := os.Stat(r.s.workspace(first.ID)); err != nil {
		t.Errorf("the old workspace: %v", err)
	}
}

// A workspace over the copy limit is refused before anything is created.
func TestRerunFailedRefusesAnOversizedWorkspace(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.s.cfg.RerunCopyLimit = 100
	first := r.submit("steps:\n  - name: Big\n    command: head -c 1000 /dev/zero > big\n  - name: Fail\n    depends_on: [Big]\n    command: \"false\"\n", nil)
	if done := r.waitEnd(first.ID); done.Status != engine.RunFailed {
		t.Fatalf("first run %s", done.Status)
	}
	nr := store.NewRun{TenantID: r.tenant, File: ".runbook.yml", Source: []byte("steps:\n  - name: Big\n    command: \"true\"\n"), Trigger: "api", ReusedFrom: first.ID}
	_, err := r.s.SubmitReusing(context.Background(), nr, []string{"Big"}, "succeeded in run 1")
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "re-run the whole run") {
		t.Fatalf("SubmitReusing: %v, want ErrInvalid saying what to do", err)
	}
	page, err := r.st.ListRuns(context.Background(), r.tenant, store.RunFilter{}, store.Page{})
	if err != nil || len(page.Runs) != 1 {
		t.Fatalf("runs after the refusal: %d, %v: want only the first", len(page.Runs), err)
	}
	if staged, _ := filepath.Glob(filepath.Join(r.dir, "workspaces", ".rerun-*")); len(staged) != 0 {
		t.Errorf("copies left behind: %v", staged)
	}
}
