-- Quotas (internal/quota, docs/adr/0008-quotas.md). A run's admission is
-- 'admitted' (holds a slot until it ends), 'pending' (waits for a slot) or
-- 'blocked' (waits for minutes); the last two keep the engine status queued.

-- +goose Up
CREATE TABLE plans (
    name           TEXT    PRIMARY KEY,
    minutes        INTEGER NOT NULL CHECK (minutes >= 0),
    max_concurrent INTEGER NOT NULL CHECK (max_concurrent >= 1)
) WITHOUT ROWID;
INSERT INTO plans (name, minutes, max_concurrent) VALUES ('free', 2000, 2);

CREATE TABLE quota_accounts (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    plan        TEXT    NOT NULL REFERENCES plans (name),
    cycle_start INTEGER NOT NULL,
    used        INTEGER NOT NULL,
    granted     INTEGER NOT NULL,
    debt        INTEGER NOT NULL
);

CREATE TABLE quota_ledger (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step      TEXT    NOT NULL,
    attempt   INTEGER NOT NULL,
    minutes   INTEGER NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX quota_ledger_by_tenant ON quota_ledger (tenant_id, id);

ALTER TABLE runs ADD COLUMN admission TEXT NOT NULL DEFAULT 'admitted';
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
