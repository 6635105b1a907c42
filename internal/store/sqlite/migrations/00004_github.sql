-- GitHub App (internal/githubapp). Times are unix microseconds. Tokens are
-- never stored: they are minted when a step starts.

-- +goose Up
CREATE TABLE github_installations (
    id           INTEGER PRIMARY KEY,      -- GitHub's installation id
    account      TEXT    NOT NULL,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    suspended_at INTEGER,
    last_error   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE github_projects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    installation_id INTEGER NOT NULL REFERENCES github_installations (id) ON DELETE CASCADE,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    repo_id         INTEGER NOT NULL UNIQUE,  -- GitHub's repository id
    full_name       TEXT    NOT NULL,
    clone_url       TEXT    NOT NULL,
    default_branch  TEXT    NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX github_projects_by_tenant ON github_projects (tenant_id, full_name);
CREATE INDEX github_projects_by_installation ON github_projects (installation_id);

CREATE TABLE github_deliveries (
    id           TEXT    PRIMARY KEY,      -- X-GitHub-Delivery
    event        TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    body         BLOB    NOT NULL,         -- kept to process it again after a crash
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    error        TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX github_deliveries_pending ON github_deliveries (received_at) WHERE processed_at IS NULL;

CREATE TABLE github_runs (
    key             TEXT    PRIMARY KEY,   -- the delivery id (or manual:…) that made the run
    run_id          INTEGER UNIQUE,        -- NULL until submitted
    tenant_id       INTEGER NOT NULL,
    project_id      INTEGER NOT NULL,
    installation_id INTEGER NOT NULL,
    owner           TEXT    NOT NULL,
    repo            TEXT    NOT NULL,
    sha             TEXT    NOT NULL,
    ref             TEXT    NOT NULL,
    clone_url       TEXT    NOT NULL,
    check_run_id    INTEGER NOT NULL DEFAULT 0,
    statuses        INTEGER NOT NULL DEFAULT 0, -- 1: reported through commit statuses
    details_url     TEXT    NOT NULL DEFAULT '',
    reported        TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX github_runs_unreported ON github_runs (run_id) WHERE reported <> 'completed';

-- +goose Down
DROP TABLE github_runs;
DROP TABLE github_deliveries;
DROP TABLE github_projects;
DROP TABLE github_installations;
