package githubapp

import (
	"context"
	"time"
)

// Installation is a GitHub App installation and the tenant that owns it.
type Installation struct {
	ID          int64
	Account     string // the GitHub user or organisation login
	TenantID    int64
	SuspendedAt time.Time // zero: active
	LastError   string    // the last App error seen for it, safe to show
}

// Project is one repository of an installation that Runbook can run.
type Project struct {
	ID             int64
	InstallationID int64
	TenantID       int64
	RepoID         int64 // GitHub's repository id
	FullName       string
	CloneURL       string
	DefaultBranch  string
	Enabled        bool
	LastError      string
}

// Delivery is a webhook delivery as received, kept until processed so a
// crash before then processes it again at start-up.
type Delivery struct {
	ID         string // X-GitHub-Delivery
	Event      string
	Signature  string // X-Hub-Signature-256, to verify it again when reprocessing
	Body       []byte
	ReceivedAt time.Time
}

// RunLink ties a workflow run to the commit and check it reports on. Key is
// what created it (the delivery id, or "manual:…"), unique: the same key
// never makes a second run.
type RunLink struct {
	Key            string
	RunID          int64 // 0 until the run exists
	TenantID       int64
	ProjectID      int64
	InstallationID int64
	Owner, Repo    string
	SHA, Ref       string
	CloneURL       string
	CheckRunID     int64
	Statuses       bool // reporting through commit statuses
	DetailsURL     string
	Reported       string // "", "in_progress" or "completed": what GitHub was last told
}

// Repo is the persistence githubapp needs; store/sqlite and store/postgres
// implement it. Every write is one transaction; absent rows fail with an
// error wrapping store.ErrNotFound.
type Repo interface {
	// PutInstallation creates or updates the installation (account, tenant,
	// suspension); LastError is left as it is.
	PutInstallation(ctx context.Context, in Installation) error
	Installation(ctx context.Context, id int64) (Installation, error)
	// DeleteInstallation removes it and its projects.
	DeleteInstallation(ctx context.Context, id int64) error
	// SetInstallationError records msg ("" clears it) on the installation
	// and on each of its projects.
	SetInstallationError(ctx context.Context, id int64, msg string) error

	// SyncProjects adds or updates the installation's repositories; with
	// replace it also removes those not in repos. New projects are enabled.
	SyncProjects(ctx context.Context, installationID int64, repos []Project, replace bool) error
	// RemoveProjects removes the installation's projects of these repo ids.
	RemoveProjects(ctx context.Context, installationID int64, repoIDs []int64) error
	// Projects lists the tenant's projects by full name.
	Projects(ctx context.Context, tenantID int64) ([]Project, error)
	// Project returns the tenant's project id.
	Project(ctx context.Context, tenantID, id int64) (Project, error)
	ProjectByRepo(ctx context.Context, repoID int64) (Project, error)
	SetProjectEnabled(ctx context.Context, tenantID, id int64, enabled bool) error
	SetProjectError(ctx context.Context, id int64, msg string) error

	// RecordDelivery stores d unless its id is known; new says whether it was.
	RecordDelivery(ctx context.Context, d Delivery) (new bool, err error)
	// PendingDeliveries lists deliveries not yet processed, oldest first.
	PendingDeliveries(ctx context.Context) ([]Delivery, error)
	// FinishDelivery marks the delivery processed at, with its error if any.
	FinishDelivery(ctx context.Context, id string, at time.Time, errMsg string) error

	// ClaimRunLink stores l unless l.Key exists; new says whether it was
	// stored, and the stored link is returned either way.
	ClaimRunLink(ctx context.Context, l RunLink) (RunLink, bool, error)
	// UpdateRunLink saves the run id, the check and Reported of l.Key.
	UpdateRunLink(ctx context.Context, l RunLink) error
	// RunLinkByRun returns the link of a run.
	RunLinkByRun(ctx context.Context, runID int64) (RunLink, error)
	// UnreportedRunLinks lists the links with a run whose check is not
	// completed yet.
	UnreportedRunLinks(ctx context.Context) ([]RunLink, error)
}
