-- Quotas (internal/quota, docs/adr/0008-quotas.md). A run's admission is
-- 'admitted' (holds a slot until it ends), 'pending' (waits for a slot) or
-- 'blocked' (waits for minutes); the last two keep the engine status queued.

-- +goose Up
CREATE TABLE plans (
    name           text    PRIMARY KEY,
    minutes        bigint  NOT NULL CHECK (minutes >= 0),
    max_concurrent integer NOT NULL CHECK (max_concurrent >= 1)
);
INSERT INTO plans (name, minutes, max_concurrent) VALUES ('free', 2000, 2);

-- The account row is also the tenant's admission lock (SELECT FOR UPDATE).
CREATE TABLE quota_accounts (
    tenant_id   bigint      PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    plan        text        NOT NULL REFERENCES plans (name),
    cycle_start timestamptz NOT NULL,
    used        bigint      NOT NULL,
    granted     bigint      NOT NULL,
    debt        bigint      NOT NULL
);

CREATE TABLE quota_ledger (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id    bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step      text        NOT NULL,
    attempt   integer     NOT NULL,
    minutes   bigint      NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX quota_ledger_by_tenant ON quota_ledger (tenant_id, id);

ALTER TABLE runs ADD COLUMN admission text NOT NULL DEFAULT 'admitted';
-- Slots: (tenant, 'admitted', queued|running) seeks only the runs that
-- hold one, however many have ended.
CREATE INDEX runs_active ON runs (tenant_id, admission, status);
-- The line: its head is one index seek however long it is. (SQLite uses a
-- partial index only when the query repeats its WHERE terms, so the
-- condition is the one every line query spells out: status = 'queued'.)
CREATE INDEX runs_waiting ON runs (tenant_id, admission, requested_at, id)
    WHERE status = 'queued';

-- +goose Down
DROP INDEX runs_waiting;
DROP INDEX runs_active;
ALTER TABLE runs DROP COLUMN admission;
DROP TABLE quota_ledger;
DROP TABLE quota_accounts;
DROP TABLE plans;
