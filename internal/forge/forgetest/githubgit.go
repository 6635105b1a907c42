package forgetest

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// GitRepo is a real git repository that the AppServer serves over smart
// HTTP (git http-backend) and through the contents API.
type GitRepo struct {
	Owner, Name string
	Dir         string // the working tree, which holds .git
	t           testing.TB
}

// CreateRepo creates a repository of installation inst with one commit of
// files (path → content; paths ending in .sh are made executable) on main.
func (s *AppServer) CreateRepo(inst int64, name string, files map[string]string) *GitRepo {
	s.t.Helper()
	s.mu.Lock()
	m := s.addRepoLocked(inst, name)
	s.mu.Unlock()
	// http-backend finds <root>/<owner>/<name>.git, a working tree with .git.
	g := &GitRepo{Owner: m.owner, Name: name, Dir: filepath.Join(s.gitDir, m.owner, name+".git"), t: s.t}
	if err := os.MkdirAll(g.Dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	g.Git("init", "-q", "-b", "main")
	// GitHub serves any reachable commit by its SHA, which shallow clones at
	// an exact commit rely on.
	g.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	g.Git("config", "http.receivepack", "false")
	g.Commit("initial commit", files)
	s.mu.Lock()
	m.git = g
	s.mu.Unlock()
	return g
}

// gitEnv isolates git from the user's and system's configuration.
func gitEnv(home string) []string {
	return append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Runbook Test", "GIT_AUTHOR_EMAIL=test@runbook.test",
		"GIT_COMMITTER_NAME=Runbook Test", "GIT_COMMITTER_EMAIL=test@runbook.test", "GIT_TERMINAL_PROMPT=0")
}

// Git runs git in the repository and returns its trimmed output; a
// failure fails the test.
func (g *GitRepo) Git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = g.Dir, gitEnv(g.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (an empty content deletes the file), commits them
// on the current branch and returns the new commit's SHA.
func (g *GitRepo) Commit(msg string, files map[string]string) string {
	g.t.Helper()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(g.Dir, filepath.FromSlash(p))
		if files[p] == "" {
			g.Git("rm", "-q", "--ignore-unmatch", "--", p)
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(files[p]), mode); err != nil {
			g.t.Fatal(err)
		}
		g.Git("add", "--", p)
	}
	g.Git("commit", "-q", "--allow-empty", "-m", msg)
	return g.Head()
}

// Head is the SHA of the current commit.
func (g *GitRepo) Head() string { return g.Git("rev-parse", "HEAD") }

// CloneURL is the repository's https-like URL on the fake.
func (s *AppServer) CloneURL(g *GitRepo) string { return s.URL + "/" + g.Owner + "/" + g.Name + ".git" }

// show reads path at ref, or reports that it does not exist there.
func (g *GitRepo) show(ref, path string) ([]byte, string, bool) {
	obj := ref + ":" + path
	cmd := exec.Command("git", "cat-file", "-t", obj)
	cmd.Dir, cmd.Env = g.Dir, gitEnv(g.Dir)
	if typ, err := cmd.Output(); err != nil || strings.TrimSpace(string(typ)) != "blob" {
		return nil, "", false
	}
	cmd = exec.Command("git", "cat-file", "blob", obj)
	cmd.Dir, cmd.Env = g.Dir, gitEnv(g.Dir)
	body, err := cmd.Output()
	if err != nil {
		return nil, "", false
	}
	cmd = exec.Command("git", "rev-parse", obj)
	cmd.Dir, cmd.Env = g.Dir, gitEnv(g.Dir)
	sha, _ := cmd.Output()
	return body, strings.TrimSpace(string(sha)), true
}

// contentsJSONLimit: GitHub leaves "content" empty (encoding "none") for
// files over 1 MB in JSON, and serves them only as raw.
const contentsJSONLimit = 1 << 20

func (s *AppServer) contents(w http.ResponseWriter, r *http.Request) {
	it, ok := s.installToken(w, r)
	if !ok {
		return
	}
	m, ok := s.repoFor(w, it, r.PathValue("owner"), r.PathValue("repo"), "contents", "read")
	if !ok {
		return
	}
	s.mu.Lock()
	g := m.git
	s.mu.Unlock()
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = "HEAD"
	}
	path := r.PathValue("path")
	if g == nil || strings.HasPrefix(ref, "-") {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, sha, found := g.show(ref, path)
	if !found {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "raw") {
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		_, _ = w.Write(body)
		return
	}
	out := map[string]any{"type": "file", "name": filepath.Base(path), "path": path, "sha": sha,
		"size": len(body), "encoding": "none", "content": ""}
	if len(body) <= contentsJSONLimit {
		out["encoding"], out["content"] = "base64", wrap60(base64.StdEncoding.EncodeToString(body))
	}
	writeJSON(w, http.StatusOK, out)
}

// wrap60 breaks base64 into lines, as GitHub's contents API does.
func wrap60(s string) string {
	var b bytes.Buffer
	for len(s) > 60 {
		b.WriteString(s[:60] + "\n")
		s = s[60:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// gitHandler serves the repositories read-only over smart HTTP. It takes
// an installation token as Basic auth (user x-access-token), as GitHub
// does, and answers 401 otherwise so that git asks for credentials.
func (s *AppServer) gitHandler() http.Handler {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		s.t.Fatalf("the fake GitHub serves repositories with git http-backend, and git is not installed: %v", err)
	}
	cgiH := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + s.gitDir, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + s.gitDir}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ok := strings.CutSuffix(r.PathValue("repo"), ".git")
		if !ok || strings.Contains(r.URL.RawQuery, "git-receive-pack") || strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		user, pass, _ := r.BasicAuth()
		it, valid := s.validToken(pass)
		if user != "x-access-token" || !valid {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "Invalid username or token. Password authentication is not supported for Git operations.", http.StatusUnauthorized)
			return
		}
		if _, ok := s.repoFor(w, it, r.PathValue("owner"), repo, "contents", "read"); !ok {
			return
		}
		cgiH.ServeHTTP(w, r)
	})
}
