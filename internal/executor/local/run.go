package local

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	return e.run(ctx, spec, sink, e.onStart)
}

// run is Run with the OnStart hook to call (none for Check's probe).
func (e *Executor) run(ctx context.Context, spec executor.Spec, sink executor.Sink, onStart func(executor.Spec, int)) executor.Result {
	if ctx.Err() != nil {
		return executor.Result{ExitCode: -1, Cancelled: true}
	}
	ws, env, err := e.prepare(spec)
	if err != nil {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, err)}
	}
	out := newOutput(sink)
	cmd, stage, err := e.command(spec, ws)
	if err != nil {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, err)}
	}
	if cmd.Path != e.bash && cmd.Path != "/bin/sh" {
		// The init's lifeline (see initScript): we hold the write end
		// until the attempt is over.
		lr, lw, err := os.Pipe()
		if err != nil {
			return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: %w", spec.Step, err)}
		}
		defer lw.Close()
		defer lr.Close()
		cmd.ExtraFiles = []*os.File{lr}
	}
	if e.bash == "" {
		out.emit(logline.Stderr, []byte(shNote), time.Now())
	}
	cmd.Env = env
	if e.plan != nil {
		out.limits = &e.plan.limits
	}
	if err := out.pipes(cmd); err != nil {
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: creating output pipes: %w", spec.Step, err)}
	}
	exited, err := start(cmd, stage)
	out.closeChildEnds()
	if err != nil {
		out.closeAll()
		return executor.Result{ExitCode: -1, Err: fmt.Errorf("step %q: starting %s in workspace %s: %w", spec.Step, cmd.Path, ws, err)}
	}
	pgid := cmd.Process.Pid // Setpgid makes it the leader of a new group
	if onStart != nil {
		onStart(spec, pgid)
	}
	out.start()

	var res executor.Result
	res.Cancelled, res.TimedOut = e.supervise(ctx, spec.Timeout, pgid, exited)
	// The leader has exited but is not reaped yet, so its pid, which names
	// the group, cannot be reused: this SIGKILL cannot hit a stranger's group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait() // a non-zero exit is not an error here; ProcessState has it
	res.ExitCode = cmd.ProcessState.ExitCode()
	if (res.Cancelled || res.TimedOut) && res.ExitCode > 128 && cmd.Path != e.bash {
		// An init between us and the shell reports a shell killed by our
		// signal as 128+n; report it as a kill, as without one.
		res.ExitCode = -1
	}
	if err := waitGroupGone(pgid, killLimit); err != nil {
		res.Err = fmt.Errorf("step %q: %w", spec.Step, err)
	}
	if err := out.finish(); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("step %q: writing its output: %w", spec.Step, err)
	}
	out.limitNotes(res.ExitCode)
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
	base := e.baseEnv
	if e.plan != nil {
		base = e.sandboxEnv
	}
	env = make([]string, 0, len(base)+len(spec.Env)+6)
	env = append(env, base...)
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

// command builds the process that runs the step's shell: the shell itself,
// or an init in the step's own PID namespace that runs the command in a
// subshell (initScript), through unshare (as root) or in the sandbox. stage,
// when set, runs on the forking thread first.
func (e *Executor) command(spec executor.Spec, ws string) (cmd *exec.Cmd, stage func() error, err error) {
	var shell []string
	if e.bash == "" {
		shell = []string{"/bin/sh", "-e", "-c", spec.Command}
	} else {
		shell = []string{e.bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", spec.Command}
	}
	net := true
	switch spec.Network {
	case "", "default":
	case "none":
		net = false
	default:
		return nil, nil, fmt.Errorf("network %q: want default or none", spec.Network)
	}
	switch {
	case e.plan != nil:
		if e.plan.stage != "" {
			if err := ownWorkspace(ws); err != nil {
				return nil, nil, fmt.Errorf("handing the workspace %s to the sandbox's user: %w", ws, err)
			}
			stage = func() error { return e.plan.stageMounts(ws) }
		}
		argv := e.plan.argv(e.bash, ws, net, spec.Command)
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "/" // bwrap changes into the workspace itself, inside
		cmd.SysProcAttr = e.plan.sysProcAttr()
		return cmd, stage, nil
	case e.unshare != "" && e.bash != "":
		argv := []string{"--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"}
		if !net {
			argv = append(argv, "--net")
		}
		argv = append(argv, "--", e.bash, "--noprofile", "--norc", "-c", fmt.Sprintf(initScript, ""), "runbook-init", spec.Command)
		cmd = exec.Command(e.unshare, argv...)
	default:
		if !net {
			return nil, nil, errors.New("network: none needs the sandbox (runbook run --sandbox) or a runner running as root")
		}
		cmd = exec.Command(shell[0], shell[1:]...)
	}
	cmd.Dir = ws
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil, nil
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
	e.terminate(pgid)
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

// terminate asks a step to stop. Where an init runs the step (sandbox or
// unshare) only the init gets SIGTERM, and it sends it to every process of
// the namespace: signalling the group too would run the step's traps twice,
// and bwrap does not pass SIGTERM on. Otherwise the group gets it.
func (e *Executor) terminate(pgid int) {
	init := 0
	switch {
	case e.plan != nil:
		init = nsInit(pgid)
	case e.unshare != "" && e.bash != "":
		init = onlyChild(pgid)
	}
	if init > 0 {
		_ = syscall.Kill(init, syscall.SIGTERM)
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
}
