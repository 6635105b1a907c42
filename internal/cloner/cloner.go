// Package cloner is `repo_cloner`: inside a step, it clones the run's
// repository at the run's commit with the run's short-lived token.
//
// The token reaches git only through the environment of each git process,
// as an http.<origin>.extraHeader set with GIT_CONFIG_COUNT (git ≥ 2.31):
// never in argv (world-readable in /proc/<pid>/cmdline), never in
// .git/config or the remote URL (which outlive the step in the workspace),
// never printed. /proc/<pid>/environ is readable only by the step's own
// user, who has the token in RUNBOOK_REPO_TOKEN anyway. A credential helper
// would need a second program or a shell snippet in the config; the header
// is one mechanism, scoped to the repository's origin so that a redirect to
// another host does not carry it.
package cloner

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
)

// Environment variables the scheduler sets on a step of a run from a forge.
const (
	EnvURL   = "RUNBOOK_REPO_URL"   // https clone URL, without credentials
	EnvSHA   = "RUNBOOK_REPO_SHA"   // the run's commit
	EnvRef   = "RUNBOOK_REPO_REF"   // the run's branch, the fallback when a server refuses fetching by SHA
	EnvToken = "RUNBOOK_REPO_TOKEN" // short-lived, read-only
)

var (
	ErrNoRepo      = errors.New("this run has no repository to clone")
	ErrAuthRefused = errors.New("the run's token was refused")
	ErrNotFound    = errors.New("not found in the repository")
	ErrBadTarget   = errors.New("cannot clone there")
)

// Options say what to clone and where. FromEnv fills the run's part.
type Options struct {
	URL, SHA, Branch string
	Token            string
	Depth            int    // commits of history; 0 means all
	Ref              string // a branch, tag or full SHA to check out instead of SHA
	Dir              string // default: the repository's name
	Git              string // the git program; default "git"
	Env              []string
	Stderr           io.Writer // git's messages, token hidden; default discarded
}

// FromEnv reads the run's repository from a step's environment.
func FromEnv(getenv func(string) string) Options {
	return Options{URL: getenv(EnvURL), SHA: getenv(EnvSHA), Branch: getenv(EnvRef), Token: getenv(EnvToken), Depth: 1}
}

// Result is what was checked out.
type Result struct {
	Dir, SHA string
}

// Clone fetches the wanted commit into a fresh repository in o.Dir and
// checks it out detached.
func Clone(ctx context.Context, o Options) (Result, error) {
	g, err := newGit(o)
	if err != nil {
		return Result{}, err
	}
	want, byRef := o.SHA, false
	switch {
	case o.Ref != "":
		want, byRef = o.Ref, !isSHA(o.Ref)
	case o.SHA == "" && o.Branch != "":
		want, byRef = o.Branch, true
	case o.SHA == "":
		return Result{}, fmt.Errorf("%w: the run names no commit (%s and %s are not set); pass --ref BRANCH|TAG|SHA", ErrBadTarget, EnvSHA, EnvRef)
	}
	if err := g.prepareDir(); err != nil {
		return Result{}, err
	}
	if _, err := g.run(ctx, "init", "-q", g.dir); err != nil {
		return Result{}, err
	}
	if _, err := g.run(ctx, "-C", g.dir, "remote", "add", "origin", o.URL); err != nil {
		return Result{}, err
	}
	if err := g.fetch(ctx, want, byRef); err != nil {
		return Result{}, err
	}
	if _, err := g.run(ctx, "-C", g.dir, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", "FETCH_HEAD"); err != nil {
		return Result{}, err
	}
	sha, err := g.run(ctx, "-C", g.dir, "rev-parse", "HEAD")
	if err != nil {
		return Result{}, err
	}
	return Result{Dir: g.dir, SHA: strings.TrimSpace(sha)}, nil
}

