package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// Sandbox runs every attempt under bubblewrap (see docs/adr/0020): its own
// user, PID, IPC, UTS and mount namespaces, as an unprivileged user, with
// only the host's system directories visible (read-only), the workspace and
// a private bounded /tmp writable, and per-step rlimits.
type Sandbox struct {
	// Bwrap is the bubblewrap binary; "" looks up "bwrap" on PATH.
	Bwrap string
	// Hide lists host paths the step must not see even where they lie
	// under a system directory that is bound in (a config file in /etc, a
	// data directory in /opt). Each is covered by an empty tmpfs (a
	// directory) or /dev/null (a file).
	Hide []string
	// TmpSize bounds the private /tmp, which is also the step's HOME, in
	// bytes; 0 means DefaultTmpSize.
	TmpSize int64
	// Limits are the step's rlimits; zero fields take the defaults.
	Limits Limits
}

// Limits are rlimits applied to every process of a sandboxed step. Core
// dumps are always off.
type Limits struct {
	OpenFiles int   // RLIMIT_NOFILE; 0 means 4096
	Processes int   // RLIMIT_NPROC, counted per step; 0 means 1024
	FileSize  int64 // RLIMIT_FSIZE in bytes; 0 means 8 GiB
}

// DefaultTmpSize is the size of a sandboxed step's /tmp.
const DefaultTmpSize = 1 << 30

// sandboxUID is who a sandboxed step runs as, on the host and inside its
// user namespace: nobody, who owns nothing of the server's.
const sandboxUID = 65534

// In-sandbox paths of what the executor brings along.
const (
	sandboxBinary = "/run/runbook/runbook"
	sandboxBinDir = "/run/runbook/bin"
)

// emptyFile, in the executor's private directory, is what hides a file.
const emptyFile = "empty"

// systemDirs are bound read-only when they exist: the host's toolchains.
// Anything else (/home, /root, /var, /srv, /tmp, /mnt, /work…) stays out.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"}

// sandboxPlan is what New works out once for every sandboxed attempt.
type sandboxPlan struct {
	bwrap string
	// stage is set when the runner is root: bwrap then runs as nobody and
	// cannot reach paths under, say, /root, so each attempt first binds its
	// workspace and the runbook binary into stage inside a mount namespace
	// private to the forking thread (see start).
	stage  string
	binary string   // the runbook binary on the host
	fixed  []string // bwrap arguments shared by every attempt
	limits Limits
}

// LookBwrap returns the path of bubblewrap, or an error saying how to get it.
func LookBwrap(path string) (string, error) {
	if path == "" {
		path = "bwrap"
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("bubblewrap (%s) was not found: install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap): %w", path, err)
	}
	return filepath.Abs(p)
}

