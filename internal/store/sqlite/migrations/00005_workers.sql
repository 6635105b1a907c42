-- Distributed workers (docs/adr/0013-distributed-workers.md). SQLite has one
-- process, which registers itself like any worker so runs_on and the
-- waiting reason behave the same. Times are unix microseconds.

-- +goose Up
CREATE TABLE workers (
    id           TEXT    PRIMARY KEY,
    labels       TEXT    NOT NULL,         -- JSON object
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

ALTER TABLE outbox ADD COLUMN labels TEXT;     -- JSON object: the step's runs_on
ALTER TABLE outbox ADD COLUMN prev_owner TEXT;
CREATE INDEX outbox_started ON outbox (run_id, step, attempt) WHERE done_at IS NULL AND kind = 'start_step';

ALTER TABLE steps ADD COLUMN waiting_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE steps DROP COLUMN waiting_reason;
DROP INDEX outbox_started;
ALTER TABLE outbox DROP COLUMN prev_owner;
ALTER TABLE outbox DROP COLUMN labels;
DROP TABLE workers;
