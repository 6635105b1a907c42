package cloner

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/forge/forgetest"
)

type fixture struct {
	srv           *forgetest.AppServer
	repo          *forgetest.GitRepo
	first, second string // commits of main, oldest first
	token         string
	gitLog        string // argv of every git process, one per line
	opts          Options
}

// newFixture serves a repository with two commits and prepares Options
// that run git through a wrapper recording each process's
// /proc/<pid>/cmdline, which any user on the machine can read.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	f := &fixture{srv: forgetest.NewAppServer(t)}
	f.srv.AddInstallation(7, "octo-org")
	f.repo = f.srv.CreateRepo(7, "hello", map[string]string{"version.txt": "one\n", "build.sh": "#!/bin/sh\necho built\n"})
	f.first = f.repo.Head()
	f.second = f.repo.Commit("second", map[string]string{"version.txt": "two\n"})
	f.repo.Git("tag", "v1", f.first)
	f.token = f.srv.IssueToken(7)

	dir := t.TempDir()
	f.gitLog = filepath.Join(dir, "argv.log")
	wrapper := filepath.Join(dir, "git")
	script := "#!/bin/sh\ntr '\\000' ' ' </proc/$$/cmdline >>" + f.gitLog + "\necho >>" + f.gitLog + "\nexec git \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.gitLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	f.opts = Options{URL: f.srv.CloneURL(f.repo), SHA: f.first, Branch: "main", Token: f.token, Depth: 1,
		Dir: filepath.Join(t.TempDir(), "hello"), Git: wrapper, Env: env}
	return f
}

func (f *fixture) clone(t *testing.T, o Options) (Result, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	o.Stderr = &stderr
	res, err := Clone(context.Background(), o)
	return res, stderr.String(), err
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoToken checks that the token, in any form git would carry it,
// is nowhere in the clone's .git, the output, or any git's argv.
func (f *fixture) assertNoToken(t *testing.T, dir, output string) {
	t.Helper()
	forms := []string{f.token, base64.StdEncoding.EncodeToString([]byte("x-access-token:" + f.token))}
	places := map[string]string{"output": output, "git argv": readFile(t, f.gitLog)}
	if dir != "" {
		_ = filepath.WalkDir(filepath.Join(dir, ".git"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				places[p] = readFile(t, p)
			}
			return nil
		})
		if _, ok := places[filepath.Join(dir, ".git", "config")]; !ok {
			t.Fatal("no .git/config to check")
		}
	}
	for where, text := range places {
		for _, form := range forms {
			if strings.Contains(text, form) {
				t.Errorf("the token is in %s", where)
			}
		}
	}
}

