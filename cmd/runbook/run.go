package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/executor/local"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/progress"
	"github.com/runbookhq/runbook/internal/runner"
	"github.com/runbookhq/runbook/internal/workflow"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type runFlags struct {
	env       []string
	vars      []string
	workspace string
	logDir    string
	grace     time.Duration
	color     string
	sandbox   sandboxFlags
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [FILE]",
		Short: "Run a workflow in this terminal (no server); the exit code is the result",
		Long: `Run a workflow file (default .runbook.yml) with local processes and show its
progress live. Exit codes: 0 the run succeeded, 1 it failed, 2 the file or the
flags are invalid, 130 it was cancelled with Ctrl-C.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ".runbook.yml"
			if len(args) == 1 {
				path = args[0]
			}
			return runWorkflow(cmd, path, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.env, "env", "e", nil, "KEY=VALUE added to the workflow's global env (repeatable)")
	fl.StringArrayVar(&f.vars, "var", nil, "KEY=VALUE for `if` expressions: branch, event, sha or repo (repeatable)")
	fl.StringVarP(&f.workspace, "workspace", "w", "", "directory the steps run in (default: the workflow file's directory)")
	fl.StringVar(&f.logDir, "logs", "", "keep step logs in this directory (default: a temporary directory, removed at exit)")
	fl.DurationVar(&f.grace, "grace", 10*time.Second, "how long a cancelled step may take to stop after SIGTERM before SIGKILL")
	fl.StringVar(&f.color, "color", "auto", "colour output: auto, always or never")
	addSandboxFlags(fl, &f.sandbox, true)
	return cmd
}

func runWorkflow(cmd *cobra.Command, path string, f runFlags) error {
	wf, err := loadWorkflow(path)
	if err != nil {
		return err
	}
	vars, err := runVars(wf, f)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	workspace := f.workspace
	if workspace == "" {
		workspace = filepath.Dir(path)
	}
	if workspace, err = filepath.Abs(workspace); err != nil {
		return &exitError{code: 2, err: err}
	}
	if st, err := os.Stat(workspace); err != nil || !st.IsDir() {
		return &exitError{code: 2, err: fmt.Errorf("workspace %s is not a directory", workspace)}
	}
	if vars.Branch == "" && vars.SHA == "" && usesConditions(wf) {
		vars.Branch, vars.SHA = gitHead(workspace)
	}

	logDir := f.logDir
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "runbook-logs-"); err != nil {
			return err
		}
		defer os.RemoveAll(logDir)
	}
	logs, err := logstore.Open(logDir)
	if err != nil {
		return err
	}
	var sandbox *local.Sandbox
	if f.sandbox.sandbox {
		sandbox = f.sandbox.config(nil)
	}
	exe, err := local.New(local.Options{GracePeriod: f.grace, Sandbox: sandbox})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer exe.Close()

	names := make([]string, len(wf.Steps))
	for i, s := range wf.Steps {
		names[i] = s.Name
	}
	printer := progress.New(cmd.OutOrStdout(), useColor(f.color), names)

	ctx, stop := signalContext()
	defer stop()
	res, err := runner.Run(ctx, wf, runner.Config{
		RunID:     newRunID(),
		Workspace: workspace,
		Vars:      vars,
		Executor:  exe,
		Logs:      logs,
		Observer:  printer,
	})
	printer.Close()
	if err != nil {
		return err
	}
	switch res.State.Status {
	case engine.RunSucceeded:
		return nil
	case engine.RunCancelled:
		if ctx.Err() != nil {
			return &exitError{code: 130}
		}
	}
	return &exitError{code: 1}
}

// runVars builds what `if` expressions see from the workflow and the flags.
func runVars(wf *workflow.Workflow, f runFlags) (workflow.Vars, error) {
	v := workflow.Vars{Event: "manual", Env: make(map[string]string, len(wf.Env)+len(f.env))}
	for k, val := range wf.Env {
		v.Env[k] = val
	}
	for _, kv := range f.env {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return v, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		v.Env[k] = val
	}
	for _, kv := range f.vars {
		k, val, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return v, fmt.Errorf("--var %q: want KEY=VALUE", kv)
		case k == "branch":
			v.Branch = val
		case k == "event":
			v.Event = val
		case k == "sha":
			v.SHA = val
		case k == "repo":
			v.Repo = val
		default:
			return v, fmt.Errorf("--var %q: unknown variable %q (use branch, event, sha or repo; environment goes in --env)", kv, k)
		}
	}
	return v, nil
}

func usesConditions(wf *workflow.Workflow) bool {
	for _, s := range wf.Steps {
		if s.If != "" {
			return true
		}
	}
	return false
}

// gitHead returns the workspace's current branch and commit, if it is a git
// work tree; `if: branch == "main"` then behaves as it would on a push.
func gitHead(dir string) (branch, sha string) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--abbrev-ref", "HEAD", "HEAD").Output()
	if err != nil {
		return "", ""
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return "", ""
	}
	if lines[0] != "HEAD" { // detached
		branch = lines[0]
	}
	return branch, lines[1]
}

func useColor(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	return term.IsTerminal(int(os.Stdout.Fd()))
}

// signalContext is cancelled by the first SIGINT or SIGTERM, with the signal
// as its cause; the runner then cancels the run the engine's way.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := true
		for sig := range sigs {
			if first {
				cancel(fmt.Errorf("interrupted (%s)", sig))
				fmt.Fprintf(os.Stderr, "\nrunbook: %s: cancelling the run…\n", sig)
				first = false
				continue
			}
			// Exiting now would leave the steps' children behind; the grace
			// period bounds the wait instead.
			fmt.Fprintln(os.Stderr, "runbook: still stopping steps; they get SIGKILL when the --grace period ends")
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(sigs)
		cancel(errors.New("done"))
	}
}

func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
