package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/executor/local"
)

// sandboxFlags are the settings of the step sandbox (docs/adr/0020) shared
// by server, worker and run.
type sandboxFlags struct {
	unsafeNoSandbox bool // server, worker: the sandbox is on unless this
	sandbox         bool // run: the sandbox is off unless this
	bwrap           string
	processes       int
	openFiles       int
	fileSizeMB      int64
	tmpMB           int64
}

// addSandboxFlags adds the sandbox's flags; optIn is for `runbook run`,
// which keeps the user's own environment unless asked.
func addSandboxFlags(fl *pflag.FlagSet, f *sandboxFlags, optIn bool) {
	if optIn {
		fl.BoolVar(&f.sandbox, "sandbox", false, "run each step in the bubblewrap sandbox, as `runbook server` does (needs bubblewrap; as root, the workspace is handed to user nobody, who runs the steps)")
	} else {
		fl.BoolVar(&f.unsafeNoSandbox, "unsafe-no-sandbox", false, "run steps without the bubblewrap sandbox, as this process's user, able to read its files (keys, database) and signal it; only where every user is trusted")
	}
	fl.StringVar(&f.bwrap, "bwrap", "bwrap", "the bubblewrap binary of the step sandbox")
	fl.IntVar(&f.processes, "step-processes", 1024, "sandboxed steps: processes one step may have at once (RLIMIT_NPROC)")
	fl.IntVar(&f.openFiles, "step-open-files", 4096, "sandboxed steps: files a process of a step may hold open (RLIMIT_NOFILE)")
	fl.Int64Var(&f.fileSizeMB, "step-file-size-mb", 8192, "sandboxed steps: the largest file a step may write, in MiB (RLIMIT_FSIZE)")
	fl.Int64Var(&f.tmpMB, "step-tmp-mb", 1024, "sandboxed steps: size of a step's private /tmp, which is also its HOME, in MiB")
}

// config is the local executor's sandbox with these flags; hide lists host
// paths steps must not see (the data dir, the config file).
func (f sandboxFlags) config(hide []string) *local.Sandbox {
	return &local.Sandbox{
		Bwrap: f.bwrap, Hide: hide, TmpSize: f.tmpMB << 20,
		Limits: local.Limits{OpenFiles: f.openFiles, Processes: f.processes, FileSize: f.fileSizeMB << 20},
	}
}

// hiddenPaths are what a sandboxed step of this process must not see even
// where a system directory holding them is bound in.
func hiddenPaths(cmd *cobra.Command, dataDir string) []string {
	hide := []string{dataDir}
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		hide = append(hide, path)
	} else if path := os.Getenv("RUNBOOK_CONFIG"); path != "" {
		hide = append(hide, path)
	}
	return hide
}

const installBwrap = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"

// serverSandbox decides how a server's own steps run. Sign-up is open to
// anyone, so steps run sandboxed; without bubblewrap the embedded default
// (SQLite) still starts but serves its first user only (firstUserOnly),
// and a shared installation refuses to start unless --unsafe-no-sandbox.
func serverSandbox(f sandboxFlags, embedded bool, hide []string, log *slog.Logger) (sb *local.Sandbox, firstUserOnly bool, err error) {
	if f.unsafeNoSandbox {
		log.Warn("--unsafe-no-sandbox: steps run as this server's user and can read its data dir, keys and database; let only trusted users sign up")
		return nil, false, nil
	}
	if _, err := local.LookBwrap(f.bwrap); err == nil {
		return f.config(hide), false, nil
	}
	if embedded {
		log.Warn("bubblewrap is not installed, so steps run unsandboxed, able to read this server's keys and database: sign-up is closed after the first user. To open it, " + installBwrap + " and restart")
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("refusing to start: bubblewrap (%s) is not installed, so steps would run unsandboxed, able to read this server's keys and database, while anyone can sign up. %s, or pass --unsafe-no-sandbox if every user is trusted", f.bwrap, installBwrap)
}

// workerSandbox decides how a worker's local steps run: sandboxed unless
// --unsafe-no-sandbox; a missing bubblewrap is an error, as the worker runs
// whatever any tenant of its servers submits.
func workerSandbox(f sandboxFlags, hide []string, log *slog.Logger) (*local.Sandbox, error) {
	if f.unsafeNoSandbox {
		log.Warn("--unsafe-no-sandbox: steps run as this worker's user and can read its files and environment")
		return nil, nil
	}
	if _, err := local.LookBwrap(f.bwrap); err != nil {
		return nil, fmt.Errorf("%w; or pass --unsafe-no-sandbox if every user of the servers is trusted", err)
	}
	return f.config(hide), nil
}

// checkSandbox runs one empty step in the sandbox, so that a host where
// bubblewrap cannot make its namespaces fails at start, not at each step.
func checkSandbox(ctx context.Context, exe *local.Executor) error {
	if !exe.Sandboxed() {
		return nil
	}
	if err := exe.Check(ctx); err != nil {
		return fmt.Errorf("the step sandbox does not work on this host: %w; pass --unsafe-no-sandbox to run steps without it", err)
	}
	return nil
}

// userCounter is what the first-user-only sign-up needs of the store.
type userCounter interface {
	HasUsers(ctx context.Context) (bool, error)
}

// firstUserGate lets an account be created only while there is none.
func firstUserGate(st any) (func(context.Context) error, error) {
	uc, ok := st.(userCounter)
	if !ok {
		return nil, errors.New("this store cannot count users, so sign-up cannot be limited to the first user: install bubblewrap or pass --unsafe-no-sandbox")
	}
	return func(ctx context.Context) error {
		has, err := uc.HasUsers(ctx)
		if err != nil {
			return err
		}
		if has {
			return fmt.Errorf("%w: sign-up is closed: this server runs steps without a sandbox, so it serves its first user only (its operator can %s and restart)", account.ErrForbidden, installBwrap)
		}
		return nil
	}, nil
}