func newSandboxPlan(sb Sandbox, binary, stageDir string) (*sandboxPlan, error) {
	bwrap, err := LookBwrap(sb.Bwrap)
	if err != nil {
		return nil, err
	}
	p := &sandboxPlan{bwrap: bwrap, binary: binary, limits: sb.Limits}
	if err := os.WriteFile(filepath.Join(stageDir, emptyFile), nil, 0o444); err != nil {
		return nil, err
	}
	if p.limits.OpenFiles <= 0 {
		p.limits.OpenFiles = 4096
	}
	if p.limits.Processes <= 0 {
		p.limits.Processes = 1024
	}
	if p.limits.FileSize <= 0 {
		p.limits.FileSize = 8 << 30
	}
	if os.Geteuid() == 0 {
		p.stage = stageDir
		// nobody must reach the stage's mount point to bind from it.
		if err := os.Chmod(stageDir, 0o755); err != nil {
			return nil, err
		}
	}
	tmpSize := sb.TmpSize
	if tmpSize <= 0 {
		tmpSize = DefaultTmpSize
	}
	a := []string{
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--uid", strconv.Itoa(sandboxUID), "--gid", strconv.Itoa(sandboxUID), "--hostname", "runbook",
		// Not --as-pid-1: bwrap's own reaper as PID 1 costs less CPU (about
		// 2.8 ms a step here) than our init as PID 1, and still ends the
		// namespace when our init, its first child, exits.
		"--die-with-parent", "--new-session",
	}
	var bound []string
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
			continue
		case fi.Mode()&os.ModeSymlink != 0:
			// /bin -> usr/bin: a symlink is cheaper than a second mount.
			target, err := os.Readlink(d)
			if err != nil {
				return nil, err
			}
			a = append(a, "--symlink", target, d)
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
			bound = append(bound, d)
		}
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev",
		"--size", strconv.FormatInt(tmpSize, 10), "--tmpfs", "/tmp",
		"--dir", sandboxBinDir, "--symlink", sandboxBinary, sandboxBinDir+"/repo_cloner")
	for _, h := range sb.Hide {
		h, err := filepath.Abs(h)
		if err != nil {
			return nil, err
		}
		if !underAny(h, bound) {
			continue // not bound in, so not visible anyway
		}
		fi, err := os.Stat(h)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("sandbox: checking %s, which must stay hidden: %w", h, err)
		case fi.IsDir():
			a = append(a, "--tmpfs", h)
		default:
			// Not /dev/null: bwrap's binds are nodev, so it would not open.
			a = append(a, "--ro-bind", filepath.Join(stageDir, emptyFile), h)
		}
	}
	p.fixed = a
	return p, nil
}

// underAny reports whether path is one of dirs or lies beneath one.
func underAny(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// initScript is the init of a step's PID namespace: it applies the rlimits,
// runs the step's command ($1) in a subshell, passes SIGTERM on to every
// process of the step, and exits with the subshell's status. Its exit ends
// the namespace: it is PID 1 (unshare), or the first child of bwrap's
// reaper, which then exits as PID 1; the kernel SIGKILLs whatever is left
// (setsid, nohup and double forks included). As PID 1, being bash, it also
// reaps orphans, as an init must.
//
// The step is a forked subshell, not a second bash exec: that saves an exec
// per step. It runs as `bash -e -o pipefail -c COMMAND` would: the subshell
// drops the init's TERM trap, and `set --` empties the positional
// parameters; only $0 ("runbook-init") and $$ (the init's pid) differ.
//
// The init gets SIGKILL when the process that forked it dies (unshare
// --kill-child, bwrap --die-with-parent), but that is set up in the child
// after the fork: a runner that died just before would leave the init
// running. Fd 3 is the read end of a pipe whose write end only the runner
// holds, so EOF on it means the runner is gone: the init checks it first;
// the step does not get it. A trap interrupts `wait` with 128+n; the last
// `wait` returns the step's own status, which bash keeps once reaped.
//
// Under bwrap the init is not PID 1, and bwrap reports its exit before the
// kernel has emptied the namespace; so the init kills what is left itself
// and waits until its /proc shows only bwrap's reaper and itself (sleeping
// on fd 3, which never has data), so that Run returns only once the step's
// processes are gone.
//
// kill -1 reaches every process its sender may signal: on the host, as
// root, that is the whole machine. So the init signals -1 only as pid 1 or
// 2, which it is only in a fresh PID namespace.
const initScript = `read -t 0 -u 3 && exit 125
trap '[ $$ -le 2 ] && kill -TERM -1 2>/dev/null' TERM
%s(exec 3<&-; set -e -o pipefail; eval "set --; $1") & p=$!
while ! wait "$p" && kill -0 "$p" 2>/dev/null; do :; done
wait "$p"; s=$?
if [ $$ -le 2 ]; then
  kill -KILL -1 2>/dev/null
  set -- /proc/[0-9]*
  while [ $# -gt 2 ]; do read -t 0.01 -u 3; set -- /proc/[0-9]*; done
fi
exit "$s"`

// limitsLine sets the rlimits (bash's ulimit -f counts 1024-byte blocks).
func (l Limits) limitsLine() string {
	return fmt.Sprintf("ulimit -c 0 && ulimit -n %d && ulimit -u %d && ulimit -f %d || exit 125\n",
		l.OpenFiles, l.Processes, max(l.FileSize/1024, 1))
}

// argv is the command line of a sandboxed attempt. net says whether the
// step keeps the host's network.
func (p *sandboxPlan) argv(bash, ws string, net bool, command string) []string {
	src, bin := ws, p.binary
	if p.stage != "" {
		src, bin = filepath.Join(p.stage, "ws"), filepath.Join(p.stage, "runbook")
	}
	// The root is bwrap's tmpfs, writable until remounted: that comes
	// last, once the directories and mount points above are made.
	a := make([]string, 0, len(p.fixed)+20)
	a = append(a, p.bwrap)
	a = append(a, p.fixed...)
	if !net {
		a = append(a, "--unshare-net")
	}
	a = append(a, "--ro-bind", bin, sandboxBinary, "--bind", src, ws, "--remount-ro", "/", "--chdir", ws, "--",
		bash, "--noprofile", "--norc", "-c", fmt.Sprintf(initScript, p.limits.limitsLine()), "runbook-init", command)
	return a
}

// sysProcAttr is how the executor starts bwrap: as nobody when it is root
// (bubblewrap then makes an unprivileged user namespace, so the step's
// processes are nobody on the host too, and RLIMIT_NPROC applies to them).
func (p *sandboxPlan) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.stage != "" {
		a.Credential = &syscall.Credential{Uid: sandboxUID, Gid: sandboxUID, Groups: []uint32{}}
	}
	return a
}