func TestClonesTheRunsCommitShallow(t *testing.T) {
	f := newFixture(t)
	res, out, err := f.clone(t, f.opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.SHA != f.first || res.Dir != f.opts.Dir {
		t.Errorf("checked out %s in %s, want %s in %s", res.SHA, res.Dir, f.first, f.opts.Dir)
	}
	// The run's commit, not the branch's newer head.
	if got := readFile(t, filepath.Join(res.Dir, "version.txt")); got != "one\n" {
		t.Errorf("version.txt = %q, want the first commit's", got)
	}
	if n := gitIn(t, res.Dir, "rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("%s commits with --depth 1", n)
	}
	if b := gitIn(t, res.Dir, "rev-parse", "--abbrev-ref", "HEAD"); b != "HEAD" {
		t.Errorf("HEAD is %q, want detached", b)
	}
	f.assertNoToken(t, res.Dir, out)
	if !strings.Contains(readFile(t, f.gitLog), " fetch ") {
		t.Fatal("the argv log recorded no fetch: the wrapper did not run")
	}
}

func TestDepthAndRef(t *testing.T) {
	f := newFixture(t)
	o := f.opts
	o.SHA, o.Depth = f.second, 0
	res, out, err := f.clone(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := gitIn(t, res.Dir, "rev-list", "--count", "HEAD"); n != "2" {
		t.Errorf("%s commits with --depth 0, want the whole history (2)", n)
	}
	for ref, want := range map[string]string{"v1": "one\n", "main": "two\n", f.first: "one\n"} {
		o := f.opts
		o.Ref, o.Dir = ref, filepath.Join(t.TempDir(), "x")
		res, out, err := f.clone(t, o)
		if err != nil {
			t.Fatalf("--ref %s: %v\n%s", ref, err, out)
		}
		if got := readFile(t, filepath.Join(res.Dir, "version.txt")); got != want {
			t.Errorf("--ref %s: version.txt = %q, want %q", ref, got, want)
		}
	}
}

func TestFallsBackToTheBranchWhenFetchingBySHAIsRefused(t *testing.T) {
	f := newFixture(t)
	f.repo.Git("config", "uploadpack.allowAnySHA1InWant", "false")
	f.repo.Git("tag", "-d", "v1") // an advertised tag would make the commit fetchable
	// Protocol v2 serves any reachable commit whatever the server's config,
	// so speak v0, as older git servers do.
	global := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(global, []byte("[protocol]\n\tversion = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := f.opts
	o.Env = append(o.Env, "GIT_CONFIG_GLOBAL="+global)
	res, out, err := f.clone(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.SHA != f.first || readFile(t, filepath.Join(res.Dir, "version.txt")) != "one\n" {
		t.Errorf("checked out %s", res.SHA)
	}
	if !strings.Contains(readFile(t, f.gitLog), "+refs/heads/main:") {
		t.Errorf("the clone did not go through the branch fallback: the server served the SHA\n%s", readFile(t, f.gitLog))
	}
}

func TestClearErrors(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct {
		edit func(*Options)
		is   error
		want string
	}{
		"no repository":      {func(o *Options) { o.URL = "" }, ErrNoRepo, "RUNBOOK_REPO_URL is not set"},
		"wrong token":        {func(o *Options) { o.Token = "ghs_" + strings.Repeat("x", 36) }, ErrAuthRefused, "tokens last 1 hour"},
		"no token":           {func(o *Options) { o.Token = "" }, ErrAuthRefused, "may have expired"},
		"missing sha":        {func(o *Options) { o.SHA = strings.Repeat("ab", 20) }, ErrNotFound, "commit abab"},
		"missing ref":        {func(o *Options) { o.Ref = "no-such-branch" }, ErrNotFound, "ref no-such-branch"},
		"no commit":          {func(o *Options) { o.SHA, o.Branch = "", "" }, ErrBadTarget, "RUNBOOK_REPO_SHA"},
		"credentials in URL": {func(o *Options) { o.URL = strings.Replace(o.URL, "://", "://x:"+f.token+"@", 1) }, ErrBadTarget, "must not carry credentials"},
	} {
		t.Run(name, func(t *testing.T) {
			o := f.opts
			o.Dir = filepath.Join(t.TempDir(), "hello")
			c.edit(&o)
			_, out, err := f.clone(t, o)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v with %q\n%s", err, c.is, c.want, out)
			}
			if strings.Contains(err.Error(), f.token) {
				t.Error("the error shows the token")
			}
			f.assertNoToken(t, "", out+err.Error())
		})
	}
}

func TestRefusesANonEmptyDirectory(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.opts.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.opts.Dir, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.clone(t, f.opts); !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("err = %v", err)
	}
}

func TestDefaultDirIsTheRepositoryName(t *testing.T) {
	f := newFixture(t)
	wd := t.TempDir()
	t.Chdir(wd)
	o := f.opts
	o.Dir = ""
	res, out, err := f.clone(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Dir != "hello" || readFile(t, filepath.Join(wd, "hello", "version.txt")) != "one\n" {
		t.Errorf("cloned into %q", res.Dir)
	}
}