// fetch gets want (a SHA, or a ref when byRef) into FETCH_HEAD. A server
// that refuses fetching by SHA (uploadpack.allowAnySHA1InWant off, as
// some self-hosted forges are) gets asked for the branch instead, whole
// when the commit is not at its tip.
func (g *git) fetch(ctx context.Context, want string, byRef bool) error {
	args := []string{"-C", g.dir, "fetch", "--no-tags"}
	if g.o.Depth > 0 {
		args = append(args, "--depth", strconv.Itoa(g.o.Depth))
	}
	_, err := g.run(ctx, append(args, "origin", want)...)
	if err == nil || byRef || !errors.Is(err, ErrNotFound) || g.o.Branch == "" {
		if err != nil && errors.Is(err, ErrNotFound) {
			what := "commit " + want
			if byRef {
				what = "ref " + want
			}
			return fmt.Errorf("%w: %s is not in %s (was it force-pushed away, or is the name wrong?)", ErrNotFound, what, g.o.URL)
		}
		return err
	}
	// Ask for the branch, then check that the commit came with it.
	if _, err := g.run(ctx, "-C", g.dir, "fetch", "--no-tags", "origin", "+refs/heads/"+g.o.Branch+":refs/remotes/origin/"+g.o.Branch); err != nil {
		return err
	}
	if _, err := g.run(ctx, "-C", g.dir, "cat-file", "-e", want+"^{commit}"); err != nil {
		return fmt.Errorf("%w: commit %s is not on branch %s of %s (was it force-pushed away?)", ErrNotFound, want, g.o.Branch, g.o.URL)
	}
	// FETCH_HEAD names the branch tip; point it at the commit wanted.
	_, err = g.run(ctx, "-C", g.dir, "update-ref", "--no-deref", "FETCH_HEAD", want)
	return err
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// repoName is the last element of the URL's path without ".git".
func repoName(u *url.URL) string {
	return strings.TrimSuffix(path.Base(strings.TrimSuffix(u.Path, "/")), ".git")
}

func (g *git) prepareDir() error {
	entries, err := os.ReadDir(g.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrBadTarget, err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s already exists and is not empty; remove it or pass --dir", ErrBadTarget, g.dir)
	}
	return nil
}

// run runs git and returns its stdout. A failure is classified from its
// stderr, which is copied to o.Stderr with the token masked.
func (g *git) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.o.Git, args...)
	cmd.Env = g.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	msg := strings.TrimSpace(g.hide(errb.String()))
	if msg != "" && g.o.Stderr != nil {
		fmt.Fprintln(g.o.Stderr, msg)
	}
	if err == nil {
		return out.String(), nil
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("repo_cloner needs git (2.31 or later) on the step's PATH: %w", err)
	}
	return "", g.classify(args, msg, err)
}

func (g *git) classify(args []string, msg string, err error) error {
	low := strings.ToLower(msg)
	host := g.origin
	switch {
	case strings.Contains(low, "authentication failed") || strings.Contains(low, "could not read username") ||
		strings.Contains(low, "error: 401") || strings.Contains(low, "error: 403"):
		return fmt.Errorf("%w by %s: it may have expired (tokens last 1 hour); re-run the run for a fresh one", ErrAuthRefused, host)
	case strings.Contains(low, "not our ref") || strings.Contains(low, "couldn't find remote ref") ||
		strings.Contains(low, "unadvertised object") || strings.Contains(low, "no such remote ref"):
		return fmt.Errorf("%w: %s", ErrNotFound, lastLine(msg))
	case strings.Contains(low, "repository not found") || strings.Contains(low, "error: 404") || strings.Contains(low, "not found"):
		return fmt.Errorf("%w: %s: no repository there, or the run's token cannot read it", ErrNotFound, g.o.URL)
	}
	return fmt.Errorf("git %s: %v: %s", args[min(2, len(args)-1)], err, lastLine(msg))
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

type git struct {
	o      Options
	dir    string
	origin string   // scheme://host/ the header is scoped to
	env    []string // every git process's environment, with the header
	hide   func(string) string
}

func newGit(o Options) (*git, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("%w (%s is not set): runs started with `runbook run` or an uploaded file have none; runs triggered from GitHub or GitLab do", ErrNoRepo, EnvURL)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: %s %q is not an http(s) clone URL", ErrBadTarget, EnvURL, o.URL)
	}
	if u.User != nil {
		// It would land in .git/config with whatever credential it holds.
		return nil, fmt.Errorf("%w: %s must not carry credentials; the token goes in %s", ErrBadTarget, EnvURL, EnvToken)
	}
	if o.Git == "" {
		o.Git = "git"
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	g := &git{o: o, dir: o.Dir, origin: u.Scheme + "://" + u.Host + "/"}
	if g.dir == "" {
		g.dir = repoName(u)
	}
	if g.dir == "" || g.dir == "." || g.dir == "/" {
		return nil, fmt.Errorf("%w: no repository name in %q; pass --dir", ErrBadTarget, o.URL)
	}
	g.env, g.hide = gitEnv(o.Env, g.origin, o.Token)
	return g, nil
}

// gitEnv is env with git's prompts off and our config added: any
// credential helper reset (it would offer or store other credentials) and
// the token as a Basic Authorization header for origin only.
func gitEnv(env []string, origin, token string) ([]string, func(string) string) {
	out := make([]string, 0, len(env)+8)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "GIT_CONFIG_COUNT" || strings.HasPrefix(k, "GIT_CONFIG_KEY_") || strings.HasPrefix(k, "GIT_CONFIG_VALUE_") ||
			k == "GIT_DIR" || k == "GIT_WORK_TREE" || k == "GIT_ASKPASS" || k == "SSH_ASKPASS" {
			continue
		}
		out = append(out, kv)
	}
	cfg := [][2]string{{"credential.helper", ""}}
	hide := func(s string) string { return s }
	if token != "" {
		basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
		cfg = append(cfg, [2]string{"http." + origin + ".extraHeader", "Authorization: Basic " + basic})
		hide = strings.NewReplacer(token, "***", basic, "***").Replace
	}
	out = append(out, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT="+strconv.Itoa(len(cfg)))
	for i, kv := range cfg {
		out = append(out, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return out, hide
}