// stageMounts runs on the locked thread that forks bwrap, after it has
// left the host's mount namespace: it makes the workspace and the runbook
// binary reachable by nobody under the stage directory. Nothing of it is
// seen outside this thread and its children.
func (p *sandboxPlan) stageMounts(ws string) error {
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount("runbook-stage", p.stage, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mounting the stage: %w", err)
	}
	wsStage, binStage := filepath.Join(p.stage, "ws"), filepath.Join(p.stage, "runbook")
	if err := os.Mkdir(wsStage, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(binStage, nil, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.stage, emptyFile), nil, 0o444); err != nil {
		return err
	}
	if err := syscall.Mount(ws, wsStage, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the workspace: %w", err)
	}
	if err := syscall.Mount(p.binary, binStage, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding the runbook binary: %w", err)
	}
	return nil
}

// ownWorkspace gives the workspace to the sandbox's user, so the step can
// write in it. Only the top is checked each time; a tree made by someone
// else (a previous unsandboxed run) is handed over once, whole.
func ownWorkspace(ws string) error {
	fi, err := os.Stat(ws)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == sandboxUID {
		return nil
	}
	return filepath.Walk(ws, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, sandboxUID, sandboxUID)
	})
}

// nsInit returns the host pid of the sandbox's init script: the child of
// bwrap's reaper (PID 1 of the namespace), itself bwrap's only child; 0
// while it does not exist yet.
func nsInit(bwrapPID int) int {
	return onlyChild(onlyChild(bwrapPID))
}

// onlyChild returns the first child of process pid (its main thread's), or 0.
func onlyChild(pid int) int {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	child, _ := strconv.Atoi(f[0])
	return child
}

// Check runs an empty step in the sandbox and returns what went wrong, if
// anything: bubblewrap may be installed on a host (a container, say) that
// lets it make no namespaces.
func (e *Executor) Check(ctx context.Context) error {
	ws, err := os.MkdirTemp("", "runbook-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ws)
	var s firstLines
	res := e.run(ctx, executor.Spec{RunID: "check", Step: "check", Attempt: 1, Command: "true", Workspace: ws}, &s, nil)
	switch {
	case res.Err != nil:
		return res.Err
	case res.ExitCode != 0:
		return fmt.Errorf("an empty step exited %d: %s", res.ExitCode, strings.Join(s, "; "))
	}
	return nil
}

// firstLines keeps the first few lines of a check's output.
type firstLines []string

func (l *firstLines) WriteLine(line logline.Line) error {
	if len(*l) < 5 {
		*l = append(*l, string(line.Text))
	}
	return nil
}
