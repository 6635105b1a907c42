-- Accounts (internal/account). Emails and usernames are stored lower-case.
-- Tokens are stored as their SHA-256, passwords as argon2id strings.

-- +goose Up
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE,
    email          TEXT    UNIQUE,            -- NULL: none
    email_verified INTEGER NOT NULL DEFAULT 0,
    password_hash  TEXT,                      -- NULL: logs in through a provider only
    tenant_id      INTEGER NOT NULL UNIQUE REFERENCES tenants (id), -- the personal tenant
    created_at     INTEGER NOT NULL
);

CREATE TABLE memberships (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_by_user ON memberships (user_id, tenant_id);

CREATE TABLE identities (
    provider         TEXT    NOT NULL,
    provider_user_id INTEGER NOT NULL,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login            TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    linked_at        INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_user_id)
) WITHOUT ROWID;
CREATE INDEX identities_by_user ON identities (user_id);

CREATE TABLE refresh_tokens (
    hash       BLOB    PRIMARY KEY,
    family     TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

CREATE TABLE personal_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    hint       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX personal_tokens_by_user ON personal_tokens (user_id, id);

-- +goose Down
DROP TABLE personal_tokens;
DROP TABLE refresh_tokens;
DROP TABLE identities;
DROP TABLE memberships;
DROP TABLE users;
