package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/githubapp"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/workflow"
)

// GitHubRepo is a driver that keeps runs and the GitHub App's state.
type GitHubRepo interface {
	store.Store
	githubapp.Repo
}

// GitHubStorage makes fresh, empty storage for one test.
type GitHubStorage func(tb testing.TB) GitHubRepo

// RunGitHub runs the githubapp.Repo contract on a driver.
func RunGitHub(t *testing.T, storage GitHubStorage) {
	tests := []struct {
		name string
		fn   func(*testing.T, GitHubRepo)
	}{
		{"InstallationsAndProjects", testGitHubProjects},
		{"Deliveries", testGitHubDeliveries},
		{"RunLinks", testGitHubRunLinks},
		{"ConcurrentClaims", testGitHubConcurrentClaims},
		{"RunLinkedAtCreation", testGitHubRunLinkedAtCreation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, storage(t))
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testGitHubProjects(t *testing.T, r GitHubRepo) {
	ctx := context.Background()
	acme, other := tenant(t, r, "acme"), tenant(t, r, "other")
	if _, err := r.Installation(ctx, 7); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown installation: %v, want ErrNotFound", err)
	}
	if err := r.SyncProjects(ctx, 7, nil, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("projects of an unknown installation: %v, want ErrNotFound", err)
	}
	susp := time.Date(2026, 11, 26, 10, 0, 0, 123000, time.UTC)
	must(t, r.PutInstallation(ctx, githubapp.Installation{ID: 7, Account: "acme", TenantID: acme.ID, SuspendedAt: susp}))
	in, err := r.Installation(ctx, 7)
	must(t, err)
	if in.Account != "acme" || in.TenantID != acme.ID || !in.SuspendedAt.Equal(susp) {
		t.Fatalf("installation %+v", in)
	}
	must(t, r.PutInstallation(ctx, githubapp.Installation{ID: 7, Account: "acme", TenantID: acme.ID}))
	if in, _ := r.Installation(ctx, 7); !in.SuspendedAt.IsZero() {
		t.Fatalf("unsuspended installation still suspended: %+v", in)
	}

	repos := []githubapp.Project{
		{RepoID: 101, FullName: "acme/web", CloneURL: "https://g/acme/web.git", DefaultBranch: "main"},
		{RepoID: 102, FullName: "acme/api", CloneURL: "https://g/acme/api.git", DefaultBranch: "trunk"},
		{RepoID: 103, FullName: "acme/old", CloneURL: "https://g/acme/old.git", DefaultBranch: "main"},
	}
	must(t, r.SyncProjects(ctx, 7, repos, true))
	ps, err := r.Projects(ctx, acme.ID)
	must(t, err)
	if len(ps) != 3 || ps[0].FullName != "acme/api" || ps[0].DefaultBranch != "trunk" || !ps[0].Enabled || ps[0].InstallationID != 7 {
		t.Fatalf("projects %+v", ps)
	}
	if ps, _ := r.Projects(ctx, other.ID); len(ps) != 0 {
		t.Fatalf("another tenant sees %+v", ps)
	}
	api := ps[0]
	if err := r.SetProjectEnabled(ctx, other.ID, api.ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disabling another tenant's project: %v, want ErrNotFound", err)
	}
	must(t, r.SetProjectEnabled(ctx, acme.ID, api.ID, false))
	// A later sync keeps the setting, renames, and drops what is gone.
	repos[1].FullName = "acme/api2"
	must(t, r.SyncProjects(ctx, 7, repos[:2], true))
	got, err := r.ProjectByRepo(ctx, 102)
	must(t, err)
	if got.ID != api.ID || got.Enabled || got.FullName != "acme/api2" {
		t.Fatalf("after resync %+v", got)
	}
	if _, err := r.ProjectByRepo(ctx, 103); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed repository: %v", err)
	}
	must(t, r.SyncProjects(ctx, 7, repos[2:], false)) // added, without replacing
	must(t, r.RemoveProjects(ctx, 7, []int64{101}))
	ps, _ = r.Projects(ctx, acme.ID)
	if len(ps) != 2 || ps[0].RepoID != 102 || ps[1].RepoID != 103 {
		t.Fatalf("after add and remove %+v", ps)
	}

	must(t, r.SetInstallationError(ctx, 7, "key mismatch"))
	in, _ = r.Installation(ctx, 7)
	ps, _ = r.Projects(ctx, acme.ID)
	if in.LastError != "key mismatch" || ps[0].LastError != "key mismatch" || ps[1].LastError != "key mismatch" {
		t.Fatalf("error not on the installation and its projects: %+v %+v", in, ps)
	}
	must(t, r.SetProjectError(ctx, ps[0].ID, ""))
	if p, _ := r.Project(ctx, acme.ID, ps[0].ID); p.LastError != "" {
		t.Fatalf("error not cleared: %+v", p)
	}
	if _, err := r.Project(ctx, other.ID, ps[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's project: %v", err)
	}

	must(t, r.DeleteInstallation(ctx, 7))
	if ps, _ := r.Projects(ctx, acme.ID); len(ps) != 0 {
		t.Fatalf("projects outlive their installation: %+v", ps)
	}
}

func testGitHubDeliveries(t *testing.T, r GitHubRepo) {
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"zen":"x"}` + "\x00\xff")
	d := githubapp.Delivery{ID: "d-1", Event: "push", Signature: "sha256=ab", Body: body, ReceivedAt: at}
	isNew, err := r.RecordDelivery(ctx, d)
	must(t, err)
	if !isNew {
		t.Fatal("first delivery not new")
	}
	d2 := d
	d2.ID, d2.ReceivedAt = "d-2", at.Add(time.Second)
	if _, err := r.RecordDelivery(ctx, d2); err != nil {
		t.Fatal(err)
	}
	again := d
	again.Body = []byte("other")
	if isNew, err := r.RecordDelivery(ctx, again); err != nil || isNew {
		t.Fatalf("redelivery: new=%v err=%v", isNew, err)
	}
	ps, err := r.PendingDeliveries(ctx)
	must(t, err)
	if len(ps) != 2 || ps[0].ID != "d-1" || !bytes.Equal(ps[0].Body, body) || ps[0].Signature != "sha256=ab" ||
		ps[0].Event != "push" || !ps[0].ReceivedAt.Equal(at) {
		t.Fatalf("pending %+v", ps)
	}
	must(t, r.FinishDelivery(ctx, "d-1", at.Add(time.Minute), ""))
	ps, _ = r.PendingDeliveries(ctx)
	if len(ps) != 1 || ps[0].ID != "d-2" {
		t.Fatalf("pending after finishing d-1: %+v", ps)
	}
	if isNew, err := r.RecordDelivery(ctx, d); err != nil || isNew {
		t.Fatalf("redelivery of a processed delivery: new=%v err=%v", isNew, err)
	}
}

func testGitHubRunLinks(t *testing.T, r GitHubRepo) {
	ctx := context.Background()
	tn := tenant(t, r, "acme")
	l := githubapp.RunLink{Key: "d-1", TenantID: tn.ID, ProjectID: 3, InstallationID: 7, Owner: "acme", Repo: "api",
		SHA: "abc", Ref: "refs/heads/main", CloneURL: "https://g/acme/api.git"}
	got, isNew, err := r.ClaimRunLink(ctx, l)
	must(t, err)
	if !isNew || got != l {
		t.Fatalf("claim: new=%v %+v", isNew, got)
	}
	if links, _ := r.UnreportedRunLinks(ctx); len(links) != 0 {
		t.Fatalf("a link without a run is unreported: %+v", links)
	}
	run := createRun(t, r, tn.ID, diamondYAML, workflow.Vars{})
	l.RunID, l.CheckRunID, l.DetailsURL = run.ID, 55, "https://x/#/runs/1/1"
	must(t, r.UpdateRunLink(ctx, l))
	second := l
	second.SHA = "other"
	got, isNew, err = r.ClaimRunLink(ctx, second)
	must(t, err)
	if isNew || got != l {
		t.Fatalf("second claim: new=%v %+v, want the stored %+v", isNew, got, l)
	}
	byRun, err := r.RunLinkByRun(ctx, run.ID)
	must(t, err)
	if byRun != l {
		t.Fatalf("by run %+v", byRun)
	}
	if _, err := r.RunLinkByRun(ctx, run.ID+100); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link of an unknown run: %v", err)
	}
	if links, _ := r.UnreportedRunLinks(ctx); len(links) != 1 || links[0] != l {
		t.Fatalf("unreported %+v", links)
	}
	l.Reported, l.Statuses = "completed", true
	must(t, r.UpdateRunLink(ctx, l))
	if links, _ := r.UnreportedRunLinks(ctx); len(links) != 0 {
		t.Fatalf("a completed check is unreported: %+v", links)
	}
	if err := r.UpdateRunLink(ctx, githubapp.RunLink{Key: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating an unknown key: %v", err)
	}
}

// A run created with a LinkKey is linked by the time it is committed: its
// first step may start, on any process, before the caller can link it.
func testGitHubRunLinkedAtCreation(t *testing.T, r GitHubRepo) {
	ctx := context.Background()
	tn := tenant(t, r, "acme")
	for _, create := range []func(store.NewRun) (store.Run, error){
		func(nr store.NewRun) (store.Run, error) { return r.CreateAndAdmit(ctx, nr) },
		func(nr store.NewRun) (store.Run, error) { return r.CreateRun(ctx, nr) },
	} {
		key := fmt.Sprintf("d-%d", time.Now().UnixNano())
		_, _, err := r.ClaimRunLink(ctx, githubapp.RunLink{Key: key, TenantID: tn.ID, ProjectID: 3, InstallationID: 7,
			Owner: "acme", Repo: "api", SHA: "abc", Ref: "refs/heads/main", CloneURL: "https://g/acme/api.git"})
		must(t, err)
		run, err := create(store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(diamondYAML), LinkKey: key})
		must(t, err)
		// No UpdateRunLink: the store linked it.
		l, err := r.RunLinkByRun(ctx, run.ID)
		if err != nil || l.Key != key {
			t.Fatalf("link of the new run: %+v, %v", l, err)
		}
	}
	before, err := r.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{})
	must(t, err)
	_, err = r.CreateAndAdmit(ctx, store.NewRun{TenantID: tn.ID, File: ".runbook.yml", Source: []byte(diamondYAML), LinkKey: "no-such-link"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a run with an unknown link: %v, want ErrNotFound", err)
	}
	if after, _ := r.ListRuns(ctx, tn.ID, store.RunFilter{}, store.Page{}); len(after.Runs) != len(before.Runs) {
		t.Fatalf("the refused run was kept: %d runs, want %d", len(after.Runs), len(before.Runs))
	}
}

// Concurrent claims of one key: exactly one wins, however they interleave.
func testGitHubConcurrentClaims(t *testing.T, r GitHubRepo) {
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, isNew, err := r.ClaimRunLink(ctx, githubapp.RunLink{Key: "d-race", TenantID: 1, Owner: "o", Repo: "r"})
			if err != nil {
				t.Error(err)
			}
			if isNew {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d claims won, want 1", n)
	}
}
