package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

func sandboxExec(t *testing.T, sb Sandbox) *Executor {
	t.Helper()
	skipUnlessMode(t, "sandbox")
	return newExec(t, Options{GracePeriod: 5 * time.Second, Sandbox: &sb})
}

// Whatever a step starts, however it leaves the shell's process group, is
// gone when Run returns: the PID namespace's init ends with the shell, and
// the kernel kills the rest. No escapee keeps the pipes open either.
func TestNothingOutlivesItsAttempt(t *testing.T) {
	for _, mode := range []string{"pidns", "sandbox"} {
		t.Run(mode, func(t *testing.T) {
			skipUnlessMode(t, mode)
			var e *Executor
			if mode == "sandbox" {
				e = sandboxExec(t, Sandbox{})
			} else {
				e = newExec(t, Options{PIDNamespace: true})
			}
			spec := newSpec(t, strings.TrimSuffix(spawner, "exec sleep 100"))
			res, s := run(t, e, spec)
			checkResult(t, res, 0, false, false)
			if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"ready"}) {
				t.Errorf("stdout = %q, want [ready]", got)
			}
			if got := s.texts(logline.Stderr); len(got) > 0 {
				t.Errorf("stderr = %q; nothing should outlive the step and hold its pipes", got)
			}
			assertNoProcs(t, spec.RunID)
		})
	}
}

func TestSandboxIdentityAndNamespaces(t *testing.T) {
	e := sandboxExec(t, Sandbox{})
	// The processes are counted by the shell itself: a pipeline's ls and
	// grep may or may not both be alive when ls reads /proc.
	res, s := run(t, e, newSpec(t, `id -u; id -g; echo $BASHPID; hostname; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n; echo $HOME $TMPDIR; command -v repo_cloner`))
	checkResult(t, res, 0, false, false)
	// PID 1 is bwrap's reaper, 2 the init, 3 the step's shell (a subshell
	// of the init, so $$ is 2); /proc shows the namespace's own processes
	// only: those three.
	want := []string{"65534", "65534", "3", "runbook", "3", "/tmp /tmp", sandboxBinDir + "/repo_cloner"}
	if got := s.texts(logline.Stdout); !slices.Equal(got, want) {
		t.Errorf("stdout = %q, want %q (stderr %q)", got, want, s.texts(logline.Stderr))
	}
}

// The workspace, and only it, is writable; host paths outside the system
// directories are not there at all, and Hide covers what lies inside them.
func TestSandboxFilesystem(t *testing.T) {
	e := sandboxExec(t, Sandbox{Hide: []string{"/etc/hostname", "/etc/ssl"}})
	outside := t.TempDir() // under the host's /tmp, which the step does not see
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, `echo hi > mine && cat "$RUNBOOK_WORKSPACE/mine"
for p in /usr/x /etc/x /x /run/runbook/x "`+outside+`/x"; do touch "$p" 2>/dev/null && echo "wrote $p"; done
for p in "`+outside+`/secret" /root /home /var /work; do [ -e "$p" ] && echo "sees $p"; done
wc -c < /etc/hostname; ls -A /etc/ssl | wc -l; true`)
	res, s := run(t, e, spec)
	checkResult(t, res, 0, false, false)
	want := []string{"hi", "0", "0"}
	if got := s.texts(logline.Stdout); !slices.Equal(got, want) {
		t.Errorf("stdout = %q, want %q (stderr %q)", got, want, s.texts(logline.Stderr))
	}
	if b, err := os.ReadFile(filepath.Join(spec.Workspace, "mine")); err != nil || string(b) != "hi\n" {
		t.Errorf("workspace file on the host = %q, %v; want hi", b, err)
	}
}

