-- +goose Up
CREATE TABLE tenants (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE runs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint      NOT NULL REFERENCES tenants (id),
    project_id   bigint,                   -- projects arrive with the forge work
    file         text        NOT NULL,
    source       bytea       NOT NULL,     -- the exact bytes, never rewritten
    vars         jsonb       NOT NULL,
    branch       text        NOT NULL,     -- copied from vars for the list filter
    trigger      text        NOT NULL,
    status       text        NOT NULL,
    reason       text        NOT NULL,
    requested_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    state        json        NOT NULL,     -- engine.State as of last_seq (json, not jsonb: kept as written)
    last_seq     bigint      NOT NULL
);
CREATE INDEX runs_by_tenant ON runs (tenant_id, id);
CREATE INDEX runs_by_status ON runs (tenant_id, status, id);
CREATE INDEX runs_by_project ON runs (tenant_id, project_id, id);
CREATE INDEX runs_by_branch ON runs (tenant_id, branch, id);
CREATE INDEX runs_in_progress ON runs (id) WHERE status IN ('queued', 'running');

CREATE TABLE steps (
    run_id      bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx         integer     NOT NULL,      -- position in the file
    name        text        NOT NULL,
    depends_on  text[]      NOT NULL,
    status      text        NOT NULL,
    attempt     integer     NOT NULL,
    exit_code   integer,
    reason      text        NOT NULL,
    queued_at   timestamptz,
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, idx)
);

CREATE TABLE events (
    run_id      bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         bigint      NOT NULL,
    kind        text        NOT NULL,
    body        json        NOT NULL,      -- engine.Event
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE outbox (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tenant_id    bigint      NOT NULL,
    kind         text        NOT NULL,
    step         text        NOT NULL,
    attempt      integer     NOT NULL,
    timeout_ns   bigint      NOT NULL,
    status       text        NOT NULL,
    reason       text        NOT NULL,
    available_at timestamptz NOT NULL,
    claimed_by   text,
    lease_until  timestamptz,
    claims       integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    done_at      timestamptz
);
-- The claim query scans only what is not done, oldest first.
CREATE INDEX outbox_pending ON outbox (available_at, id) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE events;
DROP TABLE steps;
DROP TABLE runs;
DROP TABLE tenants;
