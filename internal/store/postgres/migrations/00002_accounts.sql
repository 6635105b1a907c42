-- Accounts (internal/account). Emails and usernames are stored lower-case.
-- Tokens are stored as their SHA-256, passwords as argon2id strings.

-- +goose Up
CREATE TABLE users (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text        NOT NULL UNIQUE,
    email          text        UNIQUE,              -- NULL: none
    email_verified boolean     NOT NULL DEFAULT false,
    password_hash  text,                            -- NULL: logs in through a provider only
    tenant_id      bigint      NOT NULL UNIQUE REFERENCES tenants (id), -- the personal tenant
    created_at     timestamptz NOT NULL
);

CREATE TABLE memberships (
    tenant_id  bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('owner', 'member')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, tenant_id);

CREATE TABLE identities (
    provider         text        NOT NULL,
    provider_user_id bigint      NOT NULL,
    user_id          bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login            text        NOT NULL,
    email            text        NOT NULL,
    linked_at        timestamptz NOT NULL,
    PRIMARY KEY (provider, provider_user_id)
);
CREATE INDEX identities_by_user ON identities (user_id);

CREATE TABLE refresh_tokens (
    hash       bytea       PRIMARY KEY,
    family     text        NOT NULL,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

CREATE TABLE personal_tokens (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    hint       text        NOT NULL,
    hash       bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX personal_tokens_by_user ON personal_tokens (user_id, id);

-- +goose Down
DROP TABLE personal_tokens;
DROP TABLE refresh_tokens;
DROP TABLE identities;
DROP TABLE memberships;
DROP TABLE users;