func TestSandboxTmpIsPrivateAndBounded(t *testing.T) {
	e := sandboxExec(t, Sandbox{TmpSize: 1 << 20})
	host, err := os.CreateTemp("", "host-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	host.Close()
	defer os.Remove(host.Name())
	res, s := run(t, e, newSpec(t, `[ -e `+host.Name()+` ] && echo sees the host tmp; echo "$((1+1))" > /tmp/mine; cat /tmp/mine; head -c 2000000 /dev/zero > /tmp/fill`))
	checkResult(t, res, 1, false, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"2"}) {
		t.Errorf("stdout = %q, want a private, writable /tmp", got)
	}
	if got := strings.Join(s.texts(logline.Stderr), "\n"); !strings.Contains(got, "No space left on device") {
		t.Errorf("stderr = %q, want ENOSPC from the bounded /tmp", got)
	}
}

func TestSandboxNetworkNone(t *testing.T) {
	e := sandboxExec(t, Sandbox{})
	spec := newSpec(t, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
	spec.Network = "none"
	res, s := run(t, e, spec)
	checkResult(t, res, 0, false, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("interfaces = %q, want only lo", got)
	}
	spec = newSpec(t, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
	res, s = run(t, e, spec)
	checkResult(t, res, 0, false, false)
	if got := s.texts(logline.Stdout); len(got) < 2 {
		t.Errorf("interfaces with network default = %q, want the host's", got)
	}
}

// A step that hits a rlimit fails, and its log says which limit it was.
func TestSandboxLimitsNamed(t *testing.T) {
	e := sandboxExec(t, Sandbox{Limits: Limits{Processes: 16, FileSize: 1 << 20, OpenFiles: 32}})
	for _, tc := range []struct {
		name, cmd, note string
	}{
		{"processes", `for i in $(seq 40); do sleep 30 & done; wait`, "process limit (RLIMIT_NPROC, 16 processes)"},
		{"file size", `head -c 2000000 /dev/zero > big`, "file size limit (RLIMIT_FSIZE, 1048576 bytes)"},
		{"open files", `for i in $(seq 40); do exec {fd}</dev/null; done`, "open files limit (RLIMIT_NOFILE, 32)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := newSpec(t, tc.cmd)
			res, s := run(t, e, spec)
			if res.ExitCode == 0 || res.Err != nil {
				t.Fatalf("Run = %+v, want a failed step", res)
			}
			stderr := s.texts(logline.Stderr)
			if len(stderr) == 0 || !strings.Contains(stderr[len(stderr)-1], tc.note) {
				t.Errorf("stderr = %q, want it to end with a note naming the %s", stderr, tc.note)
			}
			assertNoProcs(t, spec.RunID)
		})
	}
}

// Cancel reaches a sandboxed step as SIGTERM, so its traps run.
func TestSandboxCancelHonoursTermTraps(t *testing.T) {
	e := sandboxExec(t, Sandbox{})
	spec := newSpec(t, `trap 'echo cleaning; exit 3' TERM; echo ready; sleep 100 & wait`)
	res, s, _ := cancelWhenSeen(t, e, spec)
	checkResult(t, res, 3, true, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"ready", "cleaning"}) {
		t.Errorf("stdout = %q, want ready then cleaning", got)
	}
	assertNoProcs(t, spec.RunID)
}

// An init whose runner died before the init could arrange to die with it
// finds its lifeline at EOF and runs nothing.
func TestInitWithoutRunnerRunsNothing(t *testing.T) {
	lr, lw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command("bash", "-c", fmt.Sprintf(initScript, ""), "runbook-init", "touch "+marker)
	cmd.ExtraFiles = []*os.File{lr}
	lw.Close() // the runner is gone
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Errorf("init exited %d (%v), want 125", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the init ran the step although its runner was gone")
	}
	// With the runner alive it runs the step.
	lr2, lw2, _ := os.Pipe()
	defer lw2.Close()
	cmd = exec.Command("bash", "-c", fmt.Sprintf(initScript, ""), "runbook-init", "touch "+marker)
	cmd.ExtraFiles = []*os.File{lr2}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	lr2.Close()
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the init did not run the step: %v", err)
	}
}
