package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the runbook binary built once for these tests: they run it as a
// user would, through its exit codes and output.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runbook-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "runbook")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runbook(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("runbook %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExamplesRunWithTheirOutcome(t *testing.T) {
	for _, c := range []struct {
		file string
		args []string
		code int
		want []string
	}{
		{"diamond.runbook.yml", nil, 0, []string{"✓ D succeeded", "C | C after A", "run succeeded"}},
		{"greeting.runbook.yml", []string{"--var", "branch=main"}, 0, []string{"Hello, World! I am", "✓ Deploy succeeded"}},
		{"conditional-deploy.runbook.yml", []string{"--var", "branch=feature"}, 0, []string{"○ Deploy skipped", "✓ Notify succeeded"}},
		{"conditional-deploy.runbook.yml", []string{"--var", "branch=main"}, 0, []string{"deploying to staging"}},
		{"failing-step.runbook.yml", nil, 1, []string{"✗ Lint failed", "Lint    ! main.go:3: line too long", "⊘ Slow cancelled", "✓ Report succeeded", "run failed"}},
	} {
		t.Run(c.file+strings.Join(c.args, ""), func(t *testing.T) {
			r := runbook(t, append([]string{"run", "--color", "never", filepath.Join("..", "..", "examples", c.file)}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			if !strings.Contains(r.stdout, "STEP") || !strings.Contains(r.stdout, "DURATION") {
				t.Errorf("no summary table:\n%s", r.stdout)
			}
		})
	}
}

func TestBadFilesExitTwoWithAClearMessage(t *testing.T) {
	dir := t.TempDir()
	binary := write(t, "blob.yml", "\x7fELF\x02\x01\x01\x00\x00\x00\x00binary")
	invalid := write(t, "bad.yml", "steps:\n  - name: A\n    command: echo\n    depend_on: [B]\n")
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.yml"), "no such file"},
		{"directory", dir, "is a directory"},
		{"binary", binary, "blob.yml"},
		{"invalid", invalid, `bad.yml:4:5:`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runbook(t, "run", c.path)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, c.want)
			}
		})
	}
}

func TestValidatePrintsEveryProblem(t *testing.T) {
	good := write(t, "good.yml", "steps:\n  - name: A\n    command: echo\n")
	bad := write(t, "bad.yml", "steps:\n  - name: A\n    command: echo\n    depends_on: [Z]\n  - name: A\n    command: echo\n")
	r := runbook(t, "validate", good, bad)
	if r.code == 0 {
		t.Fatalf("validate passed a bad file: %+v", r)
	}
	if !strings.Contains(r.stdout, "good.yml: ok (1 steps)") {
		t.Errorf("stdout %q", r.stdout)
	}
	for _, w := range []string{"bad.yml:4:", `"Z"`, "bad.yml:5:"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if r := runbook(t, "validate", good); r.code != 0 {
		t.Errorf("validate of a good file: %+v", r)
	}
}

func TestRepoClonerIsOnTheStepPath(t *testing.T) {
	wf := write(t, "wf.yml", `steps:
  - name: Clone
    command: |
      command -v repo_cloner
      repo_cloner
`)
	r := runbook(t, "run", "--color", "never", wf)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (repo_cloner has no repository here)\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "repo_cloner: this run has no repository to clone") {
		t.Errorf("repo_cloner did not run the runbook binary:\n%s", r.stdout)
	}
}

// markedProcesses counts live processes whose environment holds marker.
func markedProcesses(t *testing.T, marker string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	n := 0
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.Contains(env, []byte(marker)) {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
				continue // a zombie is already dead; its parent reaps it
			}
			n++
		}
	}
	return n
}

func TestCtrlCCancelsCleanlyAndExits130(t *testing.T) {
	marker := fmt.Sprintf("RUNBOOK_TEST_MARKER=%d", time.Now().UnixNano())
	wf := write(t, "wf.yml", `steps:
  - name: Busy
    command: |
      sleep 300 &
      sleep 300 &
      echo ready
      wait
  - name: Later
    depends_on: [Busy]
    command: echo never
`)
	key, val, _ := strings.Cut(marker, "=")
	cmd := exec.Command(bin, "run", "--color", "never", "--grace", "2s", "--env", key+"="+val, wf)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "| ready") {
			break
		}
	}
	if n := markedProcesses(t, marker); n < 3 {
		t.Fatalf("expected the step's shell and two sleeps to be running, found %d", n)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d (%v), want 130\n%s", code, err, out.String())
	}
	for _, w := range []string{"⊘ Busy cancelled", "⊘ Later cancelled", "run cancelled"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if n := markedProcesses(t, marker); n != 0 {
		t.Errorf("%d processes of the cancelled step are still alive", n)
	}
}
