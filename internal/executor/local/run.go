package local

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// shNote is the first log line of a step that runs without bash.
const shNote = "runbook: bash was not found on the runner's PATH, so this step runs with /bin/sh -e and pipefail is off"

// killLimit bounds the wait for SIGKILLed processes to die. Only a process
// stuck in uninterruptible I/O (a dead NFS mount, say) takes this long.
const killLimit = time.Minute

// Run runs one attempt of a step. See the package doc for the shell,
// environment and process rules, and executor.Executor for the contract.
func (e *Executor) Run(ctx context.Context, spec executor.Spec, sink executor.Sink) executor.Result {
	if ctx.Err() != nil {
		return executor.Result{ExitCode: -1, Cancelled: true}
	}
	ws, env, err := e.prepare(spec)
	if err != nil {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, err)}
	}
	out := newOutput(sink)
	cmd := e.command(spec.Command)
	if cmd.Path == "/bin/sh" {
		out.emit(logline.Stderr, []byte(shNote), time.Now())
	}
	cmd.Dir, cmd.Env = ws, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := out.pipes(cmd); err != nil {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: creating output pipes: %w", spec.Step, err)}
	}
	exited, err := start(cmd)
	out.closeChildEnds()
	if err != nil {
		out.closeAll()
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: starting %s in workspace %s: %w", spec.Step, cmd.Path, ws, err)}
	}
	pgid := cmd.Process.Pid // Setpgid makes the shell the leader of a new group
	if e.onStart != nil {
		e.onStart(spec, pgid)
	}
	out.start()

	var res executor.Result
	res.Cancelled, res.TimedOut = e.supervise(ctx, spec.Timeout, pgid, exited)
	// The shell has exited but is not reaped yet, so its pid, which names the
	// group, cannot be reused: this SIGKILL cannot hit a stranger's group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait() // a non-zero exit is not an error here; ProcessState has it
	res.ExitCode = cmd.ProcessState.ExitCode()
	if err := waitGroupGone(pgid, killLimit); err != nil {
		res.Err = fmt.Errorf("step %q: %w", spec.Step, err)
	}
	if err := out.finish(); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("step %q: writing its output: %w", spec.Step, err)
	}
	return res
}

// prepare checks spec and builds the step's workspace path and environment.
func (e *Executor) prepare(spec executor.Spec) (ws string, env []string, err error) {
	if spec.Workspace == "" {
		return "", nil, errNoWorkspace
	}
	if ws, err = filepath.Abs(spec.Workspace); err != nil {
		return "", nil, fmt.Errorf("resolving workspace %q: %w", spec.Workspace, err)
	}
	env = make([]string, 0, len(e.baseEnv)+len(spec.Env)+6)
	env = append(env, e.baseEnv...)
	for k, v := range spec.Env {
		if !validEnvName(k) {
			return "", nil, fmt.Errorf("environment variable name %q is empty or holds '=' or NUL", k)
		}
		env = append(env, k+"="+v)
	}
	// os/exec keeps the last of duplicate names, so these override spec.Env.
	env = append(env, "CI=true", "RUNBOOK=true",
		"RUNBOOK_RUN_ID="+spec.RunID,
		"RUNBOOK_STEP="+spec.Step,
		"RUNBOOK_ATTEMPT="+strconv.Itoa(spec.Attempt),
		"RUNBOOK_WORKSPACE="+ws)
	return ws, env, nil
}

func (e *Executor) command(script string) *exec.Cmd {
	if e.bash == "" {
		return exec.Command("/bin/sh", "-e", "-c", script)
	}
	return exec.Command(e.bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script)
}

// supervise waits for the shell to exit, stopping its group on cancel or
// timeout: SIGTERM, then SIGKILL once the grace period is over.
func (e *Executor) supervise(ctx context.Context, timeout time.Duration, pgid int, exited <-chan struct{}) (cancelled, timedOut bool) {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-exited:
		return false, false
	case <-ctx.Done():
		cancelled = true
	case <-deadline:
		timedOut = true
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(e.grace)
	defer grace.Stop()
	select {
	case <-exited:
	case <-grace.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	return cancelled, timedOut
}
