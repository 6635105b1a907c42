-- The length of each tenant's line (docs/adr/0008-quotas.md): the number of
-- its runs with admission 'pending' and status 'queued', kept by every write
-- that changes it, so a new run's place at the tail is read, not counted.

-- +goose Up
ALTER TABLE quota_accounts ADD COLUMN pending bigint NOT NULL DEFAULT 0;
UPDATE quota_accounts a SET pending = (SELECT count(*) FROM runs r
    WHERE r.tenant_id = a.tenant_id AND r.admission = 'pending' AND r.status = 'queued');

-- +goose Down
ALTER TABLE quota_accounts DROP COLUMN pending;
