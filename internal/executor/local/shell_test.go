package local

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

func TestExitCodePassesThrough(t *testing.T) {
	e := newExec(t, Options{})
	for cmd, want := range map[string]int{"true": 0, "exit 3": 3, "false": 1, "exit 255": 255, "nosuchcommand-xyz": 127} {
		t.Run(cmd, func(t *testing.T) {
			res, _ := run(t, e, newSpec(t, cmd))
			checkResult(t, res, want, false, false)
		})
	}
}

func TestErrexitAndPipefail(t *testing.T) {
	e := newExec(t, Options{})
	for _, tc := range []struct {
		cmd  string
		code int
	}{
		{"false; echo after", 1},
		{"false | true; echo after", 1},
		{"(exit 4) | cat; echo after", 4},
		{"true | true; echo after", 0},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			res, s := run(t, e, newSpec(t, tc.cmd))
			checkResult(t, res, tc.code, false, false)
			ran := slices.Contains(s.texts(logline.Stdout), "after")
			if ran != (tc.code == 0) {
				t.Errorf("`echo after` ran = %v with exit code %d: -e not honoured", ran, tc.code)
			}
		})
	}
}

// Where bash is missing, a step runs with sh -e (no pipefail) and its log
// says so first.
func TestShFallbackWithoutBash(t *testing.T) {
	e := plainExec(t, Options{})
	e.bash = ""
	res, s := run(t, e, newSpec(t, "false | true; echo piped; false; echo after"))
	checkResult(t, res, 1, false, false)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"piped"}) {
		t.Errorf("stdout = %q, want [piped]: sh should ignore the pipeline's failure but stop at `false`", got)
	}
	if len(s.lines) == 0 || s.lines[0] != (line{1, logline.Stderr, shNote}) {
		t.Errorf("first line = %+v, want the sh note on stderr", s.lines)
	}
}

func TestEnvironmentIsClean(t *testing.T) {
	t.Setenv("RUNBOOK_TEST_SECRET_TOKEN", "hunter2")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "Europe/Paris")
	t.Setenv("MY_PROXY", "http://proxy:3128")
	e := plainExec(t, Options{EnvAllowlist: []string{"MY_PROXY"}})
	spec := newSpec(t, "env")
	spec.Attempt = 2
	spec.Env = map[string]string{"GREETING": "hello world", "TZ": "UTC", "CI": "false", "RUNBOOK_STEP": "forged"}
	res, s := run(t, e, spec)
	checkResult(t, res, 0, false, false)

	got := map[string]string{}
	for _, l := range s.texts(logline.Stdout) {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	if _, ok := got["RUNBOOK_TEST_SECRET_TOKEN"]; ok {
		t.Fatal("the runner's secret reached the step")
	}
	ws, _ := filepath.Abs(spec.Workspace)
	want := map[string]string{
		"HOME": os.Getenv("HOME"), "LANG": "C.UTF-8", "MY_PROXY": "http://proxy:3128",
		"GREETING": "hello world", "TZ": "UTC", // spec.Env overrides the runner's
		"CI": "true", "RUNBOOK": "true", "RUNBOOK_STEP": spec.Step, // RUNBOOK_* override spec.Env
		"RUNBOOK_RUN_ID": spec.RunID, "RUNBOOK_ATTEMPT": "2", "RUNBOOK_WORKSPACE": ws,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !strings.HasPrefix(got["PATH"], e.binDir+":") {
		t.Errorf("PATH = %q, want it to start with %s", got["PATH"], e.binDir)
	}
	// Nothing else, bar what bash itself exports.
	allowed := []string{"PATH", "PWD", "SHLVL", "_", "USER", "LOGNAME", "SHELL", "TMPDIR", "LC_ALL", "LC_CTYPE"}
	for k := range got {
		if _, ok := want[k]; !ok && !slices.Contains(allowed, k) {
			t.Errorf("unexpected variable %s=%q in the step's environment", k, got[k])
		}
	}
}

func TestWorkspaceIsWorkingDirectory(t *testing.T) {
	e := newExec(t, Options{})
	spec := newSpec(t, "pwd -P; touch made-here")
	res, s := run(t, e, spec)
	checkResult(t, res, 0, false, false)
	ws, _ := filepath.EvalSymlinks(spec.Workspace)
	if got := s.texts(logline.Stdout); !slices.Equal(got, []string{ws}) {
		t.Errorf("pwd = %q, want %s", got, ws)
	}
	if _, err := os.Stat(filepath.Join(spec.Workspace, "made-here")); err != nil {
		t.Error(err)
	}
}

func TestRepoClonerOnPath(t *testing.T) {
	t.Run("default is this binary", func(t *testing.T) {
		e := plainExec(t, Options{})
		res, s := run(t, e, newSpec(t, `readlink "$(command -v repo_cloner)"`))
		checkResult(t, res, 0, false, false)
		exe, _ := os.Executable()
		if got := s.texts(logline.Stdout); !slices.Equal(got, []string{exe}) {
			t.Errorf("repo_cloner -> %q, want %s", got, exe)
		}
	})
	t.Run("runs the given binary", func(t *testing.T) {
		echo, err := filepath.EvalSymlinks("/bin/echo")
		if err != nil {
			t.Skip("no /bin/echo to stand in for the runbook binary")
		}
		e := newExec(t, Options{RunbookBinary: echo})
		res, s := run(t, e, newSpec(t, `repo_cloner cloned`))
		checkResult(t, res, 0, false, false)
		if got := s.texts(logline.Stdout); !slices.Equal(got, []string{"cloned"}) {
			t.Errorf("output = %q, want [cloned]", got)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(e.binDir); !os.IsNotExist(err) {
			t.Errorf("Close left %s behind (stat: %v)", e.binDir, err)
		}
	})
}

func TestRunRejectsBadSpecs(t *testing.T) {
	e := newExec(t, Options{})
	missing := newSpec(t, "true")
	missing.Workspace = filepath.Join(missing.Workspace, "gone")
	badEnv := newSpec(t, "true")
	badEnv.Env = map[string]string{"A=B": "x"}
	noWS := newSpec(t, "true")
	noWS.Workspace = ""
	for _, tc := range []struct {
		name string
		spec executor.Spec
		want string
	}{
		{"missing workspace", missing, "gone"},
		{"bad env name", badEnv, `"A=B"`},
		{"no workspace", noWS, "Spec.Workspace is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, s := run(t, e, tc.spec)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) || res.ExitCode != -1 {
				t.Fatalf("Run = %+v, want ExitCode -1 and an error mentioning %s", res, tc.want)
			}
			if len(s.lines) != 0 {
				t.Errorf("a step that did not start wrote %v", s.lines)
			}
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		spec := newSpec(t, "touch started")
		res := e.Run(ctx, spec, newSink(""))
		checkResult(t, res, -1, true, false)
		if _, err := os.Stat(filepath.Join(spec.Workspace, "started")); err == nil {
			t.Error("the step ran although ctx was already cancelled")
		}
	})
}
