// Package local runs step attempts as processes on this machine (Linux).
//
// # Shell
//
// Each attempt runs `bash --noprofile --norc -e -o pipefail -c COMMAND` in the
// step's workspace, so the first failing command, or a failing command
// anywhere in a pipeline, fails the step. Where bash is not on the runner's
// PATH, the step runs with `/bin/sh -e -c COMMAND` instead, and the first line
// of its log (on stderr) says so: POSIX sh has no pipefail, so `false | true`
// then succeeds. GitHub Actions falls back the same way.
//
// # Environment
//
// The runner's own environment may hold secrets, so a step never inherits
// it. A step sees PATH (the runner's, with a private directory holding
// `repo_cloner` first), HOME, the allowlisted variables that are set (LANG,
// LC_ALL, LC_CTYPE, TZ, TMPDIR, USER, LOGNAME, SHELL and
// Options.EnvAllowlist), then Spec.Env, then CI=true, RUNBOOK=true,
// RUNBOOK_RUN_ID, RUNBOOK_STEP, RUNBOOK_ATTEMPT and RUNBOOK_WORKSPACE. A later
// value wins over an earlier one of the same name.
//
// # Processes
//
// Each attempt has its own process group. When the shell exits, whatever is
// left in its group is SIGKILLed; on cancel or timeout the group gets SIGTERM,
// then SIGKILL after the grace period. Run returns once the shell has exited
// and no live process is left in the group.
//
// A process can leave the group (setsid, setpgid). So that nothing of an
// attempt outlives it, the shell runs under a small init (bash) that is PID 1
// of the attempt's own PID namespace: in the sandbox (Options.Sandbox), or,
// for a runner that is root, through unshare(1). When the shell exits, the
// init exits, and the kernel SIGKILLs every process left in the namespace:
// setsid, nohup and double-forked ones included. The init dies with the
// runner (Pdeathsig, bwrap --die-with-parent, unshare --kill-child), so a
// kill -9 of the runner takes the whole attempt with it. On cancel the init
// passes SIGTERM to every process of the namespace.
//
// A runner without either (`runbook run` without --sandbox) has only the
// group: there a process that leaves it survives the step, and
// when the runner dies only the shell gets SIGKILL (Pdeathsig).
// Options.OnStart lets a server record process groups and reap them after a
// crash. A leftover that keeps the step's output pipes open is cut off
// shortly after the group is gone, with a note in the step's log.
//
// # Sandbox
//
// With Options.Sandbox every attempt runs under bubblewrap as nobody, in its
// own user, PID, IPC, UTS, cgroup and mount namespaces (and network, with
// Spec.Network "none"), with the host's system directories read-only, the
// workspace and a bounded /tmp (also HOME) writable, and rlimits; see
// Sandbox and docs/adr/0020.
package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runbookhq/runbook/internal/executor"
)

// DefaultGracePeriod is how long a cancelled step may take to stop after
// SIGTERM before it gets SIGKILL.
const DefaultGracePeriod = 10 * time.Second

// baseAllowlist names the runner variables a step may see: locale, time
// zone and identity, which programs need to behave normally and which hold
// no secrets.
var baseAllowlist = []string{"LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL"}

// Options configures an Executor. The zero value is usable.
type Options struct {
	// GracePeriod is the time between SIGTERM and SIGKILL on cancel or
	// timeout. Zero means DefaultGracePeriod.
	GracePeriod time.Duration
	// RunbookBinary is what `repo_cloner` on a step's PATH points at; the
	// binary dispatches on argv[0]. Empty means this process's executable.
	RunbookBinary string
	// EnvAllowlist names further runner variables a step may see (a proxy
	// setting, say). Only list variables that hold no secrets.
	EnvAllowlist []string
	// OnStart, if set, is called with the process group of each attempt as
	// soon as it starts, before any output is read; it must return quickly.
	// Pdeathsig kills only the shell when the runner dies, so a server
	// records these groups to SIGKILL what is left of them after a crash.
	OnStart func(spec executor.Spec, pgid int)
	// Sandbox, if set, runs every attempt under bubblewrap; see Sandbox.
	Sandbox *Sandbox
	// PIDNamespace, for a runner that is root and not sandboxed, runs each
	// attempt under an init in its own PID namespace (unshare(1)), so that
	// nothing of it outlives it. It costs two execs per attempt, so
	// `runbook run` leaves it off; a sandboxed attempt always has one.
	PIDNamespace bool
}

