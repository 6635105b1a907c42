package githubapp_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/forge/forgetest"
	"github.com/runbookhq/runbook/internal/quota"
)

// gated is a workflow whose one step runs until the file release exists.
func gated(release string) string {
	return "name: gated\nsteps:\n  - name: wait\n    command: while [ ! -e '" + release + "' ]; do sleep 0.05; done\n"
}

// checkOf waits for the one check run on sha that satisfies cond.
func (r *rig) checkOf(sha, what string, cond func(c forgetest.CheckRun) bool) forgetest.CheckRun {
	r.t.Helper()
	var got forgetest.CheckRun
	r.eventually(what, func() bool {
		cs := r.checksOn(sha)
		if len(cs) != 1 {
			return false
		}
		got = cs[0]
		return cond(got)
	})
	return got
}

func (r *rig) onPlan(p quota.Plan) {
	r.t.Helper()
	ctx := context.Background()
	if err := r.st.PutPlan(ctx, p); err != nil {
		r.t.Fatal(err)
	}
	if err := r.st.SetPlan(ctx, r.tenant, p.Name); err != nil {
		r.t.Fatal(err)
	}
}

// A run that waits for a concurrency slot says so on its check, with its
// place in line, which it updates as the line moves; when the run is
// admitted the check goes in_progress, and it completes as any other.
func TestPendingRunsCheckSaysItsPlaceInLine(t *testing.T) {
	r := newRig(t, rigOpts{poll: 50 * time.Millisecond, waitUpdate: time.Millisecond})
	gates := t.TempDir()
	release := func(name string) string { return filepath.Join(gates, name) }
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": gated(release("a"))})
	r.install()
	p := r.project("api")
	r.onPlan(quota.Plan{Name: "solo", Minutes: 1000, MaxConcurrent: 1})

	shaA := repo.Head()
	shaB := repo.Commit("b", map[string]string{".runbook.yml": gated(release("b"))})
	shaC := repo.Commit("c", map[string]string{".runbook.yml": gated(release("c"))})
	r.mustDeliver("push", pushPayload(p, shaA))
	r.checkOf(shaA, "A in progress", func(c forgetest.CheckRun) bool { return c.Status == "in_progress" })
	r.mustDeliver("push", pushPayload(p, shaB))
	b := r.checkOf(shaB, "B says it waits", func(c forgetest.CheckRun) bool { return c.Title != "" })
	if b.Status != "queued" || b.Title != "Waiting for a concurrency slot: 1st in line" ||
		!strings.Contains(b.Summary, "the solo plan runs 1 at once") || !strings.Contains(b.Summary, "| wait |") {
		t.Fatalf("B's check: %s %q\n%s", b.Status, b.Title, b.Summary)
	}
	r.mustDeliver("push", pushPayload(p, shaC))
	r.checkOf(shaC, "C is 2nd in line", func(c forgetest.CheckRun) bool {
		return c.Status == "queued" && c.Title == "Waiting for a concurrency slot: 2nd in line"
	})

	touch(t, release("a")) // A ends: B is admitted in the same transaction, C moves up
	r.checkOf(shaA, "A completed", func(c forgetest.CheckRun) bool { return c.Status == "completed" })
	b = r.checkOf(shaB, "B in progress", func(c forgetest.CheckRun) bool { return c.Status == "in_progress" })
	if strings.Contains(b.Title, "Waiting") || strings.Contains(b.Summary, "not started") {
		t.Fatalf("B runs but its check still says it waits: %q\n%s", b.Title, b.Summary)
	}
	r.checkOf(shaC, "C is 1st in line", func(c forgetest.CheckRun) bool {
		return c.Status == "queued" && c.Title == "Waiting for a concurrency slot: 1st in line"
	})

	touch(t, release("b"))
	touch(t, release("c"))
	for _, sha := range []string{shaB, shaC} {
		c := r.checkOf(sha, "completed", func(c forgetest.CheckRun) bool { return c.Status == "completed" })
		if want := []string{"queued", "in_progress", "completed"}; !slices.Equal(c.History, want) || c.Conclusion != "success" {
			t.Fatalf("history %v %q, want %v success", c.History, c.Conclusion, want)
		}
	}
}

// A run requested without minutes says on its check that it is blocked and
// why, and starts by itself when an admin grants minutes.
func TestBlockedRunsCheckSaysQuotaExhausted(t *testing.T) {
	r := newRig(t, rigOpts{poll: 50 * time.Millisecond})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": "name: ci\nsteps:\n  - name: one\n    command: \"true\"\n"})
	r.install()
	p := r.project("api")
	r.onPlan(quota.Plan{Name: "empty", Minutes: 0, MaxConcurrent: 2})
	sha := repo.Head()
	r.mustDeliver("push", pushPayload(p, sha))
	c := r.checkOf(sha, "the check says blocked", func(c forgetest.CheckRun) bool { return c.Title != "" })
	if c.Status != "queued" || c.Title != "Blocked: quota exhausted: 0 of 0 minutes used this cycle" ||
		!strings.Contains(c.Summary, "no runtime minutes left") || !strings.Contains(c.Summary, "grants minutes") {
		t.Fatalf("blocked run's check: %s %q\n%s", c.Status, c.Title, c.Summary)
	}
	if err := r.st.GrantMinutes(context.Background(), r.tenant, 10); err != nil {
		t.Fatal(err)
	}
	c = r.checkOf(sha, "the check completed", func(c forgetest.CheckRun) bool { return c.Status == "completed" })
	if want := []string{"queued", "in_progress", "completed"}; !slices.Equal(c.History, want) || c.Conclusion != "success" {
		t.Fatalf("history %v %q, want %v success", c.History, c.Conclusion, want)
	}
}

// Through commit statuses (no Checks permission), a waiting run's pending
// status says why it waits instead of "Running".
func TestBlockedRunsCommitStatusSaysQuotaExhausted(t *testing.T) {
	r := newRig(t, rigOpts{poll: 50 * time.Millisecond})
	r.gh.DenyChecks(true)
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": "name: ci\nsteps:\n  - name: one\n    command: \"true\"\n"})
	r.install()
	p := r.project("api")
	r.onPlan(quota.Plan{Name: "empty", Minutes: 0, MaxConcurrent: 2})
	sha := repo.Head()
	r.mustDeliver("push", pushPayload(p, sha))
	r.eventually("a pending status that says blocked", func() bool {
		for _, s := range r.gh.Statuses() {
			if s.SHA == sha && s.State == "pending" && strings.HasPrefix(s.Description, "Blocked: quota exhausted") {
				return true
			}
		}
		return false
	})
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
