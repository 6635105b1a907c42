-- Times are unix microseconds (the precision Postgres keeps, so both
-- drivers return the same values). Ids are AUTOINCREMENT so a deleted run's
-- id is never reused by another: ids appear in URLs and cursors.

-- +goose Up
CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    project_id   INTEGER,                  -- projects arrive with the forge work
    file         TEXT    NOT NULL,
    source       BLOB    NOT NULL,         -- the exact bytes, never rewritten
    vars         TEXT    NOT NULL,         -- workflow.Vars as JSON
    branch       TEXT    NOT NULL,         -- copied from vars for the list filter
    trigger      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    state        TEXT    NOT NULL,         -- engine.State as JSON, as of last_seq
    last_seq     INTEGER NOT NULL
);
CREATE INDEX runs_by_tenant ON runs (tenant_id, id);
CREATE INDEX runs_by_status ON runs (tenant_id, status, id);
CREATE INDEX runs_by_project ON runs (tenant_id, project_id, id);
CREATE INDEX runs_by_branch ON runs (tenant_id, branch, id);
CREATE INDEX runs_in_progress ON runs (id) WHERE status IN ('queued', 'running');

CREATE TABLE steps (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,          -- position in the file
    name        TEXT    NOT NULL,
    depends_on  TEXT    NOT NULL,          -- JSON array of step names
    status      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    exit_code   INTEGER,
    reason      TEXT    NOT NULL,
    queued_at   INTEGER,
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

CREATE TABLE events (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    body        TEXT    NOT NULL,          -- engine.Event as JSON
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tenant_id    INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    step         TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    timeout_ns   INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    available_at INTEGER NOT NULL,
    claimed_by   TEXT,
    lease_until  INTEGER,
    claims       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    done_at      INTEGER
);
-- The claim query scans only what is not done, oldest first.
CREATE INDEX outbox_pending ON outbox (available_at, id) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE events;
DROP TABLE steps;
DROP TABLE runs;
DROP TABLE tenants;