// Executor runs step attempts as local processes. It implements
// executor.Executor.
type Executor struct {
	grace   time.Duration
	binDir  string   // private directory holding the repo_cloner symlink
	bash    string   // absolute path of bash; "" means fall back to /bin/sh
	baseEnv []string // PATH, HOME and allowlisted runner variables
	onStart func(executor.Spec, int)
	// How attempts are isolated: plan is set when sandboxed; otherwise
	// unshare is set when each attempt gets its own PID namespace.
	plan       *sandboxPlan
	sandboxEnv []string // baseEnv as seen inside the sandbox
	unshare    string
}

var _ executor.Executor = (*Executor)(nil)

// New prepares an Executor. Call Close when no Run is in progress any more.
func New(opts Options) (*Executor, error) {
	e := &Executor{grace: opts.GracePeriod, onStart: opts.OnStart}
	if e.grace <= 0 {
		e.grace = DefaultGracePeriod
	}
	for _, name := range opts.EnvAllowlist {
		if !validEnvName(name) {
			return nil, fmt.Errorf("local executor: EnvAllowlist entry %q is not a variable name", name)
		}
	}
	bin := opts.RunbookBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local executor: finding the runbook binary for repo_cloner (set Options.RunbookBinary): %w", err)
		}
		bin = exe
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, fmt.Errorf("local executor: resolving RunbookBinary %q: %w", opts.RunbookBinary, err)
	}
	if e.binDir, err = os.MkdirTemp("", "runbook-bin-"); err != nil {
		return nil, fmt.Errorf("local executor: creating the directory for repo_cloner (is TMPDIR writable?): %w", err)
	}
	if err := os.Symlink(bin, filepath.Join(e.binDir, "repo_cloner")); err != nil {
		os.RemoveAll(e.binDir)
		return nil, fmt.Errorf("local executor: linking repo_cloner to %s: %w", bin, err)
	}
	if p, err := exec.LookPath("bash"); err == nil {
		e.bash, _ = filepath.Abs(p)
	}
	e.baseEnv = runnerEnv(e.binDir, slices.Concat(baseAllowlist, opts.EnvAllowlist))
	if opts.Sandbox != nil {
		if e.bash == "" {
			os.RemoveAll(e.binDir)
			return nil, errors.New("local executor: the sandbox needs bash on the runner's PATH")
		}
		if e.plan, err = newSandboxPlan(*opts.Sandbox, bin, e.binDir); err != nil {
			os.RemoveAll(e.binDir)
			return nil, fmt.Errorf("local executor: %w", err)
		}
		e.sandboxEnv = sandboxEnv(e.baseEnv)
	} else if opts.PIDNamespace && os.Geteuid() == 0 && e.bash != "" {
		// Root may make PID namespaces: each attempt gets one, so that
		// nothing it starts outlives it (see package doc).
		if p, err := exec.LookPath("unshare"); err == nil {
			e.unshare, _ = filepath.Abs(p)
		}
	}
	return e, nil
}

// Close removes the executor's private directory. Steps still running lose
// `repo_cloner`, so call it only once every Run has returned.
func (e *Executor) Close() error {
	if err := os.RemoveAll(e.binDir); err != nil {
		return fmt.Errorf("local executor: removing %s: %w", e.binDir, err)
	}
	return nil
}

// runnerEnv is the part of a step's environment taken from the runner.
func runnerEnv(binDir string, allow []string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"PATH=" + binDir + string(os.PathListSeparator) + path}
	if home, ok := os.LookupEnv("HOME"); ok {
		env = append(env, "HOME="+home)
	}
	for _, name := range allow {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// sandboxEnv rewrites the runner's part of a step's environment for the
// sandbox: repo_cloner's directory is the sandbox's, and HOME and TMPDIR are
// the private /tmp (the host's home is not there).
func sandboxEnv(base []string) []string {
	env := make([]string, 0, len(base)+2)
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			_, rest, _ := strings.Cut(kv, string(os.PathListSeparator))
			env = append(env, "PATH="+sandboxBinDir+string(os.PathListSeparator)+rest)
		case strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "TMPDIR="):
		default:
			env = append(env, kv)
		}
	}
	return append(env, "HOME=/tmp", "TMPDIR=/tmp")
}

// Sandboxed reports whether attempts run in the bubblewrap sandbox.
func (e *Executor) Sandboxed() bool { return e.plan != nil }

// validEnvName rejects names that would corrupt the environment block. The
// workflow package enforces the stricter shell rules; this guards the
// executor against other callers.
func validEnvName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

var errNoWorkspace = errors.New("the step has no workspace directory (Spec.Workspace is empty)")
