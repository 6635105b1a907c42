package scheduler

import (
	"context"
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
