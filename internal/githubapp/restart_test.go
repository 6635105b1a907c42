package githubapp_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/githubapp"
)

// A delivery recorded by a server that died before processing it is
// processed by the next one at start-up, once.
func TestUnprocessedDeliveryRunsAfterRestart(t *testing.T) {
	r := newRig(t, rigOpts{})
	repo := r.gh.CreateRepo(instID, "api", map[string]string{".runbook.yml": cloneAndBuild, "build.sh": "#!/bin/sh\ntrue\n"})
	r.install()
	p := r.project("api")
	r.svc.Wait()
	sha := repo.Head()

	// What the dead server left: the delivery, recorded and not processed.
	body, _ := json.Marshal(pushPayload(p, sha))
	ctx := context.Background()
	if _, err := r.st.RecordDelivery(ctx, githubapp.Delivery{ID: "left-behind", Event: "push", Signature: sign(body),
		Body: body, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r.svc.Close()
	r.svc = r.newService()
	t.Cleanup(r.svc.Close)
	if err := r.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.eventually("the check completed", func() bool {
		cs := r.checksOn(sha)
		return len(cs) == 1 && cs[0].Status == "completed"
	})
	r.svc.Wait()
	if pending, _ := r.st.PendingDeliveries(ctx); len(pending) != 0 {
		t.Fatalf("still pending after processing: %+v", pending)
	}
	runs := r.runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}

	// A server that died after telling GitHub nothing of the run's end:
	// the next one finishes the check.
	l, err := r.st.RunLinkByRun(ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.Reported != "completed" {
		t.Fatalf("link reported %q after the check completed", l.Reported)
	}
	l.Reported = "in_progress"
	if err := r.st.UpdateRunLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	const patch = "PATCH /api/v3/repos/{owner}/{repo}/check-runs/{id}"
	before := r.gh.Calls(patch)
	r.svc.Close()
	r.svc = r.newService()
	t.Cleanup(r.svc.Close)
	if err := r.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.svc.Wait()
	if n := r.gh.Calls(patch) - before; n != 1 {
		t.Fatalf("%d check updates after the restart, want 1 (completed)", n)
	}
	c := r.checksOn(sha)[0]
	if want := []string{"queued", "in_progress", "completed"}; !slices.Equal(c.History, want) || c.Conclusion != "success" {
		t.Fatalf("history %v %q, want %v success", c.History, c.Conclusion, want)
	}
	if l, _ := r.st.RunLinkByRun(ctx, runs[0].ID); l.Reported != "completed" {
		t.Fatalf("link reported %q after resuming", l.Reported)
	}
}
