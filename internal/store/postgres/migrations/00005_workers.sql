-- Distributed workers (docs/adr/0013-distributed-workers.md).

-- +goose Up
-- The registry of live schedulers that run steps: a worker upserts its row
-- every lease/3; a row whose heartbeat is older than a lease is dead.
CREATE TABLE workers (
    id           text        PRIMARY KEY,  -- the scheduler's lease owner name
    labels       jsonb       NOT NULL,     -- {"executor": "local", "arch": "amd64"}
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- labels: the step's runs_on, copied on the start_step command so the claim
-- filters in SQL (labels <@ the worker's). prev_owner: who held the lease
-- before the current claim, so a taker of an expired start_step can record
-- the previous attempt as lost.
ALTER TABLE outbox ADD COLUMN labels jsonb;
ALTER TABLE outbox ADD COLUMN prev_owner text;
-- A cancel_step goes to the live holder of its attempt's start_step.
CREATE INDEX outbox_started ON outbox (run_id, step, attempt) WHERE done_at IS NULL AND kind = 'start_step';

-- Why a queued step is not taken (no live worker has its labels).
ALTER TABLE steps ADD COLUMN waiting_reason text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE steps DROP COLUMN waiting_reason;
DROP INDEX outbox_started;
ALTER TABLE outbox DROP COLUMN prev_owner;
ALTER TABLE outbox DROP COLUMN labels;
DROP TABLE workers;
