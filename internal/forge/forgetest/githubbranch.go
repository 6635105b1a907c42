package forgetest

import (
	"net/http"
	"os/exec"
	"strings"
)

// branch answers GET /repos/{owner}/{repo}/branches/{branch} with the
// branch's head commit, for runs asked for by hand.
func (s *AppServer) branch(w http.ResponseWriter, r *http.Request) {
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
	name := r.PathValue("branch")
	if g == nil || strings.HasPrefix(name, "-") {
		ghError(w, http.StatusNotFound, "Branch not found")
		return
	}
	sha, err := g.revParse("refs/heads/" + name)
	if err != nil {
		ghError(w, http.StatusNotFound, "Branch not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "commit": map[string]any{"sha": sha}})
}

// revParse resolves a ref to its commit, without failing the test.
func (g *GitRepo) revParse(ref string) (string, error) {
	cmd := exec.Command("git", "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	cmd.Dir, cmd.Env = g.Dir, gitEnv(g.Dir)
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
