-- The shared log store of distributed mode (docs/adr/0015-shared-logs.md):
-- every process that runs a step ships its masked lines here in chunks, so
-- any server replica can read and follow them. A chunk holds the encoded
-- lines [first_line, first_line + lines) of one attempt; chunks are
-- immutable and written with ON CONFLICT DO NOTHING, so a retried write is
-- harmless. The chunk with ended = true is the attempt's last. step_key is
-- a 128-bit hash of the step name: names have no length limit, btree keys do.

-- +goose Up
CREATE TABLE log_chunks (
    run_id     bigint  NOT NULL,
    step_key   bytea   NOT NULL,
    attempt    integer NOT NULL,
    first_line bigint  NOT NULL,
    lines      integer NOT NULL,
    ended      boolean NOT NULL,
    data       bytea   NOT NULL,
    PRIMARY KEY (run_id, step_key, attempt, first_line)
);
-- lz4 ships a burst about twice as fast as the default pglz (measured in
-- the ADR). A server built without it (or older than 14) keeps pglz.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE log_chunks ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE log_chunks;
