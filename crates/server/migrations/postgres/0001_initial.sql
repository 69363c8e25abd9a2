-- The whole data model (DESIGN.md "Data model"), PostgreSQL flavour.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,            -- normalised: trimmed, lowercase
    password_hash TEXT NOT NULL,            -- argon2id PHC string
    full_name     TEXT,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    is_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    roles         JSONB NOT NULL DEFAULT '["user"]',
    token_version BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   UUID NOT NULL,
    token_hash  TEXT NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    replaced_by UUID
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       JSONB NOT NULL,
    is_active    BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE projects (
    id          UUID PRIMARY KEY,
    owner_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, id);

CREATE TABLE extraction_sessions (
    id           UUID PRIMARY KEY,
    project_id   UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT,
    source       TEXT NOT NULL,             -- 'upload' | 'url'
    image_width  BIGINT,
    image_height BIGINT,
    image_format TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX extraction_sessions_project ON extraction_sessions (project_id, id);

CREATE TABLE color_tokens (
    id             UUID PRIMARY KEY,
    project_id     UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    session_id     UUID NOT NULL REFERENCES extraction_sessions (id) ON DELETE CASCADE,
    position       BIGINT NOT NULL,
    hex            TEXT NOT NULL,
    rgb            JSONB NOT NULL,
    hsl            JSONB NOT NULL,
    oklch          JSONB NOT NULL,
    name           TEXT NOT NULL,
    share          DOUBLE PRECISION NOT NULL,
    confidence     DOUBLE PRECISION NOT NULL,
    role           TEXT,
    contrast_white DOUBLE PRECISION NOT NULL,
    contrast_black DOUBLE PRECISION NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX color_tokens_project ON color_tokens (project_id, session_id, position);
CREATE INDEX color_tokens_session ON color_tokens (session_id, position);

CREATE TABLE audit_events (
    id         UUID PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    request_id TEXT,
    actor      TEXT NOT NULL,               -- user:<id> | api_key:<id> | anonymous
    ip         TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    outcome    TEXT NOT NULL,
    detail     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
